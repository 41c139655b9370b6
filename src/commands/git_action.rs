//! `get`, `store` and `erase`: the actions git runs us for.
//!
//! This is the path git waits on for every fetch and push, so it stays synchronous and small:
//! read stdin, ask a daemon if one is to be asked, else load the settings, decide, read one
//! token source, and write two or three lines.

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use crate::cli::{socket_path, Command};
use crate::client::{self, Mode};
use crate::config::{Config, ConfigError, Flags, ProcessEnv};
use crate::credential::{
    answer, decide, read_message, Answered, Decision, Request, Stdin, READ_TIMEOUT,
};
use crate::error::Failure;
use crate::ipc::{encode_erase, split_answer, JobIdentity, Kind, REJECTED};
use crate::logging;
use crate::redact::Redactor;
use crate::token::TokenSource;

/// `socket` is `--socket`: the path is worked out only if the daemon is asked.
pub fn run(
    command: &Command,
    flags: &Flags,
    socket: Option<&Path>,
    mode: Mode,
) -> Result<ExitCode, Failure> {
    logging::init();
    let raw = match read_message(&mut Stdin, READ_TIMEOUT) {
        Ok(raw) => raw,
        Err(why) => {
            tracing::info!(decision = "refuse", reason = %why);
            return Ok(ExitCode::SUCCESS);
        }
    };
    let request = match Request::parse(&raw) {
        Ok(r) => r,
        Err(why) => {
            tracing::info!(decision = "refuse", reason = %why);
            return Ok(ExitCode::SUCCESS);
        }
    };
    match command {
        Command::Store => {
            store(&request);
            return Ok(ExitCode::SUCCESS);
        }
        Command::Erase if mode != Mode::Never => {
            let payload = encode_erase(&request);
            match client::request(&socket_path(socket), Kind::Erase, &payload) {
                Ok((Kind::Data, reply)) if reply.as_slice() == REJECTED => {
                    let fingerprint = request.password.as_ref().map(crate::token::fingerprint_of);
                    rejection_hint("the token the daemon serves", fingerprint.as_deref());
                    return Ok(ExitCode::SUCCESS);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(daemon = %e, "the rejection was not recorded by a daemon")
                }
            }
        }
        Command::Get if mode != Mode::Never => {
            let socket = socket_path(socket);
            match client::request(&socket, Kind::Get, &raw) {
                Ok((Kind::Answer, response)) => {
                    // The daemon names the job it serves: one of another job (same uid, same
                    // HOME, on a shell executor) is ignored as if none ran.
                    match split_answer(&response) {
                        Some((job, answer)) if job.serves(&JobIdentity::from_env()) => {
                            tracing::info!(decision = "answer", by = "daemon", socket = %socket.display());
                            return Ok(write_answer(answer));
                        }
                        Some((job, _)) => {
                            // As a string (quoted and escaped), and the id only: the server URL is
                            // the daemon's environment's, and not ours to print.
                            tracing::info!(decision = "ignore_daemon", socket = %socket.display(), daemon_job_id = job.job_id.as_deref().unwrap_or_default(), "the daemon serves another job");
                        }
                        None => {
                            tracing::info!(decision = "ignore_daemon", socket = %socket.display(), "the daemon's answer is malformed");
                        }
                    }
                    if mode == Mode::Only {
                        return Ok(ExitCode::SUCCESS);
                    }
                }
                Ok((kind, why)) => {
                    tracing::info!(decision = "refuse", by = "daemon", ?kind, reason = %String::from_utf8_lossy(&why));
                    if mode == Mode::Only {
                        return Ok(ExitCode::SUCCESS);
                    }
                }
                Err(e) => {
                    tracing::debug!(daemon = %e);
                    if mode == Mode::Only {
                        tracing::info!(
                            decision = "refuse",
                            reason = "no daemon reachable and --use-daemon only"
                        );
                        return Ok(ExitCode::SUCCESS);
                    }
                }
            }
        }
        _ => {}
    }
    // A broken setting is the administrator's to fix; git shows the message to the user.
    // A relative config path is refused in silence: it could be the repository's to set.
    let config = match Config::load(flags, &ProcessEnv) {
        Err(why @ ConfigError::Relative { .. }) => {
            tracing::info!(decision = "refuse", reason = %why);
            return Ok(ExitCode::SUCCESS);
        }
        other => other.map_err(Failure::bare)?,
    };
    match command {
        Command::Get => Ok(match get(&request, &config) {
            Some(answered) => write_answer(&answered.response),
            None => ExitCode::SUCCESS,
        }),
        _ => {
            erase(&request, &config);
            Ok(ExitCode::SUCCESS)
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

/// Decides `get` for the standalone helper and logs the decision; the caller writes the
/// response, if any, to git.
fn get<'a>(request: &Request, config: &'a Config) -> Option<Answered<'a>> {
    match answer(request, &config.credentials) {
        Ok(answered) => {
            tracing::info!(
                decision = "answer",
                origin = %answered.credential.scope,
                username = %answered.username(),
                token = %answered.token.masked(),
            );
            Some(answered)
        }
        Err(why) => {
            tracing::info!(
                decision = "refuse",
                reason = %why,
                protocol = request.protocol.as_deref().unwrap_or(""),
                host = request.host.as_deref().unwrap_or(""),
            );
            None
        }
    }
}

/// git sends `store` to every helper after a success, ours included: we are read-only, so the
/// credential (our own token, coming back) is dropped, zeroed, and nothing is printed.
fn store(request: &Request) {
    tracing::debug!(action = "store", host = ?request.host, "ignored: this helper never stores");
}

/// git sends `erase` after the server answered 401 to the credential it had: for our token,
/// expired, revoked, or sent to another instance. A missing permission is a 403, for which
/// git sends nothing. Only an erase that carries our token is about ours: GitLab Runner
/// 19.3 sends every helper an erase with a user name and no password at the end of every
/// job's get_sources, and another helper's rejected password is not our business.
fn erase(request: &Request, config: &Config) {
    let Decision::Answer(c) = decide(request, &config.credentials) else {
        tracing::debug!(action = "erase", "not for an origin we serve");
        return;
    };
    // A token command is not run again to compare: it would mint another token.
    let ours = request.password.as_ref().and_then(|p| {
        let (source, token) = c
            .sources
            .iter()
            .filter(|s| !matches!(s, TokenSource::Command(_)))
            .find_map(|s| s.read().ok().map(|t| (s, t)))?;
        token.is_secret(p).then_some((source, token))
    });
    if let Some((source, token)) = ours {
        tracing::warn!(
            action = "erase",
            origin = %c.scope,
            fingerprint = %token.fingerprint(),
            "the server rejected the token with 401: expired, revoked, or for another GitLab instance"
        );
        rejection_hint(
            &format!("the token from {source}"),
            Some(&token.fingerprint()),
        );
    } else {
        tracing::debug!(
            action = "erase",
            origin = %c.scope,
            password = if request.password.is_some() { "another" } else { "none" },
            "not a rejection of our token"
        );
    }
}

/// The one line the helper writes on stderr outside debugging: git erased our token after the
/// server answered 401, and git's own message (`Authentication failed`) says nothing of why.
fn rejection_hint(what: &str, fingerprint: Option<&str>) {
    let line = format!(
        "git-credential-gitlab-ci: the server refused {what} (fingerprint {}) with 401: it is expired, revoked, or for another GitLab instance; run `git-credential-gitlab-ci status --online`\n",
        fingerprint.unwrap_or("unknown")
    );
    let _ = io::stderr().write_all(Redactor::default().apply(&line).as_bytes());
}
