//! A token source that runs a command: `/bin/sh -c CMD`, as git runs a `!` helper.
//!
//! The command gets no input (stdin is `/dev/null`) and the environment of the process that
//! runs it: the helper's own, or, in the daemon, the environment `daemon` was started with,
//! handed over in memory that is zeroed on drop. It runs in its own process group, and the
//! whole group is killed (SIGKILL) at the deadline. Its stdout is read into a buffer sized
//! once at [`MAX_OUTPUT_BYTES`] (plus one byte, to tell a longer output), its stderr into
//! one of [`MAX_STDERR_BYTES`], kept only for a short excerpt in `status`.
//!
//! What it prints is one of:
//!
//! - the token alone, on one line (one trailing LF or CRLF is trimmed);
//! - git credential lines: `password=` is required, `username=` and `password_expiry_utc=`
//!   (Unix seconds) are used, any other key is ignored, so another credential helper's
//!   `get` output (`glab auth git-credential get`) is a source as it is.
//!
//! The output is read as credential lines when one of its lines starts with `password=`.
//! Anything else, such as several non-empty lines, is not a token, and the source is
//! unusable, as it is when the command fails, is killed at the deadline, or prints more
//! than the cap.
//!
//! The standalone helper runs the command on each request. In the daemon a source is
//! [`CommandSource::in_daemon`]: the daemon runs it once at start, and the token is kept until shortly before its expiry (what the
//! command printed, or a JWT's `exp`), else for the TTL, and dropped when git erases it
//! after a 401, so that the next request runs the command again.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

use super::secret::{InvalidToken, Issued, Token, MAX_TOKEN_BYTES};
use super::spawn::{self, End};

/// How long a command may run when the configuration does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the daemon keeps a token of no known expiry when the configuration does not say.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// The most a command may print on stdout: the largest token, and room for credential lines.
pub const MAX_OUTPUT_BYTES: usize = MAX_TOKEN_BYTES;
/// The most of its stderr that is kept, for the excerpt `status` shows.
pub const MAX_STDERR_BYTES: usize = 4096;
/// How many characters of stderr `status` shows.
const EXCERPT_CHARS: usize = 200;
/// The daemon stops serving a token this long before its expiry (or at half its remaining
/// life, when that is shorter), so that git never gets one in its last seconds.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(30);

/// A command that prints a token.
#[derive(Clone)]
pub struct CommandSource {
    /// The shell command line, from trusted configuration only. Not a secret, but shown only
    /// through the redaction `status` applies to all it prints.
    pub command: String,
    /// The deadline, from the start of the command.
    pub timeout: Duration,
    /// How long the daemon keeps a token whose expiry is not known.
    pub ttl: Duration,
    /// Set in the daemon only: the environment to run with, the cached token, the last result.
    held: Option<Arc<Held>>,
}

struct Held {
    env: Arc<CommandEnv>,
    state: Mutex<HeldState>,
}

#[derive(Default)]
struct HeldState {
    cached: Option<(Arc<Token>, Instant)>,
    /// Why the last run gave no token, until a run gives one.
    failed: Option<CommandError>,
    runs: u64,
}

impl fmt::Debug for CommandSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandSource")
            .field("command", &self.command)
            .field("timeout", &self.timeout)
            .field("ttl", &self.ttl)
            .field("in_daemon", &self.held.is_some())
            .finish()
    }
}

impl PartialEq for CommandSource {
    fn eq(&self, other: &Self) -> bool {
        self.command == other.command && self.timeout == other.timeout && self.ttl == other.ttl
    }
}

impl Eq for CommandSource {}

impl CommandSource {
    pub fn new(command: String) -> CommandSource {
        CommandSource {
            command,
            timeout: DEFAULT_TIMEOUT,
            ttl: DEFAULT_TTL,
            held: None,
        }
    }

    /// For the daemon: runs with `env`, and keeps what it printed (see the module comment).
    pub fn in_daemon(&self, env: Arc<CommandEnv>) -> CommandSource {
        CommandSource {
            held: Some(Arc::new(Held {
                env,
                state: Mutex::new(HeldState::default()),
            })),
            ..self.clone()
        }
    }

