//! The command line: git's actions (`get`, `store`, `erase`) and ours (`status`).
//!
//! git runs a helper as `<helper string> get|store|erase`, so options always come before the
//! action. Any other action is ignored silently, as git's protocol asks of helpers.

use std::ffi::{OsStr, OsString};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

use std::time::Duration;

use crate::client::{self, Mode};
use crate::config::{Config, Flags, ProcessEnv, ENV_SOCKET, ENV_USE_DAEMON};
use crate::daemon::handoff::Settings;
use crate::daemon::socket::default_socket_path;
use crate::framing::Kind;
use crate::protocol::{read_message, Request, Stdin, READ_TIMEOUT};
use crate::source::TokenSource;
use crate::status::{Level, Report};
use crate::{daemon, helper, logging};

/// A git credential helper for GitLab CI: answers only your GitLab server, with a token from
/// an environment variable or a file, so no token is ever written into a remote URL.
#[derive(Debug, Parser)]
#[command(
    name = "git-credential-gitlab-ci",
    version = VERSION,
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
    url: Option<String>,

    /// The username to answer with.
    /// [env: GIT_CREDENTIAL_GITLAB_CI_USERNAME] [default: gitlab-ci-token]
    #[arg(long, global = true, value_name = "NAME")]
    username: Option<String>,

    /// Read the token from this environment variable. Repeatable; with --token-file, sources
    /// are tried in the order given and the first that holds a usable token wins.
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

    /// The daemon's socket. [env: GIT_CREDENTIAL_GITLAB_CI_SOCKET]
    /// [default: $XDG_RUNTIME_DIR/git-credential-gitlab-ci/daemon.sock, else ~/.cache/...]
    #[arg(long, global = true, value_name = "PATH")]
    socket: Option<PathBuf>,

    /// Whether `get` asks a running daemon first (auto), only the daemon (only), or never.
    /// [env: GIT_CREDENTIAL_GITLAB_CI_USE_DAEMON] [default: auto]
    #[arg(long, global = true, value_name = "MODE")]
    use_daemon: Option<Mode>,

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
        /// The URL to check git's set-up for [default: origin's push URL, else
        /// $CI_SERVER_URL/$CI_PROJECT_PATH.git]
        // Its own id: sharing "url" with the global --url made each fill in the other.
        #[arg(id = "target", value_name = "URL")]
        url: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
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
}

#[derive(Debug, clap::Args)]
struct DaemonArgs {
    /// Return once the daemon accepts connections; it runs on in its own session.
    #[arg(long)]
    detach: bool,
    /// Stop after this long without a request, e.g. 30m.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    idle_timeout: Option<Duration>,
    /// Stop this long after starting, e.g. 2h (a job's length).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    ttl: Option<Duration>,
    /// The audit trail's format.
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    log_format: LogFormat,
    /// Append the audit trail to this file instead of stderr (with --detach: the default is
    /// daemon.log beside the socket).
    #[arg(long, value_name = "PATH")]
    log_file: Option<PathBuf>,
    /// Internal: the re-executed daemon reads its settings and tokens from this descriptor.
    #[arg(long, hide = true, value_name = "FD")]
    handoff_fd: Option<i32>,
    /// Internal: where the re-executed daemon reports that it is ready.
    #[arg(long, hide = true, value_name = "FD")]
    ready_fd: Option<i32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 90s, 30m, 2h)"))
}

/// `--version`: the crate's version and the commit it was built from (see build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("GIT_CREDENTIAL_GITLAB_CI_COMMIT"),
    ")"
);

/// The whole command line, for the man pages and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

pub fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if let Some(call) = GitCall::parse(&args) {
        return git_action(
            &call.action,
            &call.flags,
            call.socket.as_deref(),
            use_daemon(call.use_daemon),
        );
    }
    // Packaging's generate-man and generate-completions are parsed apart, so that git's `get`
    // never builds their definitions (see generate.rs).
    if let Some(code) = crate::generate::run_if_asked() {
        return code;
    }
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
    let socket = socket_path(cli.socket.as_deref());
    let mode = use_daemon(cli.use_daemon);
    match cli.command {
        Command::Get | Command::Store | Command::Erase => {
            git_action(&cli.command, &flags, cli.socket.as_deref(), mode)
        }
        Command::Status { url, json } => status(&flags, &socket, mode, url, json),
        Command::Daemon(args) => run_daemon(&flags, socket, args),
        Command::Stop => stop(&socket),
        Command::Configure(target) => {
            setup_git(&flags, cli.socket.as_deref(), cli.use_daemon, &target, true)
        }
        Command::Unconfigure(target) => setup_git(
            &flags,
            cli.socket.as_deref(),
            cli.use_daemon,
            &target,
            false,
        ),
        Command::Scrub { dry_run } => scrub(&flags, dry_run),
        // An action from a newer git: say nothing, so git moves on.
        Command::Unknown(_) => ExitCode::SUCCESS,
    }
}

