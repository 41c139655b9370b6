//! An isolated place to run the real `git` client.
//!
//! Each [`Sandbox`] has its own HOME and global config file, and `git()`
//! starts from an empty environment, so neither the developer's nor the CI
//! runner's configuration, credential helpers or proxies leak into tests, and
//! git can never block on a prompt.

use std::cell::RefCell;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Longest a single git command run through [`Sandbox::run`] may take before
/// it is killed and the test fails. Generous: everything is local, and a
/// normal command finishes in well under a second.
pub const GIT_TIMEOUT: Duration = Duration::from_secs(60);

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

    /// A `git` command in `work()` with a fully isolated environment.
    ///
    /// stdin is `/dev/null` by default; override it if a test needs to feed
    /// input.
    pub fn git(&self) -> Command {
        let mut cmd = Command::new("git");
        cmd.current_dir(&self.work).env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        cmd.env("HOME", &self.home)
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
            .env("GIT_COMMITTER_EMAIL", "committer@example.com")
            .stdin(Stdio::null());
        for (key, value) in self.extra_env.borrow().iter() {
            cmd.env(key, value);
        }
        cmd
    }

    /// Sets `key = value` in the sandbox's global git config.
    pub fn config_global(&self, key: &str, value: impl AsRef<OsStr>) {
        let mut cmd = self.git();
        cmd.args(["config", "--global", key]).arg(value);
        let what = describe(&cmd);
        check_ok(&what, run_command(cmd));
    }

    /// Makes git trust certificates issued by the CA in `ca` (PEM).
    pub fn trust(&self, ca: &Path) {
        self.config_global("http.sslCAInfo", ca);
    }

    /// Runs `git args...` in `work()`, with a timeout; never panics on a
    /// non-zero exit.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut cmd = self.git();
        cmd.args(args);
        run_command(cmd)
    }

    /// Like [`Sandbox::run`], but panics with stdout and stderr if git fails.
    pub fn run_ok(&self, args: &[&str]) -> Output {
        let mut cmd = self.git();
        cmd.args(args);
        let what = describe(&cmd);
        check_ok(&what, run_command(cmd))
    }
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

fn check_ok(what: &str, output: Output) -> Output {
    assert!(
        output.status.success(),
        "{what} failed: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    output
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

/// Runs `cmd` to completion, capturing stdout and stderr, and kills it (with
/// everything it spawned) if it exceeds [`GIT_TIMEOUT`].
pub fn run_command(mut cmd: Command) -> Output {
    let what = describe(&cmd);
    // Own process group: on timeout we must also kill git's children
    // (git-remote-https, credential helpers), which hold our pipes open.
    cmd.process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {what}: {e}"));
    let stdout = Pipe::drain(child.stdout.take().expect("piped stdout"));
    let stderr = Pipe::drain(child.stderr.take().expect("piped stderr"));

    let deadline = Instant::now() + GIT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            // Negative pid: the whole process group.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            let _ = child.wait();
            let stderr = String::from_utf8_lossy(&stderr.finish(PIPE_GRACE)).into_owned();
            panic!("{what} timed out after {GIT_TIMEOUT:?}; stderr so far:\n{stderr}");
        }
        thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: stdout.finish(PIPE_GRACE),
        stderr: stderr.finish(PIPE_GRACE),
    }
}

/// How long to wait for end-of-file on git's output once git has exited. A
/// process git started that outlives it (say, a daemon that did not close
/// its inherited stdio) keeps the pipe open; we must not hang on that.
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// Output of a child's pipe, collected by a background thread.
struct Pipe {
    buf: Arc<Mutex<Vec<u8>>>,
    done: mpsc::Receiver<()>,
}

impl Pipe {
    fn drain(mut pipe: impl Read + Send + 'static) -> Pipe {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let (tx, done) = mpsc::channel();
        let sink = Arc::clone(&buf);
        thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => sink.lock().unwrap().extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let _ = tx.send(());
        });
        Pipe { buf, done }
    }

    /// Everything read so far, after waiting up to `grace` for end-of-file.
    fn finish(self, grace: Duration) -> Vec<u8> {
        let eof = self.done.recv_timeout(grace).is_ok();
        let mut out = std::mem::take(&mut *self.buf.lock().unwrap());
        if !eof {
            out.extend_from_slice(
                b"\n[sandbox: pipe still held open by a leftover process; output truncated]\n",
            );
        }
        out
    }
}
