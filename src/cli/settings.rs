//! From what the command line said to the settings commands use: token sources in the order
//! given, the daemon's socket and whether to use it, each with its environment fallback.

use std::path::{Path, PathBuf};

use clap::ArgMatches;

use super::args::Cli;
use crate::client::Mode;
use crate::config::{Flags, ENV_SOCKET, ENV_USE_DAEMON};
use crate::daemon::default_socket_path;
use crate::token::{CommandSource, TokenSource};

/// The daemon's socket: `--socket`, else `GIT_CREDENTIAL_GITLAB_CI_SOCKET`, else the default.
pub fn socket_path(flag: Option<&Path>) -> PathBuf {
    explicit_socket(flag).unwrap_or_else(default_socket_path)
}

/// The socket the user named, with `--socket` or `GIT_CREDENTIAL_GITLAB_CI_SOCKET`, if any.
pub fn explicit_socket(flag: Option<&Path>) -> Option<PathBuf> {
    flag.map(Path::to_path_buf).or_else(|| {
        std::env::var_os(ENV_SOCKET)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
    })
}

/// `--use-daemon`, else `GIT_CREDENTIAL_GITLAB_CI_USE_DAEMON`, else auto.
pub fn use_daemon(flag: Option<Mode>) -> Mode {
    flag.or_else(|| {
        std::env::var(ENV_USE_DAEMON)
            .ok()
            .and_then(|m| m.to_ascii_lowercase().parse().ok())
    })
    .unwrap_or_default()
}

/// Collects the token sources in the order they were given across both flags: clap keeps
/// each flag's values separately, its indices tell how they interleave.
pub(super) fn flags(cli: &Cli, matches: &ArgMatches) -> Flags {
    let matches = match matches.subcommand() {
        Some((_, sub))
            if sub.contains_id("token_env")
                || sub.contains_id("token_file")
                || sub.contains_id("token_command") =>
        {
            sub
        }
        _ => matches,
    };
    let indexed = |id: &str| -> Vec<usize> {
        matches
            .indices_of(id)
            .map(Iterator::collect)
            .unwrap_or_default()
    };
    let mut sources: Vec<(usize, TokenSource)> = Vec::new();
    let env_idx = indexed("token_env");
    let file_idx = indexed("token_file");
    for (i, name) in cli.token_env.iter().enumerate() {
        sources.push((
            env_idx.get(i).copied().unwrap_or(i),
            TokenSource::Env(name.clone()),
        ));
    }
    for (i, path) in cli.token_file.iter().enumerate() {
        let at = file_idx.get(i).copied().unwrap_or(usize::MAX / 2 + i);
        sources.push((at, TokenSource::File(path.clone())));
    }
    let command_idx = indexed("token_command");
    for (i, command) in cli.token_command.iter().enumerate() {
        let at = command_idx
            .get(i)
            .copied()
            .unwrap_or(usize::MAX / 4 * 3 + i);
        sources.push((
            at,
            TokenSource::Command(CommandSource::new(command.clone())),
        ));
    }
    sources.sort_by_key(|(i, _)| *i);
    Flags {
        url: cli.url.clone(),
        username: cli.username.clone(),
        sources: sources.into_iter().map(|(_, s)| s).collect(),
        config: cli.config.clone(),
    }
}
