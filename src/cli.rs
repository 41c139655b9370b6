//! The command line: git's actions (`get`, `store`, `erase`) and ours (`status`).
//!
//! git runs a helper as `<helper string> get|store|erase`, so options always come before the
//! action. Any other action is ignored silently, as git's protocol asks of helpers.

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::{Config, Flags, ProcessEnv};
use crate::protocol::{read_message, Request, Stdin, READ_TIMEOUT};
use crate::source::TokenSource;
use crate::status::{Level, Report};
use crate::{helper, logging};

/// A git credential helper for GitLab CI: answers only your GitLab server, with a token from
/// an environment variable or a file, so no token is ever written into a remote URL.
#[derive(Debug, Parser)]
#[command(
    name = "git-credential-gitlab-ci",
    version,
    allow_external_subcommands = true
)]
#[command(
    after_help = "Configure git (once, for example in a runner image):\n  \
    git config --global credential.https://gitlab.example.com.helper ''\n  \
    git config --global --add credential.https://gitlab.example.com.helper \"$(command -v git-credential-gitlab-ci)\"\n\n\
    Logging: GIT_CREDENTIAL_GITLAB_CI_LOG=debug (to stderr; tokens are never logged)."
)]
pub struct Cli {
    /// The origin to serve, optionally with a path prefix: https://host[:port][/group].
    /// [env: GIT_CREDENTIAL_GITLAB_CI_URL] [default: CI_SERVER_URL's origin]
    #[arg(long, global = true, value_name = "URL")]
    url: Option<String>,

    /// The username to answer with.
    /// [env: GIT_CREDENTIAL_GITLAB_CI_USERNAME] [default: gitlab-ci-token]
    #[arg(long, global = true, value_name = "NAME")]
    username: Option<String>,

    /// Read the token from this environment variable. Repeatable; with --token-file, sources
    /// are tried in the order given and the first non-empty one wins.
    /// [env: GIT_CREDENTIAL_GITLAB_CI_TOKEN_ENV, comma-separated] [default: CI_JOB_TOKEN]
    #[arg(long = "token-env", global = true, value_name = "NAME")]
    token_env: Vec<String>,

    /// Read the token from this file (one trailing newline is ignored). Repeatable.
    /// [env: GIT_CREDENTIAL_GITLAB_CI_TOKEN_FILE, ':'-separated]
    #[arg(long = "token-file", global = true, value_name = "PATH")]
    token_file: Vec<PathBuf>,

    /// Read credentials from this TOML file instead of the user and system config files.
    /// [env: GIT_CREDENTIAL_GITLAB_CI_CONFIG]
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// git's action: print the credential for the request on stdin, or nothing.
    Get,
    /// git's action: ignored, this helper never stores anything.
    Store,
    /// git's action: the server rejected the token; nothing is printed.
    Erase,
    /// Explain what is served, where each token comes from, and what is wrong.
    Status {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    #[command(external_subcommand)]
    Unknown(#[allow(dead_code)] Vec<OsString>),
}

pub fn main() -> ExitCode {
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(2);
        }
    };
    let flags = flags(&cli, &matches);
    match cli.command {
        Command::Get | Command::Store | Command::Erase => git_action(&cli.command, &flags),
        Command::Status { json } => status(&flags, json),
        // An action from a newer git: say nothing, so git moves on.
        Command::Unknown(_) => ExitCode::SUCCESS,
    }
}

/// Collects the token sources in the order they were given across both flags: clap keeps
/// each flag's values separately, its indices tell how they interleave.
fn flags(cli: &Cli, matches: &ArgMatches) -> Flags {
    let matches = match matches.subcommand() {
        Some((_, sub)) if sub.contains_id("token_env") || sub.contains_id("token_file") => sub,
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
    sources.sort_by_key(|(i, _)| *i);
    Flags {
        url: cli.url.clone(),
        username: cli.username.clone(),
        sources: sources.into_iter().map(|(_, s)| s).collect(),
        config: cli.config.clone(),
    }
}

fn git_action(command: &Command, flags: &Flags) -> ExitCode {
    logging::init();
    let request = match read_message(&mut Stdin, READ_TIMEOUT).and_then(|raw| Request::parse(&raw))
    {
        Ok(r) => r,
        Err(why) => {
            tracing::debug!(decision = "refuse", reason = %why);
            return ExitCode::SUCCESS;
        }
    };
    if let Command::Store = command {
        helper::store(&request);
        return ExitCode::SUCCESS;
    }
    let config = match Config::load(flags, &ProcessEnv) {
        Ok(c) => c,
        Err(crate::config::ConfigError::NoUrl) => Config::default(),
        Err(e) => {
            // A broken setting is the administrator's to fix; git shows this line to the user.
            let _ = writeln!(io::stderr(), "git-credential-gitlab-ci: {e}");
            return ExitCode::FAILURE;
        }
    };
    match command {
        Command::Get => {
            let stdout = io::stdout();
            let mut out = stdout.lock();
            match helper::get(&request, &config, &mut out) {
                Ok(_) => ExitCode::SUCCESS,
                // git closed the pipe early: it no longer wants the answer.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            }
        }
        _ => {
            helper::erase(&request, &config);
            ExitCode::SUCCESS
        }
    }
}

fn status(flags: &Flags, json: bool) -> ExitCode {
    let report = Report::build(Config::load(flags, &ProcessEnv), SystemTime::now());
    let text = if json {
        let mut s = serde_json::to_string_pretty(&report).unwrap_or_default();
        s.push('\n');
        s
    } else {
        report.to_text()
    };
    let _ = io::stdout().lock().write_all(text.as_bytes());
    if report.worst() == Level::Problem {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
