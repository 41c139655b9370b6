//! The answer to a `get`: decide, read one token source, and build the two or three lines
//! git reads. Shared by the standalone helper and the daemon, which differ only in where the
//! bytes go and what they log.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

use super::policy::{decide, Decision, Refusal};
use super::protocol::{Request, Response};
use super::served::Credential;
use crate::token::Token;

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
    // A token command may print a username (`username=`): git is answered with it, unless
    // git's request already names another one, and then the next source is tried.
    let wanted = request.username.as_deref();
    let token = credential
        .sources
        .iter()
        .filter_map(|s| s.read().ok())
        .find(|t| match (t.issued_username(), wanted) {
            (Some(printed), Some(wanted)) => printed == wanted,
            _ => true,
        })
        .ok_or(Refusal::TokenUnavailable)?;
    let expiry = expiry(credential, &token);
    let response = Response {
        username: token.issued_username().unwrap_or(&credential.username),
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

impl Answered<'_> {
    /// The username git is answered with: the one the token's command printed, else the
    /// credential's.
    pub fn username(&self) -> &str {
        self.token
            .issued_username()
            .unwrap_or(&self.credential.username)
    }
}

/// The earliest of the configured expiry and the token's own (a JWT's `exp`, and what a
/// token command printed as `password_expiry_utc`).
pub fn expiry(credential: &Credential, token: &Token) -> Option<SystemTime> {
    match (credential.expires, token.own_expiry()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
