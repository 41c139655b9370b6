//! The names of our settings, and what can be wrong with one. A leaf: the layers and the
//! TOML file both use it.

use std::path::PathBuf;

use crate::credential::{OriginError, Scope};

pub const ENV_URL: &str = "GIT_CREDENTIAL_GITLAB_CI_URL";
pub const ENV_USERNAME: &str = "GIT_CREDENTIAL_GITLAB_CI_USERNAME";
/// Comma-separated variable names.
pub const ENV_TOKEN_ENV: &str = "GIT_CREDENTIAL_GITLAB_CI_TOKEN_ENV";
/// Paths separated like `PATH` (':' on Unix).
pub const ENV_TOKEN_FILE: &str = "GIT_CREDENTIAL_GITLAB_CI_TOKEN_FILE";
/// A shell command that prints a token (one command).
pub const ENV_TOKEN_COMMAND: &str = "GIT_CREDENTIAL_GITLAB_CI_TOKEN_COMMAND";
/// How long a token command may run, e.g. `10s` (humantime).
pub const ENV_TOKEN_COMMAND_TIMEOUT: &str = "GIT_CREDENTIAL_GITLAB_CI_TOKEN_COMMAND_TIMEOUT";
/// How long the daemon keeps a command's token of no known expiry, e.g. `5m`.
pub const ENV_TOKEN_COMMAND_TTL: &str = "GIT_CREDENTIAL_GITLAB_CI_TOKEN_COMMAND_TTL";
pub const ENV_CONFIG: &str = "GIT_CREDENTIAL_GITLAB_CI_CONFIG";
/// The daemon's socket, for every subcommand.
pub const ENV_SOCKET: &str = "GIT_CREDENTIAL_GITLAB_CI_SOCKET";
/// Whether `get` asks a daemon: auto, only or never.
pub const ENV_USE_DAEMON: &str = "GIT_CREDENTIAL_GITLAB_CI_USE_DAEMON";

pub const DEFAULT_USERNAME: &str = "gitlab-ci-token";
pub const DEFAULT_TOKEN_ENV: &str = "CI_JOB_TOKEN";

/// A setting we could not use. Messages name the setting and the problem, never a value that
/// could be a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{setting}: {problem}")]
    Url {
        setting: String,
        problem: OriginError,
    },
    #[error("{setting}: the username must be non-empty, on one line, without control characters")]
    Username { setting: String },
    #[error("no URL to serve: pass --url, set {ENV_URL}, add a [[credential]] to a config file, or run inside a GitLab CI job (CI_SERVER_URL)")]
    NoUrl,
    #[error("config file {}: {problem}", path.display())]
    File { path: PathBuf, problem: String },
    /// git runs helpers in the repository it works on, so a relative config path, or one
    /// under a relative HOME, would make the repository's files our trusted configuration.
    #[error("{setting}: {problem}")]
    Command { setting: String, problem: String },
    #[error("{what} {} is not an absolute path: git runs this helper inside the repository it works on, whose files are not trusted configuration; give an absolute path", path.display())]
    Relative { what: &'static str, path: PathBuf },
}

/// A token command as configured: not empty, no NUL, and not a relative path to a program.
/// git runs this helper inside the repository it works on, so `./mint-token` or
/// `scripts/mint` would run the repository's file; a bare name is looked up on PATH.
pub fn checked_command(command: &str, setting: &str) -> Result<String, ConfigError> {
    let fail = |problem: &str| ConfigError::Command {
        setting: setting.to_owned(),
        problem: problem.to_owned(),
    };
    if command.trim().is_empty() {
        return Err(fail("the command is empty"));
    }
    if command.contains('\0') {
        return Err(fail("the command contains a NUL byte"));
    }
    let program = command.split_whitespace().next().unwrap_or_default();
    let program = program.trim_start_matches(['\'', '"']);
    if program.contains('/') && !program.starts_with('/') && !program.starts_with('~') {
        return Err(fail(
            "the program is a relative path: git runs this helper inside the repository it works on, so it would run the repository's file; give an absolute path or a name on PATH",
        ));
    }
    Ok(command.to_owned())
}

/// A duration setting (`10s`, `2m`), as `--ttl` reads one.
pub fn parse_setting_duration(
    value: &str,
    setting: &str,
) -> Result<std::time::Duration, ConfigError> {
    humantime::parse_duration(value.trim()).map_err(|e| ConfigError::Command {
        setting: setting.to_owned(),
        problem: format!("{e} (examples: 10s, 5m)"),
    })
}

pub fn parse_scope(url: &str, setting: &str) -> Result<Scope, ConfigError> {
    Scope::parse(url).map_err(|problem| ConfigError::Url {
        setting: setting.to_owned(),
        problem,
    })
}

pub fn checked_username(name: &str, setting: &str) -> Result<String, ConfigError> {
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(ConfigError::Username {
            setting: setting.to_owned(),
        });
    }
    Ok(name.to_owned())
}
