//! Which credentials we serve, gathered from every layer, highest first:
//!
//! 1. flags in the helper string (`--url`, `--username`, `--token-env`, `--token-file`,
//!    `--token-command`);
//! 2. environment variables (`GIT_CREDENTIAL_GITLAB_CI_URL`, ...);
//! 3. config files: `--config PATH`, else the user's file and then the system-wide one;
//! 4. inside a GitLab job with nothing else for its server: the job's own server
//!    (`CI_SERVER_URL`), `gitlab-ci-token` and `CI_JOB_TOKEN`.
//!
//! Flags and environment variables describe one credential; config files may describe many.
//! When several credentials cover a request, the longest path scope wins, then the higher
//! layer. Nothing here reads a token: sources are only named, and read per request.

use std::path::{Path, PathBuf};

use super::file as config_file;
use super::setting::{
    checked_command, checked_username, parse_scope, parse_setting_duration, ConfigError,
    DEFAULT_TOKEN_ENV, DEFAULT_USERNAME, ENV_CONFIG, ENV_TOKEN_COMMAND, ENV_TOKEN_COMMAND_TIMEOUT,
    ENV_TOKEN_COMMAND_TTL, ENV_TOKEN_ENV, ENV_TOKEN_FILE, ENV_URL, ENV_USERNAME,
};
use crate::credential::{Credential, Provenance, Scope};
use crate::token::{CommandSource, TokenSource};

/// What the command line said. Sources keep the order they were given in.
#[derive(Debug, Default, Clone)]
pub struct Flags {
    pub url: Option<String>,
    pub username: Option<String>,
    pub sources: Vec<TokenSource>,
    pub config: Option<PathBuf>,
}

/// Everything we serve, in precedence order, and the config files that were read.
#[derive(Debug, Default)]
pub struct Config {
    pub credentials: Vec<Credential>,
    pub files: Vec<ConfigFileState>,
    /// Settings that could not be used but do not stop the rest from being served, such as
    /// `--token-env` with no URL outside a GitLab job. `status` reports them.
    pub problems: Vec<ConfigError>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ConfigFileState {
    pub path: PathBuf,
    pub present: bool,
}

/// Looks up environment variables; a closure so tests need not touch the real environment.
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment. Non-UTF-8 values count as unset.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl<F: Fn(&str) -> Option<String>> Env for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name).filter(|v| !v.is_empty())
    }
}

impl Config {
    pub fn load(flags: &Flags, env: &impl Env) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        match command_line_credential(flags, env) {
            Ok(Some(credential)) => config.credentials.push(credential),
            Ok(None) => {}
            Err(ConfigError::NoUrl) => config.problems.push(ConfigError::NoUrl),
            Err(e) => return Err(e),
        }
        let (paths, explicit) = config_paths(flags, env);
        for path in paths {
            if !path.is_absolute() {
                let what = if explicit {
                    "the config file"
                } else {
                    "the user's config file (from HOME or XDG_CONFIG_HOME)"
                };
                return Err(ConfigError::Relative { what, path });
            }
            let present = match config_file::read(&path)? {
                Some(text) => {
                    config.credentials.extend(config_file::parse(&text, &path)?);
                    true
                }
                // A file named with --config must exist; the default ones need not.
                None if explicit => {
                    return Err(ConfigError::File {
                        path,
                        problem: "does not exist".into(),
                    })
                }
                None => false,
            };
            config.files.push(ConfigFileState { path, present });
        }
        if let Some(job) = gitlab_job_credential(env)? {
            let shadowed = config
                .credentials
                .iter()
                .any(|c| c.scope.origin == job.scope.origin && c.scope.path.is_none());
            if !shadowed {
                config.credentials.push(job);
            }
        }
        Ok(config)
    }
}