    /// A token: the daemon's cached one while it is fresh, else from a run of the command.
    pub fn read(&self) -> Result<Arc<Token>, CommandError> {
        let Some(held) = &self.held else {
            return run(&self.command, None, self.timeout).map(Arc::new);
        };
        // Held across the run: concurrent requests wait for one run instead of starting many.
        let mut state = held.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((token, until)) = &state.cached {
            if Instant::now() < *until {
                return Ok(Arc::clone(token));
            }
        }
        state.cached = None;
        state.runs += 1;
        match run(&self.command, Some(&held.env), self.timeout) {
            Ok(token) => {
                let token = Arc::new(token);
                let keep = keep_for(&token, self.ttl, SystemTime::now());
                state.cached = Some((Arc::clone(&token), Instant::now() + keep));
                state.failed = None;
                Ok(token)
            }
            Err(why) => {
                state.failed = Some(why.clone());
                Err(why)
            }
        }
    }

    /// What the daemon holds now, without running anything or waiting for a run (for
    /// `status` and `erase`, which the daemon answers on the thread that accepts).
    pub fn current(&self) -> Result<Arc<Token>, CommandError> {
        let Some(held) = &self.held else {
            return self.read();
        };
        let Some(state) = try_lock(&held.state) else {
            return Err(CommandError::Running);
        };
        match (&state.cached, &state.failed) {
            (Some((token, until)), _) if Instant::now() < *until => Ok(Arc::clone(token)),
            (_, Some(why)) => Err(why.clone()),
            _ => Err(CommandError::NotRunYet { runs: state.runs }),
        }
    }

    /// Drops the cached token if it is the one with `fingerprint` (git erased it after a
    /// 401), so that the next request runs the command again. Whether it was.
    pub fn forget(&self, fingerprint: &str) -> bool {
        let Some(held) = &self.held else {
            return false;
        };
        // A run in progress replaces the token anyway.
        let Some(mut state) = try_lock(&held.state) else {
            return false;
        };
        let ours = state
            .cached
            .as_ref()
            .is_some_and(|(t, _)| t.fingerprint() == fingerprint);
        if ours {
            state.cached = None;
        }
        ours
    }

    /// How many times the daemon ran the command (0 outside the daemon).
    pub fn runs(&self) -> u64 {
        self.held.as_ref().map_or(0, |h| {
            h.state.lock().unwrap_or_else(|e| e.into_inner()).runs
        })
    }

    pub(crate) fn env(&self) -> Option<&Arc<CommandEnv>> {
        self.held.as_ref().map(|h| &h.env)
    }
}

/// The lock, unless a run holds it; a poisoned lock is still ours to use.
fn try_lock<T>(m: &Mutex<T>) -> Option<std::sync::MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(g) => Some(g),
        Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}

/// How long the daemon keeps `token`: until [`REFRESH_MARGIN`] before its own expiry (or
/// half of what is left of its life, if that is shorter), else for `ttl`.
pub fn keep_for(token: &Token, ttl: Duration, now: SystemTime) -> Duration {
    match token.own_expiry() {
        Some(at) => {
            let left = at.duration_since(now).unwrap_or_default();
            left - REFRESH_MARGIN.min(left / 2)
        }
        None => ttl,
    }
}

/// The environment a daemon's commands run with: `NAME=VALUE\0` entries in one buffer,
/// sized once and zeroed on drop, since it holds the job's secrets (`CI_JOB_TOKEN`, the
/// `id_tokens`).
pub struct CommandEnv {
    block: Zeroizing<Vec<u8>>,
}

