//! Helper values as git runs them: what kind of helper a `credential.helper` value runs
//! (this program, a storage helper, GitLab Runner's inline one, another), and quoting a
//! word for `/bin/sh`.

use std::borrow::Cow;
use std::path::Path;

use serde::Serialize;

/// `arg` as one `/bin/sh` word: as is when every byte is in a set the shell never treats
/// specially, else single-quoted.
pub fn shell_quote(arg: &str) -> Cow<'_, str> {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./:@%+=,-".contains(&b));
    if plain {
        Cow::Borrowed(arg)
    } else {
        Cow::Owned(single_quote(arg))
    }
}

/// `s` single-quoted for POSIX sh, where nothing inside single quotes is special but the
/// closing quote itself: `'` becomes `'\''`.
pub fn single_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Whether a `credential.helper` value runs git-credential-gitlab-ci: its command (the first
/// shell word, after a leading '!') is `exe`, ends with `git-credential-gitlab-ci`, or is the
/// helper name `gitlab-ci` that git expands to `git credential-gitlab-ci`.
pub fn is_our_helper(value: &str, exe: &str) -> bool {
    let (command, snippet) = match value.strip_prefix('!') {
        Some(rest) => (rest, true),
        None => (value, false),
    };
    first_shell_word(command).is_some_and(|word| {
        word == exe
            || word.ends_with("git-credential-gitlab-ci")
            || (!snippet && word == "gitlab-ci")
    })
}

/// The first word of a shell command line with its quotes removed, or `None` when there is
/// none. Enough of sh's rules for the commands helpers are configured with.
fn first_shell_word(command: &str) -> Option<String> {
    let mut word = String::new();
    let mut chars = command.trim_start().chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => word.extend(chars.by_ref().take_while(|&c| c != '\'')),
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(next) = chars.next() {
                                if !matches!(next, '$' | '`' | '"' | '\\' | '\n') {
                                    word.push('\\');
                                }
                                word.push(next);
                            }
                        }
                        c => word.push(c),
                    }
                }
            }
            '\\' => word.extend(chars.next()),
            c if c.is_whitespace() || ";&|()<>".contains(c) => break,
            c => word.push(c),
        }
    }
    (!word.is_empty()).then_some(word)
}

/// Helpers that store what git gives them: each would persist our token on `store`.
const STORAGE_HELPERS: [&str; 9] = [
    "store",
    "cache",
    "osxkeychain",
    "libsecret",
    "wincred",
    "manager",
    "manager-core",
    "gnome-keyring",
    "netrc",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HelperKind {
    Ours,
    Storage,
    /// GitLab Runner's per-job inline helper (FF_GIT_URLS_WITHOUT_TOKENS on).
    Runner,
    Other,
}

/// What kind of helper a `credential.helper` value runs; `exe` is this program's path.
pub fn classify(value: &str, exe: &str) -> HelperKind {
    if is_our_helper(value, exe) {
        return HelperKind::Ours;
    }
    if let Some(shell) = value.strip_prefix('!') {
        return if shell.contains("CI_JOB_TOKEN") {
            HelperKind::Runner
        } else {
            HelperKind::Other
        };
    }
    let first = value.split_whitespace().next().unwrap_or("");
    let name = Path::new(first)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(first);
    let name = name.strip_prefix("git-credential-").unwrap_or(name);
    if STORAGE_HELPERS.contains(&name) {
        HelperKind::Storage
    } else {
        HelperKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn shell_quoting_leaves_plain_words_and_quotes_the_rest() {
        assert_eq!(shell_quote("--token-env"), "--token-env");
        assert_eq!(shell_quote("https://h:8443/g"), "https://h:8443/g");
        assert_eq!(shell_quote("a=b,c@d%e+f"), "a=b,c@d%e+f");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("/tmp/my token"), "'/tmp/my token'");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
        assert_eq!(shell_quote("a;rm -rf /"), "'a;rm -rf /'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("~/x"), "'~/x'");
        assert_eq!(shell_quote("a\nb"), "'a\nb'");
    }

    #[test]
    fn quoted_words_run_as_the_same_words_in_sh() {
        let hostile = [
            "it's", "$(id)", "`id`", "a b", "\\", "\"", "!", "*", "-n", "", "x\ny",
        ];
        let args: Vec<String> = hostile.iter().map(|s| s.to_string()).collect();
        let line = format!(
            "printf '%s\\0' {}",
            args.iter()
                .map(|a| shell_quote(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let out = Command::new("sh").arg("-c").arg(&line).output().unwrap();
        let words: Vec<&[u8]> = out.stdout.split(|&b| b == 0).collect();
        let expected: Vec<&[u8]> = hostile
            .iter()
            .map(|s| s.as_bytes())
            .chain([&b""[..]])
            .collect();
        assert_eq!(words, expected);
    }
}