/// The daemon's socket: `--socket`, else `GIT_CREDENTIAL_GITLAB_CI_SOCKET`, else the default.
fn socket_path(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| {
            std::env::var_os(ENV_SOCKET)
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(default_socket_path)
}

/// `--use-daemon`, else `GIT_CREDENTIAL_GITLAB_CI_USE_DAEMON`, else auto.
fn use_daemon(flag: Option<Mode>) -> Mode {
    flag.or_else(|| {
        std::env::var(ENV_USE_DAEMON)
            .ok()
            .and_then(|m| <Mode as clap::ValueEnum>::from_str(&m, true).ok())
    })
    .unwrap_or_default()
}

/// A command line in the form git runs the helper in, `[--OPTION VALUE]... get|store|erase`,
/// read without clap.
///
/// Building clap's definition of the whole command line (every subcommand and its help) is
/// most of what `get` costs before it reads stdin, and git waits on `get` for every fetch
/// and push. So the helper strings that `configure` writes are read here, and anything else,
/// or anything out of the ordinary in them (an option that takes one value given twice, an
/// empty value or one that starts with '-', an option after the action), goes to clap as
/// before. `tests::git_calls_read_as_clap_reads_them` holds the two to the same result.
struct GitCall {
    action: Command,
    flags: Flags,
    socket: Option<PathBuf>,
    use_daemon: Option<Mode>,
}

impl GitCall {
    fn parse(args: &[OsString]) -> Option<GitCall> {
        let (action, options) = args.split_last()?;
        let action = match action.to_str()? {
            "get" => Command::Get,
            "store" => Command::Store,
            "erase" => Command::Erase,
            _ => return None,
        };
        let mut call = GitCall {
            action,
            flags: Flags::default(),
            socket: None,
            use_daemon: None,
        };
        let mut options = options.iter();
        while let Some(option) = options.next() {
            let option = option.to_str()?;
            let (name, value) = match option.split_once('=') {
                Some((name, value)) => (name, OsStr::new(value)),
                None => (option, options.next()?.as_os_str()),
            };
            if value.is_empty() || value.as_encoded_bytes().starts_with(b"-") {
                return None;
            }
            let text = || value.to_str().map(str::to_owned);
            let flags = &mut call.flags;
            match name {
                "--url" if flags.url.is_none() => flags.url = Some(text()?),
                "--username" if flags.username.is_none() => flags.username = Some(text()?),
                "--token-env" => flags.sources.push(TokenSource::Env(text()?)),
                "--token-file" => flags.sources.push(TokenSource::File(value.into())),
                "--config" if flags.config.is_none() => flags.config = Some(value.into()),
                "--socket" if call.socket.is_none() => call.socket = Some(value.into()),
                "--use-daemon" if call.use_daemon.is_none() => {
                    call.use_daemon = Some(match value.to_str()? {
                        "auto" => Mode::Auto,
                        "only" => Mode::Only,
                        "never" => Mode::Never,
                        _ => return None,
                    })
                }
                _ => return None,
            }
        }
        Some(call)
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

/// `socket` is `--socket`: the path is worked out only if the daemon is asked.
fn git_action(command: &Command, flags: &Flags, socket: Option<&Path>, mode: Mode) -> ExitCode {
    logging::init();
    let raw = match read_message(&mut Stdin, READ_TIMEOUT) {
        Ok(raw) => raw,
        Err(why) => {
            tracing::info!(decision = "refuse", reason = %why);
            return ExitCode::SUCCESS;
        }
    };
    let request = match Request::parse(&raw) {
        Ok(r) => r,
        Err(why) => {
            tracing::info!(decision = "refuse", reason = %why);
            return ExitCode::SUCCESS;
        }
    };
    match command {
        Command::Store => {
            helper::store(&request);
            return ExitCode::SUCCESS;
        }
        Command::Erase if mode != Mode::Never => {
            let payload = daemon::server::erase_payload(&request);
            if let Err(e) = client::request(&socket_path(socket), Kind::Erase, &payload) {
                tracing::debug!(daemon = %e, "the rejection was not recorded by a daemon");
            }
        }
        Command::Get if mode != Mode::Never => {
            let socket = socket_path(socket);
            match client::request(&socket, Kind::Get, &raw) {
                Ok((Kind::Answer, response)) => {
                    tracing::info!(decision = "answer", by = "daemon", socket = %socket.display());
                    return write_answer(&response);
                }
                Ok((kind, why)) => {
                    tracing::info!(decision = "refuse", by = "daemon", ?kind, reason = %String::from_utf8_lossy(&why));
                    if mode == Mode::Only {
                        return ExitCode::SUCCESS;
                    }
                }
                Err(e) => {
                    tracing::debug!(daemon = %e);
                    if mode == Mode::Only {
                        tracing::info!(
                            decision = "refuse",
                            reason = "no daemon reachable and --use-daemon only"
                        );
                        return ExitCode::SUCCESS;
                    }
                }
            }
        }
        _ => {}
    }
    let config = match Config::load(flags, &ProcessEnv) {
        Ok(c) => c,
        Err(e) => {
            // A broken setting is the administrator's to fix; git shows this line to the user.
            let _ = writeln!(io::stderr(), "git-credential-gitlab-ci: {e}");
            return ExitCode::FAILURE;
        }
    };
    match command {
        Command::Get => match helper::get(&request, &config) {
            helper::Outcome::Answered(answered) => write_answer(&answered.response),
            helper::Outcome::Refused(_) => ExitCode::SUCCESS,
        },
        _ => {
            helper::erase(&request, &config);
            ExitCode::SUCCESS
        }
    }
}

/// Writes git's answer; a closed pipe means git no longer wants it, which is not an error.
fn write_answer(response: &[u8]) -> ExitCode {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match out.write_all(response).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

fn run_daemon(flags: &Flags, socket: PathBuf, args: DaemonArgs) -> ExitCode {
    #[cfg(unix)]
    if let Some(fd) = args.handoff_fd {
        return daemon::serve_handoff(fd, args.ready_fd);
    }
    let config = match Config::load(flags, &ProcessEnv) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("git-credential-gitlab-ci daemon: {e}");
            return ExitCode::FAILURE;
        }
    };
    let log_file = args
        .log_file
        .or_else(|| args.detach.then(|| socket.with_file_name("daemon.log")));
    let settings = Settings {
        socket,
        idle_timeout: args.idle_timeout,
        ttl: args.ttl,
        log_json: args.log_format == LogFormat::Json,
        log_file,
    };
    daemon::start(config, settings, args.detach)
}

fn stop(socket: &std::path::Path) -> ExitCode {
    match client::request(socket, Kind::Stop, b"") {
        Ok(_) => {
            // The daemon removes its socket as its last act; wait for that, briefly.
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while socket.exists() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            println!(
                "git-credential-gitlab-ci: the daemon on {} has stopped",
                socket.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("git-credential-gitlab-ci stop: {e}");
            ExitCode::FAILURE
        }
    }
}

fn status(
    flags: &Flags,
    socket: &std::path::Path,
    mode: Mode,
    url: Option<String>,
    json: bool,
) -> ExitCode {
    let daemon = crate::status::query_daemon(socket, mode);
    let target = url
        .map(|u| (u, "given on the command line".to_owned()))
        .or_else(origin_push_url)
        .or_else(ci_project_url);
    let report = Report::build(
        Config::load(flags, &ProcessEnv),
        daemon,
        target,
        SystemTime::now(),
    );
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

/// The push URL of `origin` as written in the config (`pushurl`, else `url`), before any
/// `insteadOf` rewriting, which the report shows as a finding of its own.
fn origin_push_url() -> Option<(String, String)> {
    let get = |key: &str| {
        let out = std::process::Command::new("git")
            .args(["config", "--get", key])
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        let url = String::from_utf8(out.stdout).ok()?.trim().to_owned();
        (out.status.success() && !url.is_empty()).then_some(url)
    };
    get("remote.origin.pushurl")
        .or_else(|| get("remote.origin.url"))
        .map(|url| (url, "origin's push URL".to_owned()))
}

/// `$CI_SERVER_URL/$CI_PROJECT_PATH.git`, or the server alone.
fn ci_project_url() -> Option<(String, String)> {
    let server = std::env::var("CI_SERVER_URL")
        .ok()
        .filter(|s| !s.is_empty())?;
    let server = server.trim_end_matches('/');
    Some(
        match std::env::var("CI_PROJECT_PATH")
            .ok()
            .filter(|p| !p.is_empty())
        {
            Some(project) => (
                format!("{server}/{project}.git"),
                "CI_SERVER_URL and CI_PROJECT_PATH".to_owned(),
            ),
            None => (format!("{server}/"), "CI_SERVER_URL".to_owned()),
        },
    )
}

/// Where `configure` and `unconfigure` write: exactly one of these.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
struct SetupTarget {
    /// The system-wide config file (as git config --system).
    #[arg(long)]
    system: bool,
    /// The user's config file (as git config --global).
    #[arg(long)]
    global: bool,
    /// This repository's config file (as git config --local).
    #[arg(long)]
    local: bool,
    /// This config file (as git config --file).
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// No file: print GIT_CONFIG_COUNT/KEY/VALUE exports, for
    /// `eval "$(git-credential-gitlab-ci configure --env)"`. git reads them after every config
    /// file, so they win over GitLab Runner's per-job config.
    #[arg(long)]
    env: bool,
}

fn setup_git(
    flags: &Flags,
    socket: Option<&std::path::Path>,
    use_daemon: Option<Mode>,
    target: &SetupTarget,
    configure: bool,
) -> ExitCode {
    use crate::git_setup::{self, Setup, Target};
    let run = || -> Result<(), git_setup::SetupError> {
        let use_daemon = use_daemon
            .and_then(|m| clap::ValueEnum::to_possible_value(&m))
            .map(|v| v.get_name().to_owned());
        let options = git_setup::helper_options(flags, socket, use_daemon.as_deref())?;
        let config = Config::load(flags, &ProcessEnv)?;
        let setup = Setup::new(&config, &git_setup::current_exe()?, &options)?;
        if target.env {
            let existing = git_setup::env_entries(git_setup::process_env)?;
            git_setup::print_env(&if configure {
                git_setup::configure_env(&setup, &existing)
            } else {
                git_setup::unconfigure_env(&setup, &existing)
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
            git_setup::configure(&file, &setup)?
        } else {
            git_setup::unconfigure(&file, &setup)?
        };
        print_lines(&report);
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let verb = if configure {
                "configure"
            } else {
                "unconfigure"
            };
            eprintln!("git-credential-gitlab-ci {verb}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn scrub(flags: &Flags, dry_run: bool) -> ExitCode {
    let tokens = crate::scrub::served_tokens(flags);
    match crate::scrub::run(dry_run, &tokens, &mut io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("git-credential-gitlab-ci scrub: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One line each on stdout; a closed pipe is not an error.
fn print_lines(lines: &[String]) {
    let mut out = io::stdout().lock();
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &[&str]) -> Vec<OsString> {
        line.iter().map(OsString::from).collect()
    }

    /// Whatever the fast path reads, clap reads to the same action and settings; whatever
    /// is out of the ordinary, the fast path leaves to clap.
    #[test]
    fn git_calls_read_as_clap_reads_them() {
        let read_fast: [&[&str]; 8] = [
            &["get"],
            &["store"],
            &["erase"],
            &["--use-daemon", "never", "get"],
            &["--url", "https://h.example:8443/g", "--username=u", "get"],
            &[
                "--token-env",
                "A",
                "--token-file",
                "/run/t",
                "--token-env=B",
                "get",
            ],
            &[
                "--config",
                "/etc/c.toml",
                "--socket=/run/s.sock",
                "--use-daemon=only",
                "erase",
            ],
            &["--url", "get", "get"],
        ];
        for line in read_fast {
            let call = GitCall::parse(&args(line)).unwrap_or_else(|| panic!("{line:?}"));
            let argv = std::iter::once("git-credential-gitlab-ci").chain(line.iter().copied());
            let matches = Cli::command().try_get_matches_from(argv).unwrap();
            let cli = Cli::from_arg_matches(&matches).unwrap();
            assert_eq!(
                format!("{:?}", call.action),
                format!("{:?}", cli.command),
                "{line:?}"
            );
            let flags = flags(&cli, &matches);
            assert_eq!(
                format!("{:?}", call.flags),
                format!("{flags:?}"),
                "{line:?}"
            );
            assert_eq!(call.socket, cli.socket, "{line:?}");
            assert_eq!(call.use_daemon, cli.use_daemon, "{line:?}");
        }
        let left_to_clap: [&[&str]; 15] = [
            &[],
            &["status"],
            &["get", "--url", "https://h"],
            &["--url", "https://a", "--url", "https://b", "get"],
            &["--url=", "get"],
            &["--url", "-x", "get"],
            &["--use-daemon", "AUTO", "get"],
            &["--help"],
            &["-h", "get"],
            &["--version"],
            &["--token-env", "get"],
            &["--", "get"],
            &["--unknown", "x", "get"],
            &["daemon", "--detach"],
            &["get", "get"],
        ];
        for line in left_to_clap {
            assert!(GitCall::parse(&args(line)).is_none(), "{line:?}");
        }
    }
}
