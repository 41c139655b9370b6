//! An isolated place to run the real `git` client.
//!
//! Each [`Sandbox`] has its own HOME and global config file, and `git()`
//! starts from an empty environment (but for PATH and GIT_EXEC_PATH, which
//! pick the git under test), so neither the developer's nor the CI
//! runner's configuration, credential helpers or proxies leak into tests, and
//! git can never block on a prompt.

use std::cell::RefCell;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::process::{self, Run};
use super::programs::{carry_git_env, git_command, helper_command};

pub struct Sandbox {
    dir: tempfile::TempDir,
    home: PathBuf,
    work: PathBuf,
    extra_env: RefCell<Vec<(OsString, OsString)>>,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("git-sandbox-")
            .tempdir()
            .expect("create sandbox dir");
        let home = dir.path().join("home");
        let work = dir.path().join("work");
        std::fs::create_dir_all(home.join(".config")).expect("create home");
        std::fs::create_dir(&work).expect("create work dir");
        // git config --global refuses to create missing parent dirs but is
        // happy to write to an existing empty file.
        std::fs::write(home.join(".gitconfig"), "").expect("create .gitconfig");
        Sandbox {
            dir,
            home,
            work,
            extra_env: RefCell::new(Vec::new()),
        }
    }

    /// The sandbox's root; `home` and `work` live inside it.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    pub fn work(&self) -> &Path {
        &self.work
    }

    /// The global git config file (`GIT_CONFIG_GLOBAL`).
    pub fn global_config_path(&self) -> PathBuf {
        self.home.join(".gitconfig")
    }

    /// Adds an environment variable to every later [`Sandbox::git`] command.
    /// Setting the same key again replaces the earlier value.
    pub fn env(&self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &Self {
        let (key, value) = (key.as_ref().to_owned(), value.as_ref().to_owned());
        let mut extra = self.extra_env.borrow_mut();
        extra.retain(|(k, _)| *k != key);
        extra.push((key, value));
        self
    }

    /// Any program (see `support::programs`) with this sandbox's isolated environment, in
    /// `work()`: an empty environment but for the git that the test process would run
    /// (PATH, GIT_EXEC_PATH), the sandbox's HOME and config, and [`Sandbox::env`].
    ///
    /// stdin is `/dev/null`; the runner gives it the bytes of
    /// [`Process::stdin`](super::process::Process::stdin), if any.
    pub fn command(&self, mut cmd: Command) -> Command {
        cmd.current_dir(&self.work).env_clear().stdin(Stdio::null());
        carry_git_env(&mut cmd)
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", self.global_config_path())
            // Never prompt: no terminal prompt, and any askpass program
            // fails immediately, so a missing credential is an error rather
            // than a hang.
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "/bin/false")
            .env("SSH_ASKPASS", "/bin/false")
            .env("GCM_INTERACTIVE", "never")
            .env("LC_ALL", "C")
            .env("GIT_AUTHOR_NAME", "Test Author")
            .env("GIT_AUTHOR_EMAIL", "author@example.com")
            .env("GIT_COMMITTER_NAME", "Test Committer")
            .env("GIT_COMMITTER_EMAIL", "committer@example.com");
        for (key, value) in self.extra_env.borrow().iter() {
            cmd.env(key, value);
        }
        cmd
    }

    /// A `git` command in `work()` with the fully isolated environment of
    /// [`Sandbox::command`].
    pub fn git(&self) -> Command {
        self.command(git_command())
    }

    /// Our helper binary with `args`, in the sandbox's environment, run in `work()/dir`.
    #[track_caller]
    pub fn helper(&self, dir: &str, args: &[&str]) -> Run {
        let mut cmd = self.command(helper_command());
        cmd.args(args).current_dir(self.work.join(dir));
        process::run(cmd)
    }

    /// Sets `key = value` in the sandbox's global git config.
    #[track_caller]
    pub fn config_global(&self, key: &str, value: impl AsRef<OsStr>) {
        let mut cmd = self.git();
        cmd.args(["config", "--global", key]).arg(value);
        process::run(cmd).assert_success();
    }

    /// Makes git trust certificates issued by the CA in `ca` (PEM).
    pub fn trust(&self, ca: &Path) {
        self.config_global("http.sslCAInfo", ca);
    }

    /// Runs `git args...` in `work()`, with a timeout; never panics on a
    /// non-zero exit.
    #[track_caller]
    pub fn run<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.git();
        cmd.args(args);
        process::run(cmd)
    }

    /// Like [`Sandbox::run`], but panics with stdout and stderr if git fails.
    #[track_caller]
    pub fn run_ok<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.run(args).assert_success()
    }
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}
