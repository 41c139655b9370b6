//! Tokens: the secret type that holds one from the moment it is read until it is written to
//! git ([`secret`]), and the places tokens come from ([`source`]): environment variables and
//! files, read per request, or tokens the daemon holds.

mod secret;
mod source;

pub use secret::{fingerprint_of, looks_like_token, Masked, Token, TokenKind};
pub use source::{first_token, resolve_all, HeldToken, Resolution, TokenSource, Unavailable};
