//! `status --online`: what the server said when git asked it, mapped to GitLab's causes.
//!
//! The probes are git's own (`git ls-remote` for fetch, a dry-run push for push), so git's CA,
//! proxy and `http.*` settings apply and our helper answers as it will for the real push.
//! GitLab answers 401 for a token it does not accept, 403 on receive-pack for a token whose
//! rights do not include pushing, and 404 for a project the token cannot see; git reports
//! each in words of its own, which are matched here.

use serde::Serialize;

use super::facts::{OnlineFacts, Probe};
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

/// `kind` is the kind of token we serve for the URL, if we know it.
pub fn report(facts: &OnlineFacts, kind: Option<TokenKind>) -> OnlineReport {
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
        let job = report(&facts, Some(TokenKind::JobToken));
        assert_eq!(job.lines[0].level, super::super::line::Level::Ok);
        assert!(job.lines[1]
            .fix
            .as_deref()
            .unwrap()
            .contains("Allow Git push requests"));
        let pat = report(&facts, Some(TokenKind::AccessToken));
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
        );
        assert!(expired.lines[0].message.contains("401"));
    }
}
