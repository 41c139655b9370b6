//! The daemon's part of the `status` report: what the daemon on the socket said about
//! itself, or why none answered. Pure, from [`DaemonFacts`].

use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::facts::DaemonFacts;
use super::line::{rounded, Level, Line};
use crate::client::{ClientError, Mode};
use crate::ipc::{DaemonState, Kind};

/// What the daemon on the socket said about itself, if one answered.
#[derive(Debug, Serialize)]
pub struct DaemonReport {
    pub socket: String,
    pub mode: Mode,
    pub running: bool,
    /// Whether the running daemon serves this process's job (or was started outside any
    /// job), so that the helper uses it; false when none runs.
    pub serves_this_job: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<DaemonState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreachable: Option<String>,
    pub lines: Vec<Line>,
}

/// What the daemon's reply says about it. An absent daemon is a finding like any other.
pub(super) fn daemon_report(facts: DaemonFacts) -> DaemonReport {
    let socket = facts.socket.as_path();
    let mode = facts.mode;
    let mut report = DaemonReport {
        socket: socket.display().to_string(),
        mode,
        running: false,
        serves_this_job: false,
        state: None,
        unreachable: None,
        lines: Vec::new(),
    };
    let Some(reply) = facts.reply else {
        report.lines.push(Line::ok(
            "the daemon is not used (--use-daemon never): git is answered standalone",
        ));
        return report;
    };
    let state = match reply {
        Ok((Kind::Data, json)) => {
            serde_json::from_slice::<DaemonState>(&json).map_err(|e| e.to_string())
        }
        Ok((kind, _)) => Err(format!("unexpected {kind:?} reply")),
        Err(ClientError::NotRunning(_)) if facts.lock_holder.is_some() => {
            let pid = facts.lock_holder.unwrap_or_default();
            report.lines.push(Line::problem(
                format!("a daemon (pid {pid}) holds the lock for {} but its socket is gone, so git cannot reach it", socket.display()),
                format!("it stops by itself within a second; if it does not: kill {pid}, then start the daemon again"),
            ));
            return report;
        }
        Err(ClientError::Stale(_)) => {
            let message = format!(
                "{} was left by a daemon that is no longer running (killed, or the machine restarted)",
                socket.display()
            );
            let fix = "start it again: git-credential-gitlab-ci daemon --detach --ttl 2h (it reclaims the stale socket)";
            report.lines.push(match mode {
                Mode::Only => Line::problem(
                    format!("{message}; with --use-daemon only git gets no answer"),
                    fix,
                ),
                _ => Line::warning(format!("{message}; git is answered standalone"), fix),
            });
            return report;
        }
        Err(ClientError::NotRunning(_)) => {
            let line = match mode {
                Mode::Only => Line::problem(
                    format!("no daemon is running on {}, and --use-daemon only forbids answering without one", socket.display()),
                    "start it: git-credential-gitlab-ci daemon --detach --ttl 2h",
                ),
                _ => Line::ok(format!("no daemon on {}: git is answered standalone", socket.display())),
            };
            report.lines.push(line);
            return report;
        }
        Err(e) => Err(e.to_string()),
    };
    match state {
        Ok(state) => {
            report.running = true;
            report.lines.push(Line::ok(format!(
                "daemon running: pid {}, socket {}, up {}; answered {}, refused {}, rejected by the server {}",
                state.pid,
                state.socket,
                rounded(Duration::from_secs(state.uptime_secs)),
                state.answered,
                state.refused,
                state.rejected
            )));
            report.serves_this_job = state.job.serves(&facts.job);
            if report.serves_this_job {
                if state.job.is_job() {
                    report.lines.push(Line::ok(format!(
                        "the daemon serves {}, this job",
                        state.job
                    )));
                }
            } else {
                let message = format!(
                    "the daemon on {} serves {}, not this one ({}): the helper does not use it",
                    socket.display(),
                    state.job,
                    facts.job
                );
                let fix = "start this job's own daemon: git-credential-gitlab-ci daemon --detach (without --socket, each job has a socket of its own)";
                report.lines.push(match mode {
                    Mode::Only => Line::problem(
                        format!("{message}, and with --use-daemon only git gets no answer"),
                        fix,
                    ),
                    _ => Line::warning(format!("{message}; git is answered standalone"), fix),
                });
            }
            for c in state
                .credentials
                .iter()
                .filter(|c| c.token.is_none() && c.pending)
            {
                report.lines.push(Line::ok(format!(
                    "the daemon runs the token command for {} on the next request: {}",
                    c.url,
                    c.unavailable.join("; ")
                )));
            }
            for c in state
                .credentials
                .iter()
                .filter(|c| c.token.is_none() && !c.pending)
            {
                report.lines.push(Line::problem(
                    format!(
                        "the daemon has no usable token for {}: {}",
                        c.url,
                        c.unavailable.join("; ")
                    ),
                    "restore the token file (the daemon reads it on every request), or restart the daemon with the token in its environment",
                ));
            }
            if let Some(r) = &state.last_rejection {
                let at = humantime::format_rfc3339_seconds(
                    SystemTime::UNIX_EPOCH + Duration::from_secs(r.at),
                );
                report.lines.push(Line::problem(
                    format!(
                        "the token for {} (fingerprint {}) was rejected by the server at {at}",
                        r.origin,
                        r.fingerprint.as_deref().unwrap_or("unknown")
                    ),
                    "the server answered 401 (git erases only then): the token is expired or revoked, or belongs to another GitLab instance; a job token lives only as long as its job. Restart the daemon with a valid token. (A missing permission is a 403, which git does not erase.)",
                ));
            }
            report.state = Some(state);
        }
        Err(e) => {
            report.unreachable = Some(e.clone());
            let level = if mode == Mode::Only {
                Level::Problem
            } else {
                Level::Warning
            };
            report.lines.push(Line {
                level,
                message: format!("a daemon socket exists at {} but cannot be used: {e}", socket.display()),
                fix: Some("stop it (git-credential-gitlab-ci stop) or remove the stale socket, then start it again".into()),
            });
        }
    }
    report
}
