//! The common end-to-end set-up, as one sentence: a TLS git server with a repository, a
//! sandbox whose git trusts it, our helper configured by absolute path, and the job's
//! variables.
//!
//! ```ignore
//! let job = Scenario::new()
//!     .server("gitlab-ci-token", TOKEN)
//!     .helper_args(["--token-env", "T"])
//!     .env("T", TOKEN);
//! // or, as in a job: .helper().in_job(TOKEN)
//! job.git_ok(["clone", "--quiet", &job.url(), "clone"]);
//! ```
//!
//! Every step happens when its method is called, so the order reads as the set-up does:
//! `server` before `helper`/`helper_args` (which scope the helper to the server's URL).

use std::ffi::OsStr;

use super::git_server::GitServer;
use super::process::Run;
use super::programs::binary;
use super::sandbox::Sandbox;

/// The repository every scenario's server holds: one commit (a README) on `main`.
pub const PROJECT: &str = "group/project.git";

pub struct Scenario {
    // Declared first so git's sandbox goes before the server it talks to.
    sandbox: Sandbox,
    server: Option<GitServer>,
}

impl Scenario {
    /// A fresh sandbox; no server, no helper.
    pub fn new() -> Scenario {
        Scenario {
            sandbox: Sandbox::new(),
            server: None,
        }
    }

    /// Starts a server on 127.0.0.1 that accepts exactly `username`/`password`, creates
    /// [`PROJECT`] on it, and makes the sandbox's git trust its CA.
    pub fn server(mut self, username: &str, password: &str) -> Scenario {
        let server = GitServer::start_local(username, password);
        server.create_repo(PROJECT);
        self.sandbox.trust(&GitServer::ca_pem_path());
        self.server = Some(server);
        self
    }

    /// Our helper, with no options, for the server's URL: [`Scenario::helper_args`] `[]`.
    pub fn helper(self) -> Scenario {
        self.helper_args::<[&str; 0], &str>([])
    }

    /// Our helper, by absolute path and with `args`, for the server's URL only, after a
    /// reset of the helpers before it, exactly as the README tells users to configure it.
    pub fn helper_args<I, S>(self, args: I) -> Scenario
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let key = format!("credential.{}.helper", self.served().url());
        let mut helper = binary().to_owned();
        for arg in args {
            helper.push(' ');
            helper.push_str(&shell_quote(arg.as_ref()));
        }
        self.sandbox
            .run_ok(["config", "--global", key.as_str(), ""]);
        self.sandbox
            .run_ok(["config", "--global", "--add", key.as_str(), helper.as_str()]);
        self
    }

    /// An environment variable for every later git (and helper) run in the sandbox.
    pub fn env(self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Scenario {
        self.sandbox.env(key, value);
        self
    }

    /// The variables of a GitLab job on this server: `CI_SERVER_URL` (the server's URL) and
    /// `CI_JOB_TOKEN`.
    pub fn in_job(self, token: &str) -> Scenario {
        let url = self.served().url();
        self.env("CI_SERVER_URL", url).env("CI_JOB_TOKEN", token)
    }

    /// The server; panics if [`Scenario::server`] was not called.
    pub fn served(&self) -> &GitServer {
        self.server
            .as_ref()
            .expect("Scenario::server() must come first")
    }

    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// The plain (credential-free) URL of [`PROJECT`] on the server.
    pub fn url(&self) -> String {
        format!("{}/{PROJECT}", self.served().url())
    }

    /// `git args...` in the sandbox's work directory; any exit status.
    #[track_caller]
    pub fn git<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.sandbox.run(args)
    }

    /// `git args...`, and the test fails unless git succeeds.
    #[track_caller]
    pub fn git_ok<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.sandbox.run_ok(args)
    }

    /// Writes `contents` to `file` in the checkout `dir`, commits it, and returns the commit.
    #[track_caller]
    pub fn commit(&self, dir: &str, file: &str, contents: &str) -> String {
        std::fs::write(self.sandbox.work().join(dir).join(file), contents).unwrap();
        self.git_ok(["-C", dir, "add", file]);
        self.git_ok(["-C", dir, "commit", "--quiet", "-m", file]);
        self.git_ok(["-C", dir, "rev-parse", "HEAD"])
            .stdout_str()
            .trim()
            .to_owned()
    }

    /// What `reference` names in [`PROJECT`] on the server, or "" if nothing.
    pub fn server_ref(&self, reference: &str) -> String {
        self.served().rev_parse(PROJECT, reference)
    }
}

impl Default for Scenario {
    fn default() -> Self {
        Self::new()
    }
}

/// `arg` as one word for the shell git runs a helper string with.
fn shell_quote(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=+@,%".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}
