//! `scrub`: credentials out of this repository's config. The work is in [`crate::scrub`].

use std::io;
use std::process::ExitCode;

use crate::config::Flags;
use crate::error::Failure;

pub fn run(flags: &Flags, dry_run: bool) -> Result<ExitCode, Failure> {
    let tokens = crate::scrub::served_tokens(flags);
    crate::scrub::run(dry_run, &tokens, &mut io::stdout().lock())
        .map_err(|e| Failure::new("scrub", e))?;
    Ok(ExitCode::SUCCESS)
}
