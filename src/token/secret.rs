//! The token: a secret from the moment it is read until it is written to git's stdout.
//!
//! `Token` wraps a `secrecy::SecretString`, so it is zeroed on drop and cannot be printed by
//! accident (`Debug` is redacted, there is no `Display`). What may be shown is its [`Masked`]
//! form: the kind, read from GitLab's prefix, and a short fingerprint. No character of the
//! secret part is ever shown.

use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

/// The longest token we accept. GitLab's JWT job tokens are about 1 KiB.
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// Why a value cannot be a token. Never carries the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidToken {
    #[error("it is empty")]
    Empty,
    #[error("it holds only whitespace")]
    Whitespace,
    #[error("it contains a newline")]
    Newline,
    #[error("it contains whitespace or a control character")]
    ControlOrSpace,
    #[error("it is longer than {MAX_TOKEN_BYTES} bytes")]
    TooLong,
    #[error("it is not valid UTF-8")]
    NotUtf8,
}

pub struct Token {
    secret: SecretString,
    /// Worked out on first use and kept: a daemon answers with the same token for hours, and
    /// neither is a secret (the fingerprint is logged, the expiry is sent to git).
    fingerprint: OnceLock<String>,
    jwt_expiry: OnceLock<Option<SystemTime>>,
    /// What the source that minted the token said about it (a token command's
    /// `username=` and `password_expiry_utc=`); nothing for variables and files.
    issued: Issued,
}

/// What a token command printed beside the password. Neither is a secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Issued {
    pub username: Option<String>,
    pub expiry: Option<SystemTime>,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({})", self.masked())
    }
}

impl Token {
    /// Validates and wraps a value; the caller's buffer is zeroed either way.
    ///
    /// `SecretString::from(String)` would shrink the allocation first, and a reallocation
    /// frees the old buffer without zeroing it, so the secret is copied into an exact-size box
    /// and the original is wiped here.
    pub fn new(mut value: String) -> Result<Token, InvalidToken> {
        let checked = check(&value);
        let token = checked.map(|()| Token {
            secret: SecretString::new(Box::from(value.as_str())),
            fingerprint: OnceLock::new(),
            jwt_expiry: OnceLock::new(),
            issued: Issued::default(),
        });
        value.zeroize();
        token
    }

    /// The token with what its source said about it (see [`Issued`]).
    pub fn with_issued(mut self, issued: Issued) -> Token {
        self.issued = issued;
        self
    }

    /// The username the token's source printed with it, if any: git is answered with it.
    pub fn issued_username(&self) -> Option<&str> {
        self.issued.username.as_deref()
    }

    /// The expiry the token's source printed with it, if any.
    pub fn issued_expiry(&self) -> Option<SystemTime> {
        self.issued.expiry
    }

