//! What `status` finds in git's configuration for one URL: the helper chain git will run,
//! whether it reaches us, what GitLab Runner wrote, and every credential written into config.
//!
//! Findings name the file and key, never the value: a value may be the token itself. Built
//! from [`GitFacts`] alone: git has already been asked and the files read.

use std::collections::BTreeSet;
use std::sync::Arc;

use secrecy::ExposeSecret;
use serde::Serialize;

use super::facts::{FillFacts, GitFacts};
use super::line::Line;
use crate::credential::Credential;
use crate::git::{self, Entry, HelperKind, Url};
use crate::token::Token;

/// One `credential.helper` entry that applies to the URL, in the order git reads them.
#[derive(Debug, Serialize)]
pub struct ChainStep {
    pub key: String,
    pub location: String,
    /// `reset` for an empty value, else a description that never includes the raw value.
    pub helper: String,
    pub kind: Option<HelperKind>,
    /// Whether the helper is still in the list when git runs it (not cleared by a later reset).
    pub effective: bool,
    /// The `git config` options that name where the entry is, and its value, for a fix that
    /// removes exactly this entry. Not in the JSON: a value may hold a secret.
    #[serde(skip)]
    remove: String,
}

#[derive(Debug, Serialize)]
pub struct GitFindings {
    pub url: String,
    pub url_from: String,
    /// The URL git contacts after `insteadOf` rules, password masked.
    pub contacts: String,
    pub chain: Vec<ChainStep>,
    pub reaches_us: bool,
    pub lines: Vec<Line>,
}

/// `served` are the credentials we serve and `tokens` the tokens their sources hold now.
/// `known` are the fingerprints of every token we could answer with (ours and the daemon's).
pub fn inspect(
    facts: &GitFacts,
    served: &[&Credential],
    tokens: &[Arc<Token>],
    known: &[String],
) -> GitFindings {
    let (url, entries) = (facts.url.as_str(), facts.entries.as_slice());
    let mut lines = Vec::new();
    let (contacted, rewritten_by) = git::rewrite(entries, url, true);
    let contacts = git::mask_password(&contacted);
    if let Some(rule) = rewritten_by {
        if git::has_password(&contacted) {
            let runner = if runner_file(rule) {
                " GitLab Runner wrote it (FF_GIT_URLS_WITHOUT_TOKENS off)."
            } else {
                ""
            };
            lines.push(Line::problem(
                format!(
                    "an insteadOf rule in {} rewrites the URL into one that carries a password, so git never asks any helper and the token sits in git's config.{runner}",
                    rule.location()
                ),
                "git-credential-gitlab-ci scrub (removes the rule and any token in remote URLs)",
            ));
        }
    } else if git::has_password(url) {
        let runner = if runner_user(url) {
            " GitLab Runner writes the job token this way (FF_GIT_URLS_WITHOUT_TOKENS off, runners before 18.6)."
        } else {
            ""
        };
        lines.push(Line::problem(
            format!("the URL itself carries a password, so git never asks any helper.{runner}"),
            "git-credential-gitlab-ci scrub",
        ));
    }

    let target = Url::parse(&contacted);
    // A plain-http URL to a host we serve over https: no helper set-up can help, the URL must
    // change, so that is said first and the chain's own advice is left out.
    let plain_http = target.as_ref().is_some_and(|t| {
        t.scheme == "http"
            && served.iter().any(|c| {
                c.scope
                    .origin
                    .to_string()
                    .strip_prefix("https://")
                    .is_some_and(|o| o.split(':').next() == Some(t.host.as_str()))
            })
    });
    if let Some(t) = target.as_ref().filter(|_| plain_http) {
        lines.push(Line::problem(
            format!("git contacts {contacts} over plain http, and we serve {} only over https: we refuse to answer, and a token sent there would cross the network in clear", t.host),
            format!("use the https URL: git remote set-url origin https://{}{}", t.host, t.path),
        ));
    }
    // With a password in the URL git asks no helper at all: the chain is shown, but whether
    // it would reach us is moot until the password is gone.
    let asks_helpers = !git::has_password(&contacted);
    let (chain, reaches_us) = match &target {
        Some(t) if asks_helpers && !plain_http => helper_chain(entries, t, &facts.exe, &mut lines),
        Some(t) if asks_helpers => (
            helper_chain(entries, t, &facts.exe, &mut Vec::new()).0,
            false,
        ),
        Some(t) => (
            helper_chain(entries, t, &facts.exe, &mut Vec::new()).0,
            false,
        ),
        None => {
            lines.push(Line::warning(
                format!("{contacts} is not an http(s) URL: git asks credential helpers only for http(s) remotes"),
                "use the https:// URL of the project",
            ));
            (Vec::new(), false)
        }
    };
    if let Some(t) = &target {
        path_scope_lines(entries, t, served, &mut lines);
        if asks_helpers {
            username_lines(entries, t, served, &mut lines);
        }
    }
    if let Some(fill) = &facts.fill {
        lines.push(fill_line(fill, known, &contacts, &chain));
    }
    if let Some(seed) = facts.runner_seed.as_deref() {
        lines.insert(0, Line::ok(format!(
            "GIT_CONFIG_GLOBAL is GitLab Runner's per-job seed file {} (FF_GIT_URLS_WITHOUT_TOKENS on, runner 19.2 and later): git reads it in place of ~/.gitconfig; it includes ~/.gitconfig and ~/.config/git/config (those readable when the job started) and the runner's .gitlab-runner.ext.conf, in every job, GIT_STRATEGY none included; `git config --global` in this job writes into it",
            seed.display()
        )));
    }
    embedded_credential_lines(facts, rewritten_by, served, tokens, &mut lines);
    GitFindings {
        url: git::mask_password(url),
        url_from: facts.url_from.clone(),
        contacts,
        chain,
        reaches_us,
        lines,
    }
}

