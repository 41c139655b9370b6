//! The one place each program the tests start is named: our helper binary, `git` and
//! `setpriv`. Everything else builds on these constructors, so that a CI step can run the
//! whole suite against another git with `PATH=/opt/git-matrix/<version>/bin:$PATH cargo test`.

use std::process::Command;

/// The helper binary cargo built for this test run.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_git-credential-gitlab-ci")
}

/// `git-credential-gitlab-ci`, with the test process's environment (callers clear it).
pub fn helper_command() -> Command {
    Command::new(binary())
}

/// `git` from PATH, with the test process's environment (callers clear it and then call
/// [`carry_git_env`]). The test server's `git http-backend` is this git too.
pub fn git_command() -> Command {
    Command::new("git")
}

/// `setpriv` (util-linux), for running a program as another user.
pub fn setpriv_command() -> Command {
    Command::new("setpriv")
}

/// Carries over from the test process what decides which git runs: PATH, and GIT_EXEC_PATH
/// if set. For any command whose environment was cleared and that is git or may run git.
pub fn carry_git_env(cmd: &mut Command) -> &mut Command {
    for key in ["PATH", "GIT_EXEC_PATH"] {
        if let Some(value) = std::env::var_os(key) {
            cmd.env(key, value);
        }
    }
    cmd
}

/// `(major, minor)` of the git on PATH, for tests whose set-up differs by version (how the
/// environment carries config entries, say). What the product does is the same test on every
/// git; only the way a test sets up the world may depend on this.
pub fn git_version() -> (u32, u32) {
    let mut cmd = git_command();
    cmd.env_clear().arg("version");
    carry_git_env(&mut cmd);
    let out = cmd.output().expect("git version");
    let text = String::from_utf8_lossy(&out.stdout);
    let number = text
        .trim()
        .strip_prefix("git version ")
        .expect("git version output");
    let mut parts = number.split(|c: char| !c.is_ascii_digit());
    let major = parts.next().and_then(|p| p.parse().ok()).expect("major");
    let minor = parts.next().and_then(|p| p.parse().ok()).expect("minor");
    (major, minor)
}

/// Whether an executable called `name` is in a directory of PATH: for tests of programs a
/// developer's machine may lack (git-lfs), which skip with a message instead of failing.
pub fn on_path(name: &str) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        std::fs::metadata(dir.join(name))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}