/// The credential described by flags and `GIT_CREDENTIAL_GITLAB_CI_*` variables, if either
/// says anything. Each setting is taken from the highest layer that sets it.
fn command_line_credential(
    flags: &Flags,
    env: &impl Env,
) -> Result<Option<Credential>, ConfigError> {
    let env_sources = env_sources(env);
    let from_flags = flags.url.is_some() || flags.username.is_some() || !flags.sources.is_empty();
    let from_env =
        env.get(ENV_URL).is_some() || env.get(ENV_USERNAME).is_some() || !env_sources.is_empty();
    if !from_flags && !from_env {
        return Ok(None);
    }

    let scope = match (&flags.url, env.get(ENV_URL)) {
        (Some(url), _) => parse_scope(url, "--url")?,
        (None, Some(url)) => parse_scope(&url, ENV_URL)?,
        (None, None) => match gitlab_server_scope(env)? {
            Some(scope) => scope,
            None => return Err(ConfigError::NoUrl),
        },
    };
    let username = match (&flags.username, env.get(ENV_USERNAME)) {
        (Some(name), _) => checked_username(name, "--username")?,
        (None, Some(name)) => checked_username(&name, ENV_USERNAME)?,
        (None, None) => DEFAULT_USERNAME.to_owned(),
    };
    let mut sources = if !flags.sources.is_empty() {
        flags.sources.clone()
    } else if !env_sources.is_empty() {
        env_sources
    } else {
        vec![TokenSource::Env(DEFAULT_TOKEN_ENV.to_owned())]
    };
    command_settings(&mut sources, flags, env)?;
    Ok(Some(Credential {
        scope,
        username,
        sources,
        expires: None,
        provenance: if from_flags {
            Provenance::Flags
        } else {
            Provenance::Environment
        },
    }))
}

/// Checks the flags' and environment's token commands, and gives them the deadline and TTL
/// from `GIT_CREDENTIAL_GITLAB_CI_TOKEN_COMMAND_TIMEOUT` and `..._TTL`. Without a command,
/// neither variable is looked at.
fn command_settings(
    sources: &mut [TokenSource],
    flags: &Flags,
    env: &impl Env,
) -> Result<(), ConfigError> {
    if !sources.iter().any(|s| matches!(s, TokenSource::Command(_))) {
        return Ok(());
    }
    let duration = |name: &str| {
        env.get(name)
            .map(|v| parse_setting_duration(&v, name))
            .transpose()
    };
    let timeout = duration(ENV_TOKEN_COMMAND_TIMEOUT)?;
    if timeout.is_some_and(|t| t.is_zero()) {
        return Err(ConfigError::Command {
            setting: ENV_TOKEN_COMMAND_TIMEOUT.to_owned(),
            problem: "the deadline must be longer than zero".to_owned(),
        });
    }
    let ttl = duration(ENV_TOKEN_COMMAND_TTL)?;
    let setting = if flags.sources.is_empty() {
        ENV_TOKEN_COMMAND
    } else {
        "--token-command"
    };
    for source in sources {
        if let TokenSource::Command(c) = source {
            checked_command(&c.command, setting)?;
            if let Some(t) = timeout {
                c.timeout = t;
            }
            if let Some(t) = ttl {
                c.ttl = t;
            }
        }
    }
    Ok(())
}

fn env_sources(env: &impl Env) -> Vec<TokenSource> {
    let mut sources = Vec::new();
    if let Some(names) = env.get(ENV_TOKEN_ENV) {
        sources.extend(
            names
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(|n| TokenSource::Env(n.to_owned())),
        );
    }
    if let Some(paths) = env.get(ENV_TOKEN_FILE) {
        sources.extend(
            std::env::split_paths(&paths)
                .filter(|p| !p.as_os_str().is_empty())
                .map(TokenSource::File),
        );
    }
    if let Some(command) = env.get(ENV_TOKEN_COMMAND) {
        sources.push(TokenSource::Command(CommandSource::new(command)));
    }
    sources
}

/// The GitLab job's own server: `CI_SERVER_URL`, else `CI_SERVER_PROTOCOL`, `CI_SERVER_HOST`
/// and `CI_SERVER_PORT`. A relative URL root (`https://host/gitlab`) is not a path scope.
pub fn gitlab_server_scope(env: &impl Env) -> Result<Option<Scope>, ConfigError> {
    if let Some(url) = env.get("CI_SERVER_URL") {
        return Scope::origin_only(&url)
            .map(Some)
            .map_err(|problem| ConfigError::Url {
                setting: "CI_SERVER_URL".to_owned(),
                problem,
            });
    }
    let Some(host) = env.get("CI_SERVER_HOST") else {
        return Ok(None);
    };
    let protocol = env
        .get("CI_SERVER_PROTOCOL")
        .unwrap_or_else(|| "https".to_owned());
    let url = match env.get("CI_SERVER_PORT") {
        Some(port) => format!("{protocol}://{host}:{port}"),
        None => format!("{protocol}://{host}"),
    };
    Scope::origin_only(&url)
        .map(Some)
        .map_err(|problem| ConfigError::Url {
            setting: "CI_SERVER_PROTOCOL/CI_SERVER_HOST/CI_SERVER_PORT".to_owned(),
            problem,
        })
}