/// `exe` is this program's own path, to recognise our helper by it.
fn helper_chain(
    entries: &[Entry],
    target: &Url,
    exe: &str,
    lines: &mut Vec<Line>,
) -> (Vec<ChainStep>, bool) {
    let mut steps: Vec<ChainStep> = Vec::new();
    for e in entries {
        let (section, sub, name) = e.parts();
        if section != "credential" || name != "helper" {
            continue;
        }
        if let Some(pattern) = sub {
            if !Url::parse(pattern).is_some_and(|p| target.matched_by(&p)) {
                continue;
            }
        }
        let value = e.value().unwrap_or("");
        if value.is_empty() {
            for s in steps.iter_mut() {
                s.effective = false;
            }
            steps.push(ChainStep {
                key: e.key.clone(),
                location: e.location(),
                helper: "reset (clears the helpers before it)".to_owned(),
                kind: None,
                effective: true,
                remove: remove_command(e),
            });
        } else {
            let kind = git::classify_helper(value, exe);
            steps.push(ChainStep {
                key: e.key.clone(),
                location: e.location(),
                helper: describe(value, kind),
                kind: Some(kind),
                effective: true,
                remove: remove_command(e),
            });
        }
    }
    let effective: Vec<&ChainStep> = steps
        .iter()
        .filter(|s| s.effective && s.kind.is_some())
        .collect();
    let ours = effective
        .iter()
        .position(|s| s.kind == Some(HelperKind::Ours));
    match ours {
        None => {
            // A runner's per-job reset is read after the system and global files, so only
            // GIT_CONFIG_COUNT entries, read after every file, can come after it.
            let runner = steps.iter().any(|s| s.kind == Some(HelperKind::Runner));
            let fix = if runner {
                "eval \"$(git-credential-gitlab-ci configure --env)\" in the job: the runner's per-job config is read after --system and --global"
            } else {
                "git-credential-gitlab-ci configure --global (or --system in a runner image)"
            };
            lines.push(Line::problem(
                "git will not ask git-credential-gitlab-ci for this URL: it is not in the helper chain above, or a later reset clears it",
                fix,
            ))
        }
        Some(i) => {
            lines.push(Line::ok(format!(
                "git asks git-credential-gitlab-ci for this URL ({} in the chain)",
                ordinal(i + 1)
            )));
            for before in &effective[..i] {
                let line = match before.kind {
                    Some(HelperKind::Runner) => Line::problem(
                        format!("GitLab Runner's own helper from {} answers before ours (FF_GIT_URLS_WITHOUT_TOKENS on)", before.location),
                        "eval \"$(git-credential-gitlab-ci configure --env)\" in the job: those entries are read after the runner's",
                    ),
                    _ => Line::warning(
                        format!("{} from {} runs before ours and may answer first", before.helper, before.location),
                        format!("put a reset and our helper after it, or remove it: {}", before.remove),
                    ),
                };
                lines.push(line);
            }
        }
    }
    for s in &effective {
        if s.kind == Some(HelperKind::Runner) && ours.is_none() {
            lines.push(Line::problem(
                format!("GitLab Runner's per-job helper from {} is the one git uses (FF_GIT_URLS_WITHOUT_TOKENS on): it reset the helpers for this server", s.location),
                "eval \"$(git-credential-gitlab-ci configure --env)\" in the job, so our helper follows the runner's",
            ));
        }
        if s.kind == Some(HelperKind::Storage) {
            lines.push(Line::problem(
                format!(
                    "{} from {} receives every credential git uses on `store` and would write the CI token to disk",
                    s.helper, s.location
                ),
                format!("remove it: {}; or put a reset before our helper (git-credential-gitlab-ci configure writes one)", s.remove),
            ));
        }
    }
    (steps, ours.is_some())
}

