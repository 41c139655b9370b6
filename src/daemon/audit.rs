//! The daemon's memory of what it did: counters, the server's rejections, and the state it
//! reports to `status`. Each request also writes one audit line through `tracing`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::ipc::Rejection;

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

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