impl CommandEnv {
    /// This process's environment, for the daemon it starts.
    pub fn capture() -> CommandEnv {
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let vars: Vec<(std::ffi::OsString, std::ffi::OsString)> = std::env::vars_os().collect();
            let len = vars
                .iter()
                .map(|(k, v)| k.len() + v.len() + 2)
                .sum::<usize>();
            let mut block = Zeroizing::new(Vec::with_capacity(len));
            for (mut k, mut v) in vars {
                block.extend_from_slice(k.as_bytes());
                block.push(b'=');
                block.extend_from_slice(v.as_bytes());
                block.push(0);
                wipe(&mut k);
                wipe(&mut v);
            }
            CommandEnv { block }
        }
        #[cfg(not(unix))]
        {
            CommandEnv {
                block: Zeroizing::new(Vec::new()),
            }
        }
    }

    /// The handed-over form: `NAME=VALUE\0` entries back to back.
    pub fn as_bytes(&self) -> &[u8] {
        &self.block
    }

    /// From the handed-over form; `None` if it is not `NAME=VALUE\0` entries. The bytes are
    /// copied into a buffer of their exact size.
    pub fn from_bytes(bytes: &[u8]) -> Option<CommandEnv> {
        let well_formed = bytes.is_empty()
            || (bytes.ends_with(&[0])
                && bytes[..bytes.len() - 1]
                    .split(|&b| b == 0)
                    .all(|entry| entry.iter().position(|&b| b == b'=').is_some_and(|i| i > 0)));
        if !well_formed {
            return None;
        }
        let mut block = Zeroizing::new(Vec::with_capacity(bytes.len()));
        block.extend_from_slice(bytes);
        Some(CommandEnv { block })
    }
}

#[cfg(unix)]
fn wipe(s: &mut std::ffi::OsString) {
    use std::os::unix::ffi::OsStringExt;
    use zeroize::Zeroize;
    std::mem::take(s).into_vec().zeroize();
}

/// Why a command source gave no token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The command ran and gave no token; `stderr` is a masked excerpt of its stderr.
    #[error("{failure}{}", if stderr.is_empty() { String::new() } else { format!("; its stderr began: \"{stderr}\"") })]
    Failed {
        failure: CommandFailure,
        stderr: String,
    },
    /// The daemon holds no token from this command now, and runs it on the next request.
    #[error("{}", if *runs == 0 { "not run yet: the daemon runs it on the first request".to_owned() } else { format!("its last token expired or was rejected: the next request runs it again (ran {runs} times so far)") })]
    NotRunYet { runs: u64 },
    /// The daemon is running the command now.
    #[error("running now: the daemon answers once it has printed a token")]
    Running,
}

impl CommandError {
    /// How the run failed, without its stderr (for the daemon's log).
    pub fn failure(&self) -> Option<&CommandFailure> {
        match self {
            CommandError::Failed { failure, .. } => Some(failure),
            CommandError::NotRunYet { .. } | CommandError::Running => None,
        }
    }
}

/// Why a command gave no token, in words: how it ended, or what is wrong with its output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandFailure {
    /// It could not be started (`/bin/sh` missing, a NUL in the command, no pipes left).
    Unstartable(String),
    /// It exited with a non-zero status.
    Exited(i32),
    /// It was killed by a signal, not by us.
    Signalled(i32),
    /// It was still running at the deadline, and killed with its process group.
    TimedOut(Duration),
    /// It printed more than [`MAX_OUTPUT_BYTES`].
    TooMuchOutput,
    /// It exited with 0 but printed no token; what is wrong with its output.
    NoToken(&'static str),
    /// It printed a password that is not a token.
    Invalid(InvalidToken),
}

impl fmt::Display for CommandFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandFailure::Unstartable(why) => write!(f, "could not be started: {why}"),
            CommandFailure::Exited(code) => write!(f, "exited with status {code}"),
            CommandFailure::Signalled(sig) => write!(f, "was killed by signal {sig}"),
            CommandFailure::TimedOut(after) => write!(
                f,
                "was killed after {} (its deadline, token_command_timeout)",
                humantime::format_duration(*after)
            ),
            CommandFailure::TooMuchOutput => {
                write!(f, "printed more than {MAX_OUTPUT_BYTES} bytes")
            }
            CommandFailure::NoToken(why) => write!(f, "printed no token: {why}"),
            CommandFailure::Invalid(why) => {
                write!(f, "printed a password that is not a token: {why}")
            }
        }
    }
}

