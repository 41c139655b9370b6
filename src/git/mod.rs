//! git itself, started only by [`runner`]: its configuration as git reads it ([`config`]), the URL rules git applies to
//! it ([`url`]), helper values as git runs them ([`helper`]), the
//! `GIT_CONFIG_COUNT` entries of the environment ([`env`]), and the line-level reading and
//! editing of config files that removing exactly our entries, or a section that holds a
//! token, needs ([`editor`], under git's lock protocol), where the
//! repository keeps its files ([`repository`]), and what the installed git can do
//! ([`version`]).

mod config;
mod editor;
mod env;
mod fill;
mod helper;
mod repository;
mod runner;
mod url;
mod version;

pub use config::{
    ere_escape, is_true, normalise_key, parse_bool, parse_list, read, rewrite, Entry, Source,
};
pub use editor::{
    edit as edit_config_file, list as list_config_file, pairs as config_pairs,
    parse as parse_config_lines, read_text as read_config_text, EditError, RawFile, MARKER,
};
pub use env::{env_entries, parameter, parameters, process_env, EnvError, Parameter};
pub use fill::{fill, Filled};
pub use helper::{
    classify as classify_helper, is_our_helper, shell_quote, single_quote, HelperKind,
};
pub use repository::{common_dir, toplevel};
pub use runner::{command, run, run_bounded, unattended, GitError};
pub use url::{has_password, mask_password, split_url, strip_userinfo, Url};
pub use version::{version, Version};
