//! Where tokens come from: environment variables, files and commands, tried in order.
//!
//! Files are read fresh on every request, so a token file replaced on disk (an atomic rename,
//! or Kubernetes' `..data` symlink swap) is served from the next request on. Commands are
//! run on every request, except in the daemon, which keeps their tokens ([`super::command`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::command::{CommandError, CommandSource};
use super::secret::{InvalidToken, Token, MAX_TOKEN_BYTES};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    Env(String),
    File(PathBuf),
    /// An environment variable the daemon read once at start; the variable itself is gone
    /// from the daemon's environment.
    Held(HeldToken),
    /// A command that prints a token (`--token-command`).
    Command(CommandSource),
}

/// A token captured from `variable` when the daemon started (`None`: it was not set).
#[derive(Debug, Clone)]
pub struct HeldToken {
    pub variable: String,
    pub token: Option<Arc<Token>>,
}

impl PartialEq for HeldToken {
    fn eq(&self, other: &Self) -> bool {
        self.variable == other.variable
            && match (&self.token, &other.token) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
    }
}

impl Eq for HeldToken {}

impl fmt::Display for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSource::Env(name) => write!(f, "environment variable {name}"),
            TokenSource::File(path) => write!(f, "file {}", path.display()),
            TokenSource::Held(held) => write!(
                f,
                "environment variable {}, held in the daemon's memory since it started",
                held.variable
            ),
            TokenSource::Command(c) => write!(f, "command {}", c.command),
        }
    }
}

impl serde::Serialize for TokenSource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(2))?;
        match self {
            TokenSource::Env(name) => {
                map.serialize_entry("type", "env")?;
                map.serialize_entry("name", name)?;
            }
            TokenSource::File(path) => {
                map.serialize_entry("type", "file")?;
                map.serialize_entry("path", path)?;
            }
            TokenSource::Held(held) => {
                map.serialize_entry("type", "held")?;
                map.serialize_entry("name", &held.variable)?;
            }
            TokenSource::Command(c) => {
                map.serialize_entry("type", "command")?;
                map.serialize_entry("command", &c.command)?;
            }
        }
        map.end()
    }
}

/// Why a source gave no token. Never carries the token or any part of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    #[error("not set")]
    Unset,
    #[error("was not set when the daemon started")]
    UnsetAtStart,
    #[error("empty")]
    Empty,
    #[error("no such file")]
    NotFound,
    #[error("not a regular file")]
    NotAFile,
    #[error("cannot be read: {0}")]
    Unreadable(String),
    #[error("does not hold a usable token: {0}")]
    Invalid(InvalidToken),
    #[error("{0}")]
    Command(CommandError),
}

impl Unavailable {
    /// A daemon's token command that is running, or runs on the next request: no token yet,
    /// and no failure.
    pub fn is_pending(&self) -> bool {
        matches!(
            self,
            Unavailable::Command(CommandError::NotRunYet { .. } | CommandError::Running)
        )
    }
}

impl TokenSource {
    pub fn read(&self) -> Result<Arc<Token>, Unavailable> {
        match self {
            TokenSource::Env(name) => read_env(name).map(Arc::new),
            TokenSource::File(path) => read_file(path).map(Arc::new),
            TokenSource::Held(held) => held.token.clone().ok_or(Unavailable::UnsetAtStart),
            TokenSource::Command(c) => c.read().map_err(Unavailable::Command),
        }
    }

    /// As [`Self::read`], but a daemon's command is not run: what it holds now is told.
    pub fn current(&self) -> Result<Arc<Token>, Unavailable> {
        match self {
            TokenSource::Command(c) => c.current().map_err(Unavailable::Command),
            other => other.read(),
        }
    }

    /// Whether the token comes from running a program (a token command), not from a place.
    pub fn mints(&self) -> bool {
        matches!(self, TokenSource::Command(_))
    }

