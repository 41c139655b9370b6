//! The three actions git runs us for: `get`, `store` and `erase`.
//!
//! This is the path git waits on for every fetch and push, so it stays synchronous and small:
//! read stdin, load the settings, decide, read one token source, write two or three lines.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::{Config, Credential};
use crate::policy::{decide, Decision, Refusal};
use crate::protocol::{Request, Response};
use crate::source::first_token;
use crate::token::Token;
use zeroize::Zeroizing;

/// What `get` did, for the logs and the tests.
#[derive(Debug)]
pub enum Outcome<'a> {
    Answered(Answered<'a>),
    Refused(Refusal),
}

/// An answer: the bytes for git, and what may be said about them (the credential's scope
/// and username, the token's `masked()` form). Nothing else is worked out: on the standalone
/// `get` path, with logging off, nobody asks.
#[derive(Debug)]
pub struct Answered<'a> {
    /// git's response, zeroed on drop.
    pub response: Zeroizing<Vec<u8>>,
    pub credential: &'a Credential,
    pub token: Arc<Token>,
    pub expiry: Option<SystemTime>,
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
        expiry,
    })
}

/// Decides `get` for the standalone helper and logs the decision; the caller writes the
/// response, if any, to git.
pub fn get<'a>(request: &Request, config: &'a Config) -> Outcome<'a> {
    match answer(request, &config.credentials) {
        Ok(answered) => {
            tracing::info!(
                decision = "answer",
                origin = %answered.credential.scope,
                username = %answered.credential.username,
                token = %answered.token.masked(),
            );
            Outcome::Answered(answered)
        }
        Err(why) => {
            tracing::info!(
                decision = "refuse",
                reason = %why,
                protocol = request.protocol.as_deref().unwrap_or(""),
                host = request.host.as_deref().unwrap_or(""),
            );
            Outcome::Refused(why)
        }
    }
}

/// The earlier of the configured expiry and the token's own (a JWT's `exp`).
pub fn expiry(credential: &Credential, token: &Token) -> Option<SystemTime> {
    match (credential.expires, token.jwt_expiry()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// git sends `store` to every helper after a success, ours included: we are read-only, so the
/// credential (our own token, coming back) is dropped, zeroed, and nothing is printed.
pub fn store(request: &Request) {
    tracing::debug!(action = "store", host = ?request.host, "ignored: this helper never stores");
}

/// git sends `erase` after the server answered 401 with the credential it had. For us that
/// means the server rejected our token: expired, revoked, or missing a scope.
pub fn erase(request: &Request, config: &Config) {
    let fingerprint = request.password.as_ref().map(crate::token::fingerprint_of);
    match decide(request, &config.credentials) {
        Decision::Answer(c) => tracing::warn!(
            action = "erase",
            origin = %c.scope,
            fingerprint = fingerprint.as_deref().unwrap_or("none"),
            "the server rejected the token (expired, revoked, or missing the write_repository scope)"
        ),
        Decision::Refuse(why) => tracing::debug!(action = "erase", reason = %why, "not ours"),
    }
}
