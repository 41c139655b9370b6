//! `status`: what we serve, where each token comes from, and what is wrong, in plain words.
//!
//! Every line is marked ok, warning or problem, and every problem says how to fix it. The same
//! report renders as text for people and as JSON for machines. Tokens appear only masked.
//!
//! The report is built from [`Facts`] the `status` command gathers first ([`facts`]), and
//! does no I/O of its own: no git, no files, no environment, no socket, no clock. What it
//! finds in git's set-up is worked out in [`git`]; every part's lines are [`line`]s.

mod facts;
mod git;
mod line;

pub use facts::{ConfigFacts, CredentialFacts, DaemonFacts, Facts, GitFacts};
pub use line::{Level, Line};

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::client::{ClientError, Mode};
use crate::config::{ConfigFileState, DEFAULT_USERNAME};
use crate::credential::expiry;
use crate::credential::{Credential, Provenance};
use crate::ipc::DaemonState;
use crate::ipc::Kind;
use crate::token::{Masked, TokenKind};
use crate::token::{TokenSource, Unavailable};
use git::GitFindings;

#[derive(Debug, Serialize)]
pub struct SourceReport {
    pub source: TokenSource,
    pub active: bool,
    /// Why this source gave no token; absent for the active one and those not needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CredentialReport {
    pub url: String,
    pub from: Provenance,
    pub username: String,
    pub sources: Vec<SourceReport>,
    pub token: Option<Masked>,
    /// Seconds since the Unix epoch.
    pub expires_at: Option<u64>,
    pub lines: Vec<Line>,
}

/// What the daemon on the socket said about itself, if one answered.
#[derive(Debug, Serialize)]
pub struct DaemonReport {
    pub socket: String,
    pub mode: Mode,
    pub running: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<DaemonState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreachable: Option<String>,
    pub lines: Vec<Line>,
}