/// Runs `command` once and reads its token, with `env` (else this process's environment).
fn run(command: &str, env: Option<&CommandEnv>, timeout: Duration) -> Result<Token, CommandError> {
    let fail = |failure: CommandFailure, stderr: &[u8]| CommandError::Failed {
        failure,
        stderr: excerpt(stderr),
    };
    let ran = spawn::run(
        command,
        env.map(CommandEnv::as_bytes),
        timeout,
        MAX_OUTPUT_BYTES,
        MAX_STDERR_BYTES,
    )
    .map_err(|e| fail(CommandFailure::Unstartable(e), b""))?;
    let ended = match ran.end {
        _ if ran.overflow => Err(CommandFailure::TooMuchOutput),
        End::Exited(0) => Ok(()),
        End::Exited(code) => Err(CommandFailure::Exited(code)),
        End::Signalled(sig) => Err(CommandFailure::Signalled(sig)),
        End::TimedOut => Err(CommandFailure::TimedOut(timeout)),
        End::Lost => Err(CommandFailure::Unstartable(
            "its exit status could not be read".into(),
        )),
    };
    ended
        .and_then(|()| parse_output(&ran.stdout))
        .map_err(|e| fail(e, &ran.stderr))
}

/// A command's stdout read as a token (see the module comment).
pub fn parse_output(out: &[u8]) -> Result<Token, CommandFailure> {
    let text =
        std::str::from_utf8(out).map_err(|_| CommandFailure::NoToken("its output is not UTF-8"))?;
    let credential_lines = text.split('\n').any(|l| l.starts_with("password="));
    if !credential_lines {
        let line = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .unwrap_or(text);
        if line.is_empty() {
            return Err(CommandFailure::NoToken("its output is empty"));
        }
        if line.contains('\n') {
            return Err(CommandFailure::NoToken(
                "it printed several lines; print the token alone on one line, or credential lines with password=",
            ));
        }
        return token(line, Issued::default());
    }
    let mut password = None;
    let mut issued = Issued::default();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            // A blank line ends a credential message, as git reads one.
            break;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(CommandFailure::NoToken(
                "a line of its credential output has no '='",
            ));
        };
        match key {
            "password" => password = Some(value),
            "username" => {
                if value.is_empty() || value.chars().any(char::is_control) {
                    return Err(CommandFailure::NoToken(
                        "its username= is empty or holds a control character",
                    ));
                }
                issued.username = Some(value.to_owned());
            }
            "password_expiry_utc" => {
                let secs = value.parse::<u64>().ok().filter(|s| *s < 400_000_000_000);
                let Some(secs) = secs else {
                    return Err(CommandFailure::NoToken(
                        "its password_expiry_utc= is not a number of seconds since 1970",
                    ));
                };
                issued.expiry = Some(UNIX_EPOCH + Duration::from_secs(secs));
            }
            _ => {}
        }
    }
    match password {
        Some(p) => token(p, issued),
        None => Err(CommandFailure::NoToken(
            "its credential lines end before password=",
        )),
    }
}

fn token(value: &str, issued: Issued) -> Result<Token, CommandFailure> {
    let mut copy = String::with_capacity(value.len());
    copy.push_str(value);
    Token::new(copy)
        .map(|t| t.with_issued(issued))
        .map_err(|e| match e {
            InvalidToken::Empty | InvalidToken::Whitespace => {
                CommandFailure::NoToken("its password is empty")
            }
            other => CommandFailure::Invalid(other),
        })
}

