//! git's configuration as git itself reads it: every entry in order, with its scope and the
//! file (or command line) it came from, and the URL matching git applies to
//! `credential.<url>.*`, `http.<url>.*` and `url.<base>.insteadOf` keys.
//!
//! We ask git (`git config --list --show-origin --show-scope -z`) rather than parse files
//! ourselves, so includes, conditional includes, `-c` and `GIT_CONFIG_COUNT` are resolved
//! exactly as git resolves them.

use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use zeroize::Zeroizing;

/// One configuration entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// system, global, local, worktree, command.
    pub scope: String,
    /// Where it came from: a file path, `-c`, or `GIT_CONFIG_KEY_<n>`.
    pub source: Source,
    /// `section.subsection.name`, with section and name lowercased as git does.
    pub key: String,
    /// `None` for a key with no `=` at all (a boolean true). Zeroed on drop: a value can
    /// hold a token (a remote URL with one, an `http.extraheader`).
    #[serde(skip)]
    pub value: Option<Zeroizing<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    File(PathBuf),
    /// `git -c key=value`.
    CommandLine,
    /// `GIT_CONFIG_KEY_<n>`/`GIT_CONFIG_VALUE_<n>` in the environment.
    Environment(usize),
    /// Blobs, standard input, anything else git names.
    Other(String),
}

impl Entry {
    /// The value, `None` for a key with no `=` at all.
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref().map(String::as_str)
    }

    /// The section, the subsection if any (case preserved), and the name.
    pub fn parts(&self) -> (&str, Option<&str>, &str) {
        let (section, rest) = self.key.split_once('.').unwrap_or((&self.key, ""));
        match rest.rsplit_once('.') {
            Some((sub, name)) => (section, Some(sub), name),
            None => (section, None, rest),
        }
    }

    /// Where the entry is, in words: `/etc/gitconfig (system)`, `git -c (command)`, ...
    pub fn location(&self) -> String {
        match &self.source {
            Source::File(p) => format!("{} ({})", clean(p).display(), self.scope),
            Source::CommandLine => "git -c (command line)".to_owned(),
            Source::Environment(n) => format!("GIT_CONFIG_KEY_{n} (environment)"),
            Source::Other(s) => format!("{s} ({})", self.scope),
        }
    }

    pub fn file(&self) -> Option<&Path> {
        match &self.source {
            Source::File(p) => Some(p),
            _ => None,
        }
    }
}

/// Reads every entry git sees when run in `dir` (a repository or not).
pub fn read(dir: Option<&Path>) -> io::Result<Vec<Entry>> {
    let mut cmd = super::runner::command();
    if let Some(dir) = dir {
        cmd.arg("-C").arg(dir);
    }
    let out = cmd
        .args(["config", "--list", "--show-origin", "--show-scope", "-z"])
        .output()?;
    // Exit status 1 with no output means no config at all; anything on stdout is usable.
    let mut entries = parse_list(&out.stdout);
    mark_environment_entries(&mut entries, |k| std::env::var(k).ok());
    // git names repository files relative to the top of the work tree, not to `dir`.
    let base = dir.map(|d| top_level(d).unwrap_or_else(|| d.to_path_buf()));
    for e in &mut entries {
        if let Source::File(p) = &e.source {
            let full = match &base {
                Some(base) if p.is_relative() => base.join(p),
                _ => p.clone(),
            };
            e.source = Source::File(full);
        }
    }
    Ok(entries)
}

/// Removes `.` and `a/..` from a path as text, for display only: `.git/../../x` reads `x`.
/// Through a symlink this can differ from the file git opened, so nothing is written to it.
fn clean(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn top_level(dir: &Path) -> Option<PathBuf> {
    let out = super::runner::command()
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--show-toplevel"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let top = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !top.trim().is_empty()).then(|| PathBuf::from(top.trim()))
}

/// Parses `scope NUL origin NUL key (LF value)? NUL` records.
pub fn parse_list(raw: &[u8]) -> Vec<Entry> {
    // Invalid UTF-8 is replaced in a copy, which holds the values too: it is wiped.
    let lossy: Zeroizing<String>;
    let text = match std::str::from_utf8(raw) {
        Ok(text) => text,
        Err(_) => {
            lossy = Zeroizing::new(String::from_utf8_lossy(raw).into_owned());
            lossy.as_str()
        }
    };
    let mut fields = text.split('\0');
    let mut entries = Vec::new();
    while let (Some(scope), Some(origin), Some(kv)) = (fields.next(), fields.next(), fields.next())
    {
        if scope.is_empty() && origin.is_empty() {
            break;
        }
        let (key, value) = match kv.split_once('\n') {
            Some((k, v)) => (k, Some(Zeroizing::new(v.to_owned()))),
            None => (kv, None),
        };
        let source = if let Some(path) = origin.strip_prefix("file:") {
            Source::File(PathBuf::from(path))
        } else if origin.starts_with("command line:") {
            Source::CommandLine
        } else {
            Source::Other(origin.to_owned())
        };
        entries.push(Entry {
            scope: scope.to_owned(),
            source,
            key: key.to_owned(),
            value,
        });
    }
    entries
}

/// git lists `GIT_CONFIG_COUNT` entries and `-c` entries alike as "command line:"; the
/// environment ones come first and match `GIT_CONFIG_KEY_<n>` in order.
fn mark_environment_entries(entries: &mut [Entry], env: impl Fn(&str) -> Option<String>) {
    let Some(count) = env("GIT_CONFIG_COUNT").and_then(|c| c.parse::<usize>().ok()) else {
        return;
    };
    let mut n = 0;
    for e in entries
        .iter_mut()
        .filter(|e| e.source == Source::CommandLine)
    {
        if n >= count {
            break;
        }
        let key = env(&format!("GIT_CONFIG_KEY_{n}")).unwrap_or_default();
        if normalise_key(&key) == e.key {
            e.source = Source::Environment(n);
            n += 1;
        }
    }
}

/// Whether git reads a config value as boolean true: no `=` at all, or what [`parse_bool`]
/// reads as true.
pub fn is_true(value: Option<&str>) -> bool {
    value.is_none_or(|v| parse_bool(v) == Some(true))
}

/// A boolean as git reads one (`git_parse_maybe_bool`): true/yes/on and false/no/off in any
/// case, the empty string as false, and an integer as true unless it is 0. `None` for
/// anything else.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" => Some(true),
        "false" | "no" | "off" | "" => Some(false),
        n => n.parse::<i64>().ok().map(|n| n != 0),
    }
}

