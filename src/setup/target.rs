//! Which file `configure --system`, `--global`, `--local` or `--file` writes: the one
//! `git config` with the same option would write.

use std::path::PathBuf;

use super::model::{git_stdout, SetupError, Target};
use crate::git::{self, GitError};

/// The file `git config <target>` writes to.
pub fn resolve(target: &Target) -> Result<PathBuf, SetupError> {
    match target {
        Target::File(path) => Ok(path.clone()),
        Target::Local => {
            let dir = git_stdout(
                git::command().args(["rev-parse", "--path-format=absolute", "--git-common-dir"]),
                "--local: finding the repository",
            )?;
            Ok(PathBuf::from(dir.trim_end_matches('\n')).join("config"))
        }
        Target::Global => {
            // `git var` prints the XDG file, then ~/.gitconfig (or only $GIT_CONFIG_GLOBAL).
            // Like git, write the XDG file only when it exists and ~/.gitconfig does not.
            let out = git_stdout(
                git::command().args(["var", "GIT_CONFIG_GLOBAL"]),
                "--global: finding the global config file (git 2.42 or later; or use --file)",
            )?;
            let paths: Vec<PathBuf> = out.lines().map(PathBuf::from).collect();
            match &paths[..] {
                [xdg, user] if !user.exists() && xdg.exists() => Ok(xdg.clone()),
                [.., user] => Ok(user.clone()),
                [] => Err(SetupError::Git(GitError {
                    what: "--global".to_owned(),
                    problem: "git knows no global config file (is HOME set?); use --file"
                        .to_owned(),
                })),
            }
        }
        Target::System => {
            let out = git_stdout(
                git::command().args(["var", "GIT_CONFIG_SYSTEM"]),
                "--system: finding the system config file (git 2.42 or later; or use --file)",
            )?;
            Ok(PathBuf::from(out.trim_end_matches('\n')))
        }
    }
}
