//! GitLab's API, asked by `status --online` who a token is: an access token's name, scopes,
//! expiry and state (`GET /api/v4/personal_access_tokens/self`, which answers for personal,
//! project and group access tokens), or the job a job token belongs to (`GET /api/v4/job`).
//!
//! Only `status --online` comes here; `get` never links this path in. The client trusts
//! what git trusts for the URL: `GIT_SSL_CAINFO`, else `http.sslCAInfo` as git matches it
//! for the URL, else the system's CA bundle; and git's `http.proxy` for the URL, else the
//! proxy variables curl reads. The token goes only into the request's header.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::ExposeSecret;
use serde::Deserialize;

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

/// Asks `api` (`https://host[:port]/api/v4`) who `token` is.
pub fn identify(api: &str, token: &Token, transport: &Transport) -> Identity {
    let (path, header) = match token.kind() {
        TokenKind::JobToken => ("/job", "JOB-TOKEN"),
        TokenKind::AccessToken | TokenKind::Unknown => {
            ("/personal_access_tokens/self", "PRIVATE-TOKEN")
        }
        TokenKind::DeployToken => return Identity::NotAsked,
    };
    let agent = match agent(transport) {
        Ok(a) => a,
        Err(e) => return Identity::Failed(e),
    };
    let url = format!("{}{path}", api.trim_end_matches('/'));
    let reply = agent
        .get(&url)
        .header(header, token.secret().expose_secret())
        .call();
    let mut reply = match reply {
        Ok(r) => r,
        // The error names the URL and the cause, never a header.
        Err(e) => return Identity::Failed(e.to_string()),
    };
    let status = reply.status().as_u16();
    if status != 200 {
        return Identity::Refused(status);
    }
    let body = match reply.body_mut().read_to_string() {
        Ok(b) => b,
        Err(e) => return Identity::Failed(e.to_string()),
    };
    if token.kind() == TokenKind::JobToken {
        match serde_json::from_str::<Job>(&body) {
            Ok(j) => Identity::Job {
                id: j.id,
                name: j.name,
                project_id: j.pipeline.and_then(|p| p.project_id),
            },
            Err(e) => Identity::Failed(format!("cannot read the answer: {e}")),
        }
    } else {
        match serde_json::from_str::<AccessTokenSelf>(&body) {
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

fn agent(transport: &Transport) -> Result<ureq::Agent, String> {
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(file) = &transport.ca_file {
        let pem = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err(format!("{}: no CA certificate in it", file.display()));
        }
        tls = tls.root_certs(ureq::tls::RootCerts::from(certs));
    }
    let proxy = match &transport.proxy {
        Some(p) => Some(ureq::Proxy::new(p).map_err(|e| format!("proxy {p}: {e}"))?),
        None => ureq::Proxy::try_from_env(),
    };
    let config = ureq::Agent::config_builder()
        .tls_config(tls.build())
        .proxy(proxy)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build();
    Ok(config.into())
}
