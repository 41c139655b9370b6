//! Our own settings: which credentials we serve, gathered from flags, `GIT_CREDENTIAL_GITLAB_CI_*`
//! variables, TOML config files and the GitLab job ([`layers`]); the TOML file format
//! ([`file`]); and the names of the settings with what can be wrong with one ([`setting`]).
//!
//! Nothing here reads a token: sources are only named, and read per request by [`crate::token`].

mod file;
mod layers;
mod setting;

pub use file::parse as parse_file;
pub use layers::{system_config_path, Config, ConfigFileState, Flags, ProcessEnv};
pub use setting::{
    ConfigError, DEFAULT_USERNAME, ENV_CONFIG, ENV_SOCKET, ENV_TOKEN_COMMAND,
    ENV_TOKEN_COMMAND_TIMEOUT, ENV_TOKEN_COMMAND_TTL, ENV_TOKEN_ENV, ENV_TOKEN_FILE, ENV_URL,
    ENV_USERNAME, ENV_USE_DAEMON,
};
