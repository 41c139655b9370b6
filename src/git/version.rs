//! The version of the git on PATH, and what each version can do that `configure`,
//! `unconfigure` and `status` rely on. Runner images ship gits from 2.30 (Debian 11) on, so
//! every feature newer than that is asked for here and done another way where it is missing.

use super::runner::{command, run, GitError};

/// `major.minor` of a git release; the patch level changes nothing we depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32) -> Version {
        Version { major, minor }
    }

    /// `git version` output: `git version 2.39.5`, `git version 2.43.0.windows.1`,
    /// `git version 2.39.5 (Apple Git-154)`.
    pub fn parse(text: &str) -> Option<Version> {
        let number = text.trim().strip_prefix("git version ")?;
        let mut parts = number.split(|c: char| !c.is_ascii_digit());
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(Version { major, minor })
    }

    /// `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_<n>`/`GIT_CONFIG_VALUE_<n>`, and
    /// `rev-parse --path-format`.
    pub fn has_config_count(self) -> bool {
        self >= Version::new(2, 31)
    }

    /// `GIT_CONFIG_GLOBAL` and `GIT_CONFIG_SYSTEM` name the global and system files.
    pub fn has_config_file_env(self) -> bool {
        self >= Version::new(2, 32)
    }

    /// A helper's `password_expiry_utc` is honoured: git drops a credential whose expiry has
    /// passed instead of sending it. Older gits ignore the attribute and send the password.
    pub fn honours_password_expiry(self) -> bool {
        self >= Version::new(2, 40)
    }

    /// `git var GIT_CONFIG_GLOBAL` and `git var GIT_CONFIG_SYSTEM`.
    pub fn has_var_config_paths(self) -> bool {
        self >= Version::new(2, 42)
    }

    /// `git config --comment`.
    pub fn has_config_comment(self) -> bool {
        self >= Version::new(2, 45)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The version of the git on PATH.
pub fn version() -> Result<Version, GitError> {
    let out = run(command().arg("version"), "finding git's version")?;
    let text = String::from_utf8_lossy(&out.stdout);
    Version::parse(&text).ok_or_else(|| GitError {
        what: "finding git's version".to_owned(),
        problem: format!("cannot read `{}`", text.trim()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_every_build_of_git() {
        assert_eq!(
            Version::parse("git version 2.39.5\n"),
            Some(Version::new(2, 39))
        );
        assert_eq!(
            Version::parse("git version 2.43.0.windows.1"),
            Some(Version::new(2, 43))
        );
        assert_eq!(
            Version::parse("git version 2.39.5 (Apple Git-154)"),
            Some(Version::new(2, 39))
        );
        assert_eq!(Version::parse("git version 3.0"), Some(Version::new(3, 0)));
        assert_eq!(Version::parse("hub version 2.14.2"), None);
        assert_eq!(Version::parse("git version x"), None);
    }

    #[test]
    fn features_arrive_with_the_versions_that_brought_them() {
        let v = |minor| Version::new(2, minor);
        assert!(!v(30).has_config_count() && v(31).has_config_count());
        assert!(!v(31).has_config_file_env() && v(32).has_config_file_env());
        assert!(!v(39).honours_password_expiry() && v(40).honours_password_expiry());
        assert!(Version::new(3, 0).honours_password_expiry());
        assert!(!Version::new(1, 99).honours_password_expiry());
        assert!(!v(41).has_var_config_paths() && v(42).has_var_config_paths());
        assert!(!v(44).has_config_comment() && v(45).has_config_comment());
        assert!(Version::new(3, 0).has_config_comment());
    }
}
