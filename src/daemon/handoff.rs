//! Handing the configuration and tokens from the starting process to the daemon proper.
//!
//! `daemon` reads every token from the environment once, then re-executes itself with an
//! almost empty environment and passes what it read through a pipe. The running daemon thus
//! has no token (nor `CI_REPOSITORY_URL`, which embeds one) in `/proc/<pid>/environ`, and the
//! job can drop its variables.
//!
//! Layout: `u32` length + JSON (settings and credentials, no secrets), then `u32` count and,
//! per held token, `u32` length + bytes, then `u32` length + the environment token commands
//! run with (`NAME=VALUE\0` entries; empty when no credential has a command). Lengths are
//! big-endian. Secrets only ever sit in buffers that are sized before they are filled and
//! zeroed when dropped.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::credential::Scope;
use crate::credential::{Credential, Provenance};
use crate::token::{CommandEnv, CommandSource, Token};
use crate::token::{HeldToken, TokenSource};

/// Far more than any real configuration; a bound on what the daemon will read.
pub const MAX_HANDOFF_BYTES: usize = 4 * 1024 * 1024;

/// The daemon's settings, decided by the process that started it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub socket: PathBuf,
    pub idle_timeout: Option<Duration>,
    pub ttl: Option<Duration>,
    pub log_json: bool,
    pub log_file: Option<PathBuf>,
    /// The job the daemon serves, from the starting process's environment.
    #[serde(default)]
    pub job: crate::ipc::JobIdentity,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    settings: Settings,
    credentials: Vec<WireCredential>,
}

