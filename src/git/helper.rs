//! Helper values as git runs them: quoting a word for `/bin/sh`, and whether a
//! `credential.helper` value runs this program.

use std::borrow::Cow;

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
