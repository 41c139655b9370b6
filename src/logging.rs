//! Diagnostics on stderr through `tracing`, off unless asked for.
//!
//! git shows a helper's stderr to the user, and git's own tests require a helper to be silent
//! there in normal operation, so nothing is installed unless `GIT_CREDENTIAL_GITLAB_CI_LOG`
//! names a level. Events carry decisions, reasons, origins and token fingerprints; a token has
//! no `Display` and its `Debug` is masked, so it cannot be logged by accident.

use tracing::level_filters::LevelFilter;

pub const ENV_LOG: &str = "GIT_CREDENTIAL_GITLAB_CI_LOG";

/// Installs the stderr logger if `GIT_CREDENTIAL_GITLAB_CI_LOG` is set to `error`, `warn`,
/// `info`, `debug` or `trace`. Costs one environment lookup when it is not.
pub fn init() {
    let Some(level) = std::env::var_os(ENV_LOG) else {
        return;
    };
    // A level name, else a boolean as git reads one (`false`, `no`, `0`: off; `true`,
    // `yes`, `1`: debug), else debug.
    let level = match level.to_str().map(str::trim) {
        Some(l) => match l.parse::<LevelFilter>() {
            Ok(level) if !l.chars().all(|c| c.is_ascii_digit()) => level,
            _ => match crate::git::parse_bool(l) {
                Some(false) => return,
                _ => LevelFilter::DEBUG,
            },
        },
        None => LevelFilter::DEBUG,
    };
    if level == LevelFilter::OFF {
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .try_init();
}
