//! URLs split the way git splits them for urlmatch (`credential.<url>.*`, `http.<url>.*`,
//! `url.<base>.insteadOf`), and the display forms that never show a secret. [`split_url`]
//! is where a URL is cut into scheme, userinfo and the rest; the others are built on it.
//!
//! This is git's own reading, not WHATWG's: git compares the scheme, the host (a `*` matching
//! one whole label), the port after defaults, the user and a path prefix.

/// A URL cut into the pieces everything else here is built from, by [`split_url`]. Nothing
/// is decoded, lowercased or checked: each piece is a slice of the URL as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlParts<'a> {
    /// Everything before the first `://`.
    pub scheme: &'a str,
    pub userinfo: Option<Userinfo<'a>>,
    /// Everything after the userinfo's `@` (after the `://` when there is no userinfo): host,
    /// port, path, query and fragment.
    pub rest: &'a str,
}

/// The userinfo of a URL: the user before its first `:`, the password after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Userinfo<'a> {
    pub user: &'a str,
    /// `Some` whenever the userinfo has a `:`, even with nothing after it.
    pub password: Option<&'a str>,
}

/// Splits `url` into scheme, userinfo and the rest; `None` when it has no `://`.
///
/// The authority ends at the first `/`, `?` or `#` after the `://`, and the userinfo is what
/// comes before the LAST `@` in the authority. (git's `credential_from_url`, which the
/// parser of a request's `url=` attribute follows, takes the first `@` instead.)
pub fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let (scheme, after) = url.split_once("://")?;
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let Some(at) = after[..end].rfind('@') else {
        return Some(UrlParts {
            scheme,
            userinfo: None,
            rest: after,
        });
    };
    let userinfo = &after[..at];
    let (user, password) = match userinfo.split_once(':') {
        Some((user, password)) => (user, Some(password)),
        None => (userinfo, None),
    };
    Some(UrlParts {
        scheme,
        userinfo: Some(Userinfo { user, password }),
        rest: &after[at + 1..],
    })
}

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
        let parts = split_url(url)?;
        let end = parts.rest.find(['/', '?', '#']).unwrap_or(parts.rest.len());
        let (hostport, path) = parts.rest.split_at(end);
        let (user, password) = match parts.userinfo {
            Some(u) => (Some(u.user.to_owned()), u.password.is_some()),
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
            scheme: parts.scheme.to_ascii_lowercase(),
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
    match split_url(url) {
        Some(UrlParts {
            scheme,
            userinfo:
                Some(Userinfo {
                    user,
                    password: Some(_),
                }),
            rest,
        }) => format!("{scheme}://{user}:<secret>@{rest}"),
        _ => url.to_owned(),
    }
}

