//! Origins (scheme, host, port) and the path scopes we serve within them.
//!
//! An origin is compared exactly after the normalisation a browser or curl would do, and no
//! more: the scheme and an ASCII host are case-insensitive and a default port equals no port.
//! Everything else that looks alike is different on purpose: a trailing dot, a suffix or
//! prefix of the host, Unicode case folding (U+212A KELVIN SIGN lowercases to `k`),
//! percent-escapes and userinfo never match.

use std::fmt;

/// The two schemes git asks credential helpers about for HTTP remotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn parse(s: &str) -> Option<Scheme> {
        if s.eq_ignore_ascii_case("https") {
            Some(Scheme::Https)
        } else if s.eq_ignore_ascii_case("http") {
            Some(Scheme::Http)
        } else {
            None
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// scheme://host:port, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: Scheme,
    /// Lowercase ASCII; an IPv6 literal keeps its brackets.
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.host)?;
        if self.port != self.scheme.default_port() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

impl serde::Serialize for Origin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Why a URL or a request's host cannot name an origin. Messages name the part, not the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    #[error("the URL must start with https:// or http://")]
    Scheme,
    #[error("the URL has no host")]
    EmptyHost,
    #[error("the host is not a valid DNS name or IP address (use punycode for Unicode names)")]
    BadHost,
    #[error("the port must be a number from 1 to 65535")]
    BadPort,
    #[error("the URL must not contain a user name or password; tokens come from --token-env or --token-file")]
    Userinfo,
    #[error("the URL must not contain a query or fragment")]
    QueryOrFragment,
    #[error("the path must not contain '.', '..', empty segments or percent-escapes")]
    BadPath,
}

impl Origin {
    /// Builds an origin from the `protocol` and `host` attributes git sent.
    pub fn from_request(protocol: &str, host: &str) -> Result<Origin, OriginError> {
        let scheme = Scheme::parse(protocol).ok_or(OriginError::Scheme)?;
        Origin::from_parts(scheme, host)
    }

    /// `host` is `name`, `name:port`, `[v6]` or `[v6]:port`, as git writes it.
    pub fn from_parts(scheme: Scheme, host: &str) -> Result<Origin, OriginError> {
        if host.is_empty() {
            return Err(OriginError::EmptyHost);
        }
        let (name, port) = split_host_port(host)?;
        let port = match port {
            None => scheme.default_port(),
            Some(p) => parse_port(p)?,
        };
        Ok(Origin {
            scheme,
            host: normalise_host(name)?,
            port,
        })
    }
}

fn split_host_port(host: &str) -> Result<(&str, Option<&str>), OriginError> {
    if host.starts_with('[') {
        let close = host.find(']').ok_or(OriginError::BadHost)?;
        let (name, rest) = host.split_at(close + 1);
        return match rest {
            "" => Ok((name, None)),
            _ => rest
                .strip_prefix(':')
                .map(|p| (name, Some(p)))
                .ok_or(OriginError::BadHost),
        };
    }
    match host.split_once(':') {
        Some((name, port)) => Ok((name, Some(port))),
        None => Ok((host, None)),
    }
}

fn parse_port(p: &str) -> Result<u16, OriginError> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(OriginError::BadPort);
    }
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(OriginError::BadPort),
        Ok(port) => Ok(port),
    }
}

/// Accepts DNS names (letters, digits, '-', '_', '.') and bracketed IPv6 literals, lowercased
/// in ASCII only. Anything else (`@`, `%`, spaces, Unicode) is not a host we could be serving.
fn normalise_host(name: &str) -> Result<String, OriginError> {
    if name.is_empty() {
        return Err(OriginError::EmptyHost);
    }
    if let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        return inner
            .parse::<std::net::Ipv6Addr>()
            .map(|ip| format!("[{ip}]"))
            .map_err(|_| OriginError::BadHost);
    }
    let valid = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if !valid || name.starts_with('.') || name.contains("..") {
        return Err(OriginError::BadHost);
    }
    Ok(name.to_ascii_lowercase())
}

/// An origin plus an optional path prefix, matched segment by segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub origin: Origin,
    /// Segments without leading or trailing slashes, for example `group/subgroup`.
    pub path: Option<String>,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some(path) = &self.path {
            write!(f, "/{path}")?;
        }
        Ok(())
    }
}

impl serde::Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Scope {
    /// Parses a URL we are told to serve: `https://host[:port][/path/prefix]`.
    pub fn parse(url: &str) -> Result<Scope, OriginError> {
        let parts = crate::git::split_url(url).ok_or(OriginError::Scheme)?;
        let scheme = Scheme::parse(parts.scheme).ok_or(OriginError::Scheme)?;
        // The userinfo ends before the first '/', '?' or '#', so it holds no '?' or '#'.
        let rest = parts.rest;
        if rest.contains(['?', '#']) {
            return Err(OriginError::QueryOrFragment);
        }
        if parts.userinfo.is_some() {
            return Err(OriginError::Userinfo);
        }
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash + 1..]),
            None => (rest, ""),
        };
        let origin = Origin::from_parts(scheme, authority)?;
        let path = path.trim_end_matches('/');
        let path = if path.is_empty() {
            None
        } else {
            if !is_plain_path(path) {
                return Err(OriginError::BadPath);
            }
            Some(path.to_owned())
        };
        Ok(Scope { origin, path })
    }

    /// The scope of a bare origin, as for `CI_SERVER_URL` (whose relative root is not a scope).
    pub fn origin_only(url: &str) -> Result<Scope, OriginError> {
        let scope = Scope::parse(url)?;
        Ok(Scope {
            origin: scope.origin,
            path: None,
        })
    }

    /// Whether a request's path falls under this scope. A scope without a path takes every
    /// path, including none. A scoped one needs git to send the path, which it does for HTTP
    /// only with `credential.useHttpPath=true`.
    pub fn covers_path(&self, request_path: Option<&str>) -> bool {
        let Some(prefix) = &self.path else {
            return true;
        };
        let Some(path) = request_path else {
            return false;
        };
        let path = path.trim_matches('/');
        // A path with dot segments or escapes could resolve elsewhere on the server than it
        // reads here, so it never selects a path-scoped credential.
        if !is_plain_path(path) {
            return false;
        }
        match path.strip_prefix(prefix.as_str()) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }
}

