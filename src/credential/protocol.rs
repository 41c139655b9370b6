//! git's credential wire format: `key=value` lines in, `key=value` lines out.
//!
//! The rules follow git's `credential.c`, not a generic key/value parser:
//!
//! * a line splits at its FIRST `=`, keys are exact and case-sensitive, nothing is trimmed;
//! * unknown keys are ignored (a helper that rejected `wwwauth[]` broke on git 2.41);
//! * a repeated single-valued key: the last one wins; `key[]` keys are multi-valued;
//! * `url=` resets everything read before it and is then split into its parts;
//! * a blank line or end-of-file ends the message.
//!
//! We are stricter than git in one place on purpose: any CR or NUL anywhere in the input, or a
//! CR/LF/NUL that percent-decoding a `url=` would produce, marks the request as hostile.
//! git itself never sends those (CVE-2020-5260, CVE-2024-52006), so only an attacker does.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// The most we read from git. git's own tests send a 70,000-byte `wwwauth[]` line, so a line
/// is never limited on its own; the request as a whole is.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// How long we wait for git to finish writing. git writes the whole request at once and
/// closes the pipe, so only a broken or hostile caller ever reaches this.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a request was not parsed. None of these ever carries a value from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("the request is larger than {MAX_REQUEST_BYTES} bytes")]
    TooLarge,
    #[error("the request was not complete within {}s", READ_TIMEOUT.as_secs())]
    TimedOut,
    #[error("the request contains a carriage return")]
    CarriageReturn,
    #[error("the request contains a NUL byte")]
    Nul,
    #[error("the request is not valid UTF-8")]
    NotUtf8,
    #[error("a line of the request has no '='")]
    LineWithoutEquals,
    #[error("the url= attribute cannot be parsed")]
    BadUrl,
    #[error("the url= attribute decodes to a control character")]
    ControlCharacterInUrl,
}

