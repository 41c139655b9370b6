//! What `configure` and `unconfigure` work from: our helper string, the origins to write it
//! for, the file to write, and the errors on the way.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::config::{Config, Flags, DEFAULT_USERNAME};
use crate::git::{self, shell_quote, GitError};
use crate::token::{looks_like_token, TokenSource};

/// The config file `configure` writes to, named the way `git config` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    System,
    Global,
    Local,
    File(PathBuf),
}

/// What `configure` writes for one served origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// `https://host[:port]`, as git's `credential.<url>` keys match it.
    pub origin: String,
    /// A credential for this origin is scoped to a path, which git sends only when asked to.
    pub use_http_path: bool,
    /// The user name every credential for this origin has, when it is not the default
    /// `gitlab-ci-token`: a deploy token's, say. GitLab Runner tells git to send
    /// `gitlab-ci-token` for the origin, so `--env` also sets this one, which git reads last.
    pub username: Option<String>,
}

impl Wanted {
    pub(super) fn helper_key(&self) -> String {
        format!("credential.{}.helper", self.origin)
    }

    pub(super) fn use_http_path_key(&self) -> String {
        format!("credential.{}.useHttpPath", self.origin)
    }

    pub(super) fn username_key(&self) -> String {
        format!("credential.{}.username", self.origin)
    }
}

