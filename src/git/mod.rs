//! git itself: its configuration as git reads it ([`config`]), the URL rules git applies to
//! it ([`url`]).

mod config;
mod url;

pub use config::{normalise_key, parse_list, read, rewrite, Entry, Source};
pub use url::{has_password, mask_password, strip_userinfo, Url};
