//! The messages inside frames: git's `erase` as the client forwards it (the password replaced
//! by its fingerprint, so no token crosses the socket for it), and the state the daemon reports
//! to `status`, as JSON. No secrets: tokens appear masked.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::credential::Request;

/// git sent `erase`: the server answered 401 to the credential we gave.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rejection {
    /// Seconds since the Unix epoch.
    pub at: u64,
    pub origin: String,
    pub fingerprint: Option<String>,
}

/// What the daemon tells `status` about itself. No secrets: tokens appear masked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DaemonState {
    pub pid: u32,
    pub version: String,
    pub socket: String,
    pub started_at: u64,
    pub uptime_secs: u64,
    pub answered: u64,
    pub refused: u64,
    pub rejected: u64,
    pub last_rejection: Option<Rejection>,
    /// When the daemon will stop on its own (`--ttl`), seconds since the Unix epoch.
    pub stops_at: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub credentials: Vec<HeldCredential>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeldCredential {
    pub url: String,
    pub username: String,
    /// Kind and fingerprint, as `status` prints them; none if no source holds a token.
    pub token: Option<String>,
    /// Why each source gave no token, when none did.
    #[serde(default)]
    pub unavailable: Vec<String>,
    pub expires_at: Option<u64>,
}

/// The daemon's reply to an erase of the token it serves (a real rejection); any other erase
/// gets `recorded`.
pub const REJECTED: &[u8] = b"rejected";

/// An erase for the daemon: git's request without the password, plus the password's
/// fingerprint on a line of its own.
pub fn encode_erase(request: &Request) -> Zeroizing<Vec<u8>> {
    let fingerprint = request.password.as_ref().map(crate::token::fingerprint_of);
    let without_password = Request {
        protocol: request.protocol.clone(),
        host: request.host.clone(),
        path: request.path.clone(),
        username: request.username.clone(),
        password: None,
        multi: Default::default(),
    };
    let mut out = without_password.encode();
    if let Some(f) = fingerprint {
        out.extend_from_slice(format!("fingerprint={f}\n").as_bytes());
    }
    out
}

/// The request and fingerprint of an [`encode_erase`] payload; `None` when it is malformed.
pub fn decode_erase(payload: &[u8]) -> Option<(Request, Option<String>)> {
    let request = Request::parse(payload).ok()?;
    let fingerprint = std::str::from_utf8(payload)
        .ok()
        .and_then(|t| t.lines().rev().find_map(|l| l.strip_prefix("fingerprint=")))
        .filter(|f| f.len() == 8 && f.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned);
    Some((request, fingerprint))
}
