//! Shared test harness: a real smart-HTTP git server over TLS and an
//! isolated git environment.
//!
//! Every integration test module pulls this in through `tests/lib.rs`, but no
//! single test uses every helper, hence the blanket `dead_code` allowance.
#![allow(dead_code)]

pub mod daemon;
pub mod git_server;
pub mod helper;
pub mod sandbox;