/// The `git config` options that write where `e` is: its file, by path.
fn scope_options(e: &Entry) -> String {
    match e.file() {
        Some(path) => format!("--file {}", git::shell_quote(&path.to_string_lossy())),
        None => "--global".to_owned(),
    }
}

/// A command that removes the entry `e`, as pasted into a shell: by its file, key and a value
/// pattern that matches the helper's command word only, so the helper's arguments, which may
/// hold a secret, are not printed. An entry from the environment or `git -c` is not in a
/// file, so the fix says where it is instead.
fn remove_command(e: &Entry) -> String {
    let value = e.value().unwrap_or("");
    let pattern = match value.split_whitespace().next() {
        None => "^$".to_owned(),
        Some(word) => format!("^{}( |$)", git::ere_escape(word)),
    };
    match e.file() {
        Some(_) => format!(
            "git config {} --unset-all {} {}",
            scope_options(e),
            git::shell_quote(&e.key),
            git::shell_quote(&pattern)
        ),
        None => format!("drop it from {}", e.location()),
    }
}

/// A helper in words, without arguments that could hold a secret.
fn describe(value: &str, kind: HelperKind) -> String {
    match kind {
        HelperKind::Ours => "git-credential-gitlab-ci".to_owned(),
        HelperKind::Runner => "GitLab Runner's inline helper (echoes CI_JOB_TOKEN)".to_owned(),
        HelperKind::Storage | HelperKind::Other if value.starts_with('!') => {
            "an inline shell helper".to_owned()
        }
        HelperKind::Storage | HelperKind::Other => {
            let first = value.split_whitespace().next().unwrap_or("");
            format!("helper `{first}`")
        }
    }
}

fn ordinal(n: usize) -> String {
    match n {
        1 => "first".into(),
        2 => "second".into(),
        3 => "third".into(),
        n => format!("number {n}"),
    }
}

/// GitLab Runner's URLs carry the job token as `gitlab-ci-token:TOKEN@`.
fn runner_user(url: &str) -> bool {
    Url::parse(url).is_some_and(|u| u.password && u.user.as_deref() == Some("gitlab-ci-token"))
}

fn runner_file(e: &Entry) -> bool {
    e.file()
        .and_then(|p| p.file_name())
        .is_some_and(|n| n.to_string_lossy().contains("gitlab-runner"))
}

/// Which helper answered, by its number in the chain as printed: git runs the helpers left in
/// effect in order and stops at the first that completes the credential, so the `asked`-th of
/// them answered.
fn answered_by(asked: usize, chain: &[ChainStep]) -> String {
    if asked == 0 {
        return "with no helper asked (the credential is in the URL or git's config)".to_owned();
    }
    chain
        .iter()
        .enumerate()
        .filter(|(_, s)| s.effective && s.kind.is_some())
        .nth(asked - 1)
        .map(|(i, s)| format!("from helper {} in the chain ({})", i + 1, s.helper))
        .unwrap_or_else(|| format!("from the helper git ran {}", ordinal(asked)))
}

