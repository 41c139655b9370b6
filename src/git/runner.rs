//! The one place git is started. Every git command this program runs is built from
//! [`command`], and a failure is a [`GitError`] carrying git's own words.

use std::process::{Command, Output};

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
