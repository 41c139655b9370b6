//! The daemon's memory of what it did: counters, the server's rejections, and the state it
//! reports to `status`. Each request also writes one audit line through `tracing`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// git sent `erase`: the server answered 401 to the credential we gave.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rejection {
    /// Seconds since the Unix epoch.
    pub at: u64,
    pub origin: String,
    pub fingerprint: Option<String>,
}

#[derive(Debug, Default)]
pub struct Audit {
    pub answered: AtomicU64,
    pub refused: AtomicU64,
    pub rejected: AtomicU64,
    last_rejection: Mutex<Option<Rejection>>,
}

impl Audit {
    pub fn record_rejection(&self, origin: String, fingerprint: Option<String>) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        let rejection = Rejection {
            at: unix_now(),
            origin,
            fingerprint,
        };
        if let Ok(mut last) = self.last_rejection.lock() {
            *last = Some(rejection);
        }
    }

    pub fn last_rejection(&self) -> Option<Rejection> {
        self.last_rejection.lock().ok().and_then(|l| l.clone())
    }
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

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
