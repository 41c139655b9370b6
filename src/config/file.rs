//! The TOML config file: any number of `[[credential]]` tables.
//!
//! ```toml
//! [[credential]]
//! url = "https://gitlab.example.com/deploy-group"   # origin, optionally a path prefix
//! username = "gitlab+deploy-token-42"                # default: gitlab-ci-token
//! token_file = "/run/secrets/deploy-token"           # a string or a list, tried in order
//! token_env = ["DEPLOY_TOKEN"]                       # likewise; default: CI_JOB_TOKEN
//! expires = "2027-01-31"                             # optional: YYYY-MM-DD or RFC 3339
//! token_command = "/usr/local/bin/mint-token"        # a shell command printing a token
//! token_command_timeout = "10s"                      # its deadline; default 5s
//! token_command_ttl = "10m"                          # daemon cache of a token of no known
//!                                                    # expiry; default 5m
//! ```
//!
//! Sources are tried in this order: `token_env`, `token_file`, then `token_command`.
//!
//! The file is validated by hand instead of through serde so that every message names the
//! key and the expected shape but never echoes a value: a token pasted into the wrong key
//! must not be printed back in an error.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use toml::{Table, Value};

use super::setting::{
    checked_command, checked_username, parse_scope, parse_setting_duration, ConfigError,
    DEFAULT_TOKEN_ENV, DEFAULT_USERNAME,
};
use crate::credential::{Credential, Provenance};
use crate::token::{CommandSource, TokenSource};

const CREDENTIAL_KEYS: [&str; 8] = [
    "url",
    "username",
    "token_env",
    "token_file",
    "token_command",
    "token_command_timeout",
    "token_command_ttl",
    "expires",
];

/// The largest config file we read; anything bigger is surely not ours.
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;

/// Reads a config file: `None` if there is none. Opened non-blocking and checked to be a
/// regular file, so a FIFO cannot hang git, and read only up to the size cap.
pub fn read(path: &Path) -> Result<Option<String>, ConfigError> {
    use std::io::Read;
    let fail = |problem: String| ConfigError::File {
        path: path.to_path_buf(),
        problem,
    };
    let file = match crate::hardening::open_nonblocking(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fail(format!("cannot be read: {}", e.kind()))),
    };
    let meta = file
        .metadata()
        .map_err(|e| fail(format!("cannot be read: {}", e.kind())))?;
    if !meta.is_file() {
        return Err(fail("is not a regular file".into()));
    }
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES as u64 + 1)
        .read_to_string(&mut text)
        .map_err(|e| fail(format!("cannot be read as UTF-8 text: {}", e.kind())))?;
    Ok(Some(text))
}

pub fn parse(text: &str, path: &Path) -> Result<Vec<Credential>, ConfigError> {
    let fail = |problem: String| ConfigError::File {
        path: path.to_path_buf(),
        problem,
    };
    if text.len() > MAX_CONFIG_BYTES {
        return Err(fail(format!("larger than {MAX_CONFIG_BYTES} bytes")));
    }
    let table: Table = text.parse().map_err(|e: toml::de::Error| {
        let position = e
            .span()
            .map(|span| line_and_column(text, span.start))
            .map(|(line, col)| format!(" at line {line}, column {col}"))
            .unwrap_or_default();
        fail(format!("not valid TOML{position}"))
    })?;

    let mut credentials = Vec::new();
    for (key, value) in &table {
        match (key.as_str(), value) {
            ("credential", Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let Value::Table(t) = item else {
                        return Err(fail(format!(
                            "credential #{}: must be a table ([[credential]])",
                            i + 1
                        )));
                    };
                    credentials.push(credential(t, i + 1, path).map_err(fail)?);
                }
            }
            ("credential", _) => {
                return Err(fail(
                    "`credential` must be written as [[credential]] tables".into(),
                ))
            }
            (other, _) => {
                return Err(fail(format!(
                    "unknown key `{}`; expected [[credential]] tables",
                    printable_key(other)
                )))
            }
        }
    }
    Ok(credentials)
}