/// One request from git, as git's own parser would see it.
#[derive(Default)]
pub struct Request {
    pub protocol: Option<String>,
    pub host: Option<String>,
    pub path: Option<String>,
    pub username: Option<String>,
    /// Sent by git on `store` and `erase`: it is our own token coming back, so it stays secret.
    pub password: Option<SecretString>,
    /// Every `key[]` attribute, in the order received, keyed without the brackets.
    pub multi: BTreeMap<String, Vec<String>>,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("protocol", &self.protocol)
            .field("host", &self.host)
            .field("path", &self.path)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("multi", &self.multi.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl PartialEq for Request {
    fn eq(&self, other: &Self) -> bool {
        // Compared in place: a copy of a password would outlive the comparison unzeroed.
        let passwords_equal = match (&self.password, &other.password) {
            (Some(a), Some(b)) => a.expose_secret() == b.expose_secret(),
            (None, None) => true,
            _ => false,
        };
        self.protocol == other.protocol
            && self.host == other.host
            && self.path == other.path
            && self.username == other.username
            && passwords_equal
            && self.multi == other.multi
    }
}

impl Request {
    /// Parses a complete message. The input is the raw bytes git wrote, up to EOF.
    pub fn parse(input: &[u8]) -> Result<Request, Malformed> {
        if input.len() > MAX_REQUEST_BYTES {
            return Err(Malformed::TooLarge);
        }
        if input.contains(&b'\r') {
            return Err(Malformed::CarriageReturn);
        }
        if input.contains(&0) {
            return Err(Malformed::Nul);
        }
        let text = std::str::from_utf8(input).map_err(|_| Malformed::NotUtf8)?;

        let mut request = Request::default();
        for line in text.split('\n') {
            if line.is_empty() {
                // A blank line ends the message; so does the empty tail after the last '\n'.
                break;
            }
            let (key, value) = line.split_once('=').ok_or(Malformed::LineWithoutEquals)?;
            request.apply(key, value)?;
        }
        Ok(request)
    }

    fn apply(&mut self, key: &str, value: &str) -> Result<(), Malformed> {
        let owned = || Some(value.to_owned());
        match key {
            "protocol" => self.protocol = owned(),
            "host" => self.host = owned(),
            "path" => self.path = owned(),
            "username" => self.username = owned(),
            "password" => self.password = Some(SecretString::from(value)),
            "url" => self.apply_url(value)?,
            _ => {
                if let Some(name) = key.strip_suffix("[]") {
                    self.multi
                        .entry(name.to_owned())
                        .or_default()
                        .push(value.to_owned());
                }
                // Any other key is unknown to us and ignored, as git's protocol requires.
            }
        }
        Ok(())
    }

    /// `url=` is git's shorthand for the parts below; like git, it first forgets them all.
    fn apply_url(&mut self, url: &str) -> Result<(), Malformed> {
        self.protocol = None;
        self.host = None;
        self.path = None;
        self.username = None;
        self.password = None;

        let (scheme, rest) = url.split_once("://").ok_or(Malformed::BadUrl)?;
        if scheme.is_empty() {
            return Err(Malformed::BadUrl);
        }
        // Split exactly as git's credential_from_url does, or a URL could name one host to
        // git and another to us: the host ends at the first '/', '?' or '#', and userinfo is
        // everything before the FIRST '@' if that comes before the host's end.
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let host_start = match rest.find('@').filter(|&at| at < end) {
            Some(at) => {
                let userinfo = &rest[..at];
                match userinfo.split_once(':') {
                    Some((user, pass)) => {
                        self.username = Some(percent_decode(user)?);
                        self.password = Some(percent_decode_secret(pass)?);
                    }
                    None => self.username = Some(percent_decode(userinfo)?),
                }
                at + 1
            }
            None => 0,
        };
        self.protocol = Some(scheme.to_owned());
        self.host = Some(percent_decode(&rest[host_start..end])?);
        let path = rest[end..].trim_start_matches('/');
        if !path.is_empty() {
            let decoded = percent_decode(path)?;
            let trimmed = decoded.trim_end_matches('/');
            if !trimmed.is_empty() {
                self.path = Some(trimmed.to_owned());
            }
        }
        Ok(())
    }

    /// Writes the request in git's format, the inverse of [`Request::parse`].
    /// Used by the tests and by anything that forwards a request.
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::new());
        let mut line = |key: &str, value: &str| {
            out.extend_from_slice(key.as_bytes());
            out.push(b'=');
            out.extend_from_slice(value.as_bytes());
            out.push(b'\n');
        };
        for (key, value) in [
            ("protocol", &self.protocol),
            ("host", &self.host),
            ("path", &self.path),
            ("username", &self.username),
        ] {
            if let Some(value) = value {
                line(key, value);
            }
        }
        if let Some(password) = &self.password {
            line("password", password.expose_secret());
        }
        for (name, values) in &self.multi {
            for value in values {
                line(&format!("{name}[]"), value);
            }
        }
        out
    }
}

/// Decodes `%XX` escapes as git's `url_decode` does, refusing any that yields CR, LF or NUL:
/// those are how CVE-2020-5260 smuggled a second `host=` line through a URL.
fn percent_decode(s: &str) -> Result<String, Malformed> {
    let mut out = Zeroizing::new(Vec::with_capacity(s.len()));
    decode_into(s, &mut out)?;
    std::str::from_utf8(&out)
        .map(str::to_owned)
        .map_err(|_| Malformed::NotUtf8)
}

/// [`percent_decode`] for a password: decoded into a buffer sized once and zeroed on drop,
/// then copied into an exact-size box, as `Token::new` does. `SecretString::from(String)`
/// would shrink the buffer first (decoding leaves it longer than its text), and that
/// reallocation would free the decoded password unzeroed.
fn percent_decode_secret(s: &str) -> Result<SecretString, Malformed> {
    let mut out = Zeroizing::new(Vec::with_capacity(s.len()));
    decode_into(s, &mut out)?;
    let text = std::str::from_utf8(&out).map_err(|_| Malformed::NotUtf8)?;
    Ok(SecretString::from(Box::<str>::from(text)))
}

