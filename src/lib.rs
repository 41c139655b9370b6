//! git-credential-gitlab-ci: a git credential helper for GitLab CI runners.
//!
//! git asks us for a credential; we answer only for the GitLab origin we serve, with the
//! configured username and a token read from an environment variable or a file, so that no
//! token ever has to live in a remote URL or in git's config.
//!
//! The modules, from the command line down. Dependencies point one way, down this list:
//! nothing imports a module above it (`tests/architecture.rs` checks).
//!
//! * [`cli`]: the clap definitions, the clap-free reader for git's own call, flags to settings;
//! * [`commands`]: one file per subcommand;
//! * [`report`]: the `status` report, built from gathered facts, as text and JSON;
//! * [`setup`] and [`scrub`]: our entries in git's config, and credentials out of it;
//! * [`daemon`] and [`client`]: the process that holds tokens, and the helper's side of it;
//! * [`ipc`]: the frames and messages the two exchange;
//! * [`git`]: git itself: its config as it reads it, its URL rules;
//! * [`config`]: which credentials we serve, from flags, variables, files and the job;
//! * [`credential`]: git's wire format, origins, the answer/refuse policy, the answer;
//! * [`token`]: the secret type and where tokens come from;
//! * [`hardening`] and [`logging`]: process and file defences, opt-in diagnostics.
//!
//! [`run`] is the one place that turns a failure into a message and an exit code.

mod cli;
mod client;
mod commands;
mod config;
mod credential;
mod daemon;
mod error;
mod git;
mod gitlab_api;
mod hardening;
mod ipc;
mod logging;
mod redact;
mod report;
mod scrub;
mod setup;
mod token;

#[doc(hidden)]
pub mod fuzzing;

use std::io::Write;
use std::process::ExitCode;

// What the integration tests, benches and fuzz targets use.
pub use client::request as client_request;
pub use credential::{decide, Credential, Decision, Provenance, Request, Scope};
pub use ipc::{split_answer, Kind};
pub use token::TokenSource;

/// `--version`: the crate's version and the commit it was built from (see build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("GIT_CREDENTIAL_GITLAB_CI_COMMIT"),
    ")"
);

/// The program: reads the command line, runs the command, and reports a failure.
pub fn run() -> ExitCode {
    hardening::no_core_dumps();
    let args = std::env::args_os().skip(1).collect();
    let invocation = match cli::parse(args) {
        Ok(invocation) => invocation,
        Err(e) => {
            // Usage errors go to stderr with status 2; --help and --version to stdout. A usage
            // error quotes what it could not use, which may be a token given in the wrong place.
            if e.use_stderr() {
                let message = redact::Redactor::default().apply(&e.render().to_string());
                let _ = std::io::stderr().write_all(message.as_bytes());
                return ExitCode::from(2);
            }
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    match commands::run(invocation) {
        Ok(code) => code,
        Err(failure) => {
            let name = match failure.command {
                Some(command) => format!("{} {command}", cli::BIN_NAME),
                None => cli::BIN_NAME.to_owned(),
            };
            let message = redact::Redactor::default().apply(&failure.error.to_string());
            let _ = writeln!(std::io::stderr(), "{name}: {message}");
            ExitCode::FAILURE
        }
    }
}
