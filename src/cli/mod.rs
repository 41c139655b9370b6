//! The command line: git's actions (`get`, `store`, `erase`) and ours (`status`, `daemon`,
//! `configure`, ...), defined with clap ([`args`]) and read into an [`Invocation`] that
//! [`crate::commands`] carries out, with settings taken from flags or the environment
//! ([`settings`]).
//!
//! git runs a helper as `<helper string> get|store|erase`, so options always come before the
//! action. Any other action is ignored silently, as git's protocol asks of helpers. The
//! helper strings `configure` writes are read by a clap-free reader ([`git_call`]), since
//! building clap's whole definition is most of what `get` would cost; everything else, and
//! anything out of the ordinary in those strings, goes to clap.

mod args;
mod git_call;
mod settings;

use std::ffi::OsString;

use clap::{CommandFactory, FromArgMatches, Parser};

use crate::config::Flags;
use args::Cli;

pub use args::{
    command, Command, DaemonArgs, Invocation, LogFormat, Packaging, SetupTarget, BIN_NAME,
};
pub use settings::{explicit_socket, socket_path, use_daemon};

/// Reads the command line (without the program name). A clap error is for the caller to
/// print: it is a usage error, or `--help`/`--version` (which clap prints to stdout).
pub fn parse(args: Vec<OsString>) -> Result<Invocation, clap::Error> {
    if let Some(call) = git_call::parse(&args) {
        return Ok(call);
    }
    // Packaging's generate-man and generate-completions are parsed apart, so that git's `get`
    // never builds their definitions (see commands/generate.rs).
    if args
        .first()
        .is_some_and(|a| a == "generate-man" || a == "generate-completions")
    {
        let argv = std::iter::once(OsString::from(BIN_NAME)).chain(args);
        return Ok(Invocation {
            command: Command::Packaging(Packaging::try_parse_from(argv)?),
            flags: Flags::default(),
            socket: None,
            use_daemon: None,
        });
    }
    let argv = std::iter::once(OsString::from(BIN_NAME)).chain(args);
    let matches = Cli::command().try_get_matches_from(argv)?;
    let cli = Cli::from_arg_matches(&matches)?;
    Ok(Invocation {
        flags: settings::flags(&cli, &matches),
        command: cli.command,
        socket: cli.socket,
        use_daemon: cli.use_daemon,
    })
}
