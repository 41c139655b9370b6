//! The clap definition of the whole command line, and the [`Invocation`] it is read into.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::TypedValueParser as _;
use clap::{CommandFactory, Parser, Subcommand};
use clap_complete::Shell;

use crate::client::Mode;
use crate::config::Flags;

pub const BIN_NAME: &str = "git-credential-gitlab-ci";

/// What to do, with the settings every subcommand shares.
#[derive(Debug)]
pub struct Invocation {
    pub command: Command,
    pub flags: Flags,
    /// `--socket`: the default is worked out only when the daemon is asked.
    pub socket: Option<PathBuf>,
    pub use_daemon: Option<Mode>,
}

/// A git credential helper for GitLab CI: answers only your GitLab server, with a token from
/// an environment variable or a file, so no token is ever written into a remote URL.
#[derive(Debug, Parser)]
#[command(
    name = BIN_NAME,
    version = crate::VERSION,
    allow_external_subcommands = true
)]
#[command(
    after_help = "Configure git (once, for example in a runner image):\n  \
    git-credential-gitlab-ci configure --system --url https://gitlab.example.com\n\n\
    See what git will do, and what is wrong: git-credential-gitlab-ci status\n\
    Logging: GIT_CREDENTIAL_GITLAB_CI_LOG=debug (to stderr; tokens are never logged)."
)]
pub struct Cli {
    /// The origin to serve, optionally with a path prefix: https://host[:port][/group].
    /// [env: GIT_CREDENTIAL_GITLAB_CI_URL] [default: CI_SERVER_URL's origin]
    #[arg(long, global = true, value_name = "URL")]
    pub url: Option<String>,

    /// The username to answer with.
    /// [env: GIT_CREDENTIAL_GITLAB_CI_USERNAME] [default: gitlab-ci-token]
    #[arg(long, global = true, value_name = "NAME")]
    pub username: Option<String>,

    /// Read the token from this environment variable. Repeatable; with --token-file, sources
    /// are tried in the order given and the first that holds a usable token wins.
    /// [env: GIT_CREDENTIAL_GITLAB_CI_TOKEN_ENV, comma-separated] [default: CI_JOB_TOKEN]
    #[arg(long = "token-env", global = true, value_name = "NAME")]
    pub token_env: Vec<String>,

    /// Read the token from this file (one trailing newline is ignored). Repeatable.
    /// [env: GIT_CREDENTIAL_GITLAB_CI_TOKEN_FILE, ':'-separated]
    #[arg(long = "token-file", global = true, value_name = "PATH")]
    pub token_file: Vec<PathBuf>,

    /// Run this shell command (/bin/sh -c, stdin closed) for the token: it prints the token
    /// alone on one line, or git credential lines (password=, optionally username= and
    /// password_expiry_utc=). Repeatable, ordered with --token-env and --token-file.
    /// [env: GIT_CREDENTIAL_GITLAB_CI_TOKEN_COMMAND; deadline
    /// GIT_CREDENTIAL_GITLAB_CI_TOKEN_COMMAND_TIMEOUT, default 5s; the daemon keeps a token of
    /// no known expiry for GIT_CREDENTIAL_GITLAB_CI_TOKEN_COMMAND_TTL, default 5m]
    #[arg(long = "token-command", global = true, value_name = "COMMAND")]
    pub token_command: Vec<String>,

