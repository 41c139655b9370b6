//! The decision: do we answer this request, with which credential, and if not, why not.
//!
//! The decision is a value, not a side effect, so that the helper, `status`, the logs and the
//! tests all see the same reason. Refusing means printing nothing, so git moves on to the next
//! helper or fails; it never means an error git would show.

use std::fmt;

use super::origin::{Origin, OriginError, Scheme};
use super::protocol::{Malformed, Request};
use super::served::Credential;

#[derive(Debug)]
pub enum Decision<'c> {
    Answer(&'c Credential),
    Refuse(Refusal),
}

/// Why we said nothing. Each reason names what was wrong, never a value from the request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum Refusal {
    /// The request could not be read as git writes requests.
    Malformed {
        problem: String,
    },
    MissingProtocol,
    MissingHost,
    /// `protocol=cert`: git asks for a client certificate's passphrase, never ours to give.
    CertificateRequest,
    /// Not http or https (for example ssh, or a proxy protocol we do not serve).
    UnsupportedProtocol,
    /// The host attribute is not a host name, IP literal and port we could ever serve.
    BadHost,
    /// Plain http to a host we serve over https: the token would cross the network in clear.
    InsecureProtocol,
    /// Scheme, host and port match nothing we serve.
    OriginNotServed,
    /// The origin is served, but only under path prefixes this request is not under (or git
    /// did not send a path: that needs `credential.useHttpPath=true`).
    PathNotServed,
    /// git already has a username for this URL and it is not the one we answer with.
    UsernameMismatch,
    /// Nothing is configured at all.
    NothingConfigured,
    /// The credential matched, but none of its sources holds a usable token.
    TokenUnavailable,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Refusal::Malformed { problem } => return write!(f, "malformed request: {problem}"),
            Refusal::MissingProtocol => "the request has no protocol",
            Refusal::MissingHost => "the request has no host",
            Refusal::CertificateRequest => "a client-certificate request is not ours to answer",
            Refusal::UnsupportedProtocol => "only http and https requests are served",
            Refusal::BadHost => "the host is not a valid host name and port",
            Refusal::InsecureProtocol => "plain http to a host served over https",
            Refusal::OriginNotServed => "scheme, host and port match no served origin",
            Refusal::PathNotServed => {
                "the path is outside every served path prefix (is credential.useHttpPath set?)"
            }
            Refusal::UsernameMismatch => "the request's username differs from the served one",
            Refusal::NothingConfigured => "nothing is configured to serve",
            Refusal::TokenUnavailable => "no token source holds a usable token",
        };
        f.write_str(text)
    }
}

impl From<Malformed> for Refusal {
    fn from(m: Malformed) -> Self {
        Refusal::Malformed {
            problem: m.to_string(),
        }
    }
}

/// Chooses the credential that answers `request`, or says why none does.
///
/// Among credentials whose origin matches exactly and whose path scope covers the request,
/// the longest path scope wins, then the earliest (highest layer). A request that names a
/// username only matches credentials with that username.
pub fn decide<'c>(request: &Request, credentials: &'c [Credential]) -> Decision<'c> {
    match choose(request, credentials) {
        Ok(c) => Decision::Answer(c),
        Err(r) => Decision::Refuse(r),
    }
}