    /// The earliest expiry the token itself tells: what its source printed, and a JWT's
    /// `exp`. A configured `expires` is the credential's, and [`crate::credential`] adds it.
    pub fn own_expiry(&self) -> Option<SystemTime> {
        match (self.issued.expiry, self.jwt_expiry()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The secret itself. Only the protocol writer and the fingerprint need it.
    pub(crate) fn secret(&self) -> &SecretString {
        &self.secret
    }

    pub fn kind(&self) -> TokenKind {
        TokenKind::of(self.secret.expose_secret())
    }

    /// The first 8 hex digits of the token's SHA-256: enough to tell two tokens apart in a log,
    /// far too little to learn anything about a random token.
    pub fn fingerprint(&self) -> String {
        self.fingerprint
            .get_or_init(|| fingerprint_of(&self.secret))
            .clone()
    }

    pub fn masked(&self) -> Masked {
        Masked {
            kind: self.kind(),
            fingerprint: self.fingerprint(),
        }
    }

    /// Whether `candidate` is this token, to recognise it written into git's config (`scrub`).
    /// Compared without an early exit, so the time taken says nothing about a near miss.
    pub fn is(&self, candidate: &str) -> bool {
        let secret = self.secret.expose_secret().as_bytes();
        let candidate = candidate.as_bytes();
        secret.len() == candidate.len()
            && secret
                .iter()
                .zip(candidate)
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0
    }

    /// `text` with every copy of this token replaced by `with`; `None` when it holds none.
    pub fn replace_in(&self, text: &str, with: &str) -> Option<String> {
        let secret = self.secret.expose_secret();
        text.contains(secret).then(|| text.replace(secret, with))
    }

    /// Whether a password git sent back (with `erase`) is this token.
    pub fn is_secret(&self, candidate: &SecretString) -> bool {
        self.is(candidate.expose_secret())
    }

    /// The `exp` claim of a JWT token (GitLab's default job token since 19.0), if it has one.
    /// The signature is not checked: this is only a hint for git, the server decides.
    pub fn jwt_expiry(&self) -> Option<SystemTime> {
        *self.jwt_expiry.get_or_init(|| self.read_jwt_expiry())
    }

    fn read_jwt_expiry(&self) -> Option<SystemTime> {
        let value = self.secret.expose_secret();
        let jwt = match TokenKind::marker(value) {
            Some((_, end)) => &value[end..],
            None => value,
        };
        let mut parts = jwt.split('.');
        let (_header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let decoded = Zeroizing::new(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload.trim_end_matches('='))
                .ok()?,
        );
        #[derive(serde::Deserialize)]
        struct Claims {
            exp: Option<f64>,
        }
        let claims: Claims = serde_json::from_slice(&decoded).ok()?;
        let exp = claims.exp?;
        if !(0.0..4e11).contains(&exp) {
            return None;
        }
        Some(UNIX_EPOCH + Duration::from_secs(exp as u64))
    }
}

/// The fingerprint of any secret, such as the password git sends back with `erase`, without
/// copying it into a `Token` first.
pub fn fingerprint_of(secret: &SecretString) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(secret.expose_secret().as_bytes());
    digest[..4]
        .iter()
        .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}

fn check(value: &str) -> Result<(), InvalidToken> {
    if value.is_empty() {
        return Err(InvalidToken::Empty);
    }
    if value.len() > MAX_TOKEN_BYTES {
        return Err(InvalidToken::TooLong);
    }
    if value.chars().all(char::is_whitespace) {
        return Err(InvalidToken::Whitespace);
    }
    if value.contains(['\n', '\r']) {
        return Err(InvalidToken::Newline);
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(InvalidToken::ControlOrSpace);
    }
    Ok(())
}

/// GitLab's token prefixes (docs.gitlab.com, security/tokens), for telling a token from a name
/// or a path: a token given where a variable name belongs (`--token-env $RELEASE_TOKEN`,
/// expanded by the shell) must be recognised before it is printed or written anywhere.
const GITLAB_PREFIXES: [&str; 12] = [
    "glpat-", "gldt-", "glcbt-", "glrt-", "glrtr-", "glptt-", "gloas-", "glsoat-", "glft-",
    "glimt-", "glagent-", "glwt-",
];

/// Whether `s` looks like a token rather than a name or a path: a GitLab prefix (also after
/// an instance's own `<prefix>-`) followed by at least 16 token characters (GitLab's are 20
/// and more), or a JWT (GitLab's
/// job tokens from 19.0). Written for words: `s` must be one run of token characters.
pub fn looks_like_token(s: &str) -> bool {
    let token_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if s.is_empty() || !s.chars().all(token_char) {
        return false;
    }
    let prefixed = (0..s.len().min(64))
        .filter(|&i| i == 0 || s.as_bytes()[i - 1] == b'-')
        .any(|i| {
            GITLAB_PREFIXES
                .iter()
                .any(|p| s[i..].starts_with(p) && s.len() - i - p.len() >= 16)
        });
    prefixed || looks_like_jwt(s)
}

fn looks_like_jwt(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts[0].starts_with("eyJ")
        && parts[..2].iter().all(|p| p.len() >= 8)
        && parts.iter().all(|p| {
            p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        })
}

/// What GitLab's prefix says the token is. An instance may put its own prefix in front
/// (`acme-glpat-...`), so the marker is looked for at the start or right after a '-'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    JobToken,
    AccessToken,
    DeployToken,
    Unknown,
}

