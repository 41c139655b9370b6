//! git-credential-gitlab-ci: a git credential helper for GitLab CI runners.
//!
//! git asks us for a credential; we answer only for the GitLab origin we serve, with the
//! configured username and a token read from an environment variable or a file, so that no
//! token ever has to live in a remote URL or in git's config.
//!
//! The modules, in the order a request meets them:
//!
//! * [`protocol`]: git's credential wire format, read with a size cap and a deadline;
//! * [`config`] and [`config_file`]: which credentials we serve, from flags, environment
//!   variables and TOML files;
//! * [`origin`]: scheme/host/port origins and path scopes, compared exactly;
//! * [`policy`]: the decision to answer or refuse, as a value with its reason;
//! * [`source`] and [`token`]: where tokens come from, and the secret type that holds them;
//! * [`helper`]: the `get`, `store` and `erase` actions;
//! * [`status`]: the diagnostic report;
//! * [`git_setup`] and [`scrub`]: writing and removing our entries in git's config, and
//!   taking credentials out of a repository's config;
//! * [`daemon`], [`client`], [`framing`] and [`hardening`]: the optional daemon that holds
//!   tokens in one hardened process, the helper's client for it, their wire format, and the
//!   process and peer checks;
//! * [`logging`]: opt-in diagnostics on stderr;
//! * [`cli`]: the command line that ties them together.
//! * [`generate`]: the man pages and shell completions, built from the same command line.

pub mod cli;
pub mod client;
pub mod config;
pub mod config_file;
pub mod daemon;
pub mod framing;
#[doc(hidden)]
pub mod fuzzing;
pub mod generate;
pub mod git_config;
pub mod git_findings;
pub mod git_setup;
pub mod hardening;
pub mod helper;
pub mod logging;
pub mod origin;
pub mod policy;
pub mod protocol;
pub mod scrub;
pub mod source;
pub mod status;
pub mod token;
