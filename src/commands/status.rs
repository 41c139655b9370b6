//! `status`: finds the URL to check, gathers what the report needs, and prints it as text or
//! JSON. The exit status is 1 when the report holds a problem.
//!
//! All of the report's I/O happens here, in [`gather`]: asking the daemon, running git,
//! reading the token sources, looking at token files and scanning git's config files.
//! [`Report::build`] then judges those facts without touching anything.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use crate::client::{self, ClientError, Mode};
use crate::config::{Config, Flags, ProcessEnv};
use crate::credential::Credential;
use crate::error::Failure;
use crate::git::{Filled, Version};
use crate::ipc::Kind;
use crate::redact::Redactor;
use crate::report::{
    ConfigFacts, CredentialFacts, DaemonFacts, Facts, FillFacts, GitFacts, Level, OnlineFacts,
    Probe, Report, StoredFile, StoredFormat,
};
use crate::token::TokenSource;

pub fn run(
    flags: &Flags,
    socket: &Path,
    mode: Mode,
    url: Option<String>,
    json: bool,
    online: bool,
    warn_days: u64,
) -> Result<ExitCode, Failure> {
    let facts = gather(flags, socket, mode, url, online, warn_days);
    let redactor = Redactor::new(served_tokens(&facts));
    let report = Report::build(facts);
    let text = if json {
        let mut s = serde_json::to_string_pretty(&report).unwrap_or_default();
        s.push('\n');
        s
    } else {
        report.to_text()
    };
    let _ = io::stdout()
        .lock()
        .write_all(redactor.apply(&text).as_bytes());
    Ok(if report.worst() == Level::Problem {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The tokens the report could show, to mask wherever they turn up.
fn served_tokens(facts: &Facts) -> Vec<std::sync::Arc<crate::token::Token>> {
    let Ok(config) = &facts.config else {
        return Vec::new();
    };
    config
        .credentials
        .iter()
        .filter_map(|c| c.tokens.token.clone())
        .collect()
}

/// Everything the report is built from, read now. `url` is the URL given to check, if any.
fn gather(
    flags: &Flags,
    socket: &Path,
    mode: Mode,
    url: Option<String>,
    online: bool,
    warn_days: u64,
) -> Facts {
    let daemon = ask_daemon(socket, mode);
    let target = url
        .map(|u| (u, "given on the command line".to_owned()))
        .or_else(origin_push_url)
        .or_else(ci_project_url);
    let config = Config::load(flags, &ProcessEnv);
    let now = SystemTime::now();
    let git_version = crate::git::version().ok();
    let config = config.map(|c| ConfigFacts {
        files: c.files,
        problems: c.problems,
        credentials: c.credentials.into_iter().map(read_credential).collect(),
    });
    // `git credential fill` proves the chain only if there is a token of ours to compare
    // its answer with: here, or in a running daemon.
    let tokens_known = config
        .as_ref()
        .is_ok_and(|c| c.credentials.iter().any(|c| c.tokens.token.is_some()))
        || matches!(daemon.reply, Some(Ok((Kind::Data, _))));
    // git's config as git reads it from here, and our own path, read once for the report.
    let entries = crate::git::read(std::env::current_dir().ok().as_deref()).unwrap_or_default();
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.canonicalize().ok())
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let probes = online
        .then(|| {
            target.as_ref().map(|(url, _)| {
                // The token we answer with for the URL's origin, to ask the API about.
                let token = config.as_ref().ok().and_then(|c| {
                    c.credentials
                        .iter()
                        .filter(|cf| url.starts_with(&cf.credential.scope.origin.to_string()))
                        .find_map(|cf| cf.tokens.token.clone())
                });
                probe(url, token.as_deref(), warn_days)
            })
        })
        .flatten();
    Facts {
        config,
        daemon,
        our_helpers: our_helpers(&entries, &exe),
        git: target.map(|(url, url_from)| {
            read_git(url, url_from, git_version, tokens_known, entries, exe)
        }),
        now,
        git_version,
        stored: read_stored(),
        online: probes,
        in_job: std::env::var_os("CI_SERVER_URL").is_some_and(|v| !v.is_empty()),
    }
}

/// Where git's config (as seen from here) names this program as the helper for an origin.
fn our_helpers(entries: &[crate::git::Entry], exe: &str) -> Vec<(String, String)> {
    if exe.is_empty() {
        return Vec::new();
    }
    entries
        .iter()
        .filter_map(|e| {
            let ("credential", Some(origin), "helper") = e.parts() else {
                return None;
            };
            let ours = e.value().is_some_and(|v| crate::git::is_our_helper(v, exe));
            ours.then(|| (origin.to_owned(), e.location()))
        })
        .collect()
}

/// How long each of git's online probes may take.
const PROBE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// How long the API is given to say who the token is.
const API_DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);

/// `--online`: git's own fetch and push probes of `url`, through the helper chain git uses.
/// The push is a dry run of an empty commit in a scratch repository made for it: git
/// connects to git-receive-pack, where the server decides, and sends nothing.
fn probe(url: &str, token: Option<&crate::token::Token>, warn_days: u64) -> OnlineFacts {
    let run =
        |cmd: &mut std::process::Command| match crate::git::run_bounded(cmd, b"", PROBE_DEADLINE) {
            Ok(r) => Probe {
                ok: r.status.is_some_and(|s| s.success()),
                message: if r.status.is_none() {
                    format!("no answer within {} s", PROBE_DEADLINE.as_secs())
                } else {
                    r.stderr
                },
            },
            Err(e) => Probe {
                ok: false,
                message: format!("could not run git: {e}"),
            },
        };
    let fetch = run(crate::git::unattended().args(["ls-remote", "--heads", "--", url]));
    let scratch = std::env::temp_dir().join(format!(
        "git-credential-gitlab-ci-probe-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    let made = crate::git::run(
        crate::git::command()
            .args(["init", "--quiet"])
            .arg(&scratch),
        "making a scratch repository",
    )
    .and_then(|_| {
        crate::git::run(
            crate::git::command()
                .arg("-C")
                .arg(&scratch)
                .args(["-c", "user.name=probe", "-c", "user.email=probe@invalid"])
                .args([
                    "commit",
                    "--quiet",
                    "--allow-empty",
                    "--no-verify",
                    "-m",
                    "probe",
                ]),
            "making a commit to offer",
        )
    });
    let push = match made {
        Ok(_) => run(crate::git::unattended()
            .arg("-C")
            .arg(&scratch)
            .args(["push", "--dry-run", "--porcelain", "--no-verify", url])
            .arg("HEAD:refs/heads/git-credential-gitlab-ci-probe")),
        Err(e) => Probe {
            ok: false,
            message: e.to_string(),
        },
    };
    let _ = std::fs::remove_dir_all(&scratch);
    let identity = token.map(|t| {
        let api = api_base(url);
        crate::gitlab_api::identify(&api, t, &transport(&api), API_DEADLINE)
    });
    OnlineFacts {
        url: url.to_owned(),
        fetch,
        push,
        identity,
        warn_days,
    }
}

/// The API of the server `url` is on: `CI_API_V4_URL` in a job on that server (it has the
/// path of an instance under one), else `<origin>/api/v4`.
fn api_base(url: &str) -> String {
    let origin = crate::git::Url::parse(url)
        .map(|u| match u.port {
            Some(p) => format!("{}://{}:{p}", u.scheme, u.host),
            None => format!("{}://{}", u.scheme, u.host),
        })
        .unwrap_or_default();
    std::env::var("CI_API_V4_URL")
        .ok()
        .filter(|api| !origin.is_empty() && api.starts_with(&origin))
        .unwrap_or_else(|| format!("{origin}/api/v4"))
}

/// git's CA file and proxy for `url`, as git matches them, for the API request. They are read
/// from the environment and the system and global config only, outside any repository: a
/// repository's config does not choose whom the token is shown to.
fn transport(url: &str) -> crate::gitlab_api::Transport {
    let git_config = |key: &str| {
        crate::git::run(
            crate::git::command()
                .current_dir("/")
                .env_remove("GIT_DIR")
                .env_remove("GIT_WORK_TREE")
                .env_remove("GIT_CONFIG")
                .args(["config", "--get-urlmatch", key, url]),
            "reading git's http settings",
        )
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|v| !v.is_empty())
    };
    let ca_file = std::env::var_os("GIT_SSL_CAINFO")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| git_config("http.sslCAInfo").map(PathBuf::from));
    crate::gitlab_api::Transport {
        ca_file,
        proxy: git_config("http.proxy"),
    }
}