impl TokenKind {
    const MARKERS: [(&'static str, TokenKind); 3] = [
        ("glcbt-", TokenKind::JobToken),
        ("glpat-", TokenKind::AccessToken),
        ("gldt-", TokenKind::DeployToken),
    ];

    /// Custom instance prefixes are short; a marker found further in is part of the secret.
    const MAX_CUSTOM_PREFIX: usize = 64;

    fn of(value: &str) -> TokenKind {
        TokenKind::marker(value).map_or(TokenKind::Unknown, |(kind, _)| kind)
    }

    /// The kind and the offset just past its marker.
    fn marker(value: &str) -> Option<(TokenKind, usize)> {
        let head = &value.as_bytes()[..value.len().min(Self::MAX_CUSTOM_PREFIX)];
        (0..head.len())
            .filter(|&i| i == 0 || head[i - 1] == b'-')
            .find_map(|i| {
                Self::MARKERS.iter().find_map(|&(marker, kind)| {
                    value.as_bytes()[i..]
                        .starts_with(marker.as_bytes())
                        .then_some((kind, i + marker.len()))
                })
            })
    }

    pub fn describe(self) -> &'static str {
        match self {
            TokenKind::JobToken => "CI/CD job token (glcbt-)",
            TokenKind::AccessToken => "access token (glpat-)",
            TokenKind::DeployToken => "deploy token (gldt-)",
            TokenKind::Unknown => "token of unknown kind",
        }
    }
}

/// A token as it may be shown: kind and fingerprint, nothing of the secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Masked {
    pub kind: TokenKind,
    pub fingerprint: String,
}