/// Lowercases the section and the name, as git stores keys.
pub fn normalise_key(key: &str) -> String {
    let Some((section, rest)) = key.split_once('.') else {
        return key.to_ascii_lowercase();
    };
    match rest.rsplit_once('.') {
        Some((sub, name)) => format!(
            "{}.{sub}.{}",
            section.to_ascii_lowercase(),
            name.to_ascii_lowercase()
        ),
        None => format!(
            "{}.{}",
            section.to_ascii_lowercase(),
            rest.to_ascii_lowercase()
        ),
    }
}

/// The URL git actually contacts for `url`, after the longest matching `insteadOf` (or
/// `pushInsteadOf`, when `push`) rule, and the entry that rewrote it.
pub fn rewrite<'e>(entries: &'e [Entry], url: &str, push: bool) -> (String, Option<&'e Entry>) {
    let mut best: Option<(&Entry, &str, &str)> = None;
    for e in entries {
        let (section, Some(base), name) = e.parts() else {
            continue;
        };
        let wanted = if push { "pushinsteadof" } else { "insteadof" };
        if section != "url" || name != wanted {
            continue;
        }
        let Some(prefix) = e.value() else {
            continue;
        };
        if url.starts_with(prefix) && best.is_none_or(|(_, p, _)| prefix.len() > p.len()) {
            best = Some((e, prefix, base));
        }
    }
    match best {
        Some((e, prefix, base)) => (format!("{base}{}", &url[prefix.len()..]), Some(e)),
        None if push => rewrite(entries, url, false),
        None => (url.to_owned(), None),
    }
}

/// `s` as a POSIX extended regular expression that matches it literally, for
/// `git config`'s value patterns.
pub fn ere_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if ".[]{}()\\*+?^$|".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_are_read_as_git_reads_them() {
        for t in ["true", "YES", "On", "1", "42", "-1"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["false", "No", "OFF", "0", ""] {
            assert_eq!(parse_bool(f), Some(false), "{f:?}");
        }
        assert_eq!(parse_bool("debug"), None);
        assert!(is_true(None) && is_true(Some("yes")) && !is_true(Some("0")));
    }
    use crate::git::{has_password, mask_password, strip_userinfo};

    #[test]
    fn parses_gits_nul_separated_listing() {
        let raw = b"global\0file:/root/.gitconfig\0user.name\nMe\0local\0file:.git/config\0http.noval\0command\0command line:\0credential.helper\nstore\0command\0command line:\0credential.helper\ncache\0";
        let mut entries = parse_list(raw);
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[0].value(), Some("Me"));
        assert_eq!(entries[1].value, None);
        mark_environment_entries(&mut entries, |k| match k {
            "GIT_CONFIG_COUNT" => Some("1".into()),
            "GIT_CONFIG_KEY_0" => Some("Credential.Helper".into()),
            _ => None,
        });
        assert_eq!(entries[2].source, Source::Environment(0));
        assert_eq!(entries[3].source, Source::CommandLine);
    }

    #[test]
    fn keys_split_into_section_subsection_and_name() {
        let e = Entry {
            scope: "local".into(),
            source: Source::CommandLine,
            key: "credential.https://h.example:8443/g.helper".into(),
            value: None,
        };
        assert_eq!(
            e.parts(),
            ("credential", Some("https://h.example:8443/g"), "helper")
        );
    }

    #[test]
    fn insteadof_takes_the_longest_prefix() {
        let entries = parse_list(b"local\0file:x\0url.https://gitlab-ci-token:T@h/.insteadof\nhttps://h/\0local\0file:x\0url.https://other/.insteadof\nhttps://h/g/\0");
        let (rewritten, by) = rewrite(&entries, "https://h/p.git", false);
        assert_eq!(rewritten, "https://gitlab-ci-token:T@h/p.git");
        assert!(by.is_some());
        assert_eq!(
            rewrite(&entries, "https://h/g/p.git", true).0,
            "https://other/p.git"
        );
        assert!(has_password(&rewritten));
        assert_eq!(
            mask_password(&rewritten),
            "https://gitlab-ci-token:<secret>@h/p.git"
        );
        assert_eq!(strip_userinfo(&rewritten), "https://h/p.git");
    }
}
