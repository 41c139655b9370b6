//! GitLab's API, asked by `status --online` who a token is: an access token's name, scopes,
//! expiry and state (`GET /api/v4/personal_access_tokens/self`, which answers for personal,
//! project and group access tokens), or the job a job token belongs to (`GET /api/v4/job`).
//!
//! Only `status --online` comes here; `get` never does. The request trusts what git trusts
//! for the URL: `GIT_SSL_CAINFO`, else `http.sslCAInfo` as git matches it for the URL, else
//! curl's own CA bundle; and git's `http.proxy` for the URL, else the proxy variables curl
//! reads, as git's libcurl does. The token goes only into the request's header.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use secrecy::ExposeSecret;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::token::{Token, TokenKind};

/// What GitLab's API said about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    AccessToken {
        name: String,
        scopes: Vec<String>,
        /// `YYYY-MM-DD`, as GitLab gives it.
        expires_at: Option<String>,
        active: bool,
        revoked: bool,
    },
    Job {
        id: u64,
        name: String,
        project_id: Option<u64>,
    },
    /// The API answered with this status: 401 for a token it does not know (or of a kind the
    /// endpoint does not answer for).
    Refused(u16),
    /// No answer: the error, in words that hold no secret.
    Failed(String),
    /// `curl`, which makes the request, is not installed.
    NoCurl,
    /// No endpoint tells about this kind of token (a deploy token).
    NotAsked,
}

#[derive(Deserialize)]
struct AccessTokenSelf {
    name: String,
    #[serde(default)]
    scopes: Vec<String>,
    expires_at: Option<String>,
    #[serde(default)]
    active: bool,
    #[serde(default)]
    revoked: bool,
}

#[derive(Deserialize)]
struct Job {
    id: u64,
    #[serde(default)]
    name: String,
    pipeline: Option<Pipeline>,
}

#[derive(Deserialize)]
struct Pipeline {
    project_id: Option<u64>,
}

/// Where git's trust and proxy settings for the API's URL lead.
#[derive(Debug, Clone, Default)]
pub struct Transport {
    /// A PEM file of CA certificates; `None` for the built-in roots.
    pub ca_file: Option<PathBuf>,
    pub proxy: Option<String>,
}

/// The longest answer read from the API; the ones asked for are well under 4 KiB.
const MAX_ANSWER: usize = 64 * 1024;

/// Asks `api` (`https://host[:port]/api/v4`) who `token` is, within `deadline`.
///
/// The request is made by `curl`, the program around the library git itself makes its
/// HTTP requests with: the answer is what git's own connection would get, through the same
/// proxy variables, and no TLS stack is linked into this binary. Everything curl is told,
/// the token's header included, goes to it as a config file on its stdin (`--config -`),
/// never in its argv, which every local user can read. `-q` keeps a `~/.curlrc` out of it;
/// curl follows no redirect, so the header goes to this URL only.
pub fn identify(api: &str, token: &Token, transport: &Transport, deadline: Duration) -> Identity {
    let (path, header) = match token.kind() {
        TokenKind::JobToken => ("/job", "JOB-TOKEN"),
        TokenKind::AccessToken | TokenKind::Unknown => {
            ("/personal_access_tokens/self", "PRIVATE-TOKEN")
        }
        TokenKind::DeployToken => return Identity::NotAsked,
    };
    let url = format!("{}{path}", api.trim_end_matches('/'));
    let config = curl_config(&url, header, token, transport);
    let mut cmd = Command::new("curl");
    cmd.args(["-q", "--config", "-"]);
    let run = match crate::git::run_bounded(&mut cmd, &config, deadline) {
        Ok(run) => run,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Identity::NoCurl;
        }
        Err(e) => return Identity::Failed(format!("cannot run curl: {e}")),
    };
    match run.status {
        None => return Identity::Failed(format!("no answer within {}s", deadline.as_secs())),
        Some(s) if !s.success() => {
            // curl's own words: they name the host and the cause, never a header.
            let why = run.stderr.lines().last().unwrap_or("").trim();
            return Identity::Failed(if why.is_empty() {
                format!("curl exited with {s}")
            } else {
                why.trim_start_matches("curl: ").to_owned()
            });
        }
        Some(_) => {}
    }
    let (body, status) = match split_status(&run.stdout) {
        Some(parts) => parts,
        None => return Identity::Failed("curl gave no HTTP status".to_owned()),
    };
    if status != 200 {
        return Identity::Refused(status);
    }
    parse(token.kind(), body)
}

