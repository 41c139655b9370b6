//! `status`: what we serve, where each token comes from, and what is wrong, in plain words.
//!
//! Every line is marked ok, warning or problem, and every problem says how to fix it. The same
//! report renders as text for people and as JSON for machines. Tokens appear only masked.
//!
//! The report is built from [`Facts`] the `status` command gathers first ([`facts`]), and
//! does no I/O of its own: no git, no files, no environment, no socket, no clock. What it
//! finds in git's set-up is worked out in [`git`], what it finds in the files credentials
//! are stored in in [`stored`]; every part's lines are [`line`]s.

mod daemon;
mod facts;
mod git;
mod line;
mod online;
mod stored;

pub use facts::{
    ConfigFacts, CredentialFacts, DaemonFacts, Facts, FillFacts, GitFacts, OnlineFacts, Probe,
    StoredFile, StoredFormat,
};
use line::rounded;
pub use line::{Level, Line};

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::config::{ConfigFileState, DEFAULT_USERNAME};
use crate::credential::expiry;
use crate::credential::{Credential, Provenance};
use crate::git::Version;
use crate::ipc::DaemonState;
use crate::token::{looks_like_token, Masked, TokenKind};
use crate::token::{TokenSource, Unavailable};
use daemon::{daemon_report, DaemonReport};
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