/// What git really got when asked as it will ask: the proof the chain works, or why not.
fn fill_line(fill: &FillFacts, known: &[String], url: &str, chain: &[ChainStep]) -> Line {
    match fill {
        FillFacts::Answered { fingerprint, username, asked } if known.contains(fingerprint) => Line::ok(format!(
            "git credential fill for {url} gets our token (fingerprint {fingerprint}) as {}, {}: the chain works",
            username.as_deref().unwrap_or("no user name"),
            answered_by(*asked, chain),
        )),
        FillFacts::Answered { fingerprint, username, asked } => Line::problem(
            format!(
                "git credential fill for {url} gets another credential (user {}, fingerprint {fingerprint}) {}, not our token",
                username.as_deref().unwrap_or("none"),
                answered_by(*asked, chain),
            ),
            "see the helper chain above: put a reset and our helper after the one that answers (git-credential-gitlab-ci configure --global, or in a job eval \"$(git-credential-gitlab-ci configure --env)\")",
        ),
        FillFacts::Nothing { message, .. } => {
            let fix = if message.contains("is not a git command") {
                "the helper is named without a path, so git runs `git credential-<name>`: give it by absolute path (git-credential-gitlab-ci configure --global writes it so)"
            } else if message.contains("not found") || message.contains("No such file") {
                "a helper in the chain cannot be run: install it, or fix its path (git-credential-gitlab-ci configure --global writes this binary's absolute path)"
            } else {
                "see the helper chain above and git's message; run the failing git command with GIT_CREDENTIAL_GITLAB_CI_LOG=debug"
            };
            let said = message.lines().filter(|l| !l.trim().is_empty()).take(3).collect::<Vec<_>>().join(" / ");
            Line::problem(
                format!("git credential fill for {url} gets no credential, so git would fail: {said}"),
                fix,
            )
        }
        FillFacts::TimedOut { secs } => Line::problem(
            format!("git credential fill for {url} did not finish within {secs} s: a helper in the chain waits, perhaps for input"),
            "see the helper chain above; remove interactive helpers for this server, or put a reset before ours",
        ),
        FillFacts::NotRun(why) => Line::warning(
            format!("could not run git credential fill to check the chain: {why}"),
            "install git, or put it on PATH",
        ),
    }
}

/// The user name git sends for `target`: the URL's own, else the last `credential.username`
/// that applies (git applies every matching entry in order, so the last one wins).
fn sent_username<'e>(
    entries: &'e [Entry],
    target: &'e Url,
) -> Option<(&'e str, Option<&'e Entry>)> {
    if let Some(user) = target.user.as_deref() {
        return Some((user, None));
    }
    entries
        .iter()
        .rfind(|e| {
            let (section, sub, name) = e.parts();
            section == "credential"
                && name == "username"
                && sub.is_none_or(|p| Url::parse(p).is_some_and(|p| target.matched_by(&p)))
        })
        .and_then(|e| Some((e.value()?, Some(e))))
}

/// A user name git sends that none of our credentials for the URL has: we refuse, in
/// silence, and git goes on to ask for a password it cannot get.
fn username_lines(entries: &[Entry], target: &Url, served: &[&Credential], lines: &mut Vec<Line>) {
    let Some((sent, from)) = sent_username(entries, target) else {
        return;
    };
    let for_url: Vec<&Credential> = served
        .iter()
        .copied()
        .filter(|c| Url::parse(&c.scope.origin.to_string()).is_some_and(|o| target.matched_by(&o)))
        .collect();
    if for_url.is_empty() || for_url.iter().any(|c| c.username == sent) {
        return;
    }
    let ours: Vec<&str> = for_url.iter().map(|c| c.username.as_str()).collect();
    let (whence, fix) = match from {
        None => (
            "the URL names it".to_owned(),
            format!("remove the user name from the URL, or serve {sent} (--username)"),
        ),
        Some(e) if runner_file(e) => (
            format!("GitLab Runner's {} in {} sets it", e.key, e.location()),
            "eval \"$(git-credential-gitlab-ci configure --env)\" in the job: it sets our credential's user name after the runner's".to_owned(),
        ),
        Some(e) => (
            format!("{} in {} sets it", e.key, e.location()),
            format!("remove it, or set it to {}", ours[0]),
        ),
    };
    lines.push(Line::problem(
        format!(
            "git sends the user name {sent} ({whence}), but our credential for this URL answers only for {}: we refuse, and git fails with `could not read Password`",
            ours.join(", ")
        ),
        fix,
    ));
}

fn path_scope_lines(
    entries: &[Entry],
    target: &Url,
    served: &[&Credential],
    lines: &mut Vec<Line>,
) {
    let scoped: Vec<&Credential> = served
        .iter()
        .copied()
        .filter(|c| c.scope.path.is_some())
        .filter(|c| Url::parse(&c.scope.origin.to_string()).is_some_and(|o| target.matched_by(&o)))
        .collect();
    if scoped.is_empty() {
        return;
    }
    let use_http_path = entries
        .iter()
        .rfind(|e| {
            let (section, sub, name) = e.parts();
            section == "credential"
                && name == "usehttppath"
                && sub.is_none_or(|p| Url::parse(p).is_some_and(|p| target.matched_by(&p)))
        })
        .is_some_and(|e| git::is_true(e.value()));
    if !use_http_path {
        for c in scoped {
            lines.push(Line::problem(
                format!("{} is served for a path prefix, but credential.useHttpPath is not set, so git sends no path and it is never used", c.scope),
                format!("git config --global credential.{}.useHttpPath true", c.scope.origin),
            ));
        }
    }
}

