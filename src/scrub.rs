//! `scrub`: take credentials out of the current repository's git config.
//!
//! A token ends up in a checkout's config in a few known places: the
//! remote URL (`https://gitlab-ci-token:TOKEN@host/...`, written by older GitLab Runners and
//! by hand-made clones), a submodule's URL, and GitLab Runner's per-job `insteadOf` rule in
//! `<project>.tmp/.gitlab-runner.ext.conf`, which `.git/config` includes. While it is there,
//! git never asks a helper for that host, and the token travels with the directory.
//!
//! `scrub` reads the repository's entries as git reads them (included files too, each with
//! the file it came from), strips the userinfo from URLs that carry a password or the served
//! token, and removes `insteadOf` rules whose replacement carries one, each in the file the
//! entry is in.
//!
//! No token goes on a command line, where every local user can read it in `/proc`. A URL is
//! rewritten by `git config --file F --replace-all KEY NEW PATTERN`, where the new URL has no
//! userinfo and the pattern leaves it out. A rule's key holds the token (`url.<base>.insteadOf`,
//! and `<base>` carries it), so git cannot be told which one to remove without it: rules and
//! their sections are removed by the same lock-and-rename line edit `unconfigure` uses
//! (`git::edit_config_file`), which asks git only to list the file, by its path.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::config::{Config, Flags, ProcessEnv};
use crate::git::{self, EditError, Entry, GitError, Source, Url};
use crate::redact::Redactor;
use crate::token::first_token;
use crate::token::Token;