fn credential(t: &Table, number: usize, path: &Path) -> Result<Credential, String> {
    let at = |key: &str| format!("credential #{number}, `{key}`");
    for key in t.keys() {
        if matches!(key.as_str(), "token" | "password" | "secret") {
            return Err(format!(
                "credential #{number}: `{key}` is not allowed: a config file must never hold a token; use token_env or token_file"
            ));
        }
        if !CREDENTIAL_KEYS.contains(&key.as_str()) {
            return Err(format!(
                "credential #{number}: unknown key `{}`; expected one of {}",
                printable_key(key),
                CREDENTIAL_KEYS.join(", ")
            ));
        }
    }
    let url = match t.get("url") {
        Some(Value::String(url)) => url,
        Some(_) => return Err(format!("{}: must be a string", at("url"))),
        None => return Err(format!("credential #{number}: `url` is required")),
    };
    let scope = parse_scope(url, &at("url")).map_err(|e| e.to_string())?;
    let username = match t.get("username") {
        Some(Value::String(name)) => {
            checked_username(name, &at("username")).map_err(|e| e.to_string())?
        }
        Some(_) => return Err(format!("{}: must be a string", at("username"))),
        None => DEFAULT_USERNAME.to_owned(),
    };
    let mut sources = Vec::new();
    for name in strings(t, "token_env")
        .map_err(|()| format!("{}: must be a string or a list of strings", at("token_env")))?
    {
        if name.is_empty() || name.contains('=') || name.contains('\0') {
            return Err(format!("{}: not a valid variable name", at("token_env")));
        }
        sources.push(TokenSource::Env(name));
    }
    for file in strings(t, "token_file").map_err(|()| {
        format!(
            "{}: must be a string or a list of strings",
            at("token_file")
        )
    })? {
        if file.is_empty() {
            return Err(format!("{}: empty path", at("token_file")));
        }
        sources.push(TokenSource::File(PathBuf::from(file)));
    }
    let duration = |key: &str| match t.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => parse_setting_duration(s, &at(key))
            .map(Some)
            .map_err(|e| e.to_string()),
        Some(_) => Err(format!("{}: must be a duration such as \"10s\"", at(key))),
    };
    let timeout = duration("token_command_timeout")?;
    let ttl = duration("token_command_ttl")?;
    match t.get("token_command") {
        None if timeout.is_some() || ttl.is_some() => {
            return Err(format!(
                "credential #{number}: token_command_timeout and token_command_ttl need a token_command"
            ))
        }
        None => {}
        Some(Value::String(command)) => {
            let mut source = CommandSource::new(
                checked_command(command, &at("token_command")).map_err(|e| e.to_string())?,
            );
            if let Some(t) = timeout {
                if t.is_zero() {
                    return Err(format!(
                        "{}: the deadline must be longer than zero",
                        at("token_command_timeout")
                    ));
                }
                source.timeout = t;
            }
            if let Some(t) = ttl {
                source.ttl = t;
            }
            sources.push(TokenSource::Command(source));
        }
        Some(_) => return Err(format!("{}: must be a string", at("token_command"))),
    }
    if sources.is_empty() {
        sources.push(TokenSource::Env(DEFAULT_TOKEN_ENV.to_owned()));
    }
    let expires = match t.get("expires") {
        None => None,
        Some(Value::String(s)) => Some(parse_expiry(s).ok_or_else(|| {
            format!(
                "{}: use YYYY-MM-DD or an RFC 3339 time such as 2027-01-31T12:00:00Z",
                at("expires")
            )
        })?),
        Some(Value::Datetime(d)) => Some(parse_expiry(&d.to_string()).ok_or_else(|| {
            format!(
                "{}: needs a date, or a date and time with offset",
                at("expires")
            )
        })?),
        Some(_) => return Err(format!("{}: must be a date", at("expires"))),
    };
    Ok(Credential {
        scope,
        username,
        sources,
        expires,
        provenance: Provenance::File(path.to_path_buf()),
    })
}

fn strings(t: &Table, key: &str) -> Result<Vec<String>, ()> {
    match t.get(key) {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or(()))
            .collect(),
        Some(_) => Err(()),
    }
}

/// `YYYY-MM-DD` (midnight UTC) or RFC 3339 with `Z` or a `+HH:MM`/`-HH:MM` offset.
pub fn parse_expiry(s: &str) -> Option<SystemTime> {
    if s.len() == 10 {
        return humantime::parse_rfc3339(&format!("{s}T00:00:00Z")).ok();
    }
    if s.ends_with(['Z', 'z']) {
        return humantime::parse_rfc3339_weak(s).ok();
    }
    // humantime takes only `Z`, so apply a numeric offset here: 12:00+02:00 is 10:00 UTC.
    let i = s.rfind(['+', '-']).filter(|&i| i > 10)?;
    let (local, offset) = (&s[..i], &s[i + 1..]);
    let (hh, mm) = offset.split_once(':')?;
    let (hh, mm) = (hh.parse::<u64>().ok()?, mm.parse::<u64>().ok()?);
    if hh > 23 || mm > 59 {
        return None;
    }
    let local = humantime::parse_rfc3339_weak(&format!("{local}Z")).ok()?;
    let delta = std::time::Duration::from_secs(hh * 3600 + mm * 60);
    if s.as_bytes()[i] == b'+' {
        local.checked_sub(delta)
    } else {
        local.checked_add(delta)
    }
}

