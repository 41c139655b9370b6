//! The single integration-test binary; every test module is declared here so
//! the harness in `support/` is compiled once.

mod support;

mod architecture;
mod configure_scrub;
mod daemon;
mod faults;
mod fuzz_corpus;
mod git_lfs;
mod hostile_requests;
mod other_clients;
mod process_selftest;
mod properties;
mod push_through_helper;
mod runner_replay;
mod server_selftest;
mod status_chain;
mod status_leaks;
mod status_online;
mod token_command;
