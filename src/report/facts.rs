//! What the `status` report is built from: everything it needs to know, read beforehand by
//! the `status` command. Plain data, so the report is built without any I/O and every
//! finding can be tested from facts made by hand.
//!
//! The facts are what was read, uninterpreted: the daemon's raw reply, each token source's
//! result, a file's permission bits, a config file's bytes. Judging them is the report's job.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

use zeroize::Zeroizing;

use crate::client::{ClientError, Mode};
use crate::config::{ConfigError, ConfigFileState};
use crate::credential::Credential;
use crate::git::{Entry, Version};
pub use crate::gitlab_api::Identity;
use crate::ipc::Kind;
use crate::token::Resolution;

/// Everything `status` reports on.
pub struct Facts {
    /// Our configuration, with what was read for each credential, or why it cannot be used.
    pub config: Result<ConfigFacts, ConfigError>,
    pub daemon: DaemonFacts,
    /// git's set-up for the URL to check; `None` when there is no URL to check.
    pub git: Option<GitFacts>,
    /// When the facts were gathered: expiries are measured from here.
    pub now: SystemTime,
    /// The version of the git on PATH; `None` when it could not be run or read.
    pub git_version: Option<Version>,
    /// The files credentials are written to in plain text that exist and could be read, in
    /// the order [`StoredFormat`] lists them.
    pub stored: Vec<StoredFile>,
    /// With `--online`: what the server said to git's own fetch and push probes.
    pub online: Option<OnlineFacts>,
    /// Whether this runs inside a GitLab CI job (`CI_SERVER_URL` is set).
    pub in_job: bool,
    /// Where git's config names our helper for an origin: `(origin, location)`, for telling
    /// a correctly configured image outside a job from a helper with nothing to do.
    pub our_helpers: Vec<(String, String)>,
}

/// A file that holds credentials in plain text: its contents (the first 4 MiB), to find a
/// served token or a job token written into it.
pub struct StoredFile {
    pub path: PathBuf,
    pub format: StoredFormat,
    pub contents: Zeroizing<Vec<u8>>,
}

/// How a [`StoredFile`] is written, which says who reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredFormat {
    /// One URL a line, `https://user:password@host[:port][/path]`, user and password
    /// percent-encoded: the file of git's `store` helper, `~/.git-credentials` or
    /// `$XDG_CONFIG_HOME/git/credentials` (`~/.config/git/credentials` by default).
    GitCredentials,
    /// `machine HOST login USER password PASSWORD`, words separated by any whitespace,
    /// newlines included: `~/.netrc` or `~/_netrc`, which curl, and git through it, reads.
    Netrc,
}

/// A configuration that loaded: the files it came from, the settings it ignored, and each
/// credential with what its token sources gave.
pub struct ConfigFacts {
    pub files: Vec<ConfigFileState>,
    pub problems: Vec<ConfigError>,
    pub credentials: Vec<CredentialFacts>,
}

pub struct CredentialFacts {
    pub credential: Credential,
    /// What every one of the credential's token sources gave, in order.
    pub tokens: Resolution,
    /// The permission bits (`mode & 0o777`) of each token file that could be looked at.
    pub file_modes: BTreeMap<PathBuf, u32>,
}

/// A daemon's reply as the client returns it: the frame's kind and payload, or why not.
pub type Reply = Result<(Kind, Zeroizing<Vec<u8>>), ClientError>;

/// What the daemon's socket said.
pub struct DaemonFacts {
    pub socket: PathBuf,
    pub mode: Mode,
    /// The reply to a status request; `None` when the daemon was not asked
    /// (`--use-daemon never`).
    pub reply: Option<Reply>,
    /// The pid that holds the daemon's instance lock. Looked up only when no daemon listens
    /// on the socket, to tell a daemon that lost its socket from no daemon at all.
    pub lock_holder: Option<u32>,
    /// The job this process runs in, to compare with the one the daemon serves.
    pub job: crate::ipc::JobIdentity,
}

/// git's configuration as seen from the current directory, for one URL.
pub struct GitFacts {
    pub url: String,
    /// Where the URL came from, in words.
    pub url_from: String,
    /// Every entry git reads, in order; empty when git could not be asked.
    pub entries: Vec<Entry>,
    /// This program's own canonical path, to recognise it in a helper value; empty if unknown.
    pub exe: String,
    /// The contents (the first 4 MiB) of each config file that holds an entry and could be
    /// read, to find a served token written into one.
    pub files: BTreeMap<PathBuf, Zeroizing<Vec<u8>>>,
    /// What `git credential fill` gave for the URL git contacts; `None` when it was not asked
    /// (a password in the URL, a URL that is not http(s), no token of ours to compare with).
    pub fill: Option<FillFacts>,
    /// `GIT_CONFIG_GLOBAL`, when it names GitLab Runner's per-job seed file (`.glr.gconf`)
    /// and the git on PATH reads it (2.32 and later).
    pub runner_seed: Option<PathBuf>,
}

/// `git credential fill`'s outcome, without the password: only its fingerprint is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FillFacts {
    /// `asked`: how many of the helpers in effect git ran; the last of them answered (0: the
    /// credential came from the URL or config, no helper was asked).
    Answered {
        username: Option<String>,
        fingerprint: String,
        asked: usize,
    },
    /// git got no credential, after running `asked` helpers; git's own message.
    Nothing {
        message: String,
        asked: usize,
    },
    TimedOut {
        secs: u64,
    },
    NotRun(String),
}

/// `status --online`: git's fetch and push probes of the project URL.
pub struct OnlineFacts {
    pub url: String,
    pub fetch: Probe,
    pub push: Probe,
    /// What GitLab's API said about the token we serve for the URL; `None` when there was
    /// no token to ask about.
    pub identity: Option<Identity>,
    /// Warn of an access token's expiry this many days ahead.
    pub warn_days: u64,
}

/// One git probe: whether it succeeded, and git's words (stderr) when it did not.
#[derive(Debug, Clone)]
pub struct Probe {
    pub ok: bool,
    pub message: String,
}
