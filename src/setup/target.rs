//! Which file `configure --system`, `--global`, `--local` or `--file` writes: the one
//! `git config` with the same option would write, on every git from 2.30.
//!
//! git 2.42 and later say it themselves (`git var GIT_CONFIG_GLOBAL`/`GIT_CONFIG_SYSTEM`).
//! Older gits have no such query. For `--system`, the path is compiled into git, so git is
//! asked to "edit" its system file with an editor that only prints the path it is given;
//! git creates nothing for that. For `--global`, git's rule is short and written here:
//! `$GIT_CONFIG_GLOBAL` when set (git 2.32 and later honour it), else `~/.gitconfig`,
//! unless only the XDG file (`$XDG_CONFIG_HOME/git/config`, `~/.config/git/config`)
//! is there to read.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::model::{git_stdout, SetupError, Target};
use crate::git::{self, GitError, Version};

/// The file `git config <target>` writes to.
pub fn resolve(target: &Target) -> Result<PathBuf, SetupError> {
    match target {
        Target::File(path) => Ok(path.clone()),
        Target::Local => Ok(git::common_dir()
            .map_err(|e| GitError {
                what: "--local: finding the repository".to_owned(),
                problem: e.problem,
            })?
            .join("config")),
        Target::Global => {
            let version = git::version()?;
            if version.has_var_config_paths() {
                // `git var` prints the XDG file, then ~/.gitconfig (or only $GIT_CONFIG_GLOBAL).
                let out = git_stdout(
                    git::command().args(["var", "GIT_CONFIG_GLOBAL"]),
                    "--global: finding the global config file",
                )?;
                let paths: Vec<PathBuf> = out.lines().map(PathBuf::from).collect();
                return match &paths[..] {
                    [xdg, user] => Ok(pick_global(user, Some(xdg))),
                    [.., user] => Ok(user.clone()),
                    [] => Err(no_home()),
                };
            }
            global_by_rule(version, &|name| std::env::var_os(name))
        }
        Target::System => {
            let version = git::version()?;
            let out = if version.has_var_config_paths() {
                git_stdout(
                    git::command().args(["var", "GIT_CONFIG_SYSTEM"]),
                    "--system: finding the system config file",
                )?
            } else {
                git_stdout(
                    git::command()
                        .args(["config", "--system", "--edit"])
                        .env("GIT_EDITOR", "echo"),
                    "--system: finding the system config file",
                )?
            };
            let path = out.trim_end_matches('\n');
            if path.is_empty() {
                return Err(SetupError::Git(GitError {
                    what: "--system".to_owned(),
                    problem: "git names no system config file; use --file".to_owned(),
                }));
            }
            Ok(PathBuf::from(path))
        }
    }
}

/// Like git, write the XDG file only when it can be read and the user's file cannot.
fn pick_global(user: &Path, xdg: Option<&Path>) -> PathBuf {
    match xdg {
        Some(xdg) if !readable(user) && readable(xdg) => xdg.to_path_buf(),
        _ => user.to_path_buf(),
    }
}

fn readable(path: &Path) -> bool {
    std::fs::File::open(path).is_ok()
}

/// git's rule for the global file, for gits that cannot print it.
fn global_by_rule(
    version: Version,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<PathBuf, SetupError> {
    if version.has_config_file_env() {
        if let Some(path) = env("GIT_CONFIG_GLOBAL") {
            return Ok(PathBuf::from(path));
        }
    }
    let home = env("HOME").filter(|h| !h.is_empty()).ok_or_else(no_home)?;
    let home = PathBuf::from(home);
    let xdg = match env("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("git/config"),
        None => home.join(".config/git/config"),
    };
    Ok(pick_global(&home.join(".gitconfig"), Some(&xdg)))
}

fn no_home() -> SetupError {
    SetupError::Git(GitError {
        what: "--global".to_owned(),
        problem: "git knows no global config file (is HOME set?); use --file".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn the_global_file_follows_gits_rule_for_each_version() {
        let old = Version::new(2, 30);
        let new = Version::new(2, 39);
        let vars = env(&[
            ("HOME", "/nonexistent/home"),
            ("GIT_CONFIG_GLOBAL", "/seed/.glr.gconf"),
        ]);
        // git 2.30 ignores GIT_CONFIG_GLOBAL; 2.32 and later write there.
        assert_eq!(
            global_by_rule(old, &vars).unwrap(),
            PathBuf::from("/nonexistent/home/.gitconfig")
        );
        assert_eq!(
            global_by_rule(new, &vars).unwrap(),
            PathBuf::from("/seed/.glr.gconf")
        );
        assert!(global_by_rule(new, &env(&[])).is_err());
    }

    #[test]
    fn the_xdg_file_is_written_only_when_it_alone_exists() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let xdg = dir.path().join("xdg");
        std::fs::create_dir_all(home.clone()).unwrap();
        std::fs::create_dir_all(xdg.join("git")).unwrap();
        let vars = {
            let home = home.clone().into_os_string();
            let xdg = xdg.clone().into_os_string();
            move |name: &str| match name {
                "HOME" => Some(home.clone()),
                "XDG_CONFIG_HOME" => Some(xdg.clone()),
                _ => None,
            }
        };
        let v = Version::new(2, 39);
        assert_eq!(global_by_rule(v, &vars).unwrap(), home.join(".gitconfig"));
        std::fs::write(xdg.join("git/config"), "").unwrap();
        assert_eq!(global_by_rule(v, &vars).unwrap(), xdg.join("git/config"));
        std::fs::write(home.join(".gitconfig"), "").unwrap();
        assert_eq!(global_by_rule(v, &vars).unwrap(), home.join(".gitconfig"));
    }
}
