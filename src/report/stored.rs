//! Credentials already written to disk in plain text: git's `store` helper's files and netrc.
//!
//! A served token found in one leaks it to anything that runs as this user, and outlives the
//! job; a stored `gitlab-ci-token` password for a host we serve is a job token from some job,
//! stale once that job ends. Findings name the file and the line, never the value: the
//! entries are parsed from [`StoredFile`]s alone, into zeroized buffers, and compared with
//! the token's constant-time [`Token::is`].

use std::sync::Arc;

use zeroize::Zeroizing;

use super::facts::{StoredFile, StoredFormat};
use super::line::Line;
use crate::config::DEFAULT_USERNAME;
use crate::credential::Credential;
use crate::git::{self, Url};
use crate::token::Token;

/// One credential in a file: where it is, and what it is for.
struct Stored {
    /// The 1-based lines it spans, first and last.
    lines: (usize, usize),
    /// The host it is for, lowercase; `None` for netrc's `default`, which is for every host.
    host: Option<String>,
    user: Option<String>,
    password: Zeroizing<Vec<u8>>,
    /// No other entry has a word on its lines, so deleting them removes nothing else.
    alone: bool,
}

/// What one entry gives away.
enum Finding<'t> {
    Served(&'t Token),
    JobToken,
}

/// The findings in `files`, each naming its file and lines. `served` are the credentials we
/// serve and `tokens` the tokens their sources hold now.
pub fn inspect(files: &[StoredFile], served: &[&Credential], tokens: &[Arc<Token>]) -> Vec<Line> {
    let mut lines = Vec::new();
    for file in files {
        let entries = match file.format {
            StoredFormat::GitCredentials => git_credentials(&file.contents),
            StoredFormat::Netrc => netrc(&file.contents),
        };
        let found: Vec<(&Stored, Finding)> = entries
            .iter()
            .filter_map(|e| Some((e, finding(e, served, tokens)?)))
            .collect();
        let path = file.path.display().to_string();
        if found.is_empty() {
            lines.push(Line::ok(format!(
                "{path}: no served token, and no job token for a host we serve"
            )));
            continue;
        }
        // Line numbers change as lines are deleted, so one command deletes every line that
        // can be deleted whole, and it goes with the first of them.
        let deletable: Vec<String> = found
            .iter()
            .filter(|(e, _)| e.alone)
            .map(|(e, _)| match e.lines {
                (a, b) if a == b => format!("{a}d"),
                (a, b) => format!("{a},{b}d"),
            })
            .collect();
        let sed = format!(
            "sed -i {} {}",
            git::single_quote(&deletable.join(";")),
            git::shell_quote(&path)
        );
        let mut sed_given = false;
        for (e, what) in &found {
            let at = match e.lines {
                (a, b) if a == b => format!("{path}:{a}"),
                (a, b) => format!("{path}:{a}-{b}"),
            };
            let host = e.host.as_deref().unwrap_or("every host (netrc `default`)");
            let written = match file.format {
                StoredFormat::GitCredentials => "the file git's `store` helper (credential.helper store) reads and writes",
                StoredFormat::Netrc => "a netrc file, whose password curl, and git through it, sends to that host without asking any credential helper",
            };
            let message = match what {
                Finding::Served(t) => format!(
                    "{at} holds the served token (fingerprint {}) for {host}, in {written}",
                    t.fingerprint()
                ),
                Finding::JobToken => format!(
                    "{at} holds a {DEFAULT_USERNAME} password for {host}, a host we serve, in {written}: a job token is valid only while its job runs, so this one is stale, and it leaks to anything that reads the file"
                ),
            };
            let fix = if !e.alone {
                let entry = match &e.host {
                    Some(h) => format!("the `machine {h}` entry"),
                    None => "the `default` entry".to_owned(),
                };
                format!("remove {entry} from {path} by hand: it shares a line with another entry, which deleting the line would remove too")
            } else if sed_given {
                "the command given above for this file deletes this line too".to_owned()
            } else {
                sed_given = true;
                sed.clone()
            };
            lines.push(Line::problem(message, fix));
        }
    }
    lines
}