    /// For the daemon: an environment source becomes a token held in memory, read now.
    /// Files stay files, read per request, so that a replaced file is served at once.
    pub fn hold(&self) -> TokenSource {
        match self {
            TokenSource::Env(name) => TokenSource::Held(HeldToken {
                variable: name.clone(),
                token: self.read().ok(),
            }),
            other => other.clone(),
        }
    }
}

fn read_env(name: &str) -> Result<Token, Unavailable> {
    let value = std::env::var_os(name).ok_or(Unavailable::Unset)?;
    if value.is_empty() {
        return Err(Unavailable::Empty);
    }
    let value = value.into_string().map_err(|mut raw| {
        wipe_os_string(&mut raw);
        Unavailable::Invalid(InvalidToken::NotUtf8)
    })?;
    Token::new(value).map_err(|e| match e {
        InvalidToken::Empty => Unavailable::Empty,
        other => Unavailable::Invalid(other),
    })
}

fn wipe_os_string(raw: &mut std::ffi::OsString) {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        use zeroize::Zeroize;
        std::mem::take(raw).into_vec().zeroize();
    }
    #[cfg(not(unix))]
    raw.clear();
}

/// Reads a token file: a regular file (after following symlinks), at most 64 KiB, with one
/// trailing LF or CRLF trimmed. It is opened non-blocking so that a FIFO cannot hang git.
fn read_file(path: &Path) -> Result<Token, Unavailable> {
    let mut file = crate::hardening::open_nonblocking(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Unavailable::NotFound,
        _ => Unavailable::Unreadable(io_reason(&e)),
    })?;
    let meta = file
        .metadata()
        .map_err(|e| Unavailable::Unreadable(io_reason(&e)))?;
    if !meta.is_file() {
        return Err(Unavailable::NotAFile);
    }
    // The buffer is allocated at its final size: growing it would free copies unzeroed.
    let mut buf = crate::hardening::read_sized(&mut file, MAX_TOKEN_BYTES + 3)
        .map_err(|e| Unavailable::Unreadable(io_reason(&e)))?;
    let trailing = if buf.ends_with(b"\r\n") {
        2
    } else {
        usize::from(buf.ends_with(b"\n"))
    };
    let len = buf.len() - trailing;
    buf.truncate(len);
    if buf.is_empty() {
        return Err(Unavailable::Empty);
    }
    let text =
        std::str::from_utf8(&buf).map_err(|_| Unavailable::Invalid(InvalidToken::NotUtf8))?;
    Token::new(text.to_owned()).map_err(|e| match e {
        InvalidToken::Empty => Unavailable::Empty,
        other => Unavailable::Invalid(other),
    })
}

/// An I/O error in words, without the OS's own formatting of paths.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}

/// The first source that yields a token, and what every source said, in order.
pub struct Resolution {
    pub token: Option<Arc<Token>>,
    /// One entry per source; `Ok(())` marks the active one.
    pub report: Vec<(TokenSource, Result<(), Unavailable>)>,
}

/// Tries each source in order; sources after the first that answers are not read.
pub fn first_token(sources: &[TokenSource]) -> Option<(usize, Arc<Token>)> {
    sources
        .iter()
        .enumerate()
        .find_map(|(i, s)| s.read().ok().map(|t| (i, t)))
}

/// Reads every source, for `status`: which one is active and why the others are not.
pub fn resolve_all(sources: &[TokenSource]) -> Resolution {
    resolve_with(sources, TokenSource::read)
}

/// As [`resolve_all`], for the daemon's status: its commands are not run.
pub fn resolve_current(sources: &[TokenSource]) -> Resolution {
    resolve_with(sources, TokenSource::current)
}

