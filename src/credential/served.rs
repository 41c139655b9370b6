//! One thing we serve: a scope, the username to answer with, and where its token comes from.
//! The policy decides over these; [`crate::config`] builds them from every settings layer.

use std::fmt;
use std::path::PathBuf;
use std::time::SystemTime;

use super::origin::{Scheme, Scope};
use crate::token::TokenSource;

/// Where a credential was declared, for `status` and the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provenance {
    Flags,
    Environment,
    File(PathBuf),
    GitLabJob,
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Provenance::Flags => f.write_str("command-line flags"),
            Provenance::Environment => {
                f.write_str("GIT_CREDENTIAL_GITLAB_CI_* environment variables")
            }
            Provenance::File(p) => write!(f, "config file {}", p.display()),
            Provenance::GitLabJob => f.write_str("the GitLab CI job (CI_SERVER_URL, CI_JOB_TOKEN)"),
        }
    }
}

impl serde::Serialize for Provenance {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One thing we serve: a scope, the username to answer with, and where its token comes from.
#[derive(Debug, Clone)]
pub struct Credential {
    pub scope: Scope,
    pub username: String,
    pub sources: Vec<TokenSource>,
    /// An expiry the configuration declares; a JWT token's own `exp` is read per request.
    pub expires: Option<SystemTime>,
    pub provenance: Provenance,
}

impl Credential {
    pub fn is_plain_http(&self) -> bool {
        self.scope.origin.scheme == Scheme::Http
    }
}