/// Decodes `s` into `out`, which is given room for `s.len()` bytes first. Decoding never
/// lengthens, so `out` never grows: a growing `Vec` moves its contents and frees the old
/// buffer without zeroing it. On an error, what was decoded (part of a password, perhaps) is
/// zeroed where it lies.
fn decode_into(s: &str, out: &mut Vec<u8>) -> Result<(), Malformed> {
    use zeroize::Zeroize;
    out.clear();
    out.reserve_exact(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    let problem = if out.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
        Some(Malformed::ControlCharacterInUrl)
    } else if std::str::from_utf8(out).is_err() {
        Some(Malformed::NotUtf8)
    } else {
        None
    };
    match problem {
        Some(problem) => {
            out.as_mut_slice().zeroize();
            Err(problem)
        }
        None => Ok(()),
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// What we answer to `get`.
pub struct Response<'a> {
    pub username: &'a str,
    pub password: &'a SecretString,
    /// Seconds since the Unix epoch; git 2.40+ drops a credential past this time.
    pub password_expiry_utc: Option<u64>,
}

impl Response<'_> {
    /// The answer as bytes, in a buffer sized up front (growing it would leave copies) and
    /// zeroed on drop.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let password = self.password.expose_secret();
        let capacity = 80 + self.username.len() + password.len();
        let mut buf = Zeroizing::new(Vec::with_capacity(capacity));
        buf.extend_from_slice(b"username=");
        buf.extend_from_slice(self.username.as_bytes());
        buf.extend_from_slice(b"\npassword=");
        buf.extend_from_slice(password.as_bytes());
        buf.push(b'\n');
        if let Some(expiry) = self.password_expiry_utc {
            buf.extend_from_slice(format!("password_expiry_utc={expiry}\n").as_bytes());
        }
        buf
    }
}

/// The read buffer's first size: a request of git's fits, with room for `wwwauth[]` lines.
const INITIAL_READ: usize = 1024;

/// Reads git's message from `input`: up to end-of-file or a blank line, at most
/// [`MAX_REQUEST_BYTES`], and for at most `timeout` where the platform lets us wait.
/// The buffer is zeroed when dropped because `store` and `erase` carry our token.
pub fn read_message(
    input: &mut impl ReadWithDeadline,
    timeout: Duration,
) -> Result<Zeroizing<Vec<u8>>, Malformed> {
    let deadline = Instant::now() + timeout;
    // Read straight into the buffer, which starts small: git's requests are a few hundred
    // bytes, and a zeroized buffer costs its whole capacity in volatile writes when dropped
    // (an 8 KiB buffer and an 8 KiB chunk were a sixth of what `get` did).
    let mut buf = Zeroizing::new(Vec::with_capacity(INITIAL_READ));
    loop {
        if buf.len() == buf.capacity() {
            // Grow by copying into a new buffer and zeroing the old one: letting the Vec
            // reallocate would free a copy of a `store` or `erase` password unzeroed. One
            // byte past the limit is room enough to tell that a message is too large.
            let wanted = (buf.capacity() * 2).min(MAX_REQUEST_BYTES + 1);
            let mut bigger = Zeroizing::new(Vec::with_capacity(wanted));
            bigger.extend_from_slice(&buf);
            buf = bigger;
        }
        let filled = buf.len();
        let room = buf.capacity();
        buf.resize(room, 0);
        let read = input.read_before(&mut buf[filled..], deadline);
        buf.truncate(filled + read.as_ref().map_or(0, |n| *n));
        match read {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(Malformed::TimedOut),
            // A closed or broken stdin is the same as end-of-file to us.
            Err(_) => break,
        }
        if buf.len() > MAX_REQUEST_BYTES {
            return Err(Malformed::TooLarge);
        }
        if let Some(end) = blank_line(&buf, filled.saturating_sub(1)) {
            buf.truncate(end);
            break;
        }
    }
    Ok(buf)
}