impl fmt::Display for Masked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, fingerprint {}",
            self.kind.describe(),
            self.fingerprint
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(s: &str) -> Token {
        Token::new(s.to_owned()).expect("valid token")
    }

    fn jwt(claims: &str) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.c2ln", b64(r#"{"alg":"RS256"}"#), b64(claims))
    }

    #[test]
    fn tokens_up_to_64_kib_are_tokens() {
        // Longer than any GitLab token, but a JWT with many claims can pass 1 KiB.
        for len in [4096, MAX_TOKEN_BYTES] {
            assert!(Token::new("a".repeat(len)).is_ok(), "{len}");
        }
        assert_eq!(
            Token::new("a".repeat(MAX_TOKEN_BYTES + 1)).unwrap_err(),
            InvalidToken::TooLong
        );
    }

    #[test]
    fn a_token_is_itself_and_nothing_else_even_when_the_differences_cancel() {
        let t = token("glpat-ab0123456789abcdefgh");
        assert!(t.is("glpat-ab0123456789abcdefgh"));
        // Two swapped bytes: their XORs cancel out, so only an OR of them tells.
        assert!(!t.is("glpat-ba0123456789abcdefgh"));
        assert!(!t.is("glpat-ab0123456789abcdefg"));
        let same = SecretString::from("glpat-ab0123456789abcdefgh".to_owned());
        let other = SecretString::from("glpat-ab0123456789abcdefgX".to_owned());
        assert!(t.is_secret(&same));
        assert!(!t.is_secret(&other));
    }

    #[test]
    fn debug_shows_the_masked_token_only() {
        let shown = format!("{:?}", token("glpat-ab0123456789abcdefgh"));
        assert!(
            shown.starts_with("Token(access token (glpat-), fingerprint "),
            "{shown}"
        );
        assert!(!shown.contains("ab0123456789abcdefgh"), "{shown}");
    }

    #[test]
    fn a_prefixed_jwt_job_token_has_the_expiry_of_its_jwt() {
        let t = token(&format!("glcbt-{}", jwt(r#"{"exp":2000000000}"#)));
        assert_eq!(
            t.jwt_expiry(),
            Some(UNIX_EPOCH + Duration::from_secs(2_000_000_000))
        );
    }

    #[test]
    fn an_instances_own_prefix_before_the_jwt_is_skipped_by_its_length() {
        // The offset past `glcbt-` after a ten-letter instance prefix: multiplied instead of
        // added, it would land past the JWT's header and lose the expiry.
        let t = token(&format!(
            "acmecorpxx-glcbt-{}",
            jwt(r#"{"exp":2000000000}"#)
        ));
        assert_eq!(
            t.jwt_expiry(),
            Some(UNIX_EPOCH + Duration::from_secs(2_000_000_000))
        );
        assert!(looks_like_token("acmecorpxx-glpat-0123456789abcdef"));
        assert!(
            !looks_like_token("acmecorpxx-glpat-0123456789abcde"),
            "15 after an instance's prefix"
        );
    }

    #[test]
    fn a_prefix_needs_16_characters_after_it_and_a_word_no_slash() {
        assert!(looks_like_token("glpat-0123456789abcdef"));
        assert!(
            !looks_like_token("glpat-0123456789abcde"),
            "15 after the prefix"
        );
        assert!(!looks_like_token("glpat-short"));
        assert!(
            !looks_like_token("glpat-0123456789abcdef/x"),
            "a path, not a word"
        );
        assert!(!looks_like_token(""));
    }

    #[test]
    fn kinds_come_from_the_prefix_even_behind_an_instance_prefix() {
        assert_eq!(token("glcbt-abc").kind(), TokenKind::JobToken);
        assert_eq!(token("glpat-abc").kind(), TokenKind::AccessToken);
        assert_eq!(token("acme-glpat-abc").kind(), TokenKind::AccessToken);
        assert_eq!(token("gldt-abc").kind(), TokenKind::DeployToken);
        assert_eq!(token("64_abcdef").kind(), TokenKind::Unknown);
        assert_eq!(token("xglpat-abc").kind(), TokenKind::Unknown);
    }

    #[test]
    fn masked_display_shows_no_character_of_the_secret() {
        let t = token("glpat-Zq9Xw7Vv");
        let shown = format!("{} {:?}", t.masked(), t);
        for secret_char in "Zq9Xw7Vv".chars().filter(|c| !c.is_ascii_hexdigit()) {
            assert!(!shown.contains(secret_char), "{shown}");
        }
        assert!(!shown.contains("Zq9"));
        assert_eq!(t.fingerprint().len(), 8);
        assert_ne!(t.fingerprint(), token("glpat-other").fingerprint());
    }

    #[test]
    fn a_token_recognises_only_its_exact_value() {
        let t = token("glpat-Zq9Xw7Vv");
        assert!(t.is("glpat-Zq9Xw7Vv"));
        assert!(!t.is("glpat-Zq9Xw7V"));
        assert!(!t.is("glpat-Zq9Xw7Vw"));
        assert!(!t.is("glpat-Zq9Xw7Vv "));
        assert!(!t.is(""));
    }

    #[test]
    fn invalid_values_are_rejected_with_a_reason() {
        let err = |s: &str| Token::new(s.to_owned()).unwrap_err();
        assert_eq!(err(""), InvalidToken::Empty);
        assert_eq!(err("  \t"), InvalidToken::Whitespace);
        assert_eq!(err("a\nb"), InvalidToken::Newline);
        assert_eq!(err("a b"), InvalidToken::ControlOrSpace);
        assert_eq!(err("a\u{7f}"), InvalidToken::ControlOrSpace);
        assert_eq!(err(&"a".repeat(MAX_TOKEN_BYTES + 1)), InvalidToken::TooLong);
    }

    #[test]
    fn jwt_job_tokens_give_their_expiry() {
        let t = token(&format!("glcbt-{}", jwt(r#"{"exp":1900000000,"sub":"x"}"#)));
        assert_eq!(
            t.jwt_expiry(),
            Some(UNIX_EPOCH + Duration::from_secs(1_900_000_000))
        );
        let t = token(&format!("acme-glcbt-{}", jwt(r#"{"exp":1900000001}"#)));
        assert!(t.jwt_expiry().is_some());
        assert_eq!(token(&format!("glcbt-{}", jwt("{}"))).jwt_expiry(), None);
        assert_eq!(token("glpat-abc.def.ghi").jwt_expiry(), None);
        assert_eq!(token("glpat-abc").jwt_expiry(), None);
    }

    #[test]
    fn token_shaped_words_are_told_from_names_and_paths() {
        for token in [
            "glpat-AbCdEf123456789012",
            "acme-glpat-AbCdEf1234567890",
            "gldt-xxxxxxxxxxxxxxxxxxxx",
            "glcbt-64_AbCdEf1234567890",
            "glrt-t1_AbCdEf1234567890",
            "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl",
        ] {
            assert!(looks_like_token(token), "{token}");
        }
        for name in [
            "RELEASE_TOKEN",
            "CI_JOB_TOKEN",
            "glpat-",
            "glcbt-",
            "glpat-short",
            "/run/secrets/glpat",
            "my-glpat-file.txt",
            "a.b.c",
            "https://gitlab.example.com",
            "",
        ] {
            assert!(!looks_like_token(name), "{name}");
        }
    }
}