/// The start of a command's stderr, on one line, for `status`: control characters become
/// spaces and every long word (20 or more characters a secret could be made of) is masked,
/// since a failing command may have printed a secret (`set -x`, a server's error). `status`
/// redacts all it prints on top of this.
pub fn excerpt(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let mut out = String::new();
    let mut word = String::new();
    let secret_char = |c: char| c.is_ascii_alphanumeric() || "-_.+/=:~%".contains(c);
    let flush = |word: &mut String, out: &mut String| {
        if word.chars().count() >= 20 {
            out.push_str("<long word>");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.trim().chars() {
        if secret_char(c) {
            word.push(c);
            continue;
        }
        flush(&mut word, &mut out);
        let c = if c.is_control() { ' ' } else { c };
        if !(c == ' ' && out.ends_with(' ')) {
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    let mut out = out.trim().to_owned();
    if out.chars().count() > EXCERPT_CHARS {
        out = out.chars().take(EXCERPT_CHARS).collect();
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn fingerprint(s: &str) -> String {
        Token::new(s.to_owned()).unwrap().fingerprint()
    }

    #[test]
    fn the_token_alone_on_one_line() {
        for out in [&b"glpat-abc\n"[..], b"glpat-abc\r\n", b"glpat-abc"] {
            let t = parse_output(out).unwrap();
            assert_eq!(t.fingerprint(), fingerprint("glpat-abc"));
            assert_eq!(t.issued_username(), None);
        }
        assert_eq!(
            parse_output(b"").unwrap_err(),
            CommandFailure::NoToken("its output is empty")
        );
        assert!(matches!(
            parse_output(b"\n").unwrap_err(),
            CommandFailure::NoToken(_)
        ));
        assert!(matches!(
            parse_output(b"glpat-abc\nsecond line\n").unwrap_err(),
            CommandFailure::NoToken(_)
        ));
        assert!(matches!(
            parse_output(b"glpat-abc\n\n").unwrap_err(),
            CommandFailure::NoToken(_)
        ));
        assert_eq!(
            parse_output(b"glpat abc\n").unwrap_err(),
            CommandFailure::Invalid(InvalidToken::ControlOrSpace)
        );
        assert!(parse_output(b"\xff\xfe\n").is_err());
    }

    #[test]
    fn credential_lines_give_password_username_and_expiry() {
        let t = parse_output(
            b"protocol=https\nhost=gitlab.example.com\nusername=deployer\npassword=glpat-xyz\npassword_expiry_utc=1900000000\nwwwauth[]=Basic\n",
        )
        .unwrap();
        assert_eq!(t.fingerprint(), fingerprint("glpat-xyz"));
        assert_eq!(t.issued_username(), Some("deployer"));
        assert_eq!(
            t.issued_expiry(),
            Some(UNIX_EPOCH + Duration::from_secs(1_900_000_000))
        );
        let crlf = parse_output(b"password=glpat-xyz\r\nusername=u\r\n").unwrap();
        assert_eq!(crlf.fingerprint(), fingerprint("glpat-xyz"));
        assert_eq!(crlf.issued_username(), Some("u"));
        // Lines after a blank line are not part of the message.
        let t = parse_output(b"password=glpat-xyz\n\nusername=late\n").unwrap();
        assert_eq!(t.issued_username(), None);
        for bad in [
            &b"username=u\n\npassword=glpat-xyz\n"[..],
            b"password=glpat-xyz\ngarbage\n",
            b"password=glpat-xyz\npassword_expiry_utc=soon\n",
            b"password=\n",
            b"password=glpat-xyz\nusername=\n",
        ] {
            assert!(
                parse_output(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn the_expiry_is_the_earliest_the_token_tells() {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let jwt = format!(
            "{}.{}.c2ln",
            b64(r#"{"alg":"RS256"}"#),
            b64(r#"{"exp":1900000000}"#)
        );
        let later =
            parse_output(format!("password={jwt}\npassword_expiry_utc=1900000100\n").as_bytes())
                .unwrap();
        assert_eq!(
            later.own_expiry(),
            Some(UNIX_EPOCH + Duration::from_secs(1_900_000_000))
        );
        let earlier =
            parse_output(format!("password={jwt}\npassword_expiry_utc=1899999999\n").as_bytes())
                .unwrap();
        assert_eq!(
            earlier.own_expiry(),
            Some(UNIX_EPOCH + Duration::from_secs(1_899_999_999))
        );
    }

    #[test]
    fn the_daemon_keeps_a_token_until_shortly_before_it_expires() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let expiring = |secs: u64| {
            parse_output(format!("password=glpat-x\npassword_expiry_utc={secs}\n").as_bytes())
                .unwrap()
        };
        let ttl = Duration::from_secs(300);
        assert_eq!(
            keep_for(&expiring(1_000_000 + 3600), ttl, now),
            Duration::from_secs(3570)
        );
        assert_eq!(
            keep_for(&expiring(1_000_000 + 10), ttl, now),
            Duration::from_secs(5)
        );
        assert_eq!(keep_for(&expiring(999_000), ttl, now), Duration::ZERO);
        assert_eq!(keep_for(&parse_output(b"glpat-x").unwrap(), ttl, now), ttl);
    }

    #[test]
    fn the_stderr_excerpt_is_one_short_line_without_long_words() {
        let e =
            excerpt(b"error: vault said\n  permission denied for hvs.CAESIJ1234567890abcdefghij\n");
        assert_eq!(e, "error: vault said permission denied for <long word>");
        let long = excerpt("word ".repeat(100).as_bytes());
        assert!(long.chars().count() <= EXCERPT_CHARS + 3, "{long}");
        assert!(long.ends_with("..."));
        assert_eq!(excerpt(b"\x1b[31mred\x1b[0m"), "[31mred [0m");
    }

    #[test]
    fn a_handed_over_environment_is_checked() {
        assert!(CommandEnv::from_bytes(b"A=1\0B=\0").is_some());
        assert!(CommandEnv::from_bytes(b"").is_some());
        assert!(CommandEnv::from_bytes(b"A=1").is_none());
        assert!(CommandEnv::from_bytes(b"=1\0").is_none());
        assert!(CommandEnv::from_bytes(b"A\0").is_none());
    }

    #[cfg(unix)]
    #[test]
    fn runs_report_how_the_command_ended() {
        let t = Duration::from_secs(5);
        let ok = run("printf 'glpat-from-sh\\n'", None, t).unwrap();
        assert_eq!(ok.fingerprint(), fingerprint("glpat-from-sh"));
        let CommandError::Failed { failure, stderr } =
            run("echo oops >&2; exit 3", None, t).unwrap_err()
        else {
            panic!()
        };
        assert_eq!(failure, CommandFailure::Exited(3));
        assert_eq!(stderr, "oops");
        let started = Instant::now();
        let CommandError::Failed { failure, .. } =
            run("sleep 30", None, Duration::from_millis(300)).unwrap_err()
        else {
            panic!()
        };
        assert_eq!(
            failure,
            CommandFailure::TimedOut(Duration::from_millis(300))
        );
        assert!(started.elapsed() < Duration::from_secs(3));
        let CommandError::Failed { failure, .. } =
            run("head -c 70000 /dev/zero | tr '\\0' a", None, t).unwrap_err()
        else {
            panic!()
        };
        assert_eq!(failure, CommandFailure::TooMuchOutput);
        // A background process that keeps the pipe open does not hold the answer up.
        let started = Instant::now();
        let ok = run("sleep 30 & echo glpat-early", None, t).unwrap();
        assert_eq!(ok.fingerprint(), fingerprint("glpat-early"));
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[cfg(unix)]
    #[test]
    fn the_daemon_runs_with_the_handed_over_environment_only() {
        let env = Arc::new(CommandEnv::from_bytes(b"MINTED=glpat-from-env\0").unwrap());
        let source = CommandSource::new("printf '%s\\n' \"$MINTED\"".into()).in_daemon(env);
        let t = source.read().unwrap();
        assert_eq!(t.fingerprint(), fingerprint("glpat-from-env"));
        assert_eq!(source.runs(), 1);
        assert_eq!(source.read().unwrap().fingerprint(), t.fingerprint());
        assert_eq!(source.runs(), 1, "a fresh token is served from the cache");
        assert!(source.current().is_ok());
        assert!(!source.forget("00000000"));
        assert!(source.forget(&t.fingerprint()));
        assert_eq!(
            source.current().unwrap_err(),
            CommandError::NotRunYet { runs: 1 }
        );
        source.read().unwrap();
        assert_eq!(source.runs(), 2);
    }

    #[cfg(unix)]
    #[test]
    fn status_and_erase_do_not_wait_for_a_run_in_progress() {
        let env = Arc::new(CommandEnv::from_bytes(b"").unwrap());
        let source = CommandSource::new("sleep 1; echo glpat-slow".into()).in_daemon(env);
        let running = source.clone();
        let run = std::thread::spawn(move || running.read().map(|t| t.fingerprint()));
        let deadline = Instant::now() + Duration::from_secs(5);
        while source.current().err() != Some(CommandError::Running) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let asked = Instant::now();
        assert_eq!(source.current().unwrap_err(), CommandError::Running);
        assert!(!source.forget("00000000"));
        assert!(asked.elapsed() < Duration::from_millis(200));
        let minted = run.join().unwrap().unwrap();
        assert_eq!(source.current().unwrap().fingerprint(), minted);
    }
}