/// One change `scrub` makes to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub file: PathBuf,
    pub fix: Fix,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fix {
    /// Every value of `key` that is `to` with some userinfo becomes `to`. `from` holds the
    /// credentials, so it is zeroed on drop.
    StripUrl {
        key: String,
        from: Zeroizing<String>,
        to: String,
    },
    /// An `insteadOf`/`pushInsteadOf` rule whose replacement `base` carries credentials. The
    /// whole `url.<base>` section goes when it holds nothing else (`section`).
    RemoveRule {
        /// Holds the credentials: zeroed on drop.
        base: Zeroizing<String>,
        rules: Vec<(String, String)>,
        section: bool,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ScrubError {
    #[error("not inside a git repository: run scrub in the checkout to clean")]
    NotARepository,
    #[error(transparent)]
    Git(GitError),
    #[error(transparent)]
    Edit(EditError),
}

/// Whether `url` carries credentials: a password, or a user that is a token we serve.
fn carries_credentials(url: &str, is_token: &dyn Fn(&str) -> bool) -> bool {
    Url::parse(url).is_some_and(|u| u.password || u.user.as_deref().is_some_and(is_token))
}

/// `url` for display: a password, or a user that is a served token, replaced.
pub fn masked(url: &str, is_token: &dyn Fn(&str) -> bool) -> String {
    // Only a URL that parses for urlmatch has a user that is a token.
    let user_is_token = Url::parse(url).is_some_and(|u| u.user.as_deref().is_some_and(is_token));
    match git::split_url(url) {
        Some(parts) if user_is_token => format!("{}://<secret>@{}", parts.scheme, parts.rest),
        _ => git::mask_password(url),
    }
}

/// What to change, from the entries git reads for the repository (files only).
pub fn plan(entries: &[Entry], is_token: &dyn Fn(&str) -> bool) -> Vec<Change> {
    let mut changes: Vec<Change> = Vec::new();
    // (file, base) -> index in `changes`, so a section's rules are removed together.
    // Keyed by the entries' own text: no copy of a base that holds a token.
    let mut rules: BTreeMap<(PathBuf, &str), usize> = BTreeMap::new();
    for e in entries {
        let Some(file) = e.file() else { continue };
        let (section, sub, name) = e.parts();
        let value = e.value().unwrap_or("");
        match (section, sub, name) {
            ("remote", Some(_), "url" | "pushurl") | ("submodule", Some(_), "url")
                if carries_credentials(value, is_token) =>
            {
                let fix = Fix::StripUrl {
                    key: e.key.clone(),
                    from: Zeroizing::new(value.to_owned()),
                    to: git::strip_userinfo(value),
                };
                let change = Change {
                    file: file.to_path_buf(),
                    fix,
                };
                // One `--replace-all` rewrites every credentialed copy of the same URL.
                let done = changes.iter().any(|c| {
                    c.file == change.file
                        && matches!((&c.fix, &change.fix), (Fix::StripUrl { key: k1, to: t1, .. }, Fix::StripUrl { key: k2, to: t2, .. }) if k1 == k2 && t1 == t2)
                });
                if !done {
                    changes.push(change);
                }
            }
            ("url", Some(base), "insteadof" | "pushinsteadof")
                if carries_credentials(base, is_token) =>
            {
                let at = *rules.entry((file.to_path_buf(), base)).or_insert_with(|| {
                    let alone = entries.iter().all(|other| {
                        let (s, b, n) = other.parts();
                        other.file() != Some(file)
                            || s != "url"
                            || b != Some(base)
                            || matches!(n, "insteadof" | "pushinsteadof")
                    });
                    changes.push(Change {
                        file: file.to_path_buf(),
                        fix: Fix::RemoveRule {
                            base: Zeroizing::new(base.to_owned()),
                            rules: Vec::new(),
                            section: alone,
                        },
                    });
                    changes.len() - 1
                });
                if let Fix::RemoveRule { rules, .. } = &mut changes[at].fix {
                    rules.push((name.to_owned(), value.to_owned()));
                }
            }
            _ => {}
        }
    }
    changes
}

/// The change in words, secrets masked: the file, the key, and what happens to it.
pub fn describe(change: &Change, is_token: &dyn Fn(&str) -> bool) -> String {
    let file = change.file.display();
    match &change.fix {
        Fix::StripUrl { key, from, to } => {
            format!("{file}: {key}: {} -> {to}", masked(from, is_token))
        }
        Fix::RemoveRule { base, rules, .. } => {
            let mut s = String::new();
            for (i, (name, value)) in rules.iter().enumerate() {
                if i > 0 {
                    s.push('\n');
                }
                let name = if name == "insteadof" {
                    "insteadOf"
                } else {
                    "pushInsteadOf"
                };
                let _ = write!(
                    s,
                    "{file}: url.\"{}\".{name} = {value}: rule removed",
                    masked(base, is_token)
                );
            }
            s
        }
    }
}

/// An ERE (git's `value-pattern`) that matches `url` with any userinfo, and nothing else.
pub fn userinfo_pattern(url: &str) -> Option<String> {
    let parts = git::split_url(url).filter(|p| p.userinfo.is_some())?;
    Some(format!(
        "^{}://[^/]*@{}$",
        git::ere_escape(parts.scheme),
        git::ere_escape(parts.rest)
    ))
}

/// Applies one change: a URL with `git config --file`, a rule by a line edit of the file.
/// Errors are masked: git repeats keys.
fn apply(change: &Change, is_token: &dyn Fn(&str) -> bool) -> Result<(), ScrubError> {
    match &change.fix {
        Fix::StripUrl { key, from, to } => {
            let pattern = userinfo_pattern(from).ok_or_else(|| {
                ScrubError::Git(GitError {
                    what: key.clone(),
                    problem: "the URL has no userinfo after all".to_owned(),
                })
            })?;
            let out = git::command()
                .args(["config", "--file"])
                .arg(&change.file)
                .args(["--replace-all", key, to, &pattern])
                .output()
                .map_err(|e| {
                    ScrubError::Git(GitError {
                        what: format!("running git config on {}", change.file.display()),
                        problem: e.to_string(),
                    })
                })?;
            if !out.status.success() {
                return Err(ScrubError::Git(GitError {
                    what: describe(change, is_token),
                    problem: mask_text(&String::from_utf8_lossy(&out.stderr), is_token),
                }));
            }
            Ok(())
        }
        Fix::RemoveRule { base, section, .. } => {
            remove_rule(&change.file, base, *section).map_err(|e| match e {
                EditError::Git(e) => ScrubError::Git(GitError {
                    what: describe(change, is_token),
                    problem: mask_text(&e.problem, is_token),
                }),
                e => ScrubError::Edit(e),
            })
        }
    }
}

/// Removes `base`'s `insteadOf` and `pushInsteadOf` entries from `file`, and with `section`
/// every `url.<base>` section whole, by a line edit that git checks before it replaces the
/// file. `base` holds a token, so it goes on no command line.
fn remove_rule(file: &Path, base: &str, section: bool) -> Result<(), EditError> {
    let listing = git::list_config_file(file)?;
    let goes = |e: &Entry| match e.parts() {
        ("url", Some(b), name) => {
            b == base && (section || matches!(name, "insteadof" | "pushinsteadof"))
        }
        _ => false,
    };
    let remove: BTreeSet<usize> = (0..listing.len()).filter(|&i| goes(&listing[i])).collect();
    let kept: Vec<Entry> = listing.iter().filter(|e| !goes(e)).cloned().collect();
    let name = Zeroizing::new(format!("url.{base}"));
    let sections: &[&str] = if section { &[name.as_str()] } else { &[] };
    git::edit_config_file(
        file,
        &listing,
        |raw| raw.without_sections(&remove, sections),
        &git::config_pairs(&kept),
    )
}

/// `text` with every URL-looking word masked, for git's messages, which quote keys.
fn mask_text(text: &str, is_token: &dyn Fn(&str) -> bool) -> String {
    text.trim()
        .split(' ')
        .map(|word| {
            if word.contains("://") {
                masked(word, is_token)
            } else if is_token(word.trim_matches(['\'', '"'])) {
                "<secret>".to_owned()
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The repository's own entries, included files too: its local and worktree config, and
/// the config of every submodule's git directory under `.git/modules`.
fn repository_entries() -> Result<Vec<Entry>, ScrubError> {
    let common = git::common_dir().map_err(|e| {
        if e.problem.starts_with("could not run git") {
            ScrubError::Git(e)
        } else {
            ScrubError::NotARepository
        }
    })?;
    // git names a repository's files relative to the top of the work tree (a bare
    // repository's directory), where it moves before reading config, not to where it runs.
    let top = git::toplevel().unwrap_or_else(|| common.clone());
    let mut entries: Vec<Entry> = git::read(Some(&top))
        .map_err(|e| {
            ScrubError::Git(GitError {
                what: "reading the repository's config".to_owned(),
                problem: e.to_string(),
            })
        })?
        .into_iter()
        .filter(|e| matches!(e.scope.as_str(), "local" | "worktree"))
        .collect();
    for config in module_configs(&common.join("modules"), 0) {
        let out = git::command()
            .args(["config", "--file"])
            .arg(&config)
            .args([
                "--includes",
                "--list",
                "--show-scope",
                "--show-origin",
                "-z",
            ])
            .output();
        if let Ok(out) = out {
            let dir = config.parent().map(Path::to_path_buf);
            for mut e in git::parse_list(&out.stdout) {
                if let (Source::File(p), Some(dir)) = (&e.source, &dir) {
                    if p.is_relative() {
                        e.source = Source::File(dir.join(p));
                    }
                }
                entries.push(e);
            }
        }
    }
    Ok(entries)
}

/// `config` files of the git directories under `dir` (submodules, nested ones too).
fn module_configs(dir: &Path, depth: usize) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(read) = std::fs::read_dir(dir) else {
        return found;
    };
    if depth > 16 {
        return found;
    }
    for entry in read.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let name = entry.file_name();
        if !kind.is_dir()
            || matches!(
                name.to_str(),
                Some("objects" | "refs" | "logs" | "hooks" | "info" | "lfs")
            )
        {
            continue;
        }
        let path = entry.path();
        if path.join("HEAD").is_file() && path.join("config").is_file() {
            found.push(path.join("config"));
        }
        found.extend(module_configs(&path, depth + 1));
    }
    found.sort();
    found
}

/// The tokens we serve, to recognise one written as a bare URL user. A configuration we
/// cannot load only means we look for passwords alone.
pub fn served_tokens(flags: &Flags) -> Vec<Arc<Token>> {
    let Ok(config) = Config::load(flags, &ProcessEnv) else {
        return Vec::new();
    };
    config
        .credentials
        .iter()
        .filter_map(|c| first_token(&c.sources).map(|(_, t)| t))
        .collect()
}

/// `scrub` in the current directory's repository. Writes each change to `out` as it is made
/// (or, with `dry_run`, as it would be), so an error part-way leaves an account of the rest.
pub fn run(
    dry_run: bool,
    tokens: &[Arc<Token>],
    out: &mut dyn std::io::Write,
) -> Result<(), ScrubError> {
    let is_token = |s: &str| tokens.iter().any(|t| t.is(s));
    let redactor = Redactor::new(tokens.iter().cloned());
    let entries = repository_entries()?;
    let changes = plan(&entries, &is_token);
    // Output is a courtesy: a closed stdout must not stop the scrub.
    if changes.is_empty() {
        let _ = writeln!(
            out,
            "nothing to scrub: no credentials in this repository's remote URLs, submodule URLs or insteadOf rules"
        );
        return Ok(());
    }
    for change in &changes {
        if !dry_run {
            apply(change, &is_token)?;
        }
        let _ = writeln!(out, "{}", redactor.apply(&describe(change, &is_token)));
    }
    let plural = if changes.len() == 1 { "" } else { "s" };
    let _ = if dry_run {
        writeln!(
            out,
            "dry run: the {} change{plural} above would be made; nothing was changed",
            changes.len()
        )
    } else {
        writeln!(out, "scrubbed: {} change{plural} made", changes.len())
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "glcbt-SecretJobToken123";

    fn is_token(s: &str) -> bool {
        s == TOKEN
    }

    fn entries(records: &[(&str, &str, &str)]) -> Vec<Entry> {
        let mut raw = Vec::new();
        for (file, key, value) in records {
            raw.extend_from_slice(format!("local\0file:{file}\0{key}\n{value}\0").as_bytes());
        }
        git::parse_list(&raw)
    }

    #[test]
    fn urls_with_a_password_or_the_served_token_lose_their_userinfo() {
        let e = entries(&[
            (
                ".git/config",
                "remote.origin.url",
                &format!("https://gitlab-ci-token:{TOKEN}@h/g/p.git"),
            ),
            (
                ".git/config",
                "remote.origin.pushurl",
                &format!("https://{TOKEN}@h/g/p.git"),
            ),
            (
                ".git/config",
                "remote.mirror.url",
                "https://alice@h/g/p.git",
            ),
            (
                ".git/config",
                "submodule.lib.url",
                "https://u:p@h/g/lib.git",
            ),
            (".git/config", "remote.plain.url", "https://h/g/p.git"),
            (".git/config", "branch.main.remote", "https://u:p@h/"),
        ]);
        let changes = plan(&e, &is_token);
        let fixed: Vec<(&str, &str)> = changes
            .iter()
            .map(|c| match &c.fix {
                Fix::StripUrl { key, to, .. } => (key.as_str(), to.as_str()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            fixed,
            [
                ("remote.origin.url", "https://h/g/p.git"),
                ("remote.origin.pushurl", "https://h/g/p.git"),
                ("submodule.lib.url", "https://h/g/lib.git"),
            ]
        );
        let shown: Vec<String> = changes.iter().map(|c| describe(c, &is_token)).collect();
        assert_eq!(
            shown[0],
            ".git/config: remote.origin.url: https://gitlab-ci-token:<secret>@h/g/p.git -> https://h/g/p.git"
        );
        assert_eq!(
            shown[1],
            ".git/config: remote.origin.pushurl: https://<secret>@h/g/p.git -> https://h/g/p.git"
        );
        assert!(shown.iter().all(|s| !s.contains(TOKEN)));
    }

    #[test]
    fn insteadof_rules_that_carry_credentials_are_removed_whole() {
        let ext = "/b/p.tmp/.gitlab-runner.ext.conf";
        let base = format!("https://gitlab-ci-token:{TOKEN}@h/");
        let e = entries(&[
            (ext, &format!("url.{base}.insteadof"), "https://h/"),
            (ext, &format!("url.{base}.pushinsteadof"), "https://h/"),
            (".git/config", "url.https://mirror/.insteadof", "https://h/"),
            (
                ".git/config",
                "url.https://u:p@other/.insteadof",
                "https://other/",
            ),
            (".git/config", "url.https://u:p@other/.note", "kept?"),
        ]);
        let changes = plan(&e, &is_token);
        assert_eq!(changes.len(), 2);
        assert_eq!(
            changes[0],
            Change {
                file: ext.into(),
                fix: Fix::RemoveRule {
                    base: Zeroizing::new(base.clone()),
                    rules: vec![
                        ("insteadof".into(), "https://h/".into()),
                        ("pushinsteadof".into(), "https://h/".into())
                    ],
                    section: true,
                },
            }
        );
        assert!(matches!(
            &changes[1].fix,
            Fix::RemoveRule { section: false, .. }
        ));
        let shown = describe(&changes[0], &is_token);
        assert_eq!(
            shown,
            format!("{ext}: url.\"https://gitlab-ci-token:<secret>@h/\".insteadOf = https://h/: rule removed\n\
                     {ext}: url.\"https://gitlab-ci-token:<secret>@h/\".pushInsteadOf = https://h/: rule removed")
        );
    }

    #[test]
    fn a_clean_repository_needs_nothing() {
        let e = entries(&[
            (".git/config", "remote.origin.url", "https://h/g/p.git"),
            (".git/config", "url.https://h/.insteadof", "git@h:"),
        ]);
        assert!(plan(&e, &is_token).is_empty());
    }

    #[test]
    fn the_value_pattern_matches_the_url_with_any_userinfo_and_holds_no_secret() {
        let url = format!("https://gitlab-ci-token:{TOKEN}@127.0.0.1:8443/g/p.git");
        let pattern = userinfo_pattern(&url).unwrap();
        assert_eq!(pattern, r"^https://[^/]*@127\.0\.0\.1:8443/g/p\.git$");
        assert!(!pattern.contains(TOKEN));
        assert_eq!(userinfo_pattern("https://h/p.git"), None);
    }

    #[test]
    fn a_rule_is_removed_by_editing_the_file_comments_and_repeated_sections_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        let base = format!("https://gitlab-ci-token:{TOKEN}@h/");
        let other = "https://u:p@other/";
        std::fs::write(
            &path,
            format!(
                "[core]\n\tbare = false\n[url \"{base}\"]\n\t# the runner's\n\tinsteadOf = https://h/\n\n\
                 [url \"{other}\"]\n\tinsteadOf = https://other/\n\tnote = kept\n\
                 [url \"{base}\"] pushInsteadOf = https://h/\n[user]\n\tname = Me\n"
            ),
        )
        .unwrap();
        remove_rule(&path, &base, true).unwrap();
        remove_rule(&path, other, false).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!(
                "[core]\n\tbare = false\n[url \"{other}\"]\n\tnote = kept\n[user]\n\tname = Me\n"
            )
        );
        // No lock is left behind, and a held lock stops the edit.
        assert!(!dir.path().join("config.lock").exists());
        std::fs::write(dir.path().join("config.lock"), "").unwrap();
        let before = std::fs::read_to_string(&path).unwrap();
        let err = remove_rule(&path, other, true).unwrap_err();
        assert!(matches!(err, EditError::Locked(_)), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    }

    #[test]
    fn git_messages_are_masked() {
        let msg = format!("error: could not lock url.https://x:{TOKEN}@h/.insteadof for {TOKEN}");
        let masked = mask_text(&msg, &is_token);
        assert!(!masked.contains(TOKEN), "{masked}");
        assert!(
            masked.contains("https://x:<secret>@h/.insteadof"),
            "{masked}"
        );
    }
}