/// Every file credentials are written to in plain text that exists: git's `store` helper's
/// two, and the netrc files curl reads for git.
fn read_stored() -> Vec<StoredFile> {
    let nonempty = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let home = nonempty("HOME");
    let xdg = nonempty("XDG_CONFIG_HOME").or_else(|| home.as_ref().map(|h| h.join(".config")));
    let candidates = [
        home.as_ref()
            .map(|h| (h.join(".git-credentials"), StoredFormat::GitCredentials)),
        xdg.map(|x| {
            (
                x.join("git").join("credentials"),
                StoredFormat::GitCredentials,
            )
        }),
        home.as_ref()
            .map(|h| (h.join(".netrc"), StoredFormat::Netrc)),
        home.as_ref()
            .map(|h| (h.join("_netrc"), StoredFormat::Netrc)),
    ];
    candidates
        .into_iter()
        .flatten()
        .filter_map(|(path, format)| {
            let contents = read_bounded(&path).ok()?;
            Some(StoredFile {
                path,
                format,
                contents,
            })
        })
        .collect()
}

/// Asks the daemon on `socket` for its state, unless the daemon is not to be used.
fn ask_daemon(socket: &Path, mode: Mode) -> DaemonFacts {
    let reply = (mode != Mode::Never).then(|| client::request(socket, Kind::Status, b""));
    let lock_holder = match &reply {
        Some(Err(ClientError::NotRunning(_))) => crate::daemon::lock_holder(socket),
        _ => None,
    };
    DaemonFacts {
        socket: socket.to_path_buf(),
        mode,
        reply,
        lock_holder,
        job: crate::ipc::JobIdentity::from_env(),
    }
}