fn gitlab_job_credential(env: &impl Env) -> Result<Option<Credential>, ConfigError> {
    Ok(gitlab_server_scope(env)?.map(|scope| Credential {
        scope,
        username: DEFAULT_USERNAME.to_owned(),
        sources: vec![TokenSource::Env(DEFAULT_TOKEN_ENV.to_owned())],
        expires: None,
        provenance: Provenance::GitLabJob,
    }))
}

/// `--config` (or its variable) alone when given; else the user's file, then the system's.
/// The flag says whether the paths were named explicitly.
fn config_paths(flags: &Flags, env: &impl Env) -> (Vec<PathBuf>, bool) {
    if let Some(path) = &flags.config {
        return (vec![path.clone()], true);
    }
    if let Some(path) = env.get(ENV_CONFIG) {
        return (vec![PathBuf::from(path)], true);
    }
    let mut paths = Vec::with_capacity(2);
    if let Some(user) = user_config_path() {
        paths.push(user);
    }
    paths.push(system_config_path());
    (paths, false)
}

/// The user's config file: `$XDG_CONFIG_HOME/git-credential-gitlab-ci/config.toml` (an
/// absolute XDG_CONFIG_HOME only), else `$HOME/.config/...`, as `directories` finds it.
/// On Linux it is built from the two variables in one allocation, since `get` needs it on
/// every call; `directories` (which also works out every other project directory) only
/// without HOME, and on other systems. A relative HOME gives a relative path, which
/// [`Config::load`] refuses.
pub fn user_config_path() -> Option<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        const TAIL: &str = "git-credential-gitlab-ci/config.toml";
        let xdg = std::env::var_os("XDG_CONFIG_HOME").filter(|v| Path::new(v).is_absolute());
        let (base, extra) = match xdg {
            Some(dir) => (dir, ""),
            None => match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
                Some(home) => (home, ".config"),
                None => return project_dirs_config(),
            },
        };
        let mut path = PathBuf::with_capacity(base.len() + extra.len() + TAIL.len() + 2);
        path.push(base);
        if !extra.is_empty() {
            path.push(extra);
        }
        path.push(TAIL);
        Some(path)
    }
    #[cfg(not(target_os = "linux"))]
    {
        project_dirs_config()
    }
}

fn project_dirs_config() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "git-credential-gitlab-ci")
        .map(|dirs| dirs.config_dir().join("config.toml"))
}

