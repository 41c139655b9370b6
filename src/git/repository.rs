//! Where the repository git works on keeps its files, asked of git the way every supported
//! version answers (`rev-parse --path-format=absolute` needs git 2.31).

use std::path::PathBuf;

use super::runner::{command, run, GitError};

/// The repository's common git directory (shared by its worktrees), absolute. An error
/// outside a repository.
pub fn common_dir() -> Result<PathBuf, GitError> {
    let out = run(
        command().args(["rev-parse", "--git-common-dir"]),
        "finding the repository",
    )?;
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim_end_matches('\n'));
    // git prints it relative to the directory it runs in, unless it is elsewhere.
    if dir.is_absolute() {
        return Ok(dir);
    }
    let here = std::env::current_dir().map_err(|e| GitError {
        what: "finding the repository".to_owned(),
        problem: format!("cannot read the current directory: {e}"),
    })?;
    Ok(here.join(dir))
}

/// The top of the work tree; `None` in a bare repository or outside one.
pub fn toplevel() -> Option<PathBuf> {
    let out = run(
        command().args(["rev-parse", "--show-toplevel"]),
        "finding the work tree",
    )
    .ok()?;
    let top = String::from_utf8_lossy(&out.stdout);
    let top = top.trim_end_matches('\n');
    (!top.is_empty()).then(|| PathBuf::from(top))
}