/// curl's config for the request. It holds the token, so it lives in zeroized memory.
fn curl_config(
    url: &str,
    header: &str,
    token: &Token,
    transport: &Transport,
) -> Zeroizing<Vec<u8>> {
    let secret = token.secret().expose_secret().as_bytes();
    let mut config = Zeroizing::new(Vec::with_capacity(1024 + secret.len()));
    // Flags first, then `key = "value"` lines with the value quoted as curl reads it.
    config.extend_from_slice(b"silent\nshow-error\n");
    let mut header_line = Zeroizing::new(Vec::with_capacity(header.len() + 2 + secret.len()));
    header_line.extend_from_slice(header.as_bytes());
    header_line.extend_from_slice(b": ");
    header_line.extend_from_slice(secret);
    let max = MAX_ANSWER.to_string();
    let mut lines: Vec<(&str, &[u8])> = vec![
        ("url", url.as_bytes()),
        ("header", &header_line),
        ("max-filesize", max.as_bytes()),
        // The status code on a line of its own after the body.
        ("write-out", b"\\n%{http_code}"),
    ];
    if let Some(ca) = &transport.ca_file {
        lines.push(("cacert", ca.as_os_str().as_encoded_bytes()));
    }
    if let Some(proxy) = &transport.proxy {
        lines.push(("proxy", proxy.as_bytes()));
    }
    for (key, value) in lines {
        config.extend_from_slice(key.as_bytes());
        config.extend_from_slice(b" = \"");
        for &b in value {
            // Inside quotes curl reads `\\` and `\"` as escapes; nothing else here needs one
            // (a token, a URL and a path carry no control characters by the time they get here).
            if b == b'\\' || b == b'"' {
                config.push(b'\\');
            }
            config.push(b);
        }
        config.extend_from_slice(b"\"\n");
    }
    config
}

/// The body and the HTTP status curl wrote after it with `--write-out`.
fn split_status(out: &[u8]) -> Option<(&[u8], u16)> {
    let at = out.iter().rposition(|&b| b == b'\n')?;
    let status = std::str::from_utf8(&out[at + 1..])
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some((&out[..at], status))
}

/// GitLab's answer, read for the fields the report uses.
fn parse(kind: TokenKind, body: &[u8]) -> Identity {
    if kind == TokenKind::JobToken {
        match serde_json::from_slice::<Job>(body) {
            Ok(j) => Identity::Job {
                id: j.id,
                name: j.name,
                project_id: j.pipeline.and_then(|p| p.project_id),
            },
            Err(e) => Identity::Failed(format!("cannot read the answer: {e}")),
        }
    } else {
        match serde_json::from_slice::<AccessTokenSelf>(body) {
            Ok(t) => Identity::AccessToken {
                name: t.name,
                scopes: t.scopes,
                expires_at: t.expires_at,
                active: t.active,
                revoked: t.revoked,
            },
            Err(e) => Identity::Failed(format!("cannot read the answer: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_is_split_from_the_body() {
        assert_eq!(split_status(b"{}\n200"), Some((&b"{}"[..], 200)));
        assert_eq!(
            split_status(b"{\"a\":\n1}\n401"),
            Some((&b"{\"a\":\n1}"[..], 401))
        );
        assert_eq!(split_status(b"no status"), None);
        assert_eq!(split_status(b"body\nnot-a-number"), None);
    }

    #[test]
    fn curl_config_quotes_what_curl_would_read_as_an_escape() {
        let token = Token::new("glpat-ab\"c\\d".to_owned()).unwrap();
        let transport = Transport {
            ca_file: Some(PathBuf::from("/tmp/we\"ird.pem")),
            proxy: None,
        };
        let config = curl_config("https://h/api/v4/job", "JOB-TOKEN", &token, &transport);
        let text = std::str::from_utf8(&config).unwrap();
        assert!(
            text.contains("header = \"JOB-TOKEN: glpat-ab\\\"c\\\\d\"\n"),
            "{text}"
        );
        assert!(text.contains("cacert = \"/tmp/we\\\"ird.pem\"\n"), "{text}");
        assert!(text.starts_with("silent\nshow-error\n"), "{text}");
    }
}
