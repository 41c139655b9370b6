//! Tokens: the secret type that holds one from the moment it is read until it is written to
//! git ([`secret`]), and the places tokens come from ([`source`]): environment variables and
//! files, read per request, commands ([`command`]), run per request or kept by the daemon,
//! or tokens the daemon holds.

mod command;
mod secret;
mod source;
mod spawn;

pub use command::{CommandEnv, CommandSource};
pub use secret::{fingerprint_of, looks_like_token, Masked, Token, TokenKind};
pub use source::{
    first_token, resolve_all, resolve_current, HeldToken, Resolution, TokenSource, Unavailable,
};
