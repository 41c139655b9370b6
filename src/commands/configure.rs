//! `configure` and `unconfigure`: our entries in git's config, written or removed in the file
//! (or the environment) the user names. The planning and the editing are in [`crate::setup`].

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use crate::cli::SetupTarget;
use crate::client::Mode;
use crate::config::{Config, Flags, ProcessEnv};
use crate::error::Failure;
use crate::redact::Redactor;
use crate::setup::{self, EnvEntries, Setup, SetupError, Target};

pub fn run(
    flags: &Flags,
    socket: Option<&Path>,
    use_daemon: Option<Mode>,
    target: &SetupTarget,
    configure: bool,
) -> Result<ExitCode, Failure> {
    let run = || -> Result<(), SetupError> {
        let options = setup::helper_options(flags, socket, use_daemon.map(Mode::as_str))?;
        let config = Config::load(flags, &ProcessEnv)?;
        let setup = Setup::new(&config, &setup::current_exe()?, &options)?;
        if target.env {
            // Which variables the git on PATH reads; with no git to ask, the current ones.
            let count = crate::git::version().map_or(true, |v| v.has_config_count());
            let existing = if count {
                EnvEntries::Count(crate::git::env_entries(crate::git::process_env)?)
            } else {
                let raw = crate::git::process_env("GIT_CONFIG_PARAMETERS").unwrap_or_default();
                let parsed = crate::git::parameters(&raw)?;
                EnvEntries::Parameters(raw, parsed)
            };
            setup::print_env(&if configure {
                setup::configure_env(&setup, &existing)
            } else {
                setup::unconfigure_env(&setup, &existing)
            });
            return Ok(());
        }
        let file = match (target.system, target.global, &target.file) {
            (true, _, _) => Target::System,
            (_, true, _) => Target::Global,
            (_, _, Some(file)) => Target::File(file.clone()),
            _ => Target::Local,
        };
        let report = if configure {
            setup::configure(&file, &setup)?
        } else {
            setup::unconfigure(&file, &setup)?
        };
        print_lines(&report);
        Ok(())
    };
    let verb = if configure {
        "configure"
    } else {
        "unconfigure"
    };
    run().map_err(|e| Failure::new(verb, e))?;
    Ok(ExitCode::SUCCESS)
}

/// One line each on stdout; a closed pipe is not an error.
fn print_lines(lines: &[String]) {
    let mut out = io::stdout().lock();
    let redactor = Redactor::default();
    for line in lines {
        if writeln!(out, "{}", redactor.apply(line)).is_err() {
            return;
        }
    }
}