fn resolve_with(
    sources: &[TokenSource],
    read: impl Fn(&TokenSource) -> Result<Arc<Token>, Unavailable>,
) -> Resolution {
    let mut token = None;
    let mut report = Vec::with_capacity(sources.len());
    for source in sources {
        let state = match read(source) {
            Ok(t) => {
                if token.is_none() {
                    token = Some(t);
                }
                Ok(())
            }
            Err(e) => Err(e),
        };
        report.push((source.clone(), state));
    }
    Resolution { token, report }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn an_unreadable_file_says_why_in_plain_words() {
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert_eq!(io_reason(&denied), "permission denied");
        // The system's own words would carry "(os error 13)".
        #[cfg(unix)]
        assert_eq!(
            io_reason(&std::io::Error::from_raw_os_error(libc::EACCES)),
            "permission denied"
        );
        let other = std::io::Error::other("disk on fire");
        assert_eq!(io_reason(&other), "disk on fire");
    }

    #[test]
    fn held_tokens_are_equal_when_they_name_one_variable_and_hold_the_same_token() {
        let token = Arc::new(Token::new("glpat-0123456789abcdefghij".to_owned()).unwrap());
        let held = |variable: &str, token: Option<Arc<Token>>| HeldToken {
            variable: variable.into(),
            token,
        };
        assert_eq!(
            held("A", Some(token.clone())),
            held("A", Some(token.clone()))
        );
        assert_eq!(held("A", None), held("A", None));
        assert_ne!(
            held("A", Some(token.clone())),
            held("B", Some(token.clone()))
        );
        assert_ne!(held("A", Some(token.clone())), held("A", None));
        assert_ne!(held("A", None), held("A", Some(token.clone())));
        // The same value read twice is two tokens: identity, not contents.
        let again = Arc::new(Token::new("glpat-0123456789abcdefghij".to_owned()).unwrap());
        assert_ne!(held("A", Some(token)), held("A", Some(again)));
    }

    fn file_with(contents: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(contents).unwrap();
        f
    }

    fn fingerprint_of(s: &str) -> String {
        Token::new(s.to_owned()).unwrap().fingerprint()
    }

    #[test]
    fn a_file_loses_exactly_one_trailing_newline() {
        for (contents, expected) in [
            (&b"glpat-abc\n"[..], "glpat-abc"),
            (b"glpat-abc\r\n", "glpat-abc"),
            (b"glpat-abc", "glpat-abc"),
        ] {
            let f = file_with(contents);
            let t = TokenSource::File(f.path().into()).read().unwrap();
            assert_eq!(t.fingerprint(), fingerprint_of(expected));
        }
        let f = file_with(b"glpat-abc\n\n");
        assert_eq!(
            TokenSource::File(f.path().into()).read().unwrap_err(),
            Unavailable::Invalid(InvalidToken::Newline)
        );
    }

    #[test]
    fn unusable_files_say_why() {
        let empty = file_with(b"\n");
        assert_eq!(
            TokenSource::File(empty.path().into()).read().unwrap_err(),
            Unavailable::Empty
        );
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            TokenSource::File(dir.path().into()).read().unwrap_err(),
            Unavailable::NotAFile
        );
        let missing = dir.path().join("missing");
        assert_eq!(
            TokenSource::File(missing).read().unwrap_err(),
            Unavailable::NotFound
        );
        let big = file_with(&vec![b'a'; MAX_TOKEN_BYTES + 1]);
        assert_eq!(
            TokenSource::File(big.path().into()).read().unwrap_err(),
            Unavailable::Invalid(InvalidToken::TooLong)
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_instead_of_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
        assert_eq!(
            TokenSource::File(fifo).read().unwrap_err(),
            Unavailable::NotAFile
        );
    }

    #[test]
    fn the_first_source_with_a_token_wins() {
        let empty = file_with(b"");
        let good = file_with(b"glpat-second\n");
        let sources = [
            TokenSource::Env("GIT_CREDENTIAL_GITLAB_CI_TEST_UNSET_VARIABLE".into()),
            TokenSource::File(empty.path().into()),
            TokenSource::File(good.path().into()),
        ];
        let (index, token) = first_token(&sources).unwrap();
        assert_eq!(index, 2);
        assert_eq!(token.fingerprint(), fingerprint_of("glpat-second"));
        let all = resolve_all(&sources);
        assert_eq!(all.report[0].1, Err(Unavailable::Unset));
        assert_eq!(all.report[1].1, Err(Unavailable::Empty));
        assert_eq!(all.report[2].1, Ok(()));
    }
}