/// A key is shown only if it looks like a key; anything else might be a pasted secret.
fn printable_key(key: &str) -> &str {
    let looks_like_key = key.len() <= 32
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if looks_like_key {
        key
    } else {
        "<not shown>"
    }
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn parse_ok(text: &str) -> Vec<Credential> {
        parse(text, Path::new("/etc/x.toml")).expect("valid config")
    }

    fn parse_err(text: &str) -> String {
        parse(text, Path::new("/etc/x.toml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn several_credentials_with_their_own_usernames_and_sources() {
        let creds = parse_ok(
            r#"
            [[credential]]
            url = "https://gitlab.example.com/deploy-group"
            username = "gitlab+deploy-token-42"
            token_file = "/run/secrets/deploy"
            expires = "2027-01-31"

            [[credential]]
            url = "https://other.example:8443"
            token_env = ["PAT_A", "PAT_B"]
            token_file = ["/a", "/b"]
            "#,
        );
        assert_eq!(creds.len(), 2);
        assert_eq!(creds[0].username, "gitlab+deploy-token-42");
        assert_eq!(creds[0].scope.path.as_deref(), Some("deploy-group"));
        assert_eq!(
            creds[0].expires,
            Some(UNIX_EPOCH + Duration::from_secs(1_801_353_600))
        );
        assert_eq!(creds[1].username, "gitlab-ci-token");
        assert_eq!(creds[1].sources.len(), 4);
    }

    #[test]
    fn a_token_command_comes_after_the_other_sources_with_its_deadline_and_ttl() {
        let c = parse_ok(
            r#"
            [[credential]]
            url = "https://gitlab.example.com"
            token_env = "A"
            token_command = "/usr/local/bin/mint --aud gitlab"
            token_command_timeout = "2s"
            token_command_ttl = "90s"
            "#,
        );
        assert_eq!(c[0].sources[0], TokenSource::Env("A".into()));
        let TokenSource::Command(command) = &c[0].sources[1] else {
            panic!("{:?}", c[0].sources)
        };
        assert_eq!(command.command, "/usr/local/bin/mint --aud gitlab");
        assert_eq!(command.timeout, std::time::Duration::from_secs(2));
        assert_eq!(command.ttl, std::time::Duration::from_secs(90));
        let only = parse_ok("[[credential]]\nurl = \"https://h\"\ntoken_command = \"mint\"\n");
        assert_eq!(
            only[0].sources.len(),
            1,
            "no default CI_JOB_TOKEN beside a command"
        );
        for (bad, says) in [
            ("token_command = \"./mint\"", "relative path"),
            ("token_command = \"scripts/mint x\"", "relative path"),
            ("token_command = \"  \"", "empty"),
            ("token_command = [\"a\"]", "must be a string"),
            (
                "token_command = \"m\"\ntoken_command_timeout = \"soon\"",
                "token_command_timeout",
            ),
            (
                "token_command = \"m\"\ntoken_command_timeout = \"0s\"",
                "longer than zero",
            ),
            ("token_command_ttl = \"5m\"", "need a token_command"),
        ] {
            let e = parse_err(&format!("[[credential]]\nurl = \"https://h\"\n{bad}\n"));
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn expiry_accepts_offsets() {
        let z = parse_expiry("2027-01-31T12:00:00Z").unwrap();
        assert_eq!(parse_expiry("2027-01-31T14:00:00+02:00"), Some(z));
        assert_eq!(parse_expiry("2027-01-31T10:00:00-02:00"), Some(z));
        assert_eq!(parse_expiry("tomorrow"), None);
    }

    #[test]
    fn errors_name_the_key_and_never_echo_a_value() {
        let secret = "glpat-Zq9Xw7VvSecret";
        for text in [
            format!("token = \"{secret}\""),
            format!("[[credential]]\nurl = \"https://h\"\ntoken = \"{secret}\""),
            format!("[[credential]]\nurl = \"https://h\"\ntoken_env = {{ x = \"{secret}\" }}"),
            format!("[[credential]]\nurl = \"https://x:{secret}@h\""),
            format!("[[credential]]\nurl = {secret}"),
            format!("{secret} = 1"),
            format!("[[credential]]\nurl = \"https://h\"\nusername = \"a\\nb\"\n{secret}=1"),
        ] {
            let err = parse_err(&text);
            assert!(!err.contains("Zq9X"), "{err}");
            assert!(err.starts_with("config file /etc/x.toml: "), "{err}");
        }
        assert!(
            parse_err("[[credential]]\nurl = \"https://h\"\ntoken = \"x\"")
                .contains("must never hold a token")
        );
        assert!(parse_err("[[credential]]\nusername = \"u\"").contains("`url` is required"));
        assert!(parse_err("[[credential]]\nurl = 3").contains("must be a string"));
        assert!(
            parse_err("[[credential]]\nurl = \"h\"\n[[credential]]\nurl = \"https://h\"")
                .contains("credential #1, `url`")
        );
        assert!(parse_err("x = [").contains("not valid TOML at line 1"));
    }
}
