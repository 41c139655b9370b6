//! URLs split the way git splits them for urlmatch (`credential.<url>.*`, `http.<url>.*`,
//! `url.<base>.insteadOf`), and the display forms that never show a secret.
//!
//! This is git's own reading, not WHATWG's: git compares the scheme, the host (a `*` matching
//! one whole label), the port after defaults, the user and a path prefix.

/// A URL split the way git's urlmatch compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub scheme: String,
    pub user: Option<String>,
    pub password: bool,
    pub host: String,
    pub port: Option<u16>,
    /// With a leading '/', at least "/".
    pub path: String,
}

impl Url {
    pub fn parse(url: &str) -> Option<Url> {
        let (scheme, rest) = url.split_once("://")?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((user, _)) => (Some(user.to_owned()), true),
                None => (Some(u.to_owned()), false),
            },
            None => (None, false),
        };
        let (host, port) = if hostport.starts_with('[') {
            let close = hostport.find(']')?;
            let port = hostport[close + 1..].strip_prefix(':');
            (&hostport[..=close], port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        let port = match port {
            Some("") | None => None,
            Some(p) => Some(p.parse().ok()?),
        };
        let path = path.split(['?', '#']).next().unwrap_or("");
        Some(Url {
            scheme: scheme.to_ascii_lowercase(),
            user,
            password,
            host: host.to_ascii_lowercase(),
            port,
            path: if path.is_empty() {
                "/".to_owned()
            } else {
                path.to_owned()
            },
        })
    }

    fn effective_port(&self) -> Option<u16> {
        self.port.or(match self.scheme.as_str() {
            "https" => Some(443),
            "http" => Some(80),
            _ => None,
        })
    }

    /// Whether a config key's URL `pattern` applies to this URL, by git's urlmatch rules:
    /// same scheme; same host, where a `*` in the pattern matches one whole label; same port
    /// after defaults; the pattern's user, if any, equal; the pattern's path a prefix of ours
    /// at a '/' boundary.
    pub fn matched_by(&self, pattern: &Url) -> bool {
        if pattern.scheme != self.scheme || pattern.effective_port() != self.effective_port() {
            return false;
        }
        if let Some(user) = &pattern.user {
            if self.user.as_ref() != Some(user) {
                return false;
            }
        }
        if !host_matches(&pattern.host, &self.host) {
            return false;
        }
        let prefix = pattern.path.trim_end_matches('/');
        prefix.is_empty()
            || self.path == prefix
            || self
                .path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    }
}

fn host_matches(pattern: &str, host: &str) -> bool {
    let p: Vec<&str> = pattern.split('.').collect();
    let h: Vec<&str> = host.split('.').collect();
    p.len() == h.len() && p.iter().zip(&h).all(|(p, h)| *p == "*" || p == h)
}

/// Whether `url` carries a password in its userinfo.
pub fn has_password(url: &str) -> bool {
    Url::parse(url).is_some_and(|u| u.password)
}

/// `url` with any userinfo's password replaced, for display.
pub fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:<secret>@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// `url` with its userinfo (user and password) removed.
pub fn strip_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn urlmatch_follows_gits_rules() {
        let target = url("https://gitlab.example.com/group/project.git");
        assert!(target.matched_by(&url("https://gitlab.example.com")));
        assert!(target.matched_by(&url("https://gitlab.example.com:443/")));
        assert!(target.matched_by(&url("https://*.example.com")));
        assert!(target.matched_by(&url("https://gitlab.example.com/group")));
        assert!(!target.matched_by(&url("https://gitlab.example.com/gro")));
        assert!(!target.matched_by(&url("https://gitlab.example.com:8443")));
        assert!(!target.matched_by(&url("http://gitlab.example.com")));
        assert!(!target.matched_by(&url("https://*.com")));
        assert!(!target.matched_by(&url("https://me@gitlab.example.com")));
    }
}
