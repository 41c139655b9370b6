//! The one place git is started. Every git command this program runs is built from
//! [`command`], and a failure is a [`GitError`] carrying git's own words.

use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

/// `git` from PATH: the git the user runs, whose config and version we must match.
pub fn command() -> Command {
    Command::new("git")
}

/// A git command that failed: what we asked of it, and why it failed in git's own words.
/// Callers whose arguments could hold a secret mask `problem` before building one.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {problem}")]
pub struct GitError {
    pub what: String,
    pub problem: String,
}

/// Runs `cmd` to completion; a failure to start or a non-zero exit is a [`GitError`].
pub fn run(cmd: &mut Command, what: &str) -> Result<Output, GitError> {
    let out = cmd.output().map_err(|e| GitError {
        what: what.to_owned(),
        problem: format!("could not run git: {e}"),
    })?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(GitError {
            what: what.to_owned(),
            problem: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// A git command run to a deadline: its exit status (`None` when it was killed at the
/// deadline), its stdout in zeroized memory (it may hold a password), and its stderr.
pub struct Bounded {
    pub status: Option<ExitStatus>,
    pub stdout: Zeroizing<Vec<u8>>,
    pub stderr: String,
}

/// The most of each output [`run_bounded`] keeps.
const MAX_OUTPUT: usize = 64 * 1024;

/// Runs `cmd` with `input` on its stdin, and kills it at `deadline`. Each output is capped at
/// 64 KiB. `Err` when git cannot be started.
pub fn run_bounded(
    cmd: &mut Command,
    input: &[u8],
    deadline: Duration,
) -> std::io::Result<Bounded> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    // stdout may hold a password: it is read into a buffer sized once, which never grows
    // and so leaves no copy behind.
    let out = std::thread::spawn(move || {
        crate::hardening::read_sized(&mut stdout, MAX_OUTPUT).unwrap_or_default()
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr
            .by_ref()
            .take(MAX_OUTPUT as u64)
            .read_to_end(&mut buf);
        buf
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    Ok(Bounded {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: String::from_utf8_lossy(&err.join().unwrap_or_default())
            .trim()
            .to_owned(),
    })
}

/// `git`, with every way of asking a person for a credential turned off: for the checks
/// `status` runs, which must fail rather than wait.
pub fn unattended() -> Command {
    let mut cmd = command();
    cmd.args(["-c", "credential.interactive=never", "-c", "core.askPass="])
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "")
        .env("SSH_ASKPASS", "")
        .env("GCM_INTERACTIVE", "never");
    cmd
}