/// Everything `configure` and `unconfigure` need: our helper string and what to write it for.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Our executable, absolute and canonical, as it appears in the helper string.
    pub exe: String,
    /// The helper string: the executable and the options, quoted for `/bin/sh`.
    pub helper: String,
    pub wanted: Vec<Wanted>,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0}")]
    NothingServed(String),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{} is not valid UTF-8, which a helper string cannot hold", .0.display())]
    NotUtf8(PathBuf),
    #[error("{}.lock exists: another git process is changing this file; try again when it is done", .0.display())]
    Locked(PathBuf),
    #[error("{}: {problem}; remove git-credential-gitlab-ci's entries by hand (git config --file FILE --unset-all KEY)", path.display())]
    Unreadable { path: PathBuf, problem: String },
    #[error("{} changed while it was being edited; run the command again", .0.display())]
    Changed(PathBuf),
    #[error(transparent)]
    Environment(#[from] crate::git::EnvError),
    #[error("{0} looks like a token, not {1}: write {2}; nothing was written. Revoke that token: it may have been logged")]
    TokenShaped(&'static str, &'static str, &'static str),
}

impl From<git::EditError> for SetupError {
    fn from(e: git::EditError) -> SetupError {
        match e {
            git::EditError::Git(e) => SetupError::Git(e),
            git::EditError::Io { path, source } => SetupError::Io { path, source },
            git::EditError::Locked(path) => SetupError::Locked(path),
            git::EditError::Unreadable { path, problem } => {
                SetupError::Unreadable { path, problem }
            }
            git::EditError::Changed(path) => SetupError::Changed(path),
        }
    }
}

impl Setup {
    /// Our helper as `exe` with `options`, for each origin `config` serves.
    pub fn new(config: &Config, exe: &Path, options: &[String]) -> Result<Setup, SetupError> {
        let wanted = wanted(config);
        if wanted.is_empty() {
            let why = if config.problems.is_empty() {
                "no URL to serve: pass --url (the same options as given to configure), or run inside a GitLab CI job (CI_SERVER_URL)"
                    .to_owned()
            } else {
                config
                    .problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            return Err(SetupError::NothingServed(why));
        }
        let exe = exe
            .to_str()
            .ok_or_else(|| SetupError::NotUtf8(exe.to_path_buf()))?
            .to_owned();
        Ok(Setup {
            helper: helper_string(&exe, options),
            exe,
            wanted,
        })
    }
}

/// The origins `config` serves, in order, each once.
pub fn wanted(config: &Config) -> Vec<Wanted> {
    let mut wanted: Vec<(Wanted, BTreeSet<&str>)> = Vec::new();
    for c in &config.credentials {
        let origin = c.scope.origin.to_string();
        match wanted.iter_mut().find(|(w, _)| w.origin == origin) {
            Some((w, names)) => {
                w.use_http_path |= c.scope.path.is_some();
                names.insert(&c.username);
            }
            None => wanted.push((
                Wanted {
                    origin,
                    use_http_path: c.scope.path.is_some(),
                    username: None,
                },
                BTreeSet::from([c.username.as_str()]),
            )),
        }
    }
    wanted
        .into_iter()
        .map(|(mut w, names)| {
            if let [name] = names.into_iter().collect::<Vec<_>>()[..] {
                w.username = (name != DEFAULT_USERNAME).then(|| name.to_owned());
            }
            w
        })
        .collect()
}

/// The options given to `configure` that change what the helper serves, in the helper
/// string's form. Paths are made absolute: git runs the helper in whatever directory it is in.
pub fn helper_options(
    flags: &Flags,
    socket: Option<&Path>,
    use_daemon: Option<&str>,
) -> Result<Vec<String>, SetupError> {
    let path = |p: &Path| -> Result<String, SetupError> {
        let absolute = std::path::absolute(p).map_err(|source| SetupError::Io {
            path: p.to_path_buf(),
            source,
        })?;
        absolute
            .to_str()
            .map(str::to_owned)
            .ok_or(SetupError::NotUtf8(absolute))
    };
    let mut options = Vec::new();
    // A bare origin is already in the config key that scopes the helper. Copied into the
    // helper string it would become a flag-level credential that outranks the config files'
    // credentials for the same origin (a deploy token, say), so it is copied only when it
    // carries a path or goes with a username or token source that needs it.
    let needs_url = flags.username.is_some()
        || !flags.sources.is_empty()
        || flags
            .url
            .as_deref()
            .and_then(|u| crate::credential::Scope::parse(u).ok())
            .is_some_and(|s| s.path.is_some());
    if let Some(url) = flags.url.as_ref().filter(|_| needs_url) {
        options.extend(["--url".to_owned(), url.clone()]);
    }
    if let Some(name) = &flags.username {
        options.extend(["--username".to_owned(), name.clone()]);
    }
    for source in &flags.sources {
        match source {
            TokenSource::Env(name) if looks_like_token(name) => {
                return Err(SetupError::TokenShaped(
                    "--token-env",
                    "a variable name",
                    "--token-env RELEASE_TOKEN, not --token-env $RELEASE_TOKEN",
                ))
            }
            TokenSource::File(p)
                if p.components()
                    .any(|c| looks_like_token(&c.as_os_str().to_string_lossy())) =>
            {
                return Err(SetupError::TokenShaped(
                    "--token-file",
                    "a path",
                    "--token-file /path/to/the/file, not the token",
                ))
            }
            TokenSource::Env(name) => options.extend(["--token-env".to_owned(), name.clone()]),
            TokenSource::File(p) => options.extend(["--token-file".to_owned(), path(p)?]),
            TokenSource::Command(c) => {
                options.extend(["--token-command".to_owned(), c.command.clone()])
            }
            TokenSource::Held(_) => {}
        }
    }
    if let Some(config) = &flags.config {
        options.extend(["--config".to_owned(), path(config)?]);
    }
    if let Some(socket) = socket {
        options.extend(["--socket".to_owned(), path(socket)?]);
    }
    if let Some(mode) = use_daemon {
        options.extend(["--use-daemon".to_owned(), mode.to_owned()]);
    }
    Ok(options)
}

/// The helper string git runs as `<string> get` through `/bin/sh -c`.
///
/// git runs a value that starts with '/' as written, but takes anything else that does not
/// start with '!' for a helper name (`git credential-<name>`). A path that needs quoting
/// would start with a quote, so it goes into a `!` shell snippet instead.
pub fn helper_string(exe: &str, options: &[String]) -> String {
    let mut helper = match shell_quote(exe) {
        Cow::Borrowed(exe) if exe.starts_with('/') => exe.to_owned(),
        quoted => format!("!{quoted}"),
    };
    for option in options {
        helper.push(' ');
        helper.push_str(&shell_quote(option));
    }
    helper
}

/// The path to this executable as the helper string should name it.
pub fn current_exe() -> Result<PathBuf, SetupError> {
    let exe = std::env::current_exe().map_err(|source| SetupError::Io {
        path: PathBuf::from("(this program)"),
        source,
    })?;
    std::fs::canonicalize(&exe).map_err(|source| SetupError::Io { path: exe, source })
}

pub(super) fn git_stdout(cmd: &mut Command, what: &str) -> Result<String, SetupError> {
    let out = run(cmd, what)?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs git; a failure carries git's own message.
pub(super) fn run(cmd: &mut Command, what: &str) -> Result<Output, SetupError> {
    Ok(git::run(cmd, what)?)
}

/// The served origins, for messages.
pub(super) fn origins(setup: &Setup) -> String {
    setup
        .wanted
        .iter()
        .map(|w| w.origin.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use crate::credential::Scope;
    use crate::credential::{Credential, Provenance};
    use crate::git::is_our_helper;

    #[test]
    fn the_helper_string_is_an_absolute_path_or_a_shell_snippet() {
        let opts = ["--token-env".to_owned(), "MY_PAT".to_owned()];
        assert_eq!(
            helper_string(EXE, &opts),
            format!("{EXE} --token-env MY_PAT")
        );
        assert_eq!(
            helper_string(
                "/opt/my tools/git-credential-gitlab-ci",
                &["--token-file".into(), "/run/a b".into()]
            ),
            "!'/opt/my tools/git-credential-gitlab-ci' --token-file '/run/a b'"
        );
        assert!(is_our_helper(
            &helper_string("/opt/my tools/git-credential-gitlab-ci", &[]),
            "/opt/my tools/git-credential-gitlab-ci"
        ));
    }

    #[test]
    fn our_helper_is_recognised_by_its_command() {
        assert!(is_our_helper(EXE, EXE));
        assert!(is_our_helper(&format!("{EXE} --token-env X"), EXE));
        assert!(is_our_helper(
            "/other/git-credential-gitlab-ci --url https://h",
            EXE
        ));
        assert!(is_our_helper("gitlab-ci", EXE));
        assert!(is_our_helper(
            "!\"/a b/git-credential-gitlab-ci\" get",
            "/x"
        ));
        assert!(!is_our_helper("!gitlab-ci", EXE));
        assert!(!is_our_helper("", EXE));
        assert!(!is_our_helper("store", EXE));
        assert!(!is_our_helper("/usr/bin/git-credential-gitlab-ci-old", EXE));
        assert!(!is_our_helper(
            "!f() { echo password=$CI_JOB_TOKEN; }; f",
            EXE
        ));
        assert!(!is_our_helper("cache --note git-credential-gitlab-ci", EXE));
    }

    #[test]
    fn every_served_origin_once_with_use_http_path_where_a_path_is_scoped() {
        let credential = |url: &str, username: &str| Credential {
            scope: Scope::parse(url).unwrap(),
            username: username.into(),
            sources: vec![],
            expires: None,
            provenance: Provenance::Flags,
        };
        let config = Config {
            credentials: vec![
                credential("https://H.example:443", "deployer"),
                credential("https://h.example/group", "deployer"),
                credential("https://h.example:8443", "gitlab-ci-token"),
                credential("https://mixed.example/a", "deployer"),
                credential("https://mixed.example/b", "gitlab-ci-token"),
            ],
            ..Config::default()
        };
        assert_eq!(
            wanted(&config),
            [
                Wanted {
                    origin: "https://h.example".into(),
                    use_http_path: true,
                    username: Some("deployer".into()),
                },
                Wanted {
                    origin: "https://h.example:8443".into(),
                    use_http_path: false,
                    username: None,
                },
                Wanted {
                    origin: "https://mixed.example".into(),
                    use_http_path: true,
                    username: None,
                },
            ]
        );
        assert!(matches!(
            Setup::new(&Config::default(), Path::new(EXE), &[]),
            Err(SetupError::NothingServed(_))
        ));
    }

    #[test]
    fn options_are_forwarded_in_order_with_absolute_paths() {
        let flags = Flags {
            url: Some("https://h".into()),
            username: None,
            sources: vec![
                TokenSource::File("rel/token".into()),
                TokenSource::Env("PAT".into()),
            ],
            config: None,
        };
        let bare = Flags {
            url: Some("https://h".into()),
            ..Flags::default()
        };
        assert!(
            helper_options(&bare, None, None).unwrap().is_empty(),
            "a bare origin stays in the config key"
        );
        let options = helper_options(&flags, None, Some("never")).unwrap();
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            options,
            [
                "--url".to_owned(),
                "https://h".into(),
                "--token-file".into(),
                cwd.join("rel/token").to_str().unwrap().into(),
                "--token-env".into(),
                "PAT".into(),
                "--use-daemon".into(),
                "never".into()
            ]
        );
        // A token command goes into the helper string as one quoted word.
        let minted = Flags {
            sources: vec![TokenSource::Command(crate::token::CommandSource::new(
                "vault read -field=token gitlab/token/push".into(),
            ))],
            ..Flags::default()
        };
        let options = helper_options(&minted, None, None).unwrap();
        assert_eq!(
            options,
            [
                "--token-command",
                "vault read -field=token gitlab/token/push"
            ]
        );
        assert_eq!(
            helper_string(testing::EXE, &options),
            format!(
                "{} --token-command 'vault read -field=token gitlab/token/push'",
                testing::EXE
            )
        );
    }
}

/// Test fixtures for setup's modules (after `mod tests`, with the test-only code).
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub const EXE: &str = "/usr/local/bin/git-credential-gitlab-ci";

    pub fn setup(wanted: &[(&str, bool)], options: &[&str]) -> Setup {
        let options: Vec<String> = options.iter().map(|s| s.to_string()).collect();
        Setup {
            exe: EXE.to_owned(),
            helper: helper_string(EXE, &options),
            wanted: wanted
                .iter()
                .map(|(o, p)| Wanted {
                    origin: o.to_string(),
                    use_http_path: *p,
                    username: None,
                })
                .collect(),
        }
    }
}