    /// Read credentials from this TOML file instead of the user and system config files.
    /// [env: GIT_CREDENTIAL_GITLAB_CI_CONFIG]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// The daemon's socket. [env: GIT_CREDENTIAL_GITLAB_CI_SOCKET]
    /// [default: $XDG_RUNTIME_DIR/git-credential-gitlab-ci/daemon.sock, else ~/.cache/...,
    /// else $TMPDIR/git-credential-gitlab-ci-<uid>/...; inside a job,
    /// .../git-credential-gitlab-ci/job-<CI_JOB_ID>/daemon.sock]
    #[arg(long, global = true, value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// Whether `get` asks a running daemon first (auto), only the daemon (only), or never.
    /// [env: GIT_CREDENTIAL_GITLAB_CI_USE_DAEMON] [default: auto]
    #[arg(long, global = true, value_name = "MODE", value_parser = mode_parser())]
    pub use_daemon: Option<Mode>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// git's action: print the credential for the request on stdin, or nothing.
    Get,
    /// git's action: ignored, this helper never stores anything.
    Store,
    /// git's action: the server rejected the token; nothing is printed.
    Erase,
    /// Explain what is served, where each token comes from, and what is wrong.
    Status {
        /// The URL to check git's set-up for [default: origin's push URL, else
        /// $CI_SERVER_URL/$CI_PROJECT_PATH.git]
        // Its own id: sharing "url" with the global --url made each fill in the other.
        #[arg(id = "target", value_name = "URL")]
        url: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Also ask the server, through git (ls-remote, and a dry-run push that sends
        /// nothing), whether the token may fetch and push the project, and say why not.
        #[arg(long)]
        online: bool,
        /// With --online: warn this many days before an access token expires.
        #[arg(long, value_name = "DAYS", default_value_t = 14)]
        expiry_warning_days: u64,
    },
    /// Hold the tokens in one hardened process and answer the helper over a local socket.
    Daemon(DaemonArgs),
    /// Stop the daemon on the socket.
    Stop,
    /// Configure git to ask this helper for each origin it serves: a reset, then this program
    /// by absolute path with the serving options given here (--url, --username, --token-env,
    /// --token-file, --config, --socket, --use-daemon), and useHttpPath where a credential is
    /// scoped to a path. Running it again changes nothing.
    Configure(SetupTarget),
    /// Remove exactly what `configure` added, for the origins served with these options.
    Unconfigure(SetupTarget),
    /// Remove credentials from this repository's config: passwords and tokens in remote and
    /// submodule URLs, and insteadOf rules that rewrite URLs into ones carrying a token
    /// (GitLab Runner's per-job rule among them). Secrets are masked in what it prints.
    Scrub {
        /// Print what would change, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    #[command(external_subcommand)]
    Unknown(#[allow(dead_code)] Vec<OsString>),
    /// Packaging's commands, parsed apart (see [`parse`]); not part of `--help`.
    #[command(skip)]
    Packaging(Packaging),
}

/// The packaging commands, parsed apart from the user-facing command line.
#[derive(Debug, Parser)]
#[command(name = BIN_NAME, version = crate::VERSION)]
pub enum Packaging {
    /// Write the man pages into DIR.
    GenerateMan { dir: PathBuf },
    /// Write SHELL's completion script into DIR.
    GenerateCompletions { shell: Shell, dir: PathBuf },
}

#[derive(Debug, clap::Args)]
pub struct DaemonArgs {
    /// Return once the daemon accepts connections; it runs on in its own session.
    #[arg(long)]
    pub detach: bool,
    /// Stop after this long without a request, e.g. 30m.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub idle_timeout: Option<Duration>,
    /// Stop this long after starting, e.g. 2h (a job's length). [default inside a job:
    /// CI_JOB_TIMEOUT seconds, else 1h; outside a job: none]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub ttl: Option<Duration>,
    /// The audit trail's format.
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    /// Append the audit trail to this file instead of stderr (with --detach: the default is
    /// daemon.log beside the socket).
    #[arg(long, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
    /// Internal: the re-executed daemon reads its settings and tokens from this descriptor.
    #[arg(long, hide = true, value_name = "FD")]
    pub handoff_fd: Option<i32>,
    /// Internal: where the re-executed daemon reports that it is ready.
    #[arg(long, hide = true, value_name = "FD")]
    pub ready_fd: Option<i32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// `auto`, `only` or `never`, listed in `--help` as clap lists an enum's values.
fn mode_parser() -> impl clap::builder::TypedValueParser<Value = Mode> {
    clap::builder::PossibleValuesParser::new(Mode::NAMES)
        .map(|name| name.parse::<Mode>().unwrap_or_default())
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 90s, 30m, 2h)"))
}

/// The whole command line, for the man pages and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Where `configure` and `unconfigure` write: exactly one of these.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct SetupTarget {
    /// The system-wide config file (as git config --system).
    #[arg(long)]
    pub system: bool,
    /// The user's config file (as git config --global).
    #[arg(long)]
    pub global: bool,
    /// This repository's config file (as git config --local).
    #[arg(long)]
    pub local: bool,
    /// This config file (as git config --file).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// No file: print GIT_CONFIG_COUNT/KEY/VALUE exports, for
    /// `eval "$(git-credential-gitlab-ci configure --env)"`. git reads them after every config
    /// file, so they win over GitLab Runner's per-job config.
    #[arg(long)]
    pub env: bool,
}