/// `url` with its userinfo (user and password) removed.
pub fn strip_userinfo(url: &str) -> String {
    match split_url(url) {
        Some(UrlParts {
            scheme,
            userinfo: Some(_),
            rest,
        }) => format!("{scheme}://{rest}"),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn parts<'a>(
        scheme: &'a str,
        userinfo: Option<(&'a str, Option<&'a str>)>,
        rest: &'a str,
    ) -> Option<UrlParts<'a>> {
        Some(UrlParts {
            scheme,
            userinfo: userinfo.map(|(user, password)| Userinfo { user, password }),
            rest,
        })
    }

    #[test]
    fn split_url_cuts_scheme_userinfo_and_rest() {
        for (input, expected) in [
            ("https://h/g/p.git", parts("https", None, "h/g/p.git")),
            ("https://h", parts("https", None, "h")),
            ("https://u@h/p", parts("https", Some(("u", None)), "h/p")),
            (
                "https://u:p@h:8443/p?q#f",
                parts("https", Some(("u", Some("p"))), "h:8443/p?q#f"),
            ),
            ("https://u:@h", parts("https", Some(("u", Some(""))), "h")),
            ("https://:p@h", parts("https", Some(("", Some("p"))), "h")),
            ("https://@h", parts("https", Some(("", None)), "h")),
            // The password runs to the last '@' and may hold more ':'.
            (
                "https://u:p:q@h/",
                parts("https", Some(("u", Some("p:q"))), "h/"),
            ),
            (
                "https://a@b:c@h/x",
                parts("https", Some(("a@b", Some("c"))), "h/x"),
            ),
            // An '@' after the authority's end is in the path, query or fragment.
            ("https://h/p@q", parts("https", None, "h/p@q")),
            ("https://h?x=u@v", parts("https", None, "h?x=u@v")),
            ("https://h#u@v", parts("https", None, "h#u@v")),
            (
                "https://u@h/p@q",
                parts("https", Some(("u", None)), "h/p@q"),
            ),
            // Nothing is lowercased or decoded.
            (
                "HTTPS://U%40x:P@H/",
                parts("HTTPS", Some(("U%40x", Some("P"))), "H/"),
            ),
            ("https://[::1]:8443/", parts("https", None, "[::1]:8443/")),
            ("file:///srv/repo", parts("file", None, "/srv/repo")),
            ("https://u:p@", parts("https", Some(("u", Some("p"))), "")),
            ("://u@h", parts("", Some(("u", None)), "h")),
            // The scheme ends at the first "://".
            ("a://b://u@h", parts("a", None, "b://u@h")),
            ("git@h:g/p.git", None),
            ("h/g/p.git", None),
            ("", None),
        ] {
            assert_eq!(split_url(input), expected, "{input:?}");
        }
    }

    #[test]
    fn passwords_are_masked_and_userinfo_stripped() {
        for (input, masked, stripped, password) in [
            (
                "https://gitlab-ci-token:s3cr3t@h/g/p.git",
                "https://gitlab-ci-token:<secret>@h/g/p.git",
                "https://h/g/p.git",
                true,
            ),
            (
                "https://u:@h:8443",
                "https://u:<secret>@h:8443",
                "https://h:8443",
                true,
            ),
            (
                "https://a@b:c@h/x",
                "https://a@b:<secret>@h/x",
                "https://h/x",
                true,
            ),
            (
                "https://alice@h/p",
                "https://alice@h/p",
                "https://h/p",
                false,
            ),
            (
                "https://h/p@q:r",
                "https://h/p@q:r",
                "https://h/p@q:r",
                false,
            ),
            ("git@h:g/p.git", "git@h:g/p.git", "git@h:g/p.git", false),
            ("not a url", "not a url", "not a url", false),
        ] {
            assert_eq!(mask_password(input), masked, "{input:?}");
            assert_eq!(strip_userinfo(input), stripped, "{input:?}");
            assert_eq!(has_password(input), password, "{input:?}");
        }
    }

    #[test]
    fn has_password_needs_a_url_that_parses() {
        // A password git would never see as one, because the URL does not parse for urlmatch.
        assert!(!has_password("https://u:p@h:notaport/"));
        assert!(!has_password("https://u:p@[::1/"));
        assert_eq!(
            mask_password("https://u:p@h:notaport/"),
            "https://u:<secret>@h:notaport/"
        );
    }

    #[test]
    fn parse_takes_its_pieces_from_split_url() {
        assert_eq!(
            url("HTTPS://Me:pw@GitLab.Example.com:8443/G/p.git?x#y"),
            Url {
                scheme: "https".into(),
                user: Some("Me".into()),
                password: true,
                host: "gitlab.example.com".into(),
                port: Some(8443),
                path: "/G/p.git".into(),
            }
        );
        assert_eq!(
            url("https://a@b@[::1]"),
            Url {
                scheme: "https".into(),
                user: Some("a@b".into()),
                password: false,
                host: "[::1]".into(),
                port: None,
                path: "/".into(),
            }
        );
        assert_eq!(url("https://h:/").port, None);
        assert_eq!(Url::parse("h/p"), None);
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