fn choose<'c>(request: &Request, credentials: &'c [Credential]) -> Result<&'c Credential, Refusal> {
    let protocol = request
        .protocol
        .as_deref()
        .filter(|p| !p.is_empty())
        .ok_or(Refusal::MissingProtocol)?;
    if protocol == "cert" {
        return Err(Refusal::CertificateRequest);
    }
    let host = request
        .host
        .as_deref()
        .filter(|h| !h.is_empty())
        .ok_or(Refusal::MissingHost)?;
    if credentials.is_empty() {
        return Err(Refusal::NothingConfigured);
    }
    let origin = Origin::from_request(protocol, host).map_err(|e| match e {
        OriginError::Scheme => Refusal::UnsupportedProtocol,
        OriginError::EmptyHost => Refusal::MissingHost,
        _ => Refusal::BadHost,
    })?;

    let same_origin: Vec<&Credential> = credentials
        .iter()
        .filter(|c| c.scope.origin == origin)
        .collect();
    if same_origin.is_empty() {
        let served_over_https = credentials
            .iter()
            .any(|c| c.scope.origin.scheme == Scheme::Https && c.scope.origin.host == origin.host);
        return Err(if origin.scheme == Scheme::Http && served_over_https {
            Refusal::InsecureProtocol
        } else {
            Refusal::OriginNotServed
        });
    }

    let in_scope: Vec<&Credential> = same_origin
        .into_iter()
        .filter(|c| c.scope.covers_path(request.path.as_deref()))
        .collect();
    if in_scope.is_empty() {
        return Err(Refusal::PathNotServed);
    }

    let scope_len = |c: &Credential| c.scope.path.as_ref().map_or(0, |p| p.len() + 1);
    let mut best: Option<&Credential> = None;
    for c in in_scope.iter().copied() {
        if let Some(name) = request.username.as_deref() {
            if name != c.username {
                continue;
            }
        }
        // `>` keeps the earlier (higher-layer) credential on a tie.
        if best.is_none_or(|b| scope_len(c) > scope_len(b)) {
            best = Some(c);
        }
    }
    best.ok_or(Refusal::UsernameMismatch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::{Provenance, Scope};
    use crate::token::TokenSource;

    fn cred(url: &str, username: &str) -> Credential {
        Credential {
            scope: Scope::parse(url).unwrap(),
            username: username.into(),
            sources: vec![TokenSource::Env("T".into())],
            expires: None,
            provenance: Provenance::Flags,
        }
    }

    fn request(text: &str) -> Request {
        Request::parse(text.as_bytes()).unwrap()
    }

    fn outcome(text: &str, creds: &[Credential]) -> Result<String, Refusal> {
        match decide(&request(text), creds) {
            Decision::Answer(c) => Ok(format!("{} as {}", c.scope, c.username)),
            Decision::Refuse(r) => Err(r),
        }
    }

    #[test]
    fn answers_the_exact_origin_only() {
        let creds = [cred("https://gitlab.example.com", "gitlab-ci-token")];
        let yes = Ok("https://gitlab.example.com as gitlab-ci-token".to_owned());
        assert_eq!(
            outcome("protocol=https\nhost=gitlab.example.com\n", &creds),
            yes
        );
        assert_eq!(
            outcome("protocol=https\nhost=GITLAB.example.com:443\n", &creds),
            yes
        );
        assert_eq!(
            outcome("url=https://gitlab.example.com/g/p.git\n", &creds),
            yes
        );
        for (text, why) in [
            (
                "protocol=https\nhost=gitlab.example.com:8443\n",
                Refusal::OriginNotServed,
            ),
            (
                "protocol=https\nhost=gitlab.example.com.attacker.example\n",
                Refusal::OriginNotServed,
            ),
            (
                "protocol=https\nhost=gitlab.example.com.\n",
                Refusal::OriginNotServed,
            ),
            (
                "protocol=https\nhost=attacker-gitlab.example.com\n",
                Refusal::OriginNotServed,
            ),
            (
                "protocol=http\nhost=gitlab.example.com\n",
                Refusal::InsecureProtocol,
            ),
            (
                "protocol=cert\nhost=\npath=/etc/cert.p12\n",
                Refusal::CertificateRequest,
            ),
            ("protocol=https\nhost=\n", Refusal::MissingHost),
            ("protocol=https\n", Refusal::MissingHost),
            ("host=gitlab.example.com\n", Refusal::MissingProtocol),
            (
                "protocol=ssh\nhost=gitlab.example.com\n",
                Refusal::UnsupportedProtocol,
            ),
            (
                "protocol=https\nhost=me@gitlab.example.com\n",
                Refusal::BadHost,
            ),
            (
                "protocol=https\nhost=gitlab.example.com:0\n",
                Refusal::BadHost,
            ),
            // A port and no name is a request without a host.
            ("protocol=https\nhost=:443\n", Refusal::MissingHost),
            // Plain http is "insecure" only for a host served over https; another host's
            // is simply not served.
            (
                "protocol=http\nhost=other.example.com\n",
                Refusal::OriginNotServed,
            ),
        ] {
            assert_eq!(outcome(text, &creds), Err(why), "{text:?}");
        }
    }

    #[test]
    fn a_request_for_another_username_gets_nothing() {
        let creds = [cred("https://h", "gitlab-ci-token")];
        assert_eq!(
            outcome("protocol=https\nhost=h\nusername=alice\n", &creds),
            Err(Refusal::UsernameMismatch)
        );
        assert!(outcome("protocol=https\nhost=h\nusername=gitlab-ci-token\n", &creds).is_ok());
    }

    #[test]
    fn the_longest_path_scope_wins_and_usernames_pick_between_credentials() {
        let creds = [
            cred("https://h", "gitlab-ci-token"),
            cred("https://h/deploy", "deployer"),
            cred("https://h/deploy/deeper", "deepest"),
        ];
        let got = |t: &str| outcome(t, &creds).unwrap();
        assert_eq!(
            got("protocol=https\nhost=h\npath=deploy/p.git\n"),
            "https://h/deploy as deployer"
        );
        assert_eq!(
            got("protocol=https\nhost=h\npath=deploy/deeper/p.git\n"),
            "https://h/deploy/deeper as deepest"
        );
        assert_eq!(
            got("protocol=https\nhost=h\npath=deployment/p.git\n"),
            "https://h as gitlab-ci-token"
        );
        assert_eq!(
            got("protocol=https\nhost=h\n"),
            "https://h as gitlab-ci-token"
        );
        assert_eq!(
            got("protocol=https\nhost=h\npath=deploy/p.git\nusername=gitlab-ci-token\n"),
            "https://h as gitlab-ci-token"
        );
        // A one-letter group is still longer than no path, even after a higher layer's
        // origin-wide credential.
        let creds = [
            cred("https://h", "gitlab-ci-token"),
            cred("https://h/g", "g-bot"),
        ];
        assert_eq!(
            outcome("protocol=https\nhost=h\npath=g/p.git\n", &creds).unwrap(),
            "https://h/g as g-bot"
        );
    }

    #[test]
    fn a_path_scoped_credential_needs_the_path() {
        let creds = [cred("https://h/deploy", "deployer")];
        assert_eq!(
            outcome("protocol=https\nhost=h\n", &creds),
            Err(Refusal::PathNotServed)
        );
        assert_eq!(
            outcome("protocol=https\nhost=h\npath=other/p.git\n", &creds),
            Err(Refusal::PathNotServed)
        );
    }

    #[test]
    fn on_a_tie_the_higher_layer_wins() {
        let creds = [cred("https://h", "first"), cred("https://h", "second")];
        assert_eq!(
            outcome("protocol=https\nhost=h\n", &creds).unwrap(),
            "https://h as first"
        );
    }

    #[test]
    fn a_plain_http_origin_can_be_served_when_configured_so() {
        let creds = [cred("http://h:8080", "u")];
        assert!(outcome("protocol=http\nhost=h:8080\n", &creds).is_ok());
        assert_eq!(
            outcome("protocol=https\nhost=h:8080\n", &creds),
            Err(Refusal::OriginNotServed)
        );
    }

    #[test]
    fn nothing_configured_is_its_own_reason() {
        assert_eq!(
            outcome("protocol=https\nhost=h\n", &[]),
            Err(Refusal::NothingConfigured)
        );
    }
}
