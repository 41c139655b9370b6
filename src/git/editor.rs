//! git config files read line by line, only as far as needed to know which lines hold which
//! entry and whether a line carries our marker, and edited by dropping whole entries.
//! Whatever this reading gets wrong, the caller's check against git's own listing catches.

/// The comment `configure` puts on each line it writes.
pub const MARKER: &str = "added by git-credential-gitlab-ci";

use std::collections::BTreeSet;
use std::ops::Range;

use super::config::Entry;

pub struct RawEntry {
    pub key: String,
    pub lines: Range<usize>,
    pub marked: bool,
    /// The entry's last line ends in a comment (ours or not).
    pub commented: bool,
}

struct Section {
    header: usize,
    /// The lines after the header, up to the next header.
    body: Range<usize>,
    /// `[section] key = value` on one line: the header cannot go without the entry.
    shared: bool,
}

pub struct RawFile<'a> {
    lines: Vec<&'a str>,
    pub entries: Vec<RawEntry>,
    sections: Vec<Section>,
}

pub fn parse(text: &str) -> Option<RawFile<'_>> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut entries = Vec::new();
    let mut sections: Vec<Section> = Vec::new();
    let mut prefix: Option<String> = None;
    let mut i = 0;
    while i < lines.len() {
        let mut line = lines[i];
        if i == 0 {
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        let rest = line.trim_start_matches([' ', '\t', '\r']);
        if rest.starts_with('[') {
            let (name, after) = header(rest)?;
            prefix = Some(name);
            if let Some(last) = sections.last_mut() {
                last.body.end = i;
            }
            sections.push(Section {
                header: i,
                body: i + 1..lines.len(),
                shared: false,
            });
            let after = after.trim_start_matches([' ', '\t', '\r']);
            if blank_or_comment(after) {
                i += 1;
                continue;
            }
            sections.last_mut()?.shared = true;
            let (entry, next) = entry(&lines, i, after, prefix.as_deref()?)?;
            entries.push(entry);
            i = next;
            continue;
        }
        if blank_or_comment(rest) {
            i += 1;
            continue;
        }
        let (entry, next) = entry(&lines, i, rest, prefix.as_deref()?)?;
        entries.push(entry);
        i = next;
    }
    Some(RawFile {
        lines,
        entries,
        sections,
    })
}

fn blank_or_comment(s: &str) -> bool {
    let s = s.trim_end_matches(['\n', '\r', ' ', '\t']);
    s.is_empty() || s.starts_with(['#', ';'])
}

/// `[section]`, `[section "sub"]` or `[section.sub]`: the key prefix as git lists it, and
/// what follows the `]`.
fn header(s: &str) -> Option<(String, &str)> {
    let s = s.strip_prefix('[')?;
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
        .unwrap_or(s.len());
    let (name, rest) = s.split_at(end);
    if name.is_empty() {
        return None;
    }
    if let Some(after) = rest.strip_prefix(']') {
        // The old `[section.sub]` form lowercases the subsection too.
        return Some((name.to_ascii_lowercase(), after));
    }
    let inner = rest.trim_start_matches([' ', '\t']).strip_prefix('"')?;
    let mut chars = inner.char_indices();
    let mut sub = String::new();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => {
                let after = inner[at + 1..].strip_prefix(']')?;
                return Some((format!("{}.{sub}", name.to_ascii_lowercase()), after));
            }
            '\\' => sub.push(chars.next()?.1),
            '\n' => return None,
            c => sub.push(c),
        }
    }
    None
}

/// An entry starting at `s`, within line `start`: its key, the lines it spans (a value
/// may continue after a backslash at the end of a line), and whether its comment is ours.
fn entry(lines: &[&str], start: usize, s: &str, prefix: &str) -> Option<(RawEntry, usize)> {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or(s.len());
    let (name, rest) = s.split_at(end);
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let key = format!("{prefix}.{}", name.to_ascii_lowercase());
    let rest = rest.trim_start_matches([' ', '\t']);
    let mut last = start;
    let comment: Option<&str> = if let Some(value) = rest.strip_prefix('=') {
        let mut text = value;
        let mut in_quotes = false;
        'lines: loop {
            let mut chars = text.char_indices();
            while let Some((at, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, '\n')) => {
                            last += 1;
                            text = lines.get(last)?;
                            continue 'lines;
                        }
                        Some((_, '\r')) if text[at + 2..].starts_with('\n') => {
                            last += 1;
                            text = lines.get(last)?;
                            continue 'lines;
                        }
                        Some(_) => {}
                        None => break 'lines None,
                    },
                    '"' => in_quotes = !in_quotes,
                    '#' | ';' if !in_quotes => break 'lines Some(&text[at..]),
                    '\n' => break 'lines None,
                    _ => {}
                }
            }
            break None;
        }
    } else if rest.starts_with(['#', ';']) {
        Some(rest)
    } else if blank_or_comment(rest) {
        None
    } else {
        return None;
    };
    let marked = comment.is_some_and(|c| c[1..].trim() == MARKER);
    Some((
        RawEntry {
            key,
            lines: start..last + 1,
            marked,
            commented: comment.is_some(),
        },
        last + 1,
    ))
}

impl RawFile<'_> {
    /// Whether these are the entries git lists, in the same order.
    pub fn check(&self, listing: &[Entry]) -> Result<(), ()> {
        let same = self.entries.len() == listing.len()
            && self
                .entries
                .iter()
                .zip(listing)
                .all(|(r, e)| r.key == e.key);
        if same {
            Ok(())
        } else {
            Err(())
        }
    }

    /// The text with our marker comment after the entry at `at`, as `git config --comment`
    /// writes it. `None` when that entry spans lines or already ends in a comment.
    pub fn with_marker(&self, at: usize) -> Option<String> {
        let entry = self.entries.get(at)?;
        if entry.commented || entry.lines.len() != 1 {
            return None;
        }
        let mut out = String::new();
        for (n, line) in self.lines.iter().enumerate() {
            if n != entry.lines.start {
                out.push_str(line);
                continue;
            }
            let body = line.trim_end_matches(['\n', '\r']);
            out.push_str(body);
            out.push_str(" # ");
            out.push_str(MARKER);
            out.push_str(&line[body.len()..]);
            if body.len() == line.len() {
                out.push('\n');
            }
        }
        Some(out)
    }

    /// The text without the entries at `remove`, and without the header of a section
    /// they leave holding nothing but blank lines (as git 2.47 leaves it). `None` when
    /// an entry to remove shares its line with a header.
    pub fn without(&self, remove: &BTreeSet<usize>) -> Option<String> {
        let mut dropped = vec![false; self.lines.len()];
        for &i in remove {
            let entry = self.entries.get(i)?;
            if self
                .sections
                .iter()
                .any(|s| s.shared && s.header == entry.lines.start)
            {
                return None;
            }
            for line in entry.lines.clone() {
                dropped[line] = true;
            }
        }
        for section in self.sections.iter().filter(|s| !s.shared) {
            let touched = section.body.clone().any(|l| dropped[l]);
            let empty = section
                .body
                .clone()
                .all(|l| dropped[l] || self.lines[l].trim().is_empty());
            if touched && empty {
                dropped[section.header] = true;
                for l in section.body.clone() {
                    dropped[l] = true;
                }
            }
        }
        Some(
            self.lines
                .iter()
                .zip(&dropped)
                .filter(|(_, d)| !**d)
                .map(|(l, _)| *l)
                .collect(),
        )
    }
}