#[derive(Serialize, Deserialize)]
struct WireCredential {
    url: String,
    username: String,
    sources: Vec<WireSource>,
    expires: Option<u64>,
    provenance: WireProvenance,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum WireSource {
    /// Index into the token table, or none if the variable was not set.
    Held {
        variable: String,
        token: Option<usize>,
    },
    File {
        path: PathBuf,
    },
    /// Run with the environment handed over after the tokens.
    Command {
        command: String,
        timeout_ms: u64,
        ttl_ms: u64,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum WireProvenance {
    Flags,
    Environment,
    File(PathBuf),
    GitLabJob,
}

#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    #[error("the daemon's start-up data is malformed")]
    Malformed,
    #[error("the daemon's start-up data is larger than {MAX_HANDOFF_BYTES} bytes")]
    TooLarge,
}

/// Serialises settings and credentials; environment sources must already be held.
// Only Unix re-executes the daemon and hands its settings over.
#[cfg_attr(not(unix), allow(dead_code))]
pub fn encode(settings: &Settings, credentials: &[Credential]) -> Zeroizing<Vec<u8>> {
    let mut tokens: Vec<Arc<Token>> = Vec::new();
    // Every command of a daemon runs with the one environment `daemon` was started with.
    let env = credentials
        .iter()
        .flat_map(|c| &c.sources)
        .find_map(|s| match s {
            TokenSource::Command(c) => c.env().cloned(),
            _ => None,
        });
    let env_bytes: &[u8] = env.as_ref().map_or(&[], |e| e.as_bytes());
    let wire = Wire {
        settings: settings.clone(),
        credentials: credentials
            .iter()
            .map(|c| WireCredential {
                url: c.scope.to_string(),
                username: c.username.clone(),
                sources: c
                    .sources
                    .iter()
                    .filter_map(|s| match s {
                        TokenSource::Held(h) => Some(WireSource::Held {
                            variable: h.variable.clone(),
                            token: h.token.as_ref().map(|t| {
                                tokens.push(Arc::clone(t));
                                tokens.len() - 1
                            }),
                        }),
                        TokenSource::File(path) => Some(WireSource::File { path: path.clone() }),
                        TokenSource::Command(c) => Some(WireSource::Command {
                            command: c.command.clone(),
                            timeout_ms: c.timeout.as_millis() as u64,
                            ttl_ms: c.ttl.as_millis() as u64,
                        }),
                        // Callers hold every environment source first; an unheld one would
                        // have nothing to read in the daemon's empty environment.
                        TokenSource::Env(_) => None,
                    })
                    .collect(),
                expires: c
                    .expires
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map(|d| d.as_secs()),
                provenance: match &c.provenance {
                    Provenance::Flags => WireProvenance::Flags,
                    Provenance::Environment => WireProvenance::Environment,
                    Provenance::File(p) => WireProvenance::File(p.clone()),
                    Provenance::GitLabJob => WireProvenance::GitLabJob,
                },
            })
            .collect(),
    };
    let json = serde_json::to_vec(&wire).expect("plain data serialises");
    let secrets: usize = tokens
        .iter()
        .map(|t| 4 + t.secret().expose_secret().len())
        .sum();
    let mut out = Zeroizing::new(Vec::with_capacity(
        12 + json.len() + secrets + env_bytes.len(),
    ));
    out.extend_from_slice(&(json.len() as u32).to_be_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&(tokens.len() as u32).to_be_bytes());
    for t in &tokens {
        let bytes = t.secret().expose_secret().as_bytes();
        out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    out.extend_from_slice(&(env_bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(env_bytes);
    out
}

/// The inverse of [`encode`].
pub fn decode(buf: &[u8]) -> Result<(Settings, Vec<Credential>), HandoffError> {
    if buf.len() > MAX_HANDOFF_BYTES {
        return Err(HandoffError::TooLarge);
    }
    let mut rest = buf;
    let json = take(&mut rest)?;
    let wire: Wire = serde_json::from_slice(json).map_err(|_| HandoffError::Malformed)?;
    let count = u32_at(&mut rest)? as usize;
    let mut tokens = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let bytes = take(&mut rest)?;
        let text = std::str::from_utf8(bytes).map_err(|_| HandoffError::Malformed)?;
        tokens.push(Arc::new(
            Token::new(text.to_owned()).map_err(|_| HandoffError::Malformed)?,
        ));
    }
    let env = Arc::new(CommandEnv::from_bytes(take(&mut rest)?).ok_or(HandoffError::Malformed)?);
    if !rest.is_empty() {
        return Err(HandoffError::Malformed);
    }
    let credentials = wire
        .credentials
        .into_iter()
        .map(|c| {
            let sources = c
                .sources
                .into_iter()
                .map(|s| match s {
                    WireSource::Held { variable, token } => Ok(TokenSource::Held(HeldToken {
                        variable,
                        token: match token {
                            Some(i) => Some(tokens.get(i).cloned().ok_or(HandoffError::Malformed)?),
                            None => None,
                        },
                    })),
                    WireSource::File { path } => Ok(TokenSource::File(path)),
                    WireSource::Command {
                        command,
                        timeout_ms,
                        ttl_ms,
                    } => {
                        let mut source = CommandSource::new(command);
                        source.timeout = Duration::from_millis(timeout_ms);
                        source.ttl = Duration::from_millis(ttl_ms);
                        Ok(TokenSource::Command(source.in_daemon(Arc::clone(&env))))
                    }
                })
                .collect::<Result<_, _>>()?;
            Ok(Credential {
                scope: Scope::parse(&c.url).map_err(|_| HandoffError::Malformed)?,
                username: c.username,
                sources,
                expires: c
                    .expires
                    .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s)),
                provenance: match c.provenance {
                    WireProvenance::Flags => Provenance::Flags,
                    WireProvenance::Environment => Provenance::Environment,
                    WireProvenance::File(p) => Provenance::File(p),
                    WireProvenance::GitLabJob => Provenance::GitLabJob,
                },
            })
        })
        .collect::<Result<_, HandoffError>>()?;
    Ok((wire.settings, credentials))
}

fn u32_at(rest: &mut &[u8]) -> Result<u32, HandoffError> {
    let (head, tail) = rest
        .split_first_chunk::<4>()
        .ok_or(HandoffError::Malformed)?;
    *rest = tail;
    Ok(u32::from_be_bytes(*head))
}

fn take<'a>(rest: &mut &'a [u8]) -> Result<&'a [u8], HandoffError> {
    let len = u32_at(rest)? as usize;
    if len > rest.len() {
        return Err(HandoffError::Malformed);
    }
    let (head, tail) = rest.split_at(len);
    *rest = tail;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_held_tokens_survive_the_handoff() {
        let token = Arc::new(Token::new("glpat-handoff".into()).unwrap());
        let creds = vec![Credential {
            scope: Scope::parse("https://h:8443/g").unwrap(),
            username: "u".into(),
            sources: vec![
                TokenSource::Held(HeldToken {
                    variable: "A".into(),
                    token: Some(token.clone()),
                }),
                TokenSource::Held(HeldToken {
                    variable: "B".into(),
                    token: None,
                }),
                TokenSource::File("/run/t".into()),
                TokenSource::Command(CommandSource::new("mint --aud gitlab".into()).in_daemon(
                    Arc::new(CommandEnv::from_bytes(b"VAULT_ADDR=https://v\0").unwrap()),
                )),
            ],
            expires: Some(UNIX_EPOCH + Duration::from_secs(7)),
            provenance: Provenance::File("/etc/x".into()),
        }];
        let settings = Settings {
            socket: "/run/s".into(),
            idle_timeout: Some(Duration::from_secs(60)),
            ttl: None,
            log_json: true,
            log_file: None,
            job: crate::ipc::JobIdentity {
                job_id: Some("42".into()),
                server_url: Some("https://h:8443".into()),
                project_id: None,
            },
        };
        let bytes = encode(&settings, &creds);
        let (s, c) = decode(&bytes).unwrap();
        assert_eq!(s.socket, settings.socket);
        assert_eq!(s.job, settings.job);
        assert_eq!(c[0].scope, creds[0].scope);
        assert_eq!(c[0].expires, creds[0].expires);
        assert_eq!(c[0].provenance, creds[0].provenance);
        let TokenSource::Held(h) = &c[0].sources[0] else {
            panic!()
        };
        assert_eq!(h.token.as_ref().unwrap().fingerprint(), token.fingerprint());
        assert_eq!(c[0].sources[2], TokenSource::File("/run/t".into()));
        let TokenSource::Command(command) = &c[0].sources[3] else {
            panic!()
        };
        assert_eq!(command.command, "mint --aud gitlab");
        assert_eq!(command.timeout, Duration::from_secs(5));
        assert_eq!(command.env().unwrap().as_bytes(), b"VAULT_ADDR=https://v\0");
        for cut in 0..bytes.len() {
            assert!(
                decode(&bytes[..cut]).is_err(),
                "a truncated handoff at {cut} decodes"
            );
        }
    }
}