/// What `entry` gives away, if anything: a served token, else a job token for a served host.
fn finding<'t>(
    entry: &Stored,
    served: &[&Credential],
    tokens: &'t [Arc<Token>],
) -> Option<Finding<'t>> {
    let password = std::str::from_utf8(&entry.password).ok()?;
    if let Some(t) = tokens.iter().find(|t| t.is(password)) {
        return Some(Finding::Served(t));
    }
    let for_served = match &entry.host {
        Some(h) => served.iter().any(|c| c.scope.origin.host == *h),
        None => !served.is_empty(),
    };
    (for_served && !password.is_empty() && entry.user.as_deref() == Some(DEFAULT_USERNAME))
        .then_some(Finding::JobToken)
}

/// The entries of a `store` helper's file: one URL a line, as git's `store` helper writes
/// them. Lines that are not such a URL with a password are skipped, as git skips them.
fn git_credentials(data: &[u8]) -> Vec<Stored> {
    data.split(|&b| b == b'\n')
        .enumerate()
        .filter_map(|(i, line)| {
            let line = std::str::from_utf8(line).ok()?.trim();
            let userinfo = git::split_url(line)?.userinfo?;
            let host = Url::parse(line)?.host;
            let user = percent_decoded(userinfo.user);
            Some(Stored {
                lines: (i + 1, i + 1),
                host: Some(host),
                user: Some(String::from_utf8_lossy(&user).into_owned()),
                password: percent_decoded(userinfo.password?),
                alone: true,
            })
        })
        .collect()
}

/// `%XX` decoded, into a buffer sized once; a `%` not followed by two hex digits stays.
fn percent_decoded(s: &str) -> Zeroizing<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len()));
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// One word of a netrc file and the line it is on.
struct Word {
    text: Zeroizing<Vec<u8>>,
    line: usize,
}

