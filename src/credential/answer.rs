//! The answer to a `get`: decide, read one token source, and build the two or three lines
//! git reads. Shared by the standalone helper and the daemon, which differ only in where the
//! bytes go and what they log.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

use super::policy::{decide, Decision, Refusal};
use super::protocol::{Request, Response};
use super::served::Credential;
use crate::token::{first_token, Token};

/// An answer: the bytes for git, and what may be said about them (the credential's scope
/// and username, the token's `masked()` form). Nothing else is worked out: on the standalone
/// `get` path, with logging off, nobody asks.
#[derive(Debug)]
pub struct Answered<'a> {
    /// git's response, zeroed on drop.
    pub response: Zeroizing<Vec<u8>>,
    pub credential: &'a Credential,
    pub token: Arc<Token>,
}

/// Decides and, if we answer, builds git's response. Shared by the standalone helper and
/// the daemon, which differ only in where the bytes go and what they log.
pub fn answer<'a>(
    request: &Request,
    credentials: &'a [Credential],
) -> Result<Answered<'a>, Refusal> {
    let credential = match decide(request, credentials) {
        Decision::Answer(c) => c,
        Decision::Refuse(why) => return Err(why),
    };
    let (_, token) = first_token(&credential.sources).ok_or(Refusal::TokenUnavailable)?;
    let expiry = expiry(credential, &token);
    let response = Response {
        username: &credential.username,
        password: token.secret(),
        password_expiry_utc: expiry
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs()),
    }
    .to_bytes();
    Ok(Answered {
        response,
        credential,
        token,
    })
}

/// The earlier of the configured expiry and the token's own (a JWT's `exp`).
pub fn expiry(credential: &Credential, token: &Token) -> Option<SystemTime> {
    match (credential.expires, token.jwt_expiry()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