pub fn system_config_path() -> PathBuf {
    #[cfg(windows)]
    {
        let base = std::env::var_os("ProgramData").unwrap_or_else(|| "C:\\ProgramData".into());
        Path::new(&base)
            .join("git-credential-gitlab-ci")
            .join("config.toml")
    }
    #[cfg(not(windows))]
    {
        Path::new("/etc/git-credential-gitlab-ci/config.toml").to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_config_path_is_the_directories_crates() {
        // For this process's environment, the path `directories` gives.
        assert_eq!(user_config_path(), project_dirs_config());
    }
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Env {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| map.get(name).cloned()
    }

    /// Flags that name an empty config file, so no real user or system file is read.
    fn no_files() -> Flags {
        static EMPTY: std::sync::OnceLock<tempfile::NamedTempFile> = std::sync::OnceLock::new();
        let file = EMPTY.get_or_init(|| tempfile::NamedTempFile::new().unwrap());
        Flags {
            config: Some(file.path().to_path_buf()),
            ..Flags::default()
        }
    }

    #[test]
    fn a_command_from_flags_or_the_environment_takes_the_environments_deadline() {
        let command = |c: &Config| match &c.credentials[0].sources[..] {
            [TokenSource::Command(c)] => c.clone(),
            other => panic!("{other:?}"),
        };
        let vars = [
            ("CI_SERVER_URL", "https://gitlab.example.com"),
            (ENV_TOKEN_COMMAND, "mint-token --aud gitlab"),
            (ENV_TOKEN_COMMAND_TIMEOUT, "1500ms"),
            (ENV_TOKEN_COMMAND_TTL, "1m"),
        ];
        let c = Config::load(&no_files(), &env(&vars)).unwrap();
        let from_env = command(&c);
        assert_eq!(from_env.command, "mint-token --aud gitlab");
        assert_eq!(from_env.timeout, std::time::Duration::from_millis(1500));
        assert_eq!(from_env.ttl, std::time::Duration::from_secs(60));
        let flags = Flags {
            sources: vec![TokenSource::Command(CommandSource::new("/bin/mint".into()))],
            ..no_files()
        };
        let from_flags = command(&Config::load(&flags, &env(&vars)).unwrap());
        assert_eq!(from_flags.command, "/bin/mint");
        assert_eq!(from_flags.timeout, std::time::Duration::from_millis(1500));
        let relative = Flags {
            sources: vec![TokenSource::Command(CommandSource::new("./mint".into()))],
            ..no_files()
        };
        let e = Config::load(&relative, &env(&vars))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--token-command: "), "{e}");
        let bad = [
            ("CI_SERVER_URL", "https://gitlab.example.com"),
            (ENV_TOKEN_COMMAND, "mint"),
            (ENV_TOKEN_COMMAND_TIMEOUT, "five"),
        ];
        let e = Config::load(&no_files(), &env(&bad))
            .unwrap_err()
            .to_string();
        assert!(e.contains(ENV_TOKEN_COMMAND_TIMEOUT), "{e}");
    }

    #[test]
    fn a_config_file_named_explicitly_must_exist() {
        let flags = Flags {
            config: Some(PathBuf::from("/nonexistent/c.toml")),
            ..Flags::default()
        };
        let err = Config::load(&flags, &env(&[])).unwrap_err().to_string();
        assert_eq!(err, "config file /nonexistent/c.toml: does not exist");
    }

    #[test]
    fn a_gitlab_job_with_no_configuration_serves_its_server_with_the_job_token() {
        let config = Config::load(
            &no_files(),
            &env(&[("CI_SERVER_URL", "https://gitlab.example.com/root")]),
        )
        .unwrap();
        let [c] = &config.credentials[..] else {
            panic!("{config:?}")
        };
        assert_eq!(c.scope.to_string(), "https://gitlab.example.com");
        assert_eq!(c.username, "gitlab-ci-token");
        assert_eq!(c.sources, [TokenSource::Env("CI_JOB_TOKEN".into())]);
        assert_eq!(c.provenance, Provenance::GitLabJob);
    }

    #[test]
    fn the_split_server_variables_are_used_without_ci_server_url() {
        let vars = env(&[
            ("CI_SERVER_HOST", "gitlab.example.com"),
            ("CI_SERVER_PORT", "8443"),
            ("CI_SERVER_PROTOCOL", "https"),
        ]);
        let config = Config::load(&no_files(), &vars).unwrap();
        assert_eq!(
            config.credentials[0].scope.to_string(),
            "https://gitlab.example.com:8443"
        );
    }

    #[test]
    fn nothing_configured_outside_a_job_serves_nothing() {
        assert!(Config::load(&no_files(), &env(&[]))
            .unwrap()
            .credentials
            .is_empty());
    }

    #[test]
    fn flags_beat_environment_variables_setting_by_setting() {
        let flags = Flags {
            url: Some("https://flag.example".into()),
            ..no_files()
        };
        let vars = env(&[
            (ENV_URL, "https://env.example"),
            (ENV_USERNAME, "env-user"),
            (ENV_TOKEN_ENV, "A, B"),
        ]);
        let config = Config::load(&flags, &vars).unwrap();
        let c = &config.credentials[0];
        assert_eq!(c.scope.to_string(), "https://flag.example");
        assert_eq!(c.username, "env-user");
        assert_eq!(
            c.sources,
            [TokenSource::Env("A".into()), TokenSource::Env("B".into())]
        );
        assert_eq!(c.provenance, Provenance::Flags);
    }

    #[test]
    fn token_flags_without_a_url_use_the_job_server_or_fail_clearly() {
        let flags = Flags {
            sources: vec![TokenSource::Env("MY_TOKEN".into())],
            ..no_files()
        };
        let config = Config::load(&flags, &env(&[])).unwrap();
        assert!(config.credentials.is_empty());
        assert!(matches!(config.problems[..], [ConfigError::NoUrl]));
        let config = Config::load(&flags, &env(&[("CI_SERVER_URL", "https://g.example")])).unwrap();
        assert_eq!(
            config.credentials.len(),
            1,
            "the job credential is shadowed"
        );
        assert_eq!(
            config.credentials[0].sources,
            [TokenSource::Env("MY_TOKEN".into())]
        );
    }

    #[test]
    fn bad_urls_name_the_setting_not_a_secret() {
        let flags = Flags {
            url: Some("https://user:glpat-secret@h".into()),
            ..no_files()
        };
        let err = Config::load(&flags, &env(&[])).unwrap_err().to_string();
        assert!(err.starts_with("--url:"), "{err}");
        assert!(!err.contains("glpat-secret"), "{err}");
    }
}