/// What the daemon's reply says about it. An absent daemon is a finding like any other.
fn daemon_report(facts: DaemonFacts) -> DaemonReport {
    let socket = facts.socket.as_path();
    let mode = facts.mode;
    let mut report = DaemonReport {
        socket: socket.display().to_string(),
        mode,
        running: false,
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
            for c in state.credentials.iter().filter(|c| c.token.is_none()) {
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
                    "the token is likely expired or revoked, or lacks the write_repository scope (for a job token: enable \"Allow Git push requests to the repository\" in the project's CI/CD job token settings); restart the daemon with a valid token",
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

#[derive(Debug, Serialize)]
pub struct Report {
    pub version: &'static str,
    pub config_files: Vec<ConfigFileState>,
    pub credentials: Vec<CredentialReport>,
    pub daemon: DaemonReport,
    /// git's own set-up for the URL checked, if there was one to check.
    pub git: Option<GitFindings>,
    /// Problems that belong to no single credential.
    pub lines: Vec<Line>,
}

impl Report {
    /// The report on `facts`. Pure: everything it says comes from them.
    pub fn build(facts: Facts) -> Report {
        let mut report = Report {
            version: crate::VERSION,
            config_files: Vec::new(),
            credentials: Vec::new(),
            daemon: daemon_report(facts.daemon),
            git: None,
            lines: Vec::new(),
        };
        let config = match facts.config {
            Ok(c) => c,
            Err(e) => {
                report.lines.push(Line::problem(
                    format!("the configuration cannot be used: {e}"),
                    "correct the setting named above; see `git-credential-gitlab-ci --help`",
                ));
                return report;
            }
        };
        report.config_files = config.files;
        for problem in &config.problems {
            report.lines.push(Line::problem(
                format!("a setting is ignored: {problem}"),
                "give --url (or GIT_CREDENTIAL_GITLAB_CI_URL) with the token options, or run inside a GitLab CI job",
            ));
        }
        if config.credentials.is_empty() && !report.daemon.running {
            report.lines.push(Line::problem(
                "nothing to serve: no --url, no config file credential, and not inside a GitLab CI job",
                "pass --url https://gitlab.example.com in the helper string, or add a [[credential]] to the config file",
            ));
        }
        report.credentials = config
            .credentials
            .iter()
            .map(|c| credential_report(c, report.daemon.state.as_ref(), facts.now))
            .collect();
        match facts.git {
            Some(g) => {
                let served: Vec<&Credential> =
                    config.credentials.iter().map(|c| &c.credential).collect();
                let tokens: Vec<_> = config
                    .credentials
                    .iter()
                    .filter_map(|c| c.tokens.token.clone())
                    .collect();
                report.git = Some(git::inspect(&g, &served, &tokens));
            }
            None => report.lines.push(Line::warning(
                "no URL to check git's set-up for: not in a repository with an origin remote, and CI_SERVER_URL is not set",
                "git-credential-gitlab-ci status https://gitlab.example.com/group/project.git",
            )),
        }
        report
    }

    /// The worst level anywhere in the report.
    pub fn worst(&self) -> Level {
        self.lines
            .iter()
            .chain(&self.daemon.lines)
            .chain(self.git.iter().flat_map(|g| &g.lines))
            .chain(self.credentials.iter().flat_map(|c| &c.lines))
            .map(|l| l.level)
            .max()
            .unwrap_or(Level::Ok)
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "git-credential-gitlab-ci {}", self.version);
        if !self.config_files.is_empty() {
            let _ = writeln!(out, "\nconfig files:");
            for f in &self.config_files {
                let state = if f.present { "read" } else { "not present" };
                let _ = writeln!(out, "  {} ({state})", f.path.display());
            }
        }
        for c in &self.credentials {
            let _ = writeln!(out, "\n{}  from {}", c.url, c.from);
            let _ = writeln!(out, "  {:<8} username {}", "ok", c.username);
            let _ = writeln!(out, "  {:<8} token sources, in order:", "");
            for (i, s) in c.sources.iter().enumerate() {
                let state = match (&s.active, &s.unavailable) {
                    (true, _) => "active".to_owned(),
                    (false, Some(why)) => why.clone(),
                    (false, None) => "not needed".to_owned(),
                };
                let _ = writeln!(out, "  {:<8}   {}. {}: {state}", "", i + 1, s.source);
            }
            write_lines(&mut out, &c.lines);
        }
        let _ = writeln!(out, "\ndaemon ({}):", self.daemon.socket);
        write_lines(&mut out, &self.daemon.lines);
        if let Some(state) = &self.daemon.state {
            for c in &state.credentials {
                let token = c.token.as_deref().unwrap_or("no token");
                let _ = writeln!(
                    out,
                    "  {:<8}   serves {} as {}: {token}",
                    "", c.url, c.username
                );
            }
        }
        if let Some(git) = &self.git {
            let _ = writeln!(out, "\ngit, for {} ({}):", git.url, git.url_from);
            if git.contacts != git.url {
                let _ = writeln!(out, "  {:<8} git contacts {} instead", "", git.contacts);
            }
            if git.chain.is_empty() {
                let _ = writeln!(out, "  {:<8} no credential helper applies to this URL", "");
            } else {
                let _ = writeln!(
                    out,
                    "  {:<8} credential helpers, in the order git reads them:",
                    ""
                );
            }
            for (i, step) in git.chain.iter().enumerate() {
                let cleared = if step.effective {
                    ""
                } else {
                    " [cleared by a later reset]"
                };
                let _ = writeln!(
                    out,
                    "  {:<8}   {}. {}{cleared}\n  {:<8}      {} in {}",
                    "",
                    i + 1,
                    step.helper,
                    "",
                    step.key,
                    step.location
                );
            }
            write_lines(&mut out, &git.lines);
        }
        if !self.lines.is_empty() {
            let _ = writeln!(out);
            write_lines(&mut out, &self.lines);
        }
        let summary = match self.worst() {
            Level::Ok => "everything is in order",
            Level::Warning => "working, with warnings",
            Level::Problem => "there are problems: see the fixes above",
        };
        let _ = writeln!(out, "\nsummary: {summary}");
        out
    }
}

fn write_lines(out: &mut String, lines: &[Line]) {
    for line in lines {
        let level = match line.level {
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Problem => "PROBLEM",
        };
        let _ = writeln!(out, "  {level:<8} {}", line.message);
        if let Some(fix) = &line.fix {
            let _ = writeln!(out, "  {:<8}   fix: {fix}", "");
        }
    }
}

fn credential_report(
    facts: &CredentialFacts,
    daemon: Option<&DaemonState>,
    now: SystemTime,
) -> CredentialReport {
    let c = &facts.credential;
    let resolution = &facts.tokens;
    let active = resolution.report.iter().position(|(_, r)| r.is_ok());
    let sources = resolution
        .report
        .iter()
        .enumerate()
        .map(|(i, (source, state))| SourceReport {
            source: source.clone(),
            active: Some(i) == active,
            unavailable: state.as_ref().err().map(Unavailable::to_string),
        })
        .collect();

    let mut lines = Vec::new();
    let token = resolution.token.as_ref();
    let url = c.scope.to_string();
    let held_by_daemon = daemon
        .into_iter()
        .flat_map(|d| &d.credentials)
        .find(|h| h.url == url && h.token.is_some());
    match (token, held_by_daemon) {
        (Some(t), _) => lines.push(Line::ok(format!("token: {}", t.masked()))),
        (None, Some(h)) => lines.push(Line::ok(format!(
            "no token here, but the daemon holds one and answers: {}",
            h.token.as_deref().unwrap_or_default()
        ))),
        (None, None) => lines.push(Line::problem(
            "no token: none of the sources above holds a usable token, so git gets no answer",
            fix_for_missing_token(&c.sources),
        )),
    }
    if let Some(t) = token {
        if t.kind() == TokenKind::JobToken && c.username != DEFAULT_USERNAME {
            lines.push(Line::problem(
                format!(
                    "a CI/CD job token must be sent with the username {DEFAULT_USERNAME}, not {}",
                    c.username
                ),
                format!("remove --username, or set it to {DEFAULT_USERNAME}"),
            ));
        }
    }
    let expires = token.and_then(|t| expiry(c, t)).or(token.and(c.expires));
    if let Some(at) = expires {
        lines.push(expiry_line(at, now));
    }
    for source in &c.sources {
        if let TokenSource::File(path) = source {
            if let Some(line) = facts
                .file_modes
                .get(path)
                .and_then(|&m| permission_line(path, m))
            {
                lines.push(line);
            }
        }
    }
    if c.is_plain_http() {
        lines.push(Line::warning(
            format!(
                "{} is plain http: the token crosses the network unencrypted",
                c.scope.origin
            ),
            "serve GitLab over https and use an https:// URL",
        ));
    }
    if c.scope.path.is_some() {
        lines.push(Line::warning(
            "this credential is scoped to a path, and git sends paths for http(s) only with credential.useHttpPath",
            format!(
                "git config --global credential.{}.useHttpPath true (--system where the helper is configured system-wide)",
                c.scope.origin
            ),
        ));
    }
    CredentialReport {
        url: c.scope.to_string(),
        from: c.provenance.clone(),
        username: c.username.clone(),
        sources,
        token: token.map(|t| t.masked()),
        expires_at: expires
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_secs()),
        lines,
    }
}

fn fix_for_missing_token(sources: &[TokenSource]) -> String {
    let names: Vec<String> = sources.iter().map(ToString::to_string).collect();
    format!(
        "put the token in {}, or point --token-env/--token-file at where it is",
        names.join(" or ")
    )
}

fn expiry_line(at: SystemTime, now: SystemTime) -> Line {
    let when = humantime::format_rfc3339_seconds(at);
    match at.duration_since(now) {
        Ok(left) if left < Duration::from_secs(300) => Line::warning(
            format!("the token expires at {when}, in {}", rounded(left)),
            "renew the token before the job needs it",
        ),
        Ok(left) => Line::ok(format!("the token expires at {when}, in {}", rounded(left))),
        Err(e) => Line::problem(
            format!(
                "the token expired at {when}, {} ago: git will ignore it",
                rounded(e.duration())
            ),
            "provide a fresh token (a job token lives only as long as its job)",
        ),
    }
}

fn rounded(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

/// A warning when a token file's permission bits let other users read it.
fn permission_line(path: &Path, mode: u32) -> Option<Line> {
    (mode & 0o077 != 0).then(|| {
        Line::warning(
            format!(
                "token file {} can be read by other users (mode {mode:04o})",
                path.display()
            ),
            format!("chmod 600 {}", path.display()),
        )
    })
}
