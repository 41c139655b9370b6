//! `status --online`: what the server said when git asked it, mapped to GitLab's causes.
//!
//! The probes are git's own (`git ls-remote` for fetch, a dry-run push for push), so git's CA,
//! proxy and `http.*` settings apply and our helper answers as it will for the real push.
//! GitLab answers 401 for a token it does not accept, 403 on receive-pack for a token whose
//! rights do not include pushing, and 404 for a project the token cannot see; git reports
//! each in words of its own, which are matched here.

use serde::Serialize;

use std::time::{SystemTime, UNIX_EPOCH};

use super::facts::{Identity, OnlineFacts, Probe};
use super::line::Line;
use crate::token::TokenKind;

#[derive(Debug, Serialize)]
pub struct OnlineReport {
    pub url: String,
    pub lines: Vec<Line>,
}

/// What GitLab's answer was, as git reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Allowed,
    Unauthorized,
    Forbidden,
    NotFound,
    NoCredential,
    Other,
}

pub fn answer(probe: &Probe) -> Answer {
    let m = probe.message.as_str();
    if probe.ok {
        Answer::Allowed
    } else if m.contains("Authentication failed") || m.contains("returned error: 401") {
        Answer::Unauthorized
    } else if m.contains("returned error: 403") {
        Answer::Forbidden
    } else if m.contains("not found") || m.contains("returned error: 404") {
        Answer::NotFound
    } else if m.contains("could not read Username") || m.contains("could not read Password") {
        Answer::NoCredential
    } else {
        Answer::Other
    }
}

