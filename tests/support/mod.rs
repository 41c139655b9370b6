//! Shared test harness: a real smart-HTTP git server over TLS, an isolated
//! git environment, real daemons, and the one bounded runner every program
//! a test starts goes through.
//!
//! - `programs`: the one constructor each for our binary, git and setpriv;
//! - `process`: the bounded runner (`Process`, `run`) and its one result type, `Run`;
//! - `sandbox`: an isolated HOME and git config to run git and our helper in;
//! - `git_server`: the TLS smart-HTTP server (`git http-backend` behind hyper);
//! - `gitlab`: what that server answers, as GitLab: the tokens it knows, git's 401/403/404;
//! - `lfs`: the server's Git LFS batch API and object store, with GitLab's token rules;
//! - `https`: a one-request HTTPS client that trusts the test CA, for what git does not show;
//! - `scenario`: the fluent set-up "server + sandbox + helper + git";
//! - `helper`: running the helper as git does, the test token, the disk scan;
//! - `daemon`: real daemons on private sockets, and their clean-up;
//! - `runner`: GitLab Runner's get_sources stage, replayed from its source.
//!
//! Every integration test module pulls this in through `tests/lib.rs`, but no
//! single test uses every helper, hence the blanket `dead_code` allowance.
#![allow(dead_code)]

pub mod daemon;
pub mod git_server;
pub mod gitlab;
pub mod helper;
pub mod https;
pub mod lfs;
pub mod process;
pub mod programs;
pub mod runner;
pub mod sandbox;
pub mod scenario;
