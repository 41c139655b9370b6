//! One file per subcommand, each carrying out an [`Invocation`] and returning its exit code
//! or a [`Failure`] for `lib.rs` to report. Compare mini-redis's `src/cmd/`.
//!
//! * [`git_action`]: `get`, `store` and `erase`, the actions git runs us for;
//! * [`status`]: the diagnostic report;
//! * [`daemon`]: `daemon` and `stop`;
//! * [`configure`]: `configure` and `unconfigure`;
//! * [`scrub`]: credentials out of a repository's config;
//! * [`generate`]: man pages and completions, for packagers.

mod configure;
mod daemon;
mod generate;
mod git_action;
mod scrub;
mod status;

use std::process::ExitCode;

use crate::cli::{explicit_socket, socket_path, use_daemon, Command, Invocation};
use crate::error::Failure;

pub fn run(invocation: Invocation) -> Result<ExitCode, Failure> {
    let Invocation {
        command,
        flags,
        socket,
        use_daemon: mode,
    } = invocation;
    match command {
        Command::Get | Command::Store | Command::Erase => {
            git_action::run(&command, &flags, socket.as_deref(), use_daemon(mode))
        }
        Command::Status {
            url,
            json,
            online,
            expiry_warning_days,
        } => status::run(
            &flags,
            &socket_path(socket.as_deref()),
            use_daemon(mode),
            url,
            json,
            online,
            expiry_warning_days,
        ),
        Command::Daemon(args) => daemon::run(&flags, explicit_socket(socket.as_deref()), args),
        Command::Stop => daemon::stop(&socket_path(socket.as_deref())),
        Command::Configure(target) => {
            configure::run(&flags, socket.as_deref(), mode, &target, true)
        }
        Command::Unconfigure(target) => {
            configure::run(&flags, socket.as_deref(), mode, &target, false)
        }
        Command::Scrub { dry_run } => scrub::run(&flags, dry_run),
        Command::Packaging(packaging) => generate::run(packaging),
        // An action from a newer git: say nothing, so git moves on.
        Command::Unknown(_) => Ok(ExitCode::SUCCESS),
    }
}