/// The words of a netrc file as curl reads them: separated by spaces, tabs and newlines; a
/// word in double quotes may hold spaces and `\"`, `\\`, `\n`, `\r` and `\t`; a word that
/// starts with `#` comments out the rest of its line; the macro of a `macdef NAME` line is
/// the lines after it, up to an empty line, and holds no words.
fn words(data: &[u8]) -> Vec<Word> {
    let mut words = Vec::new();
    let (mut i, mut line) = (0, 1);
    let mut macro_follows = false;
    while i < data.len() {
        match data[i] {
            b'\n' => {
                line += 1;
                i += 1;
                if macro_follows {
                    macro_follows = false;
                    while i < data.len() {
                        let end = data[i..]
                            .iter()
                            .position(|&c| c == b'\n')
                            .map_or(data.len(), |p| i + p);
                        let blank = data[i..end].iter().all(u8::is_ascii_whitespace);
                        if end < data.len() {
                            line += 1;
                        }
                        i = end + 1;
                        if blank {
                            break;
                        }
                    }
                }
            }
            b if b.is_ascii_whitespace() => i += 1,
            b'#' => {
                while i < data.len() && data[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                i += 1;
                let end = data[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(data.len(), |p| i + p);
                let mut text = Zeroizing::new(Vec::with_capacity(end - i));
                while i < end && data[i] != b'"' {
                    if data[i] == b'\\' && i + 1 < end {
                        i += 1;
                        text.push(match data[i] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            c => c,
                        });
                    } else {
                        text.push(data[i]);
                    }
                    i += 1;
                }
                if i < end {
                    i += 1;
                }
                words.push(Word { text, line });
            }
            _ => {
                let start = i;
                while i < data.len() && !data[i].is_ascii_whitespace() {
                    i += 1;
                }
                let mut text = Zeroizing::new(Vec::with_capacity(i - start));
                text.extend_from_slice(&data[start..i]);
                macro_follows |= &text[..] == b"macdef";
                words.push(Word { text, line });
            }
        }
    }
    words
}

/// The `machine` and `default` entries of a netrc file, each spanning the lines from its
/// keyword to its last word.
fn netrc(data: &[u8]) -> Vec<Stored> {
    let words = words(data);
    let text = |w: &Word| String::from_utf8_lossy(&w.text).into_owned();
    // The first and last word of each entry, and whether it is a credential (not a macro).
    let mut spans: Vec<(usize, usize, bool)> = Vec::new();
    let mut entries: Vec<Stored> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let keyword = &words[i].text[..];
        let value = words.get(i + 1);
        let step = match keyword {
            b"machine" | b"default" | b"macdef" => {
                let host = match keyword {
                    b"machine" => Some(value.map(text).unwrap_or_default().to_ascii_lowercase()),
                    _ => None,
                };
                entries.push(Stored {
                    lines: (0, 0),
                    host,
                    user: None,
                    password: Zeroizing::new(Vec::new()),
                    alone: true,
                });
                spans.push((i, i, keyword != b"macdef"));
                if keyword == b"default" {
                    1
                } else {
                    2
                }
            }
            b"login" | b"password" | b"account" => {
                let credential = spans.last().is_some_and(|s| s.2);
                if let (Some(entry), Some(v), true) = (entries.last_mut(), value, credential) {
                    match keyword {
                        b"login" => entry.user = Some(text(v)),
                        b"password" => {
                            let mut password = Zeroizing::new(Vec::with_capacity(v.text.len()));
                            password.extend_from_slice(&v.text);
                            entry.password = password;
                        }
                        _ => {}
                    }
                }
                2
            }
            _ => 1,
        };
        if let Some(span) = spans.last_mut() {
            span.1 = (i + step - 1).min(words.len() - 1);
        }
        i += step;
    }
    for (entry, &(first, last, _)) in entries.iter_mut().zip(&spans) {
        let (from, to) = (words[first].line, words[last].line);
        entry.lines = (from, to);
        entry.alone = words
            .iter()
            .enumerate()
            .all(|(w, word)| (first..=last).contains(&w) || !(from..=to).contains(&word.line));
    }
    // A macro is no credential: it was kept only to tell which lines it shares.
    entries
        .into_iter()
        .zip(spans)
        .filter(|(_, span)| span.2)
        .map(|(entry, _)| entry)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entry as host, user, password and lines.
    type Seen<'a> = (Option<&'a str>, Option<&'a str>, &'a [u8], (usize, usize));

    fn passwords(entries: &[Stored]) -> Vec<Seen<'_>> {
        entries
            .iter()
            .map(|e| {
                (
                    e.host.as_deref(),
                    e.user.as_deref(),
                    &e.password[..],
                    e.lines,
                )
            })
            .collect()
    }

    #[test]
    fn netrc_words_may_be_quoted_commented_or_in_a_macro() {
        let text = b"# machine commented.example login x password y\n\
            machine a.example login \"al ice\" password \"p\\\"w\\\\d\"\n\
            macdef init\n\
            machine in.macro.example password not-an-entry\n\
            \n\
            default\n\
            \tlogin anonymous\n\
            \tpassword guest\n";
        let entries = netrc(text);
        assert_eq!(
            passwords(&entries),
            [
                (Some("a.example"), Some("al ice"), &b"p\"w\\d"[..], (2, 2)),
                (None, Some("anonymous"), &b"guest"[..], (6, 8)),
            ]
        );
        assert!(entries.iter().all(|e| e.alone));
    }

    #[test]
    fn netrc_entries_sharing_a_line_are_not_alone() {
        let entries = netrc(b"machine a login u password p machine b\n  login v password q\n");
        assert_eq!(entries.len(), 2);
        assert_eq!((entries[0].lines, entries[0].alone), ((1, 1), false));
        assert_eq!((entries[1].lines, entries[1].alone), ((1, 2), false));
        // A trailing keyword without its value ends the file, not the parse.
        let entries = netrc(b"machine a login u password");
        assert_eq!(
            passwords(&entries),
            [(Some("a"), Some("u"), &b""[..], (1, 1))]
        );
    }

    #[test]
    fn store_lines_are_urls_with_a_password_percent_decoded() {
        let text = b"https://u%40corp:p%3Aw%2fd%zz@Host.Example:8443/path\n\
            https://no-password@host.example\n\
            not a url\n\
            \xff\xfe\n\
            http://gitlab-ci-token:t@[::1]:8080\r\n";
        assert_eq!(
            passwords(&git_credentials(text)),
            [
                (
                    Some("host.example"),
                    Some("u@corp"),
                    &b"p:w/d%zz"[..],
                    (1, 1)
                ),
                (Some("[::1]"), Some("gitlab-ci-token"), &b"t"[..], (5, 5)),
            ]
        );
    }
}
