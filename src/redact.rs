//! The one redaction everything we print goes through: `status` (text and JSON), `scrub`,
//! `configure` and every error message.
//!
//! The report and the commands already name things by file, key and fingerprint, never by
//! value. This is the net under them, applied to the finished text, for what a user can put
//! where we do not expect a secret: a token as a URL's user name, a token where a variable
//! name or a path belongs (`--token-env $RELEASE_TOKEN`, expanded by the shell), a password
//! inside a config key (`credential.https://u:SECRET@host.helper`). It masks:
//!
//! - every copy of a token we serve, as `<token FINGERPRINT>`;
//! - the userinfo of every URL, user name included, as `<secret>`; only GitLab's fixed user
//!   name `gitlab-ci-token`, which is no secret, is kept;
//! - every word shaped like a token (a GitLab prefix, a JWT), as `<token-shaped value>`.

use std::sync::Arc;

use crate::git::split_url;
use crate::token::{looks_like_token, Token};

/// What [`Redactor::apply`] puts in place of a URL's userinfo.
pub const SECRET: &str = "<secret>";
/// What [`Redactor::apply`] puts in place of a token-shaped word.
pub const TOKEN_SHAPED: &str = "<token-shaped value>";

/// Redacts text for output, knowing the tokens we serve.
#[derive(Default)]
pub struct Redactor {
    tokens: Vec<Arc<Token>>,
}

impl Redactor {
    pub fn new(tokens: impl IntoIterator<Item = Arc<Token>>) -> Redactor {
        Redactor {
            tokens: tokens.into_iter().collect(),
        }
    }

    /// `text` with every secret masked (see the module comment).
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for token in &self.tokens {
            if let Some(masked) = out_replace(token, &out) {
                out = masked;
            }
        }
        let out = urls(&out);
        words(&out)
    }
}

fn out_replace(token: &Token, text: &str) -> Option<String> {
    token.replace_in(text, &format!("<token {}>", token.fingerprint()))
}

/// Every URL's userinfo masked: a URL runs from its scheme to the first character that
/// cannot be in one unquoted (space, quote, backtick, angle bracket, control).
fn urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        // The scheme: letters, digits, '+', '-', '.' before "://".
        let start = rest[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |i| i + 1);
        let end = rest[at..]
            .find(|c: char| {
                c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '`' | '<' | '>')
            })
            .map_or(rest.len(), |i| at + i);
        out.push_str(&rest[..start]);
        out.push_str(&mask_userinfo(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn mask_userinfo(url: &str) -> String {
    let Some(parts) = split_url(url) else {
        return url.to_owned();
    };
    let Some(info) = parts.userinfo else {
        return url.to_owned();
    };
    let kept = match (info.user, info.password) {
        ("gitlab-ci-token", None) => "gitlab-ci-token".to_owned(),
        ("gitlab-ci-token", Some(_)) => format!("gitlab-ci-token:{SECRET}"),
        _ => SECRET.to_owned(),
    };
    format!("{}://{kept}@{}", parts.scheme, parts.rest)
}

/// Every token-shaped word masked. A word is a run of the characters tokens are made of.
fn words(text: &str) -> String {
    let token_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if looks_like_token(word.trim_end_matches('.')) {
            let dots = word.len() - word.trim_end_matches('.').len();
            out.push_str(TOKEN_SHAPED);
            out.extend(std::iter::repeat_n('.', dots));
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if token_char(c) {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVED: &str = "glcbt-64_ServedTokenValue1234567";

    fn redactor() -> Redactor {
        Redactor::new([Arc::new(Token::new(SERVED.to_owned()).unwrap())])
    }

    #[test]
    fn a_served_token_is_masked_wherever_it_is() {
        let r = redactor();
        let fingerprint = Token::new(SERVED.to_owned()).unwrap().fingerprint();
        let out = r.apply(&format!(
            "environment variable {SERVED}: not set; x{SERVED}y"
        ));
        assert!(!out.contains(SERVED), "{out}");
        assert!(out.contains(&format!("<token {fingerprint}>")), "{out}");
    }

    #[test]
    fn every_url_loses_its_userinfo_but_gitlabs_fixed_user_name() {
        let r = Redactor::default();
        assert_eq!(
            r.apply("git, for https://alice@h.example/g/p.git (origin)"),
            "git, for https://<secret>@h.example/g/p.git (origin)"
        );
        assert_eq!(
            r.apply("contacts https://gitlab-ci-token:hunter2@h.example/ instead"),
            "contacts https://gitlab-ci-token:<secret>@h.example/ instead"
        );
        assert_eq!(
            r.apply("credential.https://u:SECRET@h.example.helper in /x (global)"),
            "credential.https://<secret>@h.example.helper in /x (global)"
        );
        assert_eq!(
            r.apply("\"url\": \"https://gitlab-ci-token@h.example/\""),
            "\"url\": \"https://gitlab-ci-token@h.example/\""
        );
        assert_eq!(
            r.apply("plain https://h.example:8443/g and http://h/"),
            "plain https://h.example:8443/g and http://h/"
        );
    }

    #[test]
    fn token_shaped_words_are_masked_where_a_name_or_path_was_expected() {
        let r = Redactor::default();
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl";
        assert_eq!(
            r.apply("1. environment variable glpat-AbCdEf1234567890abcd: not set."),
            "1. environment variable <token-shaped value>: not set."
        );
        assert_eq!(
            r.apply(&format!("file /run/{jwt}: no such file")),
            "file /run/<token-shaped value>: no such file"
        );
        assert_eq!(
            r.apply("CI/CD job token (glcbt-), fingerprint 5dbfba63; RELEASE_TOKEN"),
            "CI/CD job token (glcbt-), fingerprint 5dbfba63; RELEASE_TOKEN"
        );
    }
}