/// Reads every token source of `credential`, and the permissions of its token files.
fn read_credential(credential: Credential) -> CredentialFacts {
    let tokens = crate::token::resolve_all(&credential.sources);
    let file_modes = credential
        .sources
        .iter()
        .filter_map(|s| match s {
            TokenSource::File(path) => Some((path.clone(), permission_bits(path)?)),
            _ => None,
        })
        .collect();
    CredentialFacts {
        credential,
        tokens,
        file_modes,
    }
}

#[cfg(unix)]
fn permission_bits(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(std::fs::metadata(path).ok()?.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn permission_bits(_path: &Path) -> Option<u32> {
    None
}

/// git's configuration as seen from here, this program's own path, and the contents of every
/// config file git read an entry from.
/// How long `git credential fill` may take for the whole chain.
const FILL_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// `git credential fill` for the URL git contacts, unless git would ask no helper for it.
fn fill(url: &str, entries: &[crate::git::Entry]) -> Option<FillFacts> {
    let (contacted, _) = crate::git::rewrite(entries, url, true);
    let target = crate::git::Url::parse(&contacted)?;
    if target.password || !matches!(target.scheme.as_str(), "http" | "https") {
        return None;
    }
    Some(match crate::git::fill(&contacted, FILL_DEADLINE) {
        Filled::Credential {
            username,
            password,
            asked,
        } => FillFacts::Answered {
            username,
            fingerprint: crate::token::fingerprint_of(&password),
            asked,
        },
        Filled::Nothing { message, asked } => FillFacts::Nothing { message, asked },
        Filled::TimedOut => FillFacts::TimedOut {
            secs: FILL_DEADLINE.as_secs(),
        },
        Filled::NotRun(why) => FillFacts::NotRun(why),
    })
}

/// `tokens_known`: whether any token of ours (here or in the daemon) exists to compare
/// `git credential fill`'s answer with.
fn read_git(
    url: String,
    url_from: String,
    version: Option<Version>,
    tokens_known: bool,
    entries: Vec<crate::git::Entry>,
    exe: String,
) -> GitFacts {
    let paths: BTreeSet<&Path> = entries.iter().filter_map(|e| e.file()).collect();
    let files: BTreeMap<PathBuf, _> = paths
        .into_iter()
        .filter_map(|path| Some((path.to_path_buf(), read_bounded(path).ok()?)))
        .collect();
    // git reads GIT_CONFIG_GLOBAL from 2.32 on; the runner names its seed file `.glr.gconf`.
    let runner_seed = std::env::var_os("GIT_CONFIG_GLOBAL")
        .map(PathBuf::from)
        .filter(|p| p.file_name().is_some_and(|n| n == ".glr.gconf"))
        .filter(|_| version.is_some_and(|v| v.has_config_file_env()));
    let fill = tokens_known.then(|| fill(&url, &entries)).flatten();
    GitFacts {
        url,
        url_from,
        entries,
        exe,
        files,
        fill,
        runner_seed,
    }
}

/// The most of a file [`read_bounded`] reads.
const MAX_READ: u64 = 4 * 1024 * 1024;

/// The first 4 MiB of a regular file, opened so that a FIFO cannot hang us.
///
/// The buffer is sized once, from the file's length, and never grows: a growing `Vec` moves
/// its contents and frees the old allocation without zeroing it, and these files may hold
/// tokens.
fn read_bounded(path: &Path) -> std::io::Result<zeroize::Zeroizing<Vec<u8>>> {
    let mut file = crate::hardening::open_nonblocking(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(std::io::ErrorKind::InvalidInput.into());
    }
    let len = usize::try_from(metadata.len().min(MAX_READ)).unwrap_or(0);
    crate::hardening::read_sized(&mut file, len)
}

/// The push URL of `origin` as written in the config (`pushurl`, else `url`), before any
/// `insteadOf` rewriting, which the report shows as a finding of its own.
fn origin_push_url() -> Option<(String, String)> {
    let get = |key: &str| {
        let out = crate::git::command()
            .args(["config", "--get", key])
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        let url = String::from_utf8(out.stdout).ok()?.trim().to_owned();
        (out.status.success() && !url.is_empty()).then_some(url)
    };
    get("remote.origin.pushurl")
        .or_else(|| get("remote.origin.url"))
        .map(|url| (url, "origin's push URL".to_owned()))
}

/// `$CI_SERVER_URL/$CI_PROJECT_PATH.git`, or the server alone.
fn ci_project_url() -> Option<(String, String)> {
    let server = std::env::var("CI_SERVER_URL")
        .ok()
        .filter(|s| !s.is_empty())?;
    let server = server.trim_end_matches('/');
    Some(
        match std::env::var("CI_PROJECT_PATH")
            .ok()
            .filter(|p| !p.is_empty())
        {
            Some(project) => (
                format!("{server}/{project}.git"),
                "CI_SERVER_URL and CI_PROJECT_PATH".to_owned(),
            ),
            None => (format!("{server}/"), "CI_SERVER_URL".to_owned()),
        },
    )
}