/// `reported` is an entry already reported above (the rule that rewrote the URL itself).
fn embedded_credential_lines(
    facts: &GitFacts,
    reported: Option<&Entry>,
    served: &[&Credential],
    tokens: &[Arc<Token>],
    lines: &mut Vec<Line>,
) {
    let served_hosts: BTreeSet<&str> = served
        .iter()
        .map(|c| c.scope.origin.host.as_str())
        .collect();
    for e in &facts.entries {
        let (section, sub, name) = e.parts();
        let value = e.value().unwrap_or("");
        match (section, name) {
            ("remote", "url" | "pushurl") | ("submodule", "url") => {
                if git::has_password(value) {
                    lines.push(Line::problem(
                        format!("{} in {} carries a password", e.key, e.location()),
                        "git-credential-gitlab-ci scrub",
                    ));
                }
                if let Some(u) = Url::parse(value) {
                    if u.scheme == "http" && served_hosts.contains(u.host.as_str()) {
                        lines.push(Line::problem(
                            format!("{} in {} is plain http to {}, a host we serve: we refuse to answer it, and a token sent there would cross the network in clear", e.key, e.location(), u.host),
                            format!("git config {} {} https://{}{}", scope_options(e), e.key, u.host, u.path),
                        ));
                    }
                }
            }
            ("url", "insteadof" | "pushinsteadof")
                if sub.is_some_and(git::has_password) && reported != Some(e) =>
            {
                let runner = if runner_file(e) || sub.is_some_and(runner_user) {
                    " GitLab Runner wrote it (FF_GIT_URLS_WITHOUT_TOKENS off)."
                } else {
                    ""
                };
                lines.push(Line::problem(
                    format!(
                        "an insteadOf rule in {} rewrites URLs into ones that carry a password.{runner}",
                        e.location()
                    ),
                    "git-credential-gitlab-ci scrub",
                ));
            }
            ("http", "extraheader")
                if value
                    .trim_start()
                    .to_ascii_lowercase()
                    .starts_with("authorization") =>
            {
                lines.push(Line::problem(
                    format!(
                        "{} in {} sends an Authorization header with every request",
                        e.key,
                        e.location()
                    ),
                    remove_command(e),
                ));
            }
            _ => {}
        }
    }
    for (file, data) in &facts.files {
        for token in tokens {
            let secret = token.secret().expose_secret().as_bytes();
            if secret.len() >= 8 && data.windows(secret.len()).any(|w| w == secret) {
                lines.push(Line::problem(
                    format!(
                        "the served token (fingerprint {}) is written in {}",
                        token.fingerprint(),
                        file.display()
                    ),
                    "git-credential-gitlab-ci scrub, or remove it from that file by hand",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Classified as `status` does, without a path of our own to recognise.
    fn classify(value: &str) -> HelperKind {
        git::classify_helper(value, "")
    }

    #[test]
    fn helpers_are_classified_by_what_they_run() {
        assert_eq!(
            classify("/usr/local/bin/git-credential-gitlab-ci --token-env X"),
            HelperKind::Ours
        );
        assert_eq!(classify("gitlab-ci"), HelperKind::Ours);
        assert_eq!(classify("store --file ~/.creds"), HelperKind::Storage);
        assert_eq!(classify("cache --timeout=60"), HelperKind::Storage);
        assert_eq!(
            classify("/usr/lib/git-core/git-credential-libsecret"),
            HelperKind::Storage
        );
        assert_eq!(classify("manager"), HelperKind::Storage);
        assert_eq!(
            classify(
                "!f() { echo \"username=gitlab-ci-token\"; echo \"password=${CI_JOB_TOKEN}\"; }; f"
            ),
            HelperKind::Runner
        );
        assert_eq!(classify("!echo password=x"), HelperKind::Other);
        assert_eq!(
            classify("!'/opt/my tools/git-credential-gitlab-ci' --url https://h"),
            HelperKind::Ours
        );
        assert_eq!(
            describe("!echo password=glpat-secret", HelperKind::Other),
            "an inline shell helper"
        );
    }
}
