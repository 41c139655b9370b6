//! git config files read line by line, only as far as needed to know which lines hold which
//! entry and whether a line carries our marker, and edited by dropping whole entries or
//! sections. Whatever this reading gets wrong, the check against git's own listing catches:
//! [`edit`] writes the edited text to `<file>.lock` the way git does, and renames it over the
//! file only when git reads it as the entries expected. No value goes on a command line: git
//! is only asked to list a file, by its path.

/// The comment `configure` puts on each line it writes.
pub const MARKER: &str = "added by git-credential-gitlab-ci";

use std::collections::BTreeSet;
use std::io::{self, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::config::{parse_list, Entry};
use super::runner::{command, run, GitError};

pub struct RawEntry {
    pub key: String,
    pub lines: Range<usize>,
    pub marked: bool,
    /// The entry's last line ends in a comment (ours or not).
    pub commented: bool,
}

struct Section {
    /// The key prefix its entries have, as git lists it: `url.https://h/`.
    name: String,
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
            prefix = Some(name.clone());
            if let Some(last) = sections.last_mut() {
                last.body.end = i;
            }
            sections.push(Section {
                name,
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
        self.without_sections(remove, &[])
    }

    /// [`RawFile::without`], and also without every section named one of `sections` (as git
    /// lists its keys' prefix: `url.https://h/`): header, comments and blank lines, as
    /// `git config --remove-section` drops them. Every entry in such a section must be in
    /// `remove`, or `None`.
    pub fn without_sections(&self, remove: &BTreeSet<usize>, sections: &[&str]) -> Option<String> {
        let mut dropped = vec![false; self.lines.len()];
        let whole = |s: &Section| sections.contains(&s.name.as_str());
        for &i in remove {
            let entry = self.entries.get(i)?;
            if self
                .sections
                .iter()
                .any(|s| s.shared && s.header == entry.lines.start && !whole(s))
            {
                return None;
            }
            for line in entry.lines.clone() {
                dropped[line] = true;
            }
        }
        for section in self.sections.iter().filter(|s| whole(s)) {
            let kept = self.entries.iter().enumerate().any(|(i, e)| {
                !remove.contains(&i)
                    && (e.lines.start == section.header || section.body.contains(&e.lines.start))
            });
            if kept {
                return None;
            }
            dropped[section.header] = true;
            for l in section.body.clone() {
                dropped[l] = true;
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

/// Why [`edit`] left a file as it was.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}.lock exists: another git process is changing this file; try again when it is done", .0.display())]
    Locked(PathBuf),
    #[error("{}: {problem}", path.display())]
    Unreadable { path: PathBuf, problem: String },
    #[error("{} changed while it was being edited; run the command again", .0.display())]
    Changed(PathBuf),
}

fn unreadable(path: &Path) -> EditError {
    EditError::Unreadable {
        path: path.to_path_buf(),
        problem: "could not match the file's lines to the entries git reads from it".to_owned(),
    }
}

/// Every entry in `path` itself (not its includes), in order; none when it does not exist.
/// Only the path goes on git's command line; the values come back on its stdout.
pub fn list(path: &Path) -> Result<Vec<Entry>, GitError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let out = run(
        command().args(["config", "--file"]).arg(path).args([
            "--list",
            "--show-scope",
            "--show-origin",
            "-z",
        ]),
        &format!("reading {}", path.display()),
    )?;
    let out = Zeroizing::new(out.stdout);
    Ok(parse_list(&out))
}

/// The file's text, in memory that is zeroed when dropped: it may hold a token.
pub fn read_text(path: &Path) -> Result<Zeroizing<String>, EditError> {
    let io_error = |source| EditError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bytes = Zeroizing::new(std::fs::read(path).map_err(io_error)?);
    match std::str::from_utf8(&bytes) {
        Ok(text) => Ok(Zeroizing::new(text.to_owned())),
        Err(e) => Err(io_error(io::Error::new(io::ErrorKind::InvalidData, e))),
    }
}

/// Replaces the file at `path` with `edit` of its lines, under git's lock protocol, when it
/// still holds `planned` (its listing the edit was planned from) and git reads the edited
/// text as `expected`. `edit` gives `None` for a change it cannot make to these lines.
pub fn edit(
    path: &Path,
    planned: &[Entry],
    edit: impl Fn(&RawFile<'_>) -> Option<String>,
    expected: &[(&str, Option<&str>)],
) -> Result<(), EditError> {
    // git writes through symlinks to the file they name; so do we.
    let path = std::fs::canonicalize(path).map_err(|source| EditError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut lock_name = path.clone().into_os_string();
    lock_name.push(".lock");
    let lock = Lock::create(PathBuf::from(lock_name), &path)?;
    // Under the lock, the file must still hold what the edit was planned from.
    if pairs(&list(&path)?) != pairs(planned) {
        return Err(EditError::Changed(path));
    }
    let text = read_text(&path)?;
    let raw = parse(&text).ok_or_else(|| unreadable(&path))?;
    raw.check(planned).map_err(|()| unreadable(&path))?;
    let edited = Zeroizing::new(edit(&raw).ok_or_else(|| {
        EditError::Unreadable {
        path: path.clone(),
        problem:
            "an entry to change shares its line with a section header or a comment, or spans lines"
                .to_owned(),
    }
    })?);
    lock.write(edited.as_bytes())?;
    if pairs(&list(&lock.path)?) != expected {
        return Err(unreadable(&path));
    }
    lock.commit(&path)
}

/// Each entry's key and value.
pub fn pairs(entries: &[Entry]) -> Vec<(&str, Option<&str>)> {
    entries
        .iter()
        .map(|e| (e.key.as_str(), e.value()))
        .collect()
}

/// git's lock protocol: `<file>.lock`, created only if absent, renamed over the file when
/// complete, removed if anything fails first.
struct Lock {
    path: PathBuf,
    committed: bool,
}

impl Lock {
    fn create(path: PathBuf, original: &Path) -> Result<Lock, EditError> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        match options.open(&path) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(EditError::Locked(original.to_path_buf()))
            }
            Err(source) => return Err(EditError::Io { path, source }),
        }
        let lock = Lock {
            path,
            committed: false,
        };
        // As git does: the new file keeps the old one's permissions.
        if let Ok(meta) = std::fs::metadata(original) {
            std::fs::set_permissions(&lock.path, meta.permissions()).map_err(|source| {
                EditError::Io {
                    path: lock.path.clone(),
                    source,
                }
            })?;
        }
        Ok(lock)
    }

    fn write(&self, data: &[u8]) -> Result<(), EditError> {
        let io_error = |source| EditError::Io {
            path: self.path.clone(),
            source,
        };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&self.path)
            .map_err(io_error)?;
        f.write_all(data).map_err(io_error)?;
        f.sync_all().map_err(io_error)
    }

    fn commit(mut self, to: &Path) -> Result<(), EditError> {
        std::fs::rename(&self.path, to).map_err(|source| EditError::Io {
            path: to.to_path_buf(),
            source,
        })?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