fn is_plain_path(path: &str) -> bool {
    !path.contains('%')
        && !path.chars().any(char::is_control)
        && path.split('/').all(|seg| !matches!(seg, "" | "." | ".."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(p: &str, h: &str) -> Result<Origin, OriginError> {
        Origin::from_request(p, h)
    }

    #[test]
    fn default_ports_and_case_are_normalised() {
        let a = origin("https", "GitLab.Example.com").unwrap();
        let b = origin("HTTPS", "gitlab.example.com:443").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "https://gitlab.example.com");
        let c = origin("https", "gitlab.example.com:8443").unwrap();
        assert_ne!(a, c);
        assert_eq!(c.to_string(), "https://gitlab.example.com:8443");
    }

    #[test]
    fn lookalike_hosts_are_not_normalised_away() {
        let served = origin("https", "gitlab.example.com").unwrap();
        for host in ["gitlab.example.com.", "gitlab.example.com.attacker.example"] {
            assert_ne!(origin("https", host).unwrap(), served, "{host}");
        }
        for host in [
            "user@gitlab.example.com",
            "gitlab%2eexample.com",
            "gitlab.example.\u{212A}om",
            "",
        ] {
            assert!(origin("https", host).is_err(), "{host}");
        }
    }

    #[test]
    fn ports_must_be_in_range() {
        // "000080" is port 80 to a number parser: six digits are refused before parsing,
        // so one origin has one spelling of its port.
        for host in [
            "h:0", "h:65536", "h:", "h:+1", "h:1:2", "h:999999", "h:000080",
        ] {
            assert_eq!(
                origin("https", host).unwrap_err(),
                OriginError::BadPort,
                "{host}"
            );
        }
        // Five digits are a port.
        assert_eq!(origin("https", "h:65535").unwrap().port, 65535);
        assert_eq!(origin("https", "h:10443").unwrap().port, 10443);
    }

    #[test]
    fn empty_labels_are_not_hosts() {
        for host in [".gitlab.example.com", "gitlab..example.com", "..", "."] {
            assert_eq!(
                origin("https", host).unwrap_err(),
                OriginError::BadHost,
                "{host}"
            );
        }
        assert_eq!(origin("https", ":443").unwrap_err(), OriginError::EmptyHost);
    }

    #[test]
    fn ipv6_literals_are_normalised() {
        let a = origin("https", "[::1]:8443").unwrap();
        assert_eq!(a.host, "[::1]");
        assert_eq!(a.port, 8443);
        assert_eq!(origin("https", "[0:0::1]").unwrap().host, "[::1]");
        assert!(origin("https", "[::1").is_err());
        assert!(origin("https", "[::1]x").is_err());
    }

    #[test]
    fn only_http_and_https_are_origins() {
        assert_eq!(origin("cert", "").unwrap_err(), OriginError::Scheme);
        assert_eq!(origin("ssh", "h").unwrap_err(), OriginError::Scheme);
    }

    #[test]
    fn served_urls_reject_credentials_queries_and_odd_paths() {
        assert_eq!(
            Scope::parse("https://u:p@h").unwrap_err(),
            OriginError::Userinfo
        );
        assert_eq!(
            Scope::parse("https://h/?x").unwrap_err(),
            OriginError::QueryOrFragment
        );
        assert_eq!(
            Scope::parse("https://h/a/../b").unwrap_err(),
            OriginError::BadPath
        );
        assert_eq!(Scope::parse("h").unwrap_err(), OriginError::Scheme);
        let s = Scope::parse("https://h:8443/group/sub/").unwrap();
        assert_eq!(s.path.as_deref(), Some("group/sub"));
        assert_eq!(s.to_string(), "https://h:8443/group/sub");
        assert_eq!(Scope::origin_only("https://h/gitlab").unwrap().path, None);
    }

    #[test]
    fn path_scopes_match_whole_segments() {
        let s = Scope::parse("https://h/group-a").unwrap();
        assert!(s.covers_path(Some("group-a/project.git")));
        assert!(s.covers_path(Some("group-a")));
        assert!(!s.covers_path(Some("group-ab/project.git")));
        assert!(!s.covers_path(Some("group-a/../group-b/p.git")));
        assert!(!s.covers_path(Some("group-a%2fx")));
        assert!(!s.covers_path(None));
        assert!(Scope::parse("https://h").unwrap().covers_path(None));
    }
}