/// The offset just past the message if `buf` holds a blank line, scanning from `from`.
fn blank_line(buf: &[u8], from: usize) -> Option<usize> {
    if buf.first() == Some(&b'\n') {
        return Some(0);
    }
    buf[from..]
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| from + i + 1)
}

/// A byte source that can give up at a deadline. stdin on Unix waits with `poll(2)`; any
/// other reader (tests, platforms without poll on pipes) reads without a deadline.
pub trait ReadWithDeadline {
    fn read_before(&mut self, buf: &mut [u8], deadline: Instant) -> io::Result<usize>;
}

impl ReadWithDeadline for &[u8] {
    fn read_before(&mut self, buf: &mut [u8], _deadline: Instant) -> io::Result<usize> {
        self.read(buf)
    }
}

/// The process's stdin, read with a deadline.
pub struct Stdin;

impl ReadWithDeadline for Stdin {
    #[cfg(unix)]
    fn read_before(&mut self, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        use std::os::fd::AsFd;

        let stdin = io::stdin();
        let fd = stdin.as_fd();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            let timeout = Timespec {
                tv_sec: left.as_secs() as i64,
                tv_nsec: left.subsec_nanos() as _,
            };
            let mut fds = [PollFd::new(&fd, PollFlags::IN)];
            match poll(&mut fds, Some(&timeout)) {
                Ok(0) => return Err(io::ErrorKind::TimedOut.into()),
                Ok(_) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        rustix::io::read(fd, buf).map_err(Into::into)
    }

    #[cfg(not(unix))]
    fn read_before(&mut self, buf: &mut [u8], _deadline: Instant) -> io::Result<usize> {
        io::stdin().lock().read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_never_grows_its_buffer_and_wipes_it_on_an_error() {
        let input = "p%41ss%2Fw%3Ard";
        let mut out = Vec::with_capacity(input.len());
        let (at, capacity) = (out.as_ptr(), out.capacity());
        decode_into(input, &mut out).unwrap();
        assert_eq!(out, b"pAss/w:rd");
        assert_eq!((out.as_ptr(), out.capacity()), (at, capacity));
        for (hostile, why) in [
            ("secret%0Ahost=evil", Malformed::ControlCharacterInUrl),
            ("secret%00", Malformed::ControlCharacterInUrl),
            ("secret%FF", Malformed::NotUtf8),
        ] {
            let mut out = Vec::with_capacity(hostile.len());
            let at = out.as_ptr();
            assert_eq!(decode_into(hostile, &mut out), Err(why));
            assert_eq!(out.as_ptr(), at, "{hostile}");
            assert!(!out.is_empty() && out.iter().all(|&b| b == 0), "{out:?}");
        }
    }

    #[test]
    fn a_url_password_is_decoded_into_a_secret() {
        let r = parse("url=https://u:p%41ss%40word@h.example/\n");
        assert_eq!(r.password.as_ref().unwrap().expose_secret(), "pAss@word");
        assert_eq!(r.username.as_deref(), Some("u"));
        assert_eq!(
            Request::parse(b"url=https://u:p%0Ass@h.example/\n").unwrap_err(),
            Malformed::ControlCharacterInUrl
        );
    }

    fn parse(s: &str) -> Request {
        Request::parse(s.as_bytes()).expect("parses")
    }

    #[test]
    fn an_escape_cut_short_at_the_end_is_kept_as_written() {
        // A `%` with fewer than two characters after it is not an escape: no read past the end.
        for (input, want) in [("a%4", "a%4"), ("a%", "a%"), ("%41", "A"), ("a%4G", "a%4G")] {
            assert_eq!(percent_decode(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn requests_are_equal_only_field_by_field() {
        let base = "protocol=https\nhost=h\npath=p\nusername=u\npassword=s\nwwwauth[]=x\n";
        let a = parse(base);
        assert_eq!(a, parse(base));
        assert_eq!(
            parse("host=h\n"),
            parse("host=h\n"),
            "no password on either side"
        );
        for changed in [
            "protocol=http\nhost=h\npath=p\nusername=u\npassword=s\nwwwauth[]=x\n",
            "protocol=https\nhost=g\npath=p\nusername=u\npassword=s\nwwwauth[]=x\n",
            "protocol=https\nhost=h\npath=q\nusername=u\npassword=s\nwwwauth[]=x\n",
            "protocol=https\nhost=h\npath=p\nusername=v\npassword=s\nwwwauth[]=x\n",
            "protocol=https\nhost=h\npath=p\nusername=u\npassword=t\nwwwauth[]=x\n",
            "protocol=https\nhost=h\npath=p\nusername=u\nwwwauth[]=x\n",
            "protocol=https\nhost=h\npath=p\nusername=u\npassword=s\nwwwauth[]=y\n",
        ] {
            assert_ne!(a, parse(changed), "{changed}");
            assert_ne!(parse(changed), a, "{changed}");
        }
    }

    #[test]
    fn the_answer_is_built_in_one_buffer_of_the_size_reserved_for_it() {
        let password = SecretString::from("glpat-0123456789abcdefghij".to_owned());
        for expiry in [None, Some(u64::MAX)] {
            let response = Response {
                username: "gitlab-ci-token",
                password: &password,
                password_expiry_utc: expiry,
            };
            let bytes = response.to_bytes();
            // Reserved once: 80 bytes for the keys and an expiry, plus the two values. A
            // buffer that had grown would have left a copy of the password behind.
            assert_eq!(bytes.capacity(), 80 + "gitlab-ci-token".len() + 26);
            assert!(bytes.starts_with(b"username=gitlab-ci-token\npassword=glpat-"));
        }
    }

    #[test]
    fn debug_shows_the_fields_but_never_the_password() {
        let shown = format!(
            "{:?}",
            parse("host=h.example\nusername=u\npassword=s3cret\n")
        );
        assert!(
            shown.contains("h.example") && shown.contains("<redacted>"),
            "{shown}"
        );
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn parse_takes_exactly_the_cap_and_no_more() {
        let mut at_cap = vec![b'a'; MAX_REQUEST_BYTES - 1];
        at_cap.push(b'\n');
        // A line without `=`, but not too large: the size is checked first.
        assert_eq!(
            Request::parse(&at_cap).unwrap_err(),
            Malformed::LineWithoutEquals
        );
        at_cap.insert(0, b'a');
        assert_eq!(Request::parse(&at_cap).unwrap_err(), Malformed::TooLarge);
    }

    #[test]
    fn splits_at_the_first_equals_and_ignores_unknown_keys() {
        let r = parse("protocol=https\nhost=h.example\nfoo=bar\npath=a=b\n");
        assert_eq!(r.protocol.as_deref(), Some("https"));
        assert_eq!(r.host.as_deref(), Some("h.example"));
        assert_eq!(r.path.as_deref(), Some("a=b"));
        assert!(r.multi.is_empty());
    }

    #[test]
    fn keys_are_case_sensitive_and_not_trimmed() {
        let r = parse("Host=evil\nhost =evil\nhost=good\n");
        assert_eq!(r.host.as_deref(), Some("good"));
        let r = parse("host= spaced \n");
        assert_eq!(r.host.as_deref(), Some(" spaced "));
    }

    #[test]
    fn the_last_single_value_wins_and_multi_values_accumulate() {
        let r = parse("host=a\nhost=b\nwwwauth[]=Basic realm=x\nwwwauth[]=Bearer\n");
        assert_eq!(r.host.as_deref(), Some("b"));
        assert_eq!(r.multi["wwwauth"], vec!["Basic realm=x", "Bearer"]);
    }

    #[test]
    fn url_resets_what_came_before_and_is_split_like_git_does() {
        let r =
            parse("host=before\npath=x\nusername=u\nurl=https://me@gitlab.example:8443/g/p.git/\n");
        assert_eq!(r.protocol.as_deref(), Some("https"));
        assert_eq!(r.host.as_deref(), Some("gitlab.example:8443"));
        assert_eq!(r.path.as_deref(), Some("g/p.git"));
        assert_eq!(r.username.as_deref(), Some("me"));
        let r = parse("url=https://gitlab.example\nhost=after\n");
        assert_eq!(r.host.as_deref(), Some("after"));
        assert_eq!(r.path, None);
    }

    #[test]
    fn url_hosts_end_where_gits_do() {
        // git reads evil.example as the host of each of these; so must we.
        for url in [
            "url=https://gitlab-ci-token:pw@evil.example#@gitlab.example.com/\n",
            "url=https://evil.example?@gitlab.example.com\n",
            "url=https://evil.example#@gitlab.example.com\n",
        ] {
            assert_eq!(parse(url).host.as_deref(), Some("evil.example"), "{url}");
        }
        let r = parse("url=https://a@b@gitlab.example.com/p\n");
        assert_eq!(r.username.as_deref(), Some("a"));
        assert_eq!(r.host.as_deref(), Some("b@gitlab.example.com"));
        let r = parse("url=https://h//g/p.git//\n");
        assert_eq!(r.path.as_deref(), Some("g/p.git"));
    }

    #[test]
    fn url_with_an_encoded_newline_is_hostile() {
        let err = Request::parse(b"url=https://evil%0ahost=gitlab.example/\n").unwrap_err();
        assert_eq!(err, Malformed::ControlCharacterInUrl);
        let err = Request::parse(b"url=https://a%00b/\n").unwrap_err();
        assert_eq!(err, Malformed::ControlCharacterInUrl);
        assert_eq!(
            Request::parse(b"url=nonsense\n").unwrap_err(),
            Malformed::BadUrl
        );
    }

    #[test]
    fn carriage_returns_nuls_and_bad_utf8_are_refused() {
        assert_eq!(
            Request::parse(b"host=a\r\n").unwrap_err(),
            Malformed::CarriageReturn
        );
        assert_eq!(Request::parse(b"host=a\0b\n").unwrap_err(), Malformed::Nul);
        assert_eq!(
            Request::parse(b"host=\xff\n").unwrap_err(),
            Malformed::NotUtf8
        );
        assert_eq!(
            Request::parse(b"garbage\n").unwrap_err(),
            Malformed::LineWithoutEquals
        );
    }

    #[test]
    fn a_blank_line_ends_the_message() {
        let r = parse("host=a\n\nhost=b\n");
        assert_eq!(r.host.as_deref(), Some("a"));
    }

    #[test]
    fn accepts_gits_own_long_wwwauth_line() {
        let long = format!("protocol=https\nhost=h\nwwwauth[]={}\n", "x".repeat(70_000));
        let r = parse(&long);
        assert_eq!(r.multi["wwwauth"][0].len(), 70_000);
    }

    #[test]
    fn reading_stops_at_the_cap_and_at_a_blank_line() {
        let huge = vec![b'a'; MAX_REQUEST_BYTES + 1];
        let err = read_message(&mut &huge[..], READ_TIMEOUT).unwrap_err();
        assert_eq!(err, Malformed::TooLarge);
        let msg = read_message(&mut &b"host=a\n\nignored"[..], READ_TIMEOUT).unwrap();
        assert_eq!(&msg[..], b"host=a\n");
        let msg = read_message(&mut &b"\nhost=a\n"[..], READ_TIMEOUT).unwrap();
        assert!(msg.is_empty());
        // Exactly the cap is a message; the buffer grows past its first size to hold it.
        let mut at_cap = vec![b'a'; MAX_REQUEST_BYTES - 1];
        at_cap.push(b'\n');
        let msg = read_message(&mut &at_cap[..], READ_TIMEOUT).unwrap();
        assert_eq!(msg.len(), MAX_REQUEST_BYTES);
    }

    /// Hands out its bytes `step` at a time, as a pipe may.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl ReadWithDeadline for Trickle<'_> {
        fn read_before(&mut self, buf: &mut [u8], _deadline: Instant) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// Fails once with `error`, then hands out `data` in one read.
    struct FailsFirst<'a> {
        error: Option<io::ErrorKind>,
        data: &'a [u8],
    }

    impl ReadWithDeadline for FailsFirst<'_> {
        fn read_before(&mut self, buf: &mut [u8], _deadline: Instant) -> io::Result<usize> {
            if let Some(kind) = self.error.take() {
                return Err(kind.into());
            }
            let n = buf.len().min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_read_interrupted_is_retried_a_deadline_is_an_error_a_broken_pipe_is_the_end() {
        let read = |error| {
            read_message(
                &mut FailsFirst {
                    error: Some(error),
                    data: b"host=h\n",
                },
                READ_TIMEOUT,
            )
        };
        assert_eq!(&read(io::ErrorKind::Interrupted).unwrap()[..], b"host=h\n");
        assert_eq!(
            read(io::ErrorKind::TimedOut).unwrap_err(),
            Malformed::TimedOut
        );
        assert!(read(io::ErrorKind::BrokenPipe).unwrap().is_empty());
    }

    /// Answers only before its deadline, as stdin's poll does.
    struct BeforeDeadline<'a>(&'a [u8]);

    impl ReadWithDeadline for BeforeDeadline<'_> {
        fn read_before(&mut self, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
            if Instant::now() >= deadline {
                return Err(io::ErrorKind::TimedOut.into());
            }
            let n = buf.len().min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn the_deadline_is_the_timeout_from_now() {
        let msg = read_message(&mut BeforeDeadline(b"host=h\n"), READ_TIMEOUT).unwrap();
        assert_eq!(&msg[..], b"host=h\n");
        let late = read_message(&mut BeforeDeadline(b"host=h\n"), Duration::ZERO);
        assert_eq!(late.unwrap_err(), Malformed::TimedOut);
    }

    #[test]
    fn a_message_read_in_pieces_across_the_first_buffer_is_whole() {
        let mut message = b"protocol=https\nhost=h\n".to_vec();
        message.extend(b"wwwauth[]=".iter().chain(&[b'x'; 3000]).chain(b"\n"));
        let mut input = message.clone();
        input.extend_from_slice(b"\nafter the blank line");
        for step in [1, 7, 1000, 5000] {
            let msg = read_message(&mut Trickle { data: &input, step }, READ_TIMEOUT).unwrap();
            assert_eq!(&msg[..], &message[..], "step {step}");
        }
    }

    #[test]
    fn encode_is_the_inverse_of_parse() {
        let r = parse(
            "protocol=https\nhost=h:1\npath=g/p\nusername=u\npassword=s\ncapability[]=authtype\n",
        );
        assert_eq!(Request::parse(&r.encode()).unwrap(), r);
    }

    #[test]
    fn the_response_is_exactly_what_git_expects() {
        let password = SecretString::from("tok");
        let out = Response {
            username: "gitlab-ci-token",
            password: &password,
            password_expiry_utc: Some(1_700_000_000),
        }
        .to_bytes();
        assert_eq!(
            &out[..],
            b"username=gitlab-ci-token\npassword=tok\npassword_expiry_utc=1700000000\n"
        );
    }

    #[test]
    fn debug_output_never_shows_the_password() {
        let r = parse("password=hunter2\n");
        assert!(!format!("{r:?}").contains("hunter2"));
    }
}
