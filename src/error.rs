//! The one error a command returns, and what it was doing. `lib.rs` turns it into the message
//! on stderr and the exit code, in one place. Messages name what failed and what to do, and
//! never hold a secret: every error type below is written that way.

use crate::client::ClientError;
use crate::config::ConfigError;
use crate::scrub::ScrubError;
use crate::setup::SetupError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error(transparent)]
    Scrub(#[from] ScrubError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{0}")]
    Daemon(String),
    #[error("cannot write the generated files: {0}")]
    Generate(std::io::Error),
}

/// An [`Error`] and the subcommand it stopped: `None` for git's own actions and packaging,
/// whose messages carry only the program's name.
#[derive(Debug)]
pub struct Failure {
    pub command: Option<&'static str>,
    pub error: Error,
}

impl Failure {
    pub fn new(command: &'static str, error: impl Into<Error>) -> Failure {
        Failure {
            command: Some(command),
            error: error.into(),
        }
    }

    pub fn bare(error: impl Into<Error>) -> Failure {
        Failure {
            command: None,
            error: error.into(),
        }
    }
}