/// What GitLab's API said about the token, as a line; `now` in days since 1970-01-01.
fn identity_line(identity: &Identity, today: i64, warn_days: u64) -> Option<Line> {
    Some(match identity {
        Identity::NotAsked => return None,
        Identity::Job { id, name, project_id } => Line::ok(format!(
            "GitLab's API: a job token of job {id} ({name}){}",
            project_id.map(|p| format!(", project {p}")).unwrap_or_default()
        )),
        Identity::AccessToken { revoked: true, name, .. } => Line::problem(
            format!("GitLab's API: access token \"{name}\" is revoked"),
            "create a new token and put it where the helper reads it",
        ),
        Identity::AccessToken { active: false, name, .. } => Line::problem(
            format!("GitLab's API: access token \"{name}\" is not active (expired, or its user is blocked)"),
            "create a new token and put it where the helper reads it",
        ),
        Identity::AccessToken { name, scopes, expires_at, .. } => {
            let until = expires_at.as_deref().and_then(days_from_date).map(|d| d - today);
            let shown = format!(
                "GitLab's API: access token \"{name}\", scopes {}, {}",
                scopes.join(", "),
                match (expires_at, until) {
                    (Some(date), Some(n)) => format!("expires {date} (in {n} days)"),
                    _ => "no expiry date".to_owned(),
                }
            );
            if !scopes.iter().any(|s| s == "write_repository" || s == "api") {
                Line::problem(
                    format!("{shown}: without write_repository (or api), a push gets 403"),
                    "a token with the write_repository scope (scopes cannot be added to a token)",
                )
            } else if until.is_some_and(|n| n <= 0) {
                Line::problem(format!("{shown}: expired"), "create a new token")
            } else if until.is_some_and(|n| n <= warn_days as i64) {
                Line::warning(
                    format!("{shown}: expires within {warn_days} days"),
                    "rotate the token before it expires",
                )
            } else {
                Line::ok(shown)
            }
        }
        Identity::Refused(401) => Line::problem(
            "GitLab's API does not know the token (401): it is expired, revoked, or for another GitLab instance",
            "a valid token",
        ),
        Identity::Refused(code) => Line::warning(
            format!("GitLab's API answered {code} when asked who the token is"),
            "check the server's URL (CI_API_V4_URL for an instance under a path)",
        ),
        Identity::NoCurl => Line::warning(
            "could not ask GitLab's API who the token is: curl, which makes the request, is not installed",
            "install curl (apt-get install curl, apk add curl, dnf install curl) and run this again",
        ),
        Identity::Failed(why) => Line::warning(
            format!("could not ask GitLab's API who the token is: {why}"),
            "check git's http.sslCAInfo and http.proxy for the server, which the check uses too",
        ),
    })
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (the proleptic Gregorian calendar).
fn days_from_date(date: &str) -> Option<i64> {
    let mut parts = date.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.get(..2)?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// `kind` is the kind of token we serve for the URL, if we know it; `now` is when the facts
/// were gathered.
pub fn report(facts: &OnlineFacts, kind: Option<TokenKind>, now: SystemTime) -> OnlineReport {
    let url = &facts.url;
    let mut lines = Vec::new();
    for (what, probe, push) in [("fetch", &facts.fetch, false), ("push", &facts.push, true)] {
        let asked = if push {
            format!("git push --dry-run {url} (git-receive-pack)")
        } else {
            format!("git ls-remote {url} (git-upload-pack)")
        };
        lines.push(match answer(probe) {
            Answer::Allowed => Line::ok(format!("{what}: allowed ({asked})")),
            Answer::Unauthorized => Line::problem(
                format!("{what}: the server refused the token with 401 ({asked}): it is expired, revoked, or for another GitLab instance"),
                "a valid token: a job token lives only as long as its job; check an access token's expiry and whether it was revoked (User or project settings > Access tokens)",
            ),
            Answer::Forbidden if push => Line::problem(
                format!("push: the server answered 403 ({asked}): the token is valid but may not push here"),
                match kind {
                    Some(TokenKind::JobToken) => "turn on \"Allow Git push requests to the repository\" (project Settings > CI/CD > Job token permissions); a job token pushes only to its own project",
                    Some(TokenKind::DeployToken) => "give the deploy token the write_repository scope (a new token: scopes cannot be changed)",
                    _ => "give the token a role that may push (Developer or more) and the write_repository scope; a protected branch may also refuse it",
                },
            ),
            Answer::Forbidden => Line::problem(
                format!("fetch: the server answered 403 ({asked}): the token may not read this project"),
                "give the token read_repository (or write_repository) and a role on the project",
            ),
            Answer::NotFound => Line::problem(
                format!("{what}: the server answered 404 ({asked}): the token cannot see this project, or the path is wrong"),
                match kind {
                    Some(TokenKind::JobToken) => "for another project, add this job's project to that project's CI/CD job token allowlist (Settings > CI/CD > Job token permissions); else check the URL",
                    _ => "check the project's path, and that the token's user or group has access to it",
                },
            ),
            Answer::NoCredential => Line::problem(
                format!("{what}: git had no credential to send ({asked}): no helper answered"),
                "see the helper chain above",
            ),
            Answer::Other => Line::warning(
                format!(
                    "{what}: git failed ({asked}): {}",
                    probe.message.lines().filter(|l| !l.trim().is_empty()).take(2).collect::<Vec<_>>().join(" / ")
                ),
                "run the same git command to see the whole message",
            ),
        });
    }
    let today = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| (d.as_secs() / 86_400) as i64);
    if let Some(line) = facts
        .identity
        .as_ref()
        .and_then(|i| identity_line(i, today, facts.warn_days))
    {
        lines.push(line);
    }
    OnlineReport {
        url: url.clone(),
        lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(ok: bool, message: &str) -> Probe {
        Probe {
            ok,
            message: message.to_owned(),
        }
    }

    fn online(fetch: Probe, push: Probe) -> OnlineFacts {
        OnlineFacts {
            url: "https://gitlab.example.com/g/p.git".into(),
            fetch,
            push,
            identity: None,
            warn_days: 14,
        }
    }

    #[test]
    fn gits_words_are_mapped_to_gitlabs_answers() {
        assert_eq!(answer(&probe(true, "")), Answer::Allowed);
        assert_eq!(
            answer(&probe(
                false,
                "fatal: unable to access 'x': SSL certificate problem"
            )),
            Answer::Other
        );
        assert_eq!(
            answer(&probe(
                false,
                "fatal: Authentication failed for 'https://h/g/p.git/'"
            )),
            Answer::Unauthorized
        );
        assert_eq!(
            answer(&probe(false, "fatal: unable to access 'https://h/g/p.git/': The requested URL returned error: 403")),
            Answer::Forbidden
        );
        assert_eq!(
            answer(&probe(
                false,
                "fatal: repository 'https://h/g/p.git/' not found"
            )),
            Answer::NotFound
        );
        assert_eq!(
            answer(&probe(
                false,
                "fatal: could not read Username for 'https://h': terminal prompts disabled"
            )),
            Answer::NoCredential
        );
    }

    #[test]
    fn a_403_on_push_names_the_cause_for_the_kind_of_token() {
        let facts = online(
            probe(true, ""),
            probe(false, "The requested URL returned error: 403"),
        );
        let job = report(&facts, Some(TokenKind::JobToken), UNIX_EPOCH);
        assert_eq!(job.lines[0].level, super::super::line::Level::Ok);
        assert!(job.lines[1]
            .fix
            .as_deref()
            .unwrap()
            .contains("Allow Git push requests"));
        let pat = report(&facts, Some(TokenKind::AccessToken), UNIX_EPOCH);
        assert!(pat.lines[1]
            .fix
            .as_deref()
            .unwrap()
            .contains("write_repository"));
        let missing = report(
            &online(
                probe(false, "repository 'x' not found"),
                probe(false, "repository 'x' not found"),
            ),
            Some(TokenKind::JobToken),
            UNIX_EPOCH,
        );
        assert!(missing.lines[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("allowlist"));
        let expired = report(
            &online(
                probe(false, "Authentication failed"),
                probe(false, "Authentication failed"),
            ),
            None,
            UNIX_EPOCH,
        );
        assert!(expired.lines[0].message.contains("401"));
    }

    #[test]
    fn dates_count_days_as_the_calendar_does() {
        assert_eq!(days_from_date("1970-01-01"), Some(0));
        assert_eq!(days_from_date("2000-03-01"), Some(11_017));
        assert_eq!(days_from_date("2026-12-03"), Some(20_790));
        assert_eq!(days_from_date("2026-13-01"), None);
        assert_eq!(days_from_date("soon"), None);
    }

    #[test]
    fn the_apis_answer_is_judged_by_scope_state_and_expiry() {
        let today = days_from_date("2026-12-03").unwrap();
        let token = |scopes: &[&str], expires: Option<&str>| Identity::AccessToken {
            name: "release".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            expires_at: expires.map(str::to_owned),
            active: true,
            revoked: false,
        };
        let level = |i: &Identity| identity_line(i, today, 14).unwrap().level;
        use super::super::line::Level;
        assert_eq!(
            level(&token(&["write_repository"], Some("2027-06-01"))),
            Level::Ok
        );
        assert_eq!(
            level(&token(&["write_repository"], Some("2026-12-10"))),
            Level::Warning
        );
        assert_eq!(
            level(&token(&["write_repository"], Some("2026-12-03"))),
            Level::Problem
        );
        assert_eq!(level(&token(&["read_repository"], None)), Level::Problem);
        let line =
            identity_line(&token(&["write_repository"], Some("2026-12-10")), today, 14).unwrap();
        assert!(
            line.message.contains("expires 2026-12-10 (in 7 days)"),
            "{}",
            line.message
        );
        assert_eq!(level(&Identity::Refused(401)), Level::Problem);
        assert!(identity_line(&Identity::NotAsked, today, 14).is_none());
        let job = identity_line(
            &Identity::Job {
                id: 7,
                name: "release".into(),
                project_id: Some(3),
            },
            today,
            14,
        )
        .unwrap();
        assert_eq!(
            job.message,
            "GitLab's API: a job token of job 7 (release), project 3"
        );
    }
}