#[derive(Debug, Serialize)]
pub struct Report {
    pub version: &'static str,
    pub config_files: Vec<ConfigFileState>,
    pub credentials: Vec<CredentialReport>,
    pub daemon: DaemonReport,
    /// git's own set-up for the URL checked, if there was one to check.
    pub git: Option<GitFindings>,
    /// What the files credentials are stored in on disk hold: served tokens, job tokens.
    pub stored: Vec<Line>,
    /// With `--online`: what the server said to git's fetch and push probes.
    pub online: Option<online::OnlineReport>,
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
            stored: Vec::new(),
            online: None,
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
            if !facts.in_job && !facts.our_helpers.is_empty() {
                // An image being built, or a shell outside CI: configured, waiting for a job.
                let places: Vec<String> = facts
                    .our_helpers
                    .iter()
                    .map(|(origin, at)| format!("{origin} ({at})"))
                    .collect();
                report.lines.push(Line::ok(format!(
                    "outside a GitLab CI job, so nothing to serve yet: git asks git-credential-gitlab-ci for {}; inside a job it serves the job's server (CI_SERVER_URL) with CI_JOB_TOKEN, or what its options and config files say",
                    places.join(", ")
                )));
            } else {
                report.lines.push(Line::problem(
                    "nothing to serve: no --url, no config file credential, and not inside a GitLab CI job",
                    "pass --url https://gitlab.example.com in the helper string, or add a [[credential]] to the config file",
                ));
            }
        }
        report.credentials = config
            .credentials
            .iter()
            .map(|c| {
                credential_report(
                    c,
                    report
                        .daemon
                        .state
                        .as_ref()
                        .filter(|_| report.daemon.serves_this_job),
                    facts.now,
                    facts.git_version,
                )
            })
            .collect();
        let served: Vec<&Credential> = config.credentials.iter().map(|c| &c.credential).collect();
        let tokens: Vec<_> = config
            .credentials
            .iter()
            .filter_map(|c| c.tokens.token.clone())
            .collect();
        report.stored = stored::inspect(&facts.stored, &served, &tokens);
        if let Some(o) = &facts.online {
            // The kind of token we answer with for the probed URL's origin.
            let kind = config
                .credentials
                .iter()
                .filter(|c| o.url.starts_with(&c.credential.scope.origin.to_string()))
                .find_map(|c| c.tokens.token.as_ref().map(|t| t.kind()));
            report.online = Some(online::report(o, kind, facts.now));
        }
        match facts.git {
            Some(g) => {
                // Every token we could be answering with: ours here, and the daemon's.
                let mut known: Vec<String> = tokens.iter().map(|t| t.fingerprint()).collect();
                known.extend(
                    report
                        .daemon
                        .state
                        .iter()
                        .filter(|_| report.daemon.serves_this_job)
                        .flat_map(|d| &d.credentials)
                        .filter_map(|h| h.token.as_deref()?.rsplit_once("fingerprint ").map(|(_, f)| f.to_owned())),
                );
                report.git = Some(git::inspect(&g, &served, &tokens, &known));
            }
            None if !facts.in_job && !facts.our_helpers.is_empty() => {}
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
            .chain(&self.stored)
            .chain(self.online.iter().flat_map(|o| &o.lines))
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
        if !self.stored.is_empty() {
            let _ = writeln!(out, "\ncredentials stored on disk:");
            write_lines(&mut out, &self.stored);
        }
        if let Some(online) = &self.online {
            let _ = writeln!(out, "\nthe server, asked by git ({}):", online.url);
            write_lines(&mut out, &online.lines);
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
    git_version: Option<Version>,
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
    for (n, source) in c.sources.iter().enumerate() {
        if let Some(line) = token_shaped_source(n + 1, source) {
            lines.push(line);
        }
    }
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
    if let Some(name) = token.and_then(|t| t.issued_username()) {
        lines.push(Line::ok(format!(
            "the token command printed the username {name}: git is answered with it"
        )));
    }
    if let Some(t) = token {
        let username = t.issued_username().unwrap_or(&c.username);
        if t.kind() == TokenKind::JobToken && username != DEFAULT_USERNAME {
            lines.push(Line::problem(
                format!(
                    "a CI/CD job token must be sent with the username {DEFAULT_USERNAME}, not {username}"
                ),
                format!("remove --username, or set it to {DEFAULT_USERNAME}"),
            ));
        }
    }
    let expires = token.and_then(|t| expiry(c, t)).or(token.and(c.expires));
    if let Some(at) = expires {
        lines.push(expiry_line(at, now, git_version));
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
    if let Some(line) = libgit2_port_line(c) {
        lines.push(line);
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

/// libgit2, which cargo fetches git dependencies with unless told to run git, looks up
/// `credential.<scheme>://<host>.helper` without the port, so it never finds a helper that
/// `configure` scoped to an origin with a port of its own. git itself does, hence a warning.
fn libgit2_port_line(c: &Credential) -> Option<Line> {
    let origin = &c.scope.origin;
    (origin.port != origin.scheme.default_port()).then(|| {
        Line::warning(
            format!(
                "{origin} has a port of its own: libgit2 (cargo's git fetch without net.git-fetch-with-cli) looks up credential.{}://{}.helper, without the port, so it does not find this helper; git, git-lfs and what runs git do",
                origin.scheme.as_str(),
                origin.host
            ),
            "for cargo, set CARGO_NET_GIT_FETCH_WITH_CLI=true (or [net] git-fetch-with-cli = true in .cargo/config.toml) so that cargo runs git; see docs/other-clients.md",
        )
    })
}

/// A token where a variable name or a path belongs: in YAML,
/// `GIT_CREDENTIAL_GITLAB_CI_TOKEN_ENV: $RELEASE_TOKEN` expands to the token itself.
fn token_shaped_source(n: usize, source: &TokenSource) -> Option<Line> {
    let (what, looks) = match source {
        TokenSource::Env(name) => ("a variable name", looks_like_token(name)),
        TokenSource::File(path) => (
            "a path",
            path.components()
                .any(|c| looks_like_token(&c.as_os_str().to_string_lossy())),
        ),
        // A held token has no name left to check; a token command is checked by redaction.
        _ => return None,
    };
    looks.then(|| {
        Line::problem(
            format!("token source {n} looks like a token, not {what}: the token itself was given where its {} belongs", if what == "a path" { "file's path" } else { "variable's name" }),
            match source {
                TokenSource::Env(_) => "name the variable: write RELEASE_TOKEN, not $RELEASE_TOKEN (--token-env RELEASE_TOKEN, GIT_CREDENTIAL_GITLAB_CI_TOKEN_ENV: RELEASE_TOKEN, token_env = \"RELEASE_TOKEN\"); then revoke the token, which may have been logged",
                _ => "give the file's path: write /path/to/token, not the token (--token-file, GIT_CREDENTIAL_GITLAB_CI_TOKEN_FILE, token_file); then revoke the token, which may have been logged",
            },
        )
    })
}

fn fix_for_missing_token(sources: &[TokenSource]) -> String {
    let (minted, placed): (Vec<&TokenSource>, Vec<&TokenSource>) =
        sources.iter().partition(|s| s.mints());
    let names = |list: &[&TokenSource]| {
        list.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" or ")
    };
    match (placed.is_empty(), minted.is_empty()) {
        (false, true) => format!(
            "put the token in {}, or point --token-env/--token-file at where it is",
            names(&placed)
        ),
        (true, _) => format!(
            "make {} exit 0 and print the token (how it ended is shown above; run it by hand with </dev/null to see all its output)",
            names(&minted)
        ),
        (false, false) => format!(
            "put the token in {}, or make {} exit 0 and print the token (how it ended is shown above)",
            names(&placed),
            names(&minted)
        ),
    }
}

/// How soon the token expires, and what `git` (its version, if known) does once it has:
/// from 2.40 git drops a password whose `password_expiry_utc` has passed, before that it
/// sends it anyway.
fn expiry_line(at: SystemTime, now: SystemTime, git: Option<Version>) -> Line {
    let when = humantime::format_rfc3339_seconds(at);
    match at.duration_since(now) {
        Ok(left) if left < Duration::from_secs(300) => Line::warning(
            format!("the token expires at {when}, in {}", rounded(left)),
            match git {
                Some(v) if v.honours_password_expiry() => format!(
                    "renew the token before the job needs it: once it has expired, git {v} drops it"
                ),
                Some(v) => format!(
                    "renew the token before the job needs it: once it has expired, git {v} still sends it and the server answers 401"
                ),
                None => "renew the token before the job needs it".to_owned(),
            },
        ),
        Ok(left) => Line::ok(format!("the token expires at {when}, in {}", rounded(left))),
        Err(e) => {
            let what_git_does = match git {
                Some(v) if v.honours_password_expiry() => format!(
                    "git {v} drops it (it honours password_expiry_utc) and asks the next helper, then prompts, or fails with `could not read Password` in CI"
                ),
                Some(v) => format!(
                    "git {v} sends it anyway (git honours password_expiry_utc only from 2.40) and the server answers 401"
                ),
                None => "git 2.40 and later drop it; older gits send it anyway and the server answers 401".to_owned(),
            };
            Line::problem(
                format!(
                    "the token expired at {when}, {} ago: {what_git_does}",
                    rounded(e.duration())
                ),
                "provide a fresh token (a job token lives only as long as its job)",
            )
        }
    }
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

#[cfg(test)]
mod tests {
    //! Reports built from facts made by hand: no git, no files, no daemon, no clock.

    use std::collections::BTreeMap;
    use std::path::PathBuf;
    use std::sync::Arc;

    use super::*;
    use crate::client::{ClientError, Mode};
    use crate::config::ConfigError;
    use crate::credential::Scope;
    use crate::git::{Entry, HelperKind, Source};
    use crate::ipc::HeldCredential;
    use crate::ipc::Kind;
    use crate::token::{Resolution, Token};

    /// A personal access token; only its masked form may ever appear.
    const TOKEN: &str = "glpat-Zq8sT1kQ9vXr4LmW2bYe";
    const SOCKET: &str = "/run/user/1000/git-credential-gitlab-ci/daemon.sock";
    const OURS: &str = "/usr/local/bin/git-credential-gitlab-ci";

    /// 2027-01-15T08:00:00Z.
    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn token(value: &str) -> Arc<Token> {
        Arc::new(Token::new(value.to_owned()).unwrap())
    }

    fn credential(url: &str, sources: Vec<TokenSource>) -> Credential {
        Credential {
            scope: Scope::parse(url).unwrap(),
            username: DEFAULT_USERNAME.to_owned(),
            sources,
            expires: None,
            provenance: Provenance::Flags,
        }
    }

    /// `credential` whose sources gave `results`, in order.
    fn read(
        credential: Credential,
        results: Vec<Result<Arc<Token>, Unavailable>>,
    ) -> CredentialFacts {
        assert_eq!(credential.sources.len(), results.len());
        let token = results.iter().find_map(|r| r.as_ref().ok().cloned());
        let report = credential
            .sources
            .iter()
            .cloned()
            .zip(results.into_iter().map(|r| r.map(|_| ())))
            .collect();
        CredentialFacts {
            credential,
            tokens: Resolution { token, report },
            file_modes: BTreeMap::new(),
        }
    }

    /// https://gitlab.example.com, served with `TOKEN` from CI_JOB_TOKEN.
    fn served() -> CredentialFacts {
        read(
            credential(
                "https://gitlab.example.com",
                vec![TokenSource::Env("CI_JOB_TOKEN".into())],
            ),
            vec![Ok(token(TOKEN))],
        )
    }

    fn daemon(mode: Mode, reply: Option<facts::Reply>) -> DaemonFacts {
        DaemonFacts {
            socket: PathBuf::from(SOCKET),
            mode,
            reply,
            lock_holder: None,
            job: Default::default(),
        }
    }

    fn no_daemon() -> DaemonFacts {
        daemon(
            Mode::Auto,
            Some(Err(ClientError::NotRunning(SOCKET.to_owned()))),
        )
    }

    fn running_daemon(credentials: Vec<HeldCredential>) -> DaemonFacts {
        let state = DaemonState {
            pid: 4242,
            job: Default::default(),
            version: "test".into(),
            socket: SOCKET.into(),
            started_at: 1_799_996_400,
            uptime_secs: 3600,
            answered: 3,
            refused: 1,
            rejected: 0,
            last_rejection: None,
            stops_at: None,
            idle_timeout_secs: None,
            credentials,
        };
        let json = serde_json::to_vec(&state).unwrap();
        daemon(Mode::Auto, Some(Ok((Kind::Data, json.into()))))
    }

    fn facts(credentials: Vec<CredentialFacts>, git: Option<GitFacts>) -> Facts {
        Facts {
            config: Ok(ConfigFacts {
                files: Vec::new(),
                problems: Vec::new(),
                credentials,
            }),
            daemon: no_daemon(),
            git,
            now: now(),
            git_version: Some(Version::new(2, 43)),
            stored: Vec::new(),
            online: None,
            in_job: true,
            our_helpers: Vec::new(),
        }
    }

    /// An entry of a config file.
    fn entry(file: &str, scope: &str, key: &str, value: &str) -> Entry {
        Entry {
            scope: scope.into(),
            source: Source::File(PathBuf::from(file)),
            key: key.into(),
            value: Some(zeroize::Zeroizing::new(value.into())),
        }
    }

    fn global(key: &str, value: &str) -> Entry {
        entry("/home/dev/.gitconfig", "global", key, value)
    }

    fn local(key: &str, value: &str) -> Entry {
        entry("/work/project/.git/config", "local", key, value)
    }

    fn git_for(url: &str, entries: Vec<Entry>) -> GitFacts {
        GitFacts {
            url: url.into(),
            url_from: "given on the command line".into(),
            entries,
            exe: OURS.into(),
            files: BTreeMap::new(),
            fill: None,
            runner_seed: None,
        }
    }

    const PROJECT: &str = "https://gitlab.example.com/group/project.git";

    /// The one line whose message contains `text`.
    #[track_caller]
    fn line<'a>(lines: &'a [Line], text: &str) -> &'a Line {
        let found: Vec<&Line> = lines.iter().filter(|l| l.message.contains(text)).collect();
        assert_eq!(found.len(), 1, "{text:?} in {lines:#?}");
        found[0]
    }

    fn git_lines(report: &Report) -> &[Line] {
        &report.git.as_ref().expect("git findings").lines
    }

    fn json(report: &Report) -> String {
        serde_json::to_string_pretty(report).unwrap()
    }

    #[test]
    fn a_missing_token_is_a_problem_whose_fix_names_every_source() {
        let c = read(
            credential(
                "https://gitlab.example.com",
                vec![
                    TokenSource::Env("CI_JOB_TOKEN".into()),
                    TokenSource::File("/run/secrets/gitlab".into()),
                ],
            ),
            vec![Err(Unavailable::Unset), Err(Unavailable::NotFound)],
        );
        let report = Report::build(facts(vec![c], None));
        let c = &report.credentials[0];
        assert_eq!(c.token, None);
        assert!(c.sources.iter().all(|s| !s.active));
        let missing = line(&c.lines, "no token");
        assert_eq!(missing.level, Level::Problem);
        assert_eq!(
            missing.fix.as_deref(),
            Some("put the token in environment variable CI_JOB_TOKEN or file /run/secrets/gitlab, or point --token-env/--token-file at where it is")
        );
        assert_eq!(report.worst(), Level::Problem);
        let text = report.to_text();
        assert!(
            text.contains("1. environment variable CI_JOB_TOKEN: not set\n"),
            "{text}"
        );
        assert!(
            text.contains("2. file /run/secrets/gitlab: no such file\n"),
            "{text}"
        );
        assert!(
            text.ends_with("summary: there are problems: see the fixes above\n"),
            "{text}"
        );
    }

    #[test]
    fn an_origin_with_a_port_of_its_own_is_warned_about_for_libgit2() {
        let c = read(
            credential(
                "https://gitlab.example.com:8443/group",
                vec![TokenSource::Env("CI_JOB_TOKEN".into())],
            ),
            vec![Ok(token(TOKEN))],
        );
        let report = Report::build(facts(vec![c], None));
        let port = line(&report.credentials[0].lines, "libgit2");
        assert_eq!(port.level, Level::Warning);
        assert_eq!(
            port.message,
            "https://gitlab.example.com:8443 has a port of its own: libgit2 (cargo's git fetch without net.git-fetch-with-cli) looks up credential.https://gitlab.example.com.helper, without the port, so it does not find this helper; git, git-lfs and what runs git do"
        );
        assert!(port
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("CARGO_NET_GIT_FETCH_WITH_CLI=true")));
        assert_ne!(report.worst(), Level::Problem);
        assert!(report
            .to_text()
            .contains("CARGO_NET_GIT_FETCH_WITH_CLI=true"));
        assert!(json(&report)
            .contains("looks up credential.https://gitlab.example.com.helper, without the port"));

        // The default port, written out or not, is no port of its own.
        for url in [
            "https://gitlab.example.com",
            "https://gitlab.example.com:443",
            "http://gitlab.internal:80",
        ] {
            let c = read(
                credential(url, vec![TokenSource::Env("CI_JOB_TOKEN".into())]),
                vec![Ok(token(TOKEN))],
            );
            let report = Report::build(facts(vec![c], None));
            assert!(
                !report.credentials[0]
                    .lines
                    .iter()
                    .any(|l| l.message.contains("libgit2")),
                "{url}"
            );
        }
    }

    #[test]
    fn the_token_appears_only_masked_in_text_and_json() {
        let fingerprint = token(TOKEN).fingerprint();
        // The token in every place the report looks: a source, a remote URL, a config file.
        let mut git = git_for(
            PROJECT,
            vec![
                global("credential.helper", OURS),
                local(
                    "remote.origin.url",
                    &format!("https://gitlab-ci-token:{TOKEN}@gitlab.example.com/g/p.git"),
                ),
            ],
        );
        git.files.insert(
            "/work/project/.git/config".into(),
            format!("[remote \"origin\"]\n\turl = https://gitlab-ci-token:{TOKEN}@gitlab.example.com/g/p.git\n")
                .into_bytes()
                .into(),
        );
        let report = Report::build(facts(vec![served()], Some(git)));
        let ok = line(&report.credentials[0].lines, "token:");
        assert_eq!(ok.level, Level::Ok);
        assert_eq!(
            ok.message,
            format!("token: access token (glpat-), fingerprint {fingerprint}")
        );
        let written = line(git_lines(&report), "is written in");
        assert_eq!(
            written.message,
            format!("the served token (fingerprint {fingerprint}) is written in /work/project/.git/config")
        );
        assert_eq!(written.level, Level::Problem);
        let secret_part = &TOKEN["glpat-".len()..];
        for (what, out) in [("text", report.to_text()), ("JSON", json(&report))] {
            assert!(out.contains(&fingerprint), "{what}: {out}");
            assert!(!out.contains(secret_part), "{what} shows the token: {out}");
        }
    }

    #[test]
    fn a_storage_helper_before_ours_may_answer_first_and_would_store_the_token() {
        let git = git_for(
            PROJECT,
            vec![
                global("credential.helper", "store --file /home/dev/.creds"),
                global("credential.helper", OURS),
            ],
        );
        let report = Report::build(facts(vec![served()], Some(git)));
        let findings = report.git.as_ref().unwrap();
        assert!(findings.reaches_us);
        assert_eq!(findings.chain[0].kind, Some(HelperKind::Storage));
        assert_eq!(findings.chain[0].helper, "helper `store`");
        let lines = git_lines(&report);
        assert_eq!(
            line(lines, "git asks git-credential-gitlab-ci").message,
            "git asks git-credential-gitlab-ci for this URL (second in the chain)"
        );
        let before = line(lines, "runs before ours");
        assert_eq!(before.level, Level::Warning);
        assert_eq!(
            before.fix.as_deref(),
            Some("put a reset and our helper after it, or remove it: git config --file /home/dev/.gitconfig --unset-all credential.helper '^store( |$)'")
        );
        let stores = line(lines, "would write the CI token to disk");
        assert_eq!(stores.level, Level::Problem);
        assert!(stores.message.starts_with(
            "helper `store` from /home/dev/.gitconfig (global) receives every credential"
        ));
        assert!(!report.to_text().contains("/home/dev/.creds"));
    }

    #[test]
    fn our_helper_cleared_by_a_later_reset_is_not_asked() {
        let git = git_for(
            PROJECT,
            vec![
                global("credential.helper", OURS),
                local("credential.https://gitlab.example.com.helper", ""),
                local("credential.https://gitlab.example.com.helper", "cache"),
            ],
        );
        let report = Report::build(facts(vec![served()], Some(git)));
        let findings = report.git.as_ref().unwrap();
        assert!(!findings.reaches_us);
        assert!(!findings.chain[0].effective);
        let absent = line(
            git_lines(&report),
            "git will not ask git-credential-gitlab-ci",
        );
        assert_eq!(absent.level, Level::Problem);
        assert_eq!(
            absent.fix.as_deref(),
            Some("git-credential-gitlab-ci configure --global (or --system in a runner image)")
        );
        assert!(report
            .to_text()
            .contains("1. git-credential-gitlab-ci [cleared by a later reset]\n"));
    }

    #[test]
    fn our_helper_is_recognised_by_our_own_path_from_the_facts() {
        let chain = |exe: &str| {
            let mut git = git_for(
                PROJECT,
                vec![global("credential.helper", "/opt/tools/renamed-helper")],
            );
            git.exe = exe.into();
            let report = Report::build(facts(vec![served()], Some(git)));
            report.git.unwrap().reaches_us
        };
        assert!(chain("/opt/tools/renamed-helper"));
        assert!(!chain(OURS));
    }

    #[test]
    fn a_plain_http_remote_to_a_host_we_serve_is_a_problem() {
        let git = git_for(
            PROJECT,
            vec![
                global("credential.helper", OURS),
                local("remote.origin.url", "http://gitlab.example.com/g/p.git"),
                local("remote.mirror.url", "http://elsewhere.example.com/g/p.git"),
            ],
        );
        let report = Report::build(facts(vec![served()], Some(git)));
        let plain = line(git_lines(&report), "plain http");
        assert_eq!(plain.level, Level::Problem);
        assert!(plain.message.starts_with(
            "remote.origin.url in /work/project/.git/config (local) is plain http to gitlab.example.com, a host we serve"
        ));
        assert_eq!(
            plain.fix.as_deref(),
            Some("git config --file /work/project/.git/config remote.origin.url https://gitlab.example.com/g/p.git")
        );
        // A credential served over http is warned about on its own.
        let c = read(
            credential(
                "http://gitlab.internal",
                vec![TokenSource::Env("CI_JOB_TOKEN".into())],
            ),
            vec![Ok(token(TOKEN))],
        );
        let report = Report::build(facts(vec![c], None));
        let plain = line(&report.credentials[0].lines, "plain http");
        assert_eq!(plain.level, Level::Warning);
        assert_eq!(
            plain.message,
            "http://gitlab.internal is plain http: the token crosses the network unencrypted"
        );
    }

    #[test]
    fn a_password_in_the_url_is_masked_and_means_no_helper_is_asked() {
        let password = "hunter2-Pa55w0rd";
        let url = format!("https://gitlab-ci-token:{password}@gitlab.example.com/g/p.git");
        let git = git_for(&url, vec![global("credential.helper", OURS)]);
        let report = Report::build(facts(vec![served()], Some(git)));
        let findings = report.git.as_ref().unwrap();
        assert_eq!(
            findings.url,
            "https://gitlab-ci-token:<secret>@gitlab.example.com/g/p.git"
        );
        assert_eq!(findings.contacts, findings.url);
        assert!(!findings.reaches_us);
        let carries = line(git_lines(&report), "carries a password");
        assert_eq!(carries.level, Level::Problem);
        assert!(carries
            .message
            .contains("GitLab Runner writes the job token this way"));
        for out in [report.to_text(), json(&report)] {
            assert!(!out.contains(password), "{out}");
        }
    }

    /// The expiry line of `served()` with `offset` seconds left (negative: expired that
    /// long ago), as the report says it to a user of `git`.
    fn expiry_of(offset: i64, git: Option<Version>) -> (Level, String, Option<String>) {
        let mut c = served();
        c.credential.expires = Some(if offset < 0 {
            now() - Duration::from_secs(offset.unsigned_abs())
        } else {
            now() + Duration::from_secs(offset as u64)
        });
        let mut f = facts(vec![c], None);
        f.git_version = git;
        let report = Report::build(f);
        let l = line(&report.credentials[0].lines, "the token expire");
        (l.level, l.message.clone(), l.fix.clone())
    }

    #[test]
    fn expiry_is_measured_from_the_gathered_now() {
        let expiring = |offset| {
            let (level, message, _) = expiry_of(offset, Some(Version::new(2, 43)));
            (level, message)
        };
        assert_eq!(
            expiring(-3600),
            (
                Level::Problem,
                "the token expired at 2027-01-15T07:00:00Z, 1h ago: git 2.43 drops it (it honours password_expiry_utc) and asks the next helper, then prompts, or fails with `could not read Password` in CI".into()
            )
        );
        assert_eq!(
            expiring(120),
            (
                Level::Warning,
                "the token expires at 2027-01-15T08:02:00Z, in 2m".into()
            )
        );
        assert_eq!(
            expiring(2 * 86400),
            (
                Level::Ok,
                "the token expires at 2027-01-17T08:00:00Z, in 2days".into()
            )
        );
        // Without a token there is nothing to expire.
        let mut c = read(
            credential(
                "https://gitlab.example.com",
                vec![TokenSource::Env("CI_JOB_TOKEN".into())],
            ),
            vec![Err(Unavailable::Unset)],
        );
        c.credential.expires = Some(now());
        let report = Report::build(facts(vec![c], None));
        assert!(!report.credentials[0]
            .lines
            .iter()
            .any(|l| l.message.contains("expire")));
        assert_eq!(report.credentials[0].expires_at, None);
    }

    #[test]
    fn before_git_2_40_an_expired_token_is_sent_anyway_and_answered_with_401() {
        let (level, message, fix) = expiry_of(-3600, Some(Version::new(2, 39)));
        assert_eq!(level, Level::Problem);
        assert_eq!(
            message,
            "the token expired at 2027-01-15T07:00:00Z, 1h ago: git 2.39 sends it anyway (git honours password_expiry_utc only from 2.40) and the server answers 401"
        );
        assert_eq!(
            fix.as_deref(),
            Some("provide a fresh token (a job token lives only as long as its job)")
        );
        let (level, _, fix) = expiry_of(120, Some(Version::new(2, 34)));
        assert_eq!(level, Level::Warning);
        assert_eq!(
            fix.as_deref(),
            Some("renew the token before the job needs it: once it has expired, git 2.34 still sends it and the server answers 401")
        );
    }

    #[test]
    fn from_git_2_40_an_expired_token_is_dropped() {
        for git in [Version::new(2, 40), Version::new(2, 47), Version::new(3, 0)] {
            let (level, message, _) = expiry_of(-3600, Some(git));
            assert_eq!(level, Level::Problem);
            assert!(
                message.ends_with(&format!(": git {git} drops it (it honours password_expiry_utc) and asks the next helper, then prompts, or fails with `could not read Password` in CI")),
                "{message}"
            );
            assert!(!message.contains("401"), "{message}");
            let (_, _, fix) = expiry_of(120, Some(git));
            assert_eq!(
                fix,
                Some(format!("renew the token before the job needs it: once it has expired, git {git} drops it"))
            );
        }
    }

    #[test]
    fn with_gits_version_unknown_the_expiry_advice_covers_both() {
        let (_, message, _) = expiry_of(-60, None);
        assert_eq!(
            message,
            "the token expired at 2027-01-15T07:59:00Z, 1m ago: git 2.40 and later drop it; older gits send it anyway and the server answers 401"
        );
        let (_, _, fix) = expiry_of(60, None);
        assert_eq!(
            fix.as_deref(),
            Some("renew the token before the job needs it")
        );
    }

    #[test]
    fn a_token_file_other_users_can_read_is_a_warning() {
        let path = PathBuf::from("/run/secrets/gitlab");
        let with_mode = |mode: Option<u32>| {
            let mut c = read(
                credential(
                    "https://gitlab.example.com",
                    vec![TokenSource::File(path.clone())],
                ),
                vec![Ok(token(TOKEN))],
            );
            c.file_modes.extend(mode.map(|m| (path.clone(), m)));
            let report = Report::build(facts(vec![c], None));
            report.credentials.into_iter().next().unwrap().lines
        };
        for (mode, shown) in [(0o644, "0644"), (0o640, "0640"), (0o604, "0604")] {
            let lines = with_mode(Some(mode));
            let open = line(&lines, "can be read by other users");
            assert_eq!(open.level, Level::Warning);
            assert_eq!(
                open.message,
                format!("token file /run/secrets/gitlab can be read by other users (mode {shown})")
            );
            assert_eq!(open.fix.as_deref(), Some("chmod 600 /run/secrets/gitlab"));
        }
        for private in [Some(0o600), Some(0o400), None] {
            let lines = with_mode(private);
            assert!(
                !lines.iter().any(|l| l.message.contains("other users")),
                "{private:?}: {lines:#?}"
            );
        }
    }

    #[test]
    fn a_running_daemon_is_described_and_its_missing_tokens_are_problems() {
        let held = |url: &str, token: Option<&str>| HeldCredential {
            url: url.into(),
            username: DEFAULT_USERNAME.into(),
            token: token.map(Into::into),
            unavailable: if token.is_none() {
                vec!["file /run/secrets/other: no such file".into()]
            } else {
                Vec::new()
            },
            expires_at: None,
            pending: false,
        };
        let mut f = facts(
            vec![read(
                credential(
                    "https://gitlab.example.com",
                    vec![TokenSource::Env("CI_JOB_TOKEN".into())],
                ),
                vec![Err(Unavailable::Unset)],
            )],
            None,
        );
        f.daemon = running_daemon(vec![
            held(
                "https://gitlab.example.com",
                Some("access token (glpat-), fingerprint 0badcafe"),
            ),
            held("https://other.example.com", None),
            HeldCredential {
                pending: true,
                unavailable: vec![
                    "command mint: not run yet: the daemon runs it on the first request".into(),
                ],
                ..held("https://minted.example.com", None)
            },
        ]);
        let report = Report::build(f);
        // A token command the daemon has not run yet is not a problem.
        let pending = line(&report.daemon.lines, "runs the token command");
        assert_eq!(pending.level, Level::Ok);
        assert!(!report
            .daemon
            .lines
            .iter()
            .any(|l| l.level == Level::Problem && l.message.contains("minted.example.com")));
        assert!(report.daemon.running);
        assert_eq!(
            line(&report.daemon.lines, "daemon running").message,
            format!("daemon running: pid 4242, socket {SOCKET}, up 1h; answered 3, refused 1, rejected by the server 0")
        );
        let none = line(&report.daemon.lines, "no usable token");
        assert_eq!(none.level, Level::Problem);
        assert_eq!(
            none.message,
            "the daemon has no usable token for https://other.example.com: file /run/secrets/other: no such file"
        );
        // No token here, but the daemon answers with its own.
        let here = &report.credentials[0].lines;
        assert_eq!(here.len(), 1, "{here:#?}");
        assert_eq!(here[0].level, Level::Ok);
        assert_eq!(
            here[0].message,
            "no token here, but the daemon holds one and answers: access token (glpat-), fingerprint 0badcafe"
        );
        assert!(report
            .to_text()
            .contains("serves https://other.example.com as gitlab-ci-token: no token\n"));
    }

    #[test]
    fn a_daemon_of_another_job_is_named_and_not_counted_on() {
        let job = |id: &str| crate::ipc::JobIdentity {
            job_id: Some(id.into()),
            server_url: Some("https://gitlab.example.com".into()),
            project_id: Some("7".into()),
        };
        let with_jobs = |daemons: &str, ours: &str| {
            let mut f = facts(
                vec![read(
                    credential(
                        "https://gitlab.example.com",
                        vec![TokenSource::Env("CI_JOB_TOKEN".into())],
                    ),
                    vec![Err(Unavailable::Unset)],
                )],
                None,
            );
            let mut d = running_daemon(vec![HeldCredential {
                url: "https://gitlab.example.com".into(),
                username: DEFAULT_USERNAME.into(),
                token: Some("access token (glpat-), fingerprint 0badcafe".into()),
                unavailable: Vec::new(),
                expires_at: None,
                pending: false,
            }]);
            let Some(Ok((_, json))) = &d.reply else {
                unreachable!()
            };
            let mut state: DaemonState = serde_json::from_slice(json).unwrap();
            state.job = job(daemons);
            d.reply = Some(Ok((Kind::Data, serde_json::to_vec(&state).unwrap().into())));
            d.job = job(ours);
            f.daemon = d;
            Report::build(f)
        };

        let same = with_jobs("1", "1");
        assert!(same.daemon.serves_this_job);
        assert_eq!(
            line(&same.daemon.lines, "serves job").message,
            "the daemon serves job 1 (project 7 on https://gitlab.example.com), this job"
        );
        assert!(same.to_text().contains("the daemon holds one and answers"));
        let json = serde_json::to_value(&same).unwrap();
        assert_eq!(json["daemon"]["state"]["job"]["job_id"], "1", "{json:#}");

        let other = with_jobs("1", "2");
        assert!(!other.daemon.serves_this_job);
        let warning = line(&other.daemon.lines, "serves job");
        assert_eq!(warning.level, Level::Warning);
        assert_eq!(
            warning.message,
            format!("the daemon on {SOCKET} serves job 1 (project 7 on https://gitlab.example.com), not this one (job 2 (project 7 on https://gitlab.example.com)): the helper does not use it; git is answered standalone")
        );
        assert!(
            !other.to_text().contains("the daemon holds one and answers"),
            "{}",
            other.to_text()
        );
    }

    #[test]
    fn an_absent_daemon_matters_only_when_it_is_required() {
        let daemon_lines = |d: DaemonFacts| {
            let mut f = facts(vec![served()], None);
            f.daemon = d;
            let report = Report::build(f);
            assert!(!report.daemon.running);
            report
                .daemon
                .lines
                .iter()
                .map(|l| (l.level, l.message.clone()))
                .collect::<Vec<_>>()
        };
        let not_running = || Some(Err(ClientError::NotRunning(SOCKET.to_owned())));
        assert_eq!(
            daemon_lines(no_daemon()),
            [(
                Level::Ok,
                format!("no daemon on {SOCKET}: git is answered standalone")
            )]
        );
        let only = daemon_lines(daemon(Mode::Only, not_running()));
        assert_eq!(only[0].0, Level::Problem);
        assert!(only[0]
            .1
            .contains("--use-daemon only forbids answering without one"));
        assert_eq!(
            daemon_lines(daemon(Mode::Never, None)),
            [(
                Level::Ok,
                "the daemon is not used (--use-daemon never): git is answered standalone".into()
            )]
        );
        let stale = || Some(Err(ClientError::Stale(SOCKET.to_owned())));
        assert_eq!(
            daemon_lines(daemon(Mode::Auto, stale()))[0].0,
            Level::Warning
        );
        assert_eq!(
            daemon_lines(daemon(Mode::Only, stale()))[0].0,
            Level::Problem
        );
        let mut orphan = daemon(Mode::Auto, not_running());
        orphan.lock_holder = Some(77);
        let orphan = daemon_lines(orphan);
        assert_eq!(orphan[0].0, Level::Problem);
        assert!(orphan[0].1.starts_with("a daemon (pid 77) holds the lock"));
        let odd = daemon_lines(daemon(
            Mode::Auto,
            Some(Ok((Kind::Refuse, Vec::new().into()))),
        ));
        assert_eq!(
            odd,
            [(
                Level::Warning,
                format!("a daemon socket exists at {SOCKET} but cannot be used: unexpected Refuse reply")
            )]
        );
    }

    #[test]
    fn an_unusable_configuration_is_the_only_finding_besides_the_daemon() {
        let mut f = facts(Vec::new(), Some(git_for(PROJECT, Vec::new())));
        f.config = Err(ConfigError::NoUrl);
        let report = Report::build(f);
        assert!(report.git.is_none());
        assert!(report.credentials.is_empty());
        assert_eq!(report.lines.len(), 1);
        assert_eq!(report.lines[0].level, Level::Problem);
        assert!(report.lines[0]
            .message
            .starts_with("the configuration cannot be used: no URL to serve"));
    }

    #[test]
    fn nothing_served_and_no_url_to_check_are_said_so() {
        let report = Report::build(facts(Vec::new(), None));
        let nothing = line(&report.lines, "nothing to serve");
        assert_eq!(nothing.level, Level::Problem);
        let no_url = line(&report.lines, "no URL to check");
        assert_eq!(no_url.level, Level::Warning);
        // A running daemon serves even when we serve nothing here.
        let mut f = facts(Vec::new(), None);
        f.daemon = running_daemon(Vec::new());
        let report = Report::build(f);
        assert!(!report
            .lines
            .iter()
            .any(|l| l.message.contains("nothing to serve")));
        assert_eq!(report.worst(), Level::Warning);
    }

    #[test]
    fn a_job_token_sent_with_another_username_is_a_problem() {
        let mut c = read(
            credential(
                "https://gitlab.example.com",
                vec![TokenSource::Env("CI_JOB_TOKEN".into())],
            ),
            vec![Ok(token("glcbt-64_Jx9wQe2Rt5Yu8Io1Pa"))],
        );
        c.credential.username = "deployer".into();
        let report = Report::build(facts(vec![c], None));
        let wrong = line(
            &report.credentials[0].lines,
            "must be sent with the username",
        );
        assert_eq!(wrong.level, Level::Problem);
        assert_eq!(
            wrong.fix.as_deref(),
            Some("remove --username, or set it to gitlab-ci-token")
        );
    }

    const STORE: &str = "/home/dev/.git-credentials";
    const NETRC: &str = "/home/dev/.netrc";

    fn stored_file(path: &str, format: StoredFormat, text: &str) -> StoredFile {
        StoredFile {
            path: PathBuf::from(path),
            format,
            contents: text.as_bytes().to_vec().into(),
        }
    }

    /// The report on `files` while `served()` is served, and its text and JSON, after
    /// checking that neither shows the secret part of `TOKEN` or of `other`.
    #[track_caller]
    fn report_on_stored(files: Vec<StoredFile>, other: &str) -> Report {
        let mut f = facts(vec![served()], None);
        f.stored = files;
        let report = Report::build(f);
        for (what, out) in [("text", report.to_text()), ("JSON", json(&report))] {
            for secret in [&TOKEN["glpat-".len()..], other] {
                assert!(!out.contains(secret), "{what} shows a password: {out}");
            }
        }
        report
    }

    #[test]
    fn a_served_token_in_the_store_helpers_file_is_a_problem_at_its_line() {
        let fingerprint = token(TOKEN).fingerprint();
        let text = format!(
            "https://alice:hunter2-other-pw@github.com\nhttps://gitlab-ci-token:{TOKEN}@gitlab.example.com\n"
        );
        let report = report_on_stored(
            vec![stored_file(STORE, StoredFormat::GitCredentials, &text)],
            "hunter2-other-pw",
        );
        assert_eq!(report.stored.len(), 1, "{:#?}", report.stored);
        let found = &report.stored[0];
        assert_eq!(found.level, Level::Problem);
        assert_eq!(
            found.message,
            format!("/home/dev/.git-credentials:2 holds the served token (fingerprint {fingerprint}) for gitlab.example.com, in the file git's `store` helper (credential.helper store) reads and writes")
        );
        assert_eq!(
            found.fix.as_deref(),
            Some("sed -i '2d' /home/dev/.git-credentials")
        );
        assert_eq!(report.worst(), Level::Problem);
        assert!(report.to_text().contains(
            "\ncredentials stored on disk:\n  PROBLEM  /home/dev/.git-credentials:2 holds"
        ));
    }

    #[test]
    fn a_percent_encoded_password_is_decoded_before_it_is_compared() {
        // `-` as %2D and `Z` as %5a, on a port and a path, in the XDG file.
        let encoded = TOKEN.replace('-', "%2D").replacen('Z', "%5a", 1);
        assert_ne!(encoded, TOKEN);
        let text =
            format!("\n\nhttps://deployer:{encoded}@gitlab.example.com:8443/group/project\n");
        let report = report_on_stored(
            vec![stored_file(
                "/home/dev/.config/git/credentials",
                StoredFormat::GitCredentials,
                &text,
            )],
            &encoded["glpat%2D".len()..],
        );
        let found = line(&report.stored, "holds the served token");
        assert!(
            found
                .message
                .starts_with("/home/dev/.config/git/credentials:3 holds the served token"),
            "{}",
            found.message
        );
        assert_eq!(
            found.fix.as_deref(),
            Some("sed -i '3d' /home/dev/.config/git/credentials")
        );
    }

    #[test]
    fn a_served_token_in_netrc_is_found_across_lines() {
        let fingerprint = token(TOKEN).fingerprint();
        let text = format!(
            "# written by the deploy job\nmachine github.com login alice password hunter2-other-pw\nmachine GitLab.Example.com\n  login gitlab-ci-token\n  password {TOKEN}\n\nmachine registry.example.com login bob password \"s p a c e\"\n"
        );
        let report = report_on_stored(
            vec![stored_file(NETRC, StoredFormat::Netrc, &text)],
            "hunter2-other-pw",
        );
        assert_eq!(report.stored.len(), 1, "{:#?}", report.stored);
        let found = &report.stored[0];
        assert_eq!(found.level, Level::Problem);
        assert_eq!(
            found.message,
            format!("/home/dev/.netrc:3-5 holds the served token (fingerprint {fingerprint}) for gitlab.example.com, in a netrc file, whose password curl, and git through it, sends to that host without asking any credential helper")
        );
        assert_eq!(found.fix.as_deref(), Some("sed -i '3,5d' /home/dev/.netrc"));
    }

    #[test]
    fn a_stored_job_token_for_a_served_host_is_a_problem_whatever_its_password() {
        let stale = "glcbt-64_0ldJ0bT0kenFr0mAn0therJ0b";
        let text = format!(
            "https://alice:hunter2-other-pw@gitlab.example.com\nhttps://gitlab-ci-token:{stale}@gitlab.example.com\nhttps://gitlab-ci-token:{stale}@gitlab.other.example\n"
        );
        let report = report_on_stored(
            vec![stored_file(STORE, StoredFormat::GitCredentials, &text)],
            stale,
        );
        assert_eq!(report.stored.len(), 1, "{:#?}", report.stored);
        let found = &report.stored[0];
        assert_eq!(found.level, Level::Problem);
        assert_eq!(
            found.message,
            "/home/dev/.git-credentials:2 holds a gitlab-ci-token password for gitlab.example.com, a host we serve, in the file git's `store` helper (credential.helper store) reads and writes: a job token is valid only while its job runs, so this one is stale, and it leaks to anything that reads the file"
        );
        assert_eq!(
            found.fix.as_deref(),
            Some("sed -i '2d' /home/dev/.git-credentials")
        );
        // In netrc, for the served host or for every host (`default`).
        for (text, at) in [
            (
                format!("machine gitlab.example.com login gitlab-ci-token password {stale}\n"),
                ":1 holds a gitlab-ci-token password for gitlab.example.com",
            ),
            (
                format!("default\nlogin gitlab-ci-token\npassword {stale}\n"),
                ":1-3 holds a gitlab-ci-token password for every host (netrc `default`)",
            ),
        ] {
            let report =
                report_on_stored(vec![stored_file(NETRC, StoredFormat::Netrc, &text)], stale);
            line(&report.stored, at);
        }
    }

    #[test]
    fn credentials_for_other_hosts_are_no_finding() {
        let text = "https://gitlab-ci-token:glcbt-64_0ther@gitlab.other.example\nhttps://alice:hunter2-other-pw@gitlab.example.com\n";
        let netrc = "machine gitlab.other.example login gitlab-ci-token password glcbt-64_0ther\nmachine gitlab.example.com login alice password hunter2-other-pw\n";
        let report = report_on_stored(
            vec![
                stored_file(STORE, StoredFormat::GitCredentials, text),
                stored_file(NETRC, StoredFormat::Netrc, netrc),
            ],
            "hunter2-other-pw",
        );
        let levels: Vec<(Level, &str)> = report
            .stored
            .iter()
            .map(|l| (l.level, l.message.as_str()))
            .collect();
        assert_eq!(
            levels,
            [
                (
                    Level::Ok,
                    "/home/dev/.git-credentials: no served token, and no job token for a host we serve"
                ),
                (
                    Level::Ok,
                    "/home/dev/.netrc: no served token, and no job token for a host we serve"
                ),
            ]
        );
        // No file, no section.
        let report = report_on_stored(Vec::new(), "hunter2-other-pw");
        assert!(report.stored.is_empty());
        assert!(!report.to_text().contains("stored on disk"));
    }

    #[test]
    fn several_findings_in_one_file_are_deleted_by_one_command() {
        let stale = "glcbt-64_0ldJ0bT0ken";
        let text = format!(
            "https://gitlab-ci-token:{TOKEN}@gitlab.example.com\nhttps://alice:hunter2-other-pw@github.com\nhttps://gitlab-ci-token:{stale}@gitlab.example.com\n"
        );
        let report = report_on_stored(
            vec![stored_file(STORE, StoredFormat::GitCredentials, &text)],
            stale,
        );
        let fixes: Vec<Option<&str>> = report.stored.iter().map(|l| l.fix.as_deref()).collect();
        assert_eq!(
            fixes,
            [
                Some("sed -i '1d;3d' /home/dev/.git-credentials"),
                Some("the command given above for this file deletes this line too"),
            ]
        );
        // An entry that shares its line with another is removed by hand, named by its host.
        let netrc = format!(
            "machine github.com login alice password hunter2-other-pw machine gitlab.example.com login gitlab-ci-token password {TOKEN}\n"
        );
        let report = report_on_stored(
            vec![stored_file(
                "/home/dev/my netrc",
                StoredFormat::Netrc,
                &netrc,
            )],
            "hunter2-other-pw",
        );
        let found = line(&report.stored, "holds the served token");
        assert!(found.message.starts_with("/home/dev/my netrc:1 holds"));
        assert_eq!(
            found.fix.as_deref(),
            Some("remove the `machine gitlab.example.com` entry from /home/dev/my netrc by hand: it shares a line with another entry, which deleting the line would remove too")
        );
        // A path the shell would split is quoted.
        let report = report_on_stored(
            vec![stored_file(
                "/home/dev/my netrc",
                StoredFormat::Netrc,
                &format!("machine gitlab.example.com password {TOKEN}\n"),
            )],
            "hunter2-other-pw",
        );
        assert_eq!(
            report.stored[0].fix.as_deref(),
            Some("sed -i '1d' '/home/dev/my netrc'")
        );
    }

    /// The report's own code, without its tests, names nothing that reads or starts anything.
    #[test]
    fn the_report_does_no_io() {
        let sources = [
            ("mod.rs", include_str!("mod.rs")),
            ("facts.rs", include_str!("facts.rs")),
            ("git.rs", include_str!("git.rs")),
            ("line.rs", include_str!("line.rs")),
            ("stored.rs", include_str!("stored.rs")),
            ("daemon.rs", include_str!("daemon.rs")),
            ("online.rs", include_str!("online.rs")),
        ];
        let forbidden = [
            "std::fs",
            "std::env",
            "std::process",
            "std::net",
            "std::io",
            "os::unix::net",
            "Command",
            "::now()",
            "current_exe",
            "current_dir",
            "git::read",
            "git::run",
            "git::command",
            "resolve_all",
            "first_token",
            "client::request",
            "crate::daemon",
            "hardening",
            "File::open",
        ];
        for (name, text) in sources {
            let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
            for word in forbidden {
                assert!(!code.contains(word), "report/{name} names {word}");
            }
        }
    }

    /// Our helper after a reset, for PROJECT's server, in the image's global config.
    fn configured() -> Vec<Entry> {
        vec![
            global("credential.https://gitlab.example.com.helper", ""),
            global("credential.https://gitlab.example.com.helper", OURS),
        ]
    }

    #[test]
    fn a_user_name_git_sends_that_our_credential_does_not_have_is_a_problem() {
        let ext = "/builds/g/p.tmp/.gitlab-runner.ext.conf";
        let mut deploy = served();
        deploy.credential.username = "deployer".into();
        let mut entries = configured();
        entries.push(entry(
            ext,
            "local",
            "credential.https://gitlab.example.com.username",
            "gitlab-ci-token",
        ));
        let report = Report::build(facts(vec![deploy], Some(git_for(PROJECT, entries.clone()))));
        let found = line(
            git_lines(&report),
            "git sends the user name gitlab-ci-token",
        );
        assert_eq!(found.level, Level::Problem);
        assert!(
            found.message.contains("GitLab Runner's"),
            "{}",
            found.message
        );
        assert!(
            found.message.contains("answers only for deployer"),
            "{}",
            found.message
        );
        assert!(
            found
                .fix
                .as_deref()
                .unwrap()
                .starts_with("eval \"$(git-credential-gitlab-ci configure --env)\""),
            "{:?}",
            found.fix
        );
        // What `configure --env` adds, last: git sends our name, and all is well.
        let mut fixed = entries;
        fixed.push(Entry {
            scope: "command".into(),
            source: Source::Environment(0),
            key: "credential.https://gitlab.example.com.username".into(),
            value: Some(zeroize::Zeroizing::new("deployer".into())),
        });
        let mut deploy = served();
        deploy.credential.username = "deployer".into();
        let report = Report::build(facts(vec![deploy], Some(git_for(PROJECT, fixed))));
        assert!(
            !git_lines(&report)
                .iter()
                .any(|l| l.message.contains("git sends the user name")),
            "{:#?}",
            git_lines(&report)
        );
        // A name in the URL is git's to send, whatever the config says.
        let mut deploy = served();
        deploy.credential.username = "deployer".into();
        let report = Report::build(facts(
            vec![deploy],
            Some(git_for(
                "https://alice@gitlab.example.com/group/project.git",
                configured(),
            )),
        ));
        let found = line(git_lines(&report), "git sends the user name alice");
        assert!(
            found.message.contains("the URL names it"),
            "{}",
            found.message
        );
    }

    #[test]
    fn the_runners_seed_file_is_named_and_explained() {
        let mut git = git_for(PROJECT, configured());
        git.runner_seed = Some(PathBuf::from("/builds/g/p.tmp/.glr.gconf"));
        let report = Report::build(facts(vec![served()], Some(git)));
        let seed = line(
            git_lines(&report),
            "GitLab Runner's per-job seed file /builds/g/p.tmp/.glr.gconf",
        );
        assert_eq!(seed.level, Level::Ok);
        assert!(
            seed.message.contains("GIT_STRATEGY none included"),
            "{}",
            seed.message
        );
        let report = Report::build(facts(vec![served()], Some(git_for(PROJECT, configured()))));
        assert!(!report.to_text().contains(".glr.gconf"));
    }

    #[test]
    fn gits_own_answer_proves_the_chain_or_says_why_not() {
        let ours = token(TOKEN).fingerprint();
        let with = |fill: FillFacts| {
            let mut git = git_for(PROJECT, configured());
            git.fill = Some(fill);
            Report::build(facts(vec![served()], Some(git)))
        };
        let report = with(FillFacts::Answered {
            username: Some("gitlab-ci-token".into()),
            fingerprint: ours.clone(),
            asked: 1,
        });
        let ok = line(git_lines(&report), "git credential fill");
        assert_eq!(ok.level, Level::Ok);
        assert!(
            ok.message
                .contains("from helper 2 in the chain (git-credential-gitlab-ci)"),
            "{ok:?}"
        );
        let report = with(FillFacts::Answered {
            username: Some("gitlab-ci-token".into()),
            fingerprint: "0badf00d".into(),
            asked: 0,
        });
        let other = line(git_lines(&report), "gets another credential");
        assert_eq!(other.level, Level::Problem);
        assert!(other.message.contains("with no helper asked"), "{other:?}");
        assert_eq!(report.worst(), Level::Problem);
        let report = with(FillFacts::Nothing {
            message:
                "git: 'credential-git-credential-gitlab-ci' is not a git command. See 'git --help'."
                    .into(),
            asked: 1,
        });
        let none = line(git_lines(&report), "gets no credential");
        assert!(
            none.fix.as_deref().unwrap().contains("absolute path"),
            "{none:?}"
        );
        let report = with(FillFacts::TimedOut { secs: 10 });
        assert_eq!(
            line(git_lines(&report), "within 10 s").level,
            Level::Problem
        );
    }

    #[test]
    fn a_configured_image_outside_a_job_is_in_order() {
        let mut f = facts(Vec::new(), None);
        f.in_job = false;
        f.our_helpers = vec![(
            "https://gitlab.example.com".into(),
            "/etc/gitconfig (system)".into(),
        )];
        let report = Report::build(f);
        assert_eq!(report.worst(), Level::Ok, "{}", report.to_text());
        let waiting = line(&report.lines, "outside a GitLab CI job");
        assert!(waiting
            .message
            .contains("https://gitlab.example.com (/etc/gitconfig (system))"));
        // Not configured anywhere: still a problem.
        let mut f = facts(Vec::new(), None);
        f.in_job = false;
        assert_eq!(Report::build(f).worst(), Level::Problem);
    }
}
