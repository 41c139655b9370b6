//! The three actions git runs us for: `get`, `store` and `erase`.
//!
//! This is the path git waits on for every fetch and push, so it stays synchronous and small:
//! read stdin, load the settings, decide, read one token source, write two or three lines.

use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::{Config, Credential};
use crate::policy::{decide, Decision, Refusal};
use crate::protocol::{Request, Response};
use crate::source::first_token;
use crate::token::{Masked, Token};

/// What `get` did, for the logs and the tests.
#[derive(Debug)]
pub enum Outcome {
    Answered {
        scope: String,
        username: String,
        token: Masked,
        expiry: Option<SystemTime>,
    },
    Refused(Refusal),
}

/// Answers `get`, or writes nothing. An error is only ever a failure to write to git.
pub fn get(request: &Request, config: &Config, out: &mut impl Write) -> io::Result<Outcome> {
    let credential = match decide(request, &config.credentials) {
        Decision::Answer(c) => c,
        Decision::Refuse(why) => return Ok(refused(why, request)),
    };
    let Some((_, token)) = first_token(&credential.sources) else {
        return Ok(refused(Refusal::TokenUnavailable, request));
    };
    let expiry = expiry(credential, &token);
    Response {
        username: &credential.username,
        password: token.secret(),
        password_expiry_utc: expiry
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs()),
    }
    .write_to(out)?;
    tracing::info!(
        decision = "answer",
        origin = %credential.scope,
        username = %credential.username,
        token = %token.masked(),
        from = %credential.provenance,
    );
    let outcome = Outcome::Answered {
        scope: credential.scope.to_string(),
        username: credential.username.clone(),
        token: token.masked(),
        expiry,
    };
    Ok(outcome)
}

fn refused(why: Refusal, request: &Request) -> Outcome {
    tracing::info!(
        decision = "refuse",
        reason = %why,
        protocol = request.protocol.as_deref().unwrap_or(""),
        host = request.host.as_deref().unwrap_or(""),
    );
    Outcome::Refused(why)
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
    let fingerprint = request
        .password
        .as_ref()
        .and_then(|p| Token::new(secrecy::ExposeSecret::expose_secret(p).to_owned()).ok())
        .map(|t| t.fingerprint());
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
