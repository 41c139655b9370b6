//! `configure` and `unconfigure`: writing and removing our entries in git's config.
//!
//! For each origin we serve, `configure` writes what the README tells users to write by hand:
//! a `credential.<origin>.helper` reset (an empty value clears the helpers git collected
//! before it), then our helper by absolute path with the options given, and
//! `credential.<origin>.useHttpPath true` where a path-scoped credential needs git to send the
//! path. Entries are added with `git config --add`, so git does the quoting and picks the
//! section. `--env` writes no file: it prints `GIT_CONFIG_*` exports, which git reads after
//! every file, so they also win over GitLab Runner's per-job reset.
//!
//! `unconfigure` must remove exactly what `configure` added, but a reset looks like any other
//! empty value. So every line `configure` writes carries a comment, `# added by
//! git-credential-gitlab-ci` (`git config --comment`, git 2.45 and later), and `unconfigure`
//! finds the tagged lines in the file. git deletes entries only by key and value, never "the
//! second of two empty values", so the removal is a line edit, made the way git makes its own:
//! in `<file>.lock`, created exclusively, then renamed over the file. Before the rename, git
//! must read the edited file as the old one minus exactly the removed entries, or nothing
//! changes.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::config::{Config, Flags};
use crate::git::{
    self, is_our_helper, is_true, normalise_key, parse_config_lines, shell_quote, single_quote,
    Entry, GitError, MARKER,
};
use crate::token::TokenSource;

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
}

impl Wanted {
    fn helper_key(&self) -> String {
        format!("credential.{}.helper", self.origin)
    }

    fn use_http_path_key(&self) -> String {
        format!("credential.{}.useHttpPath", self.origin)
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
    let mut wanted: Vec<Wanted> = Vec::new();
    for c in &config.credentials {
        let origin = c.scope.origin.to_string();
        match wanted.iter_mut().find(|w| w.origin == origin) {
            Some(w) => w.use_http_path |= c.scope.path.is_some(),
            None => wanted.push(Wanted {
                origin,
                use_http_path: c.scope.path.is_some(),
            }),
        }
    }
    wanted
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
            TokenSource::Env(name) => options.extend(["--token-env".to_owned(), name.clone()]),
            TokenSource::File(p) => options.extend(["--token-file".to_owned(), path(p)?]),
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

/// What `configure` does with one origin's helper key in one file.
#[derive(Debug, PartialEq, Eq)]
pub enum HelperPlan {
    /// The file's last two values for the key are a reset and our identical helper.
    Unchanged,
    /// Remove the values at these positions (an earlier configuration of ours), then append a
    /// reset and our helper.
    Write { remove: Vec<usize> },
}

/// `values` are the file's values for the helper key, in order, each with whether its line
/// carries our marker.
pub fn plan_helper(values: &[(Option<&str>, bool)], helper: &str, exe: &str) -> HelperPlan {
    if let [.., (Some(""), _), (Some(last), _)] = values {
        if *last == helper {
            return HelperPlan::Unchanged;
        }
    }
    HelperPlan::Write {
        remove: ours_and_resets(values, exe),
    }
}

/// The values of one helper key that are ours: our helpers, every reset `configure` marked,
/// and the reset right before each of our helpers. That last rule finds the pair `configure`
/// writes when git is too old for comments, and the pair the README shows how to write; a
/// reset left behind without its helper would go on clearing the helpers before it.
pub fn ours_and_resets(values: &[(Option<&str>, bool)], exe: &str) -> Vec<usize> {
    let mut ours = BTreeSet::new();
    for (i, (value, marked)) in values.iter().enumerate() {
        if *marked {
            ours.insert(i);
        }
        if value.is_some_and(|v| is_our_helper(v, exe)) {
            ours.insert(i);
            if i > 0 && values[i - 1].0 == Some("") {
                ours.insert(i - 1);
            }
        }
    }
    ours.into_iter().collect()
}

/// One key's entries in a file's listing: their positions in it, values and markers.
struct KeyEntries<'a> {
    positions: Vec<usize>,
    values: Vec<(Option<&'a str>, bool)>,
}

fn key_entries<'a>(listing: &'a [Entry], marks: &[bool], key: &str) -> KeyEntries<'a> {
    let key = normalise_key(key);
    let positions: Vec<usize> = (0..listing.len())
        .filter(|&i| listing[i].key == key)
        .collect();
    let values = positions
        .iter()
        .map(|&i| {
            (
                listing[i].value.as_deref(),
                marks.get(i).copied().unwrap_or(false),
            )
        })
        .collect();
    KeyEntries { positions, values }
}

/// A file and what git and its lines say about it.
struct ConfigFile {
    path: PathBuf,
    listing: Vec<Entry>,
    /// Per listing entry: whether its line carries our marker. `None` when the file's lines
    /// could not be matched to git's listing; only a key with entries needs them.
    marks: Option<Vec<bool>>,
}

impl ConfigFile {
    fn read(path: &Path) -> Result<ConfigFile, SetupError> {
        let listing = list(path)?;
        let marks = if listing.is_empty() {
            Some(Vec::new())
        } else {
            let text = read_text(path)?;
            parse_config_lines(&text)
                .filter(|raw| raw.check(&listing).is_ok())
                .map(|raw| raw.entries.iter().map(|e| e.marked).collect())
        };
        Ok(ConfigFile {
            path: path.to_path_buf(),
            listing,
            marks,
        })
    }

    fn key(&self, key: &str) -> Result<KeyEntries<'_>, SetupError> {
        let entries = key_entries(&self.listing, self.marks.as_deref().unwrap_or(&[]), key);
        if self.marks.is_none() && !entries.positions.is_empty() {
            return Err(unreadable(&self.path));
        }
        Ok(entries)
    }
}

fn unreadable(path: &Path) -> SetupError {
    SetupError::Unreadable {
        path: path.to_path_buf(),
        problem: "could not match the file's lines to the entries git reads from it".to_owned(),
    }
}

fn read_text(path: &Path) -> Result<String, SetupError> {
    std::fs::read_to_string(path).map_err(|source| SetupError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The file `git config <target>` writes to.
pub fn resolve(target: &Target) -> Result<PathBuf, SetupError> {
    match target {
        Target::File(path) => Ok(path.clone()),
        Target::Local => {
            let dir = git_stdout(
                git::command().args(["rev-parse", "--path-format=absolute", "--git-common-dir"]),
                "--local: finding the repository",
            )?;
            Ok(PathBuf::from(dir.trim_end_matches('\n')).join("config"))
        }
        Target::Global => {
            // `git var` prints the XDG file, then ~/.gitconfig (or only $GIT_CONFIG_GLOBAL).
            // Like git, write the XDG file only when it exists and ~/.gitconfig does not.
            let out = git_stdout(
                git::command().args(["var", "GIT_CONFIG_GLOBAL"]),
                "--global: finding the global config file (git 2.42 or later; or use --file)",
            )?;
            let paths: Vec<PathBuf> = out.lines().map(PathBuf::from).collect();
            match &paths[..] {
                [xdg, user] if !user.exists() && xdg.exists() => Ok(xdg.clone()),
                [.., user] => Ok(user.clone()),
                [] => Err(SetupError::Git(GitError {
                    what: "--global".to_owned(),
                    problem: "git knows no global config file (is HOME set?); use --file"
                        .to_owned(),
                })),
            }
        }
        Target::System => {
            let out = git_stdout(
                git::command().args(["var", "GIT_CONFIG_SYSTEM"]),
                "--system: finding the system config file (git 2.42 or later; or use --file)",
            )?;
            Ok(PathBuf::from(out.trim_end_matches('\n')))
        }
    }
}

fn git_stdout(cmd: &mut Command, what: &str) -> Result<String, SetupError> {
    let out = run(cmd, what)?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs git; a failure carries git's own message.
fn run(cmd: &mut Command, what: &str) -> Result<Output, SetupError> {
    Ok(git::run(cmd, what)?)
}

/// Every entry in `path` itself (not its includes), in order; none when it does not exist.
fn list(path: &Path) -> Result<Vec<Entry>, SetupError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let out = run(
        git::command().args(["config", "--file"]).arg(path).args([
            "--list",
            "--show-scope",
            "--show-origin",
            "-z",
        ]),
        &format!("reading {}", path.display()),
    )?;
    Ok(git::parse_list(&out.stdout))
}

/// `git config --file path --add key value`, tagged with our marker when git can.
fn add(path: &Path, key: &str, value: &str) -> Result<(), SetupError> {
    let what = format!("writing {key} to {}", path.display());
    let command = |comment: bool| {
        let mut cmd = git::command();
        cmd.args(["config", "--file"]).arg(path);
        if comment {
            cmd.args(["--comment", MARKER]);
        }
        cmd.args(["--add", key, value]);
        cmd
    };
    match run(&mut command(true), &what) {
        Err(SetupError::Git(GitError { problem, .. })) if problem.contains("comment") => {
            // git before 2.45: untagged. `unconfigure` still finds the reset right before
            // our helper, but cannot tell a useHttpPath of ours from the user's.
            run(&mut command(false), &what).map(drop)
        }
        other => other.map(drop),
    }
}

/// `configure` for a file target. Returns what it did, in words.
pub fn configure(target: &Target, setup: &Setup) -> Result<Vec<String>, SetupError> {
    let path = resolve(target)?;
    let shown = path.display();
    let mut report = Vec::new();
    for wanted in &setup.wanted {
        let key = wanted.helper_key();
        let file = ConfigFile::read(&path)?;
        let entries = file.key(&key)?;
        match plan_helper(&entries.values, &setup.helper, &setup.exe) {
            HelperPlan::Unchanged => report.push(format!(
                "{}: already configured in {shown}, nothing changed",
                wanted.origin
            )),
            HelperPlan::Write { remove } => {
                if !remove.is_empty() {
                    let positions: BTreeSet<usize> =
                        remove.iter().map(|&i| entries.positions[i]).collect();
                    remove_entries(&file, &positions)?;
                    report.push(format!(
                        "{}: removed {} earlier entr{} of git-credential-gitlab-ci from {key} in {shown}",
                        wanted.origin,
                        positions.len(),
                        if positions.len() == 1 { "y" } else { "ies" }
                    ));
                }
                add(&path, &key, "")?;
                add(&path, &key, &setup.helper)?;
                report.push(format!(
                    "{}: added to {shown}:\n  {key} = \"\"  (clears the helpers git collected before it)\n  {key} = {}",
                    wanted.origin, setup.helper
                ));
            }
        }
        if wanted.use_http_path {
            let key = wanted.use_http_path_key();
            let file = ConfigFile::read(&path)?;
            let entries = file.key(&key)?;
            if entries.values.last().is_some_and(|(v, _)| is_true(*v)) {
                report.push(format!(
                    "{}: {key} is already true in {shown}",
                    wanted.origin
                ));
            } else {
                add(&path, &key, "true")?;
                report.push(format!(
                    "{}: added to {shown}:\n  {key} = true  (a credential is scoped to a path, which git sends only with this)",
                    wanted.origin
                ));
            }
        }
    }
    Ok(report)
}

/// `unconfigure` for a file target. Returns what it did, in words.
pub fn unconfigure(target: &Target, setup: &Setup) -> Result<Vec<String>, SetupError> {
    let path = resolve(target)?;
    let file = ConfigFile::read(&path)?;
    let mut remove = BTreeSet::new();
    let mut report = Vec::new();
    for wanted in &setup.wanted {
        let helpers = file.key(&wanted.helper_key())?;
        for i in ours_and_resets(&helpers.values, &setup.exe) {
            remove.insert(helpers.positions[i]);
        }
        let use_http_path = file.key(&wanted.use_http_path_key())?;
        for (i, (_, marked)) in use_http_path.values.iter().enumerate() {
            if *marked {
                remove.insert(use_http_path.positions[i]);
            }
        }
    }
    let others = other_origins(&file, setup);
    if remove.is_empty() {
        report.push(format!(
            "nothing to remove: {} holds no entries of git-credential-gitlab-ci for {}",
            path.display(),
            origins(setup)
        ));
    }
    if !others.is_empty() {
        report.push(format!(
            "left alone: entries of git-credential-gitlab-ci for {}, which these options do not serve (pass --url for each to remove them)",
            others.join(", ")
        ));
    }
    if remove.is_empty() {
        return Ok(report);
    }
    remove_entries(&file, &remove)?;
    let mut removed = format!("removed from {}:", path.display());
    for &i in &remove {
        let e = &file.listing[i];
        let value = match e.value.as_deref() {
            Some("") => "\"\"  (reset)",
            Some(v) => v,
            None => "(no value)",
        };
        let _ = write!(removed, "\n  {} = {value}", e.key);
    }
    report.push(removed);
    Ok(report)
}

/// Origins other than the served ones whose helper key in `file` holds ours.
fn other_origins(file: &ConfigFile, setup: &Setup) -> Vec<String> {
    let mut others: Vec<String> = Vec::new();
    let marks = file.marks.as_deref().unwrap_or(&[]);
    for (i, e) in file.listing.iter().enumerate() {
        let marked = marks.get(i).copied().unwrap_or(false);
        let ("credential", Some(origin), "helper") = e.parts() else {
            continue;
        };
        let ours = marked
            || e.value
                .as_deref()
                .is_some_and(|v| is_our_helper(v, &setup.exe));
        let served = setup.wanted.iter().any(|w| w.origin == origin);
        if ours && !served && !others.iter().any(|o| o == origin) {
            others.push(origin.to_owned());
        }
    }
    others
}

fn origins(setup: &Setup) -> String {
    setup
        .wanted
        .iter()
        .map(|w| w.origin.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Removes the entries at `positions` in `file`'s listing, and a section left empty, as a
/// line edit that git checks before it replaces the file (see the module comment).
fn remove_entries(file: &ConfigFile, positions: &BTreeSet<usize>) -> Result<(), SetupError> {
    // git writes through symlinks to the file they name; so do we.
    let path = std::fs::canonicalize(&file.path).map_err(|source| SetupError::Io {
        path: file.path.clone(),
        source,
    })?;
    let mut lock_name = path.clone().into_os_string();
    lock_name.push(".lock");
    let lock = Lock::create(PathBuf::from(lock_name), &path)?;
    // Under the lock, the file must still hold what the removal was planned from.
    if pairs(list(&path)?.iter()) != pairs(file.listing.iter()) {
        return Err(SetupError::Changed(path));
    }
    let text = read_text(&path)?;
    let raw = parse_config_lines(&text).ok_or_else(|| unreadable(&path))?;
    raw.check(&file.listing).map_err(|()| unreadable(&path))?;
    let edited = raw
        .without(positions)
        .ok_or_else(|| SetupError::Unreadable {
            path: path.clone(),
            problem: "an entry to remove shares its line with a section header".to_owned(),
        })?;
    lock.write(edited.as_bytes())?;
    let kept = file
        .listing
        .iter()
        .enumerate()
        .filter(|(i, _)| !positions.contains(i))
        .map(|(_, e)| e);
    if pairs(list(&lock.path)?.iter()) != pairs(kept) {
        return Err(unreadable(&path));
    }
    lock.commit(&path)
}

fn pairs<'a>(entries: impl Iterator<Item = &'a Entry>) -> Vec<(&'a str, Option<&'a str>)> {
    entries
        .map(|e| (e.key.as_str(), e.value.as_deref()))
        .collect()
}

/// git's lock protocol: `<file>.lock`, created only if absent, renamed over the file when
/// complete, removed if anything fails first.
struct Lock {
    path: PathBuf,
    committed: bool,
}

impl Lock {
    fn create(path: PathBuf, original: &Path) -> Result<Lock, SetupError> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        match options.open(&path) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(SetupError::Locked(original.to_path_buf()))
            }
            Err(source) => return Err(SetupError::Io { path, source }),
        }
        let lock = Lock {
            path,
            committed: false,
        };
        // As git does: the new file keeps the old one's permissions.
        if let Ok(meta) = std::fs::metadata(original) {
            std::fs::set_permissions(&lock.path, meta.permissions()).map_err(|source| {
                SetupError::Io {
                    path: lock.path.clone(),
                    source,
                }
            })?;
        }
        Ok(lock)
    }

    fn write(&self, data: &[u8]) -> Result<(), SetupError> {
        let io_error = |source| SetupError::Io {
            path: self.path.clone(),
            source,
        };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&self.path)
            .map_err(io_error)?;
        f.write_all(data).map_err(io_error)?;
        f.sync_all().map_err(io_error)
    }

    fn commit(mut self, to: &Path) -> Result<(), SetupError> {
        std::fs::rename(&self.path, to).map_err(|source| SetupError::Io {
            path: to.to_path_buf(),
            source,
        })?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// What `--env` prints: shell for `eval` on stdout, and words for the person on stderr.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct EnvOutput {
    pub script: String,
    pub notes: Vec<String>,
}

/// `configure --env`: exports that append our entries after those already in `existing`.
pub fn configure_env(setup: &Setup, existing: &[(String, String)]) -> EnvOutput {
    let mut entries: Vec<(String, String)> = existing.to_vec();
    let mut notes = Vec::new();
    for wanted in &setup.wanted {
        let key = wanted.helper_key();
        let values = env_values(&entries, &key);
        if matches!(values[..], [.., "", last] if last == setup.helper) {
            notes.push(format!(
                "{}: already configured in this environment, nothing changed",
                wanted.origin
            ));
        } else {
            entries.push((key.clone(), String::new()));
            entries.push((key.clone(), setup.helper.clone()));
            notes.push(format!(
                "{}: git will read, after every config file: {key} = \"\" (a reset), then {key} = {}",
                wanted.origin, setup.helper
            ));
        }
        if wanted.use_http_path {
            let key = wanted.use_http_path_key();
            let values = env_values(&entries, &key);
            if !values.last().is_some_and(|v| is_true(Some(v))) {
                entries.push((key.clone(), "true".to_owned()));
                notes.push(format!("{}: and {key} = true", wanted.origin));
            }
        }
    }
    EnvOutput {
        script: exports(&entries[existing.len()..], existing.len(), entries.len()),
        notes,
    }
}

/// `unconfigure --env`: exports that rewrite the environment's entries without the ones
/// `configure --env` added (a reset, our helper, and a useHttpPath right after them).
pub fn unconfigure_env(setup: &Setup, existing: &[(String, String)]) -> EnvOutput {
    let mut remove = BTreeSet::new();
    for wanted in &setup.wanted {
        let helper_key = normalise_key(&wanted.helper_key());
        let path_key = normalise_key(&wanted.use_http_path_key());
        for (i, (key, value)) in existing.iter().enumerate() {
            if normalise_key(key) != helper_key || !is_our_helper(value, &setup.exe) {
                continue;
            }
            remove.insert(i);
            if i > 0
                && normalise_key(&existing[i - 1].0) == helper_key
                && existing[i - 1].1.is_empty()
            {
                remove.insert(i - 1);
            }
            if let Some((k, v)) = existing.get(i + 1) {
                if normalise_key(k) == path_key && v == "true" {
                    remove.insert(i + 1);
                }
            }
        }
    }
    if remove.is_empty() {
        return EnvOutput {
            script: String::new(),
            notes: vec![format!(
                "nothing to remove: this environment's GIT_CONFIG_* entries hold none of git-credential-gitlab-ci for {}",
                origins(setup)
            )],
        };
    }
    let kept: Vec<(String, String)> = existing
        .iter()
        .enumerate()
        .filter(|(i, _)| !remove.contains(i))
        .map(|(_, e)| e.clone())
        .collect();
    let mut script = exports(&kept, 0, kept.len());
    for n in kept.len()..existing.len() {
        let _ = writeln!(script, "unset GIT_CONFIG_KEY_{n} GIT_CONFIG_VALUE_{n}");
    }
    if kept.is_empty() {
        script = script.replace("export GIT_CONFIG_COUNT=0\n", "unset GIT_CONFIG_COUNT\n");
    }
    EnvOutput {
        script,
        notes: vec![format!(
            "removed {} GIT_CONFIG_* entr{} of git-credential-gitlab-ci from this environment",
            remove.len(),
            if remove.len() == 1 { "y" } else { "ies" }
        )],
    }
}

fn env_values<'a>(entries: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    let key = normalise_key(key);
    entries
        .iter()
        .filter(|(k, _)| normalise_key(k) == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// `export` lines numbering `entries` from `first`, then the new count; nothing when there is
/// nothing to add.
fn exports(entries: &[(String, String)], first: usize, count: usize) -> String {
    let mut script = String::new();
    for (n, (key, value)) in (first..).zip(entries) {
        let _ = writeln!(
            script,
            "export GIT_CONFIG_KEY_{n}={} GIT_CONFIG_VALUE_{n}={}",
            single_quote(key),
            single_quote(value)
        );
    }
    if !entries.is_empty() || first != count {
        let _ = writeln!(script, "export GIT_CONFIG_COUNT={count}");
    }
    script
}

/// Prints `--env` output: the script on stdout, for `eval`; the notes on stderr, for people.
pub fn print_env(output: &EnvOutput) {
    let _ = io::stdout().lock().write_all(output.script.as_bytes());
    let mut err = io::stderr().lock();
    for note in &output.notes {
        let _ = writeln!(err, "git-credential-gitlab-ci: {note}");
    }
}

/// The path to this executable as the helper string should name it.
pub fn current_exe() -> Result<PathBuf, SetupError> {
    let exe = std::env::current_exe().map_err(|source| SetupError::Io {
        path: PathBuf::from("(this program)"),
        source,
    })?;
    std::fs::canonicalize(&exe).map_err(|source| SetupError::Io { path: exe, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::Scope;
    use crate::credential::{Credential, Provenance};

    const EXE: &str = "/usr/local/bin/git-credential-gitlab-ci";

    fn setup(wanted: &[(&str, bool)], options: &[&str]) -> Setup {
        let options: Vec<String> = options.iter().map(|s| s.to_string()).collect();
        Setup {
            exe: EXE.to_owned(),
            helper: helper_string(EXE, &options),
            wanted: wanted
                .iter()
                .map(|(o, p)| Wanted {
                    origin: o.to_string(),
                    use_http_path: *p,
                })
                .collect(),
        }
    }

    #[test]
    fn shell_quoting_leaves_plain_words_and_quotes_the_rest() {
        assert_eq!(shell_quote("--token-env"), "--token-env");
        assert_eq!(shell_quote("https://h:8443/g"), "https://h:8443/g");
        assert_eq!(shell_quote("a=b,c@d%e+f"), "a=b,c@d%e+f");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("/tmp/my token"), "'/tmp/my token'");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
        assert_eq!(shell_quote("a;rm -rf /"), "'a;rm -rf /'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("~/x"), "'~/x'");
        assert_eq!(shell_quote("a\nb"), "'a\nb'");
    }

    #[test]
    fn quoted_words_run_as_the_same_words_in_sh() {
        let hostile = [
            "it's", "$(id)", "`id`", "a b", "\\", "\"", "!", "*", "-n", "", "x\ny",
        ];
        let args: Vec<String> = hostile.iter().map(|s| s.to_string()).collect();
        let line = format!(
            "printf '%s\\0' {}",
            args.iter()
                .map(|a| shell_quote(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let out = Command::new("sh").arg("-c").arg(&line).output().unwrap();
        let words: Vec<&[u8]> = out.stdout.split(|&b| b == 0).collect();
        let expected: Vec<&[u8]> = hostile
            .iter()
            .map(|s| s.as_bytes())
            .chain([&b""[..]])
            .collect();
        assert_eq!(words, expected);
    }

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
    fn configure_changes_nothing_when_the_last_two_entries_are_ours() {
        let helper = format!("{EXE} --token-env X");
        let plan = |values: &[(Option<&str>, bool)]| plan_helper(values, &helper, EXE);
        assert_eq!(
            plan(&[(Some(""), true), (Some(helper.as_str()), true)]),
            HelperPlan::Unchanged
        );
        // Written by hand, as the README shows: still ours, still nothing to do.
        assert_eq!(
            plan(&[
                (Some("store"), false),
                (Some(""), false),
                (Some(helper.as_str()), false)
            ]),
            HelperPlan::Unchanged
        );
        assert_eq!(plan(&[]), HelperPlan::Write { remove: vec![] });
        assert_eq!(
            plan(&[(Some(helper.as_str()), false)]),
            HelperPlan::Write { remove: vec![0] }
        );
        // Ours with other options, then something else: replaced, the other kept.
        assert_eq!(
            plan(&[
                (Some("store"), false),
                (Some(""), true),
                (Some(EXE), true),
                (Some("cache"), false)
            ]),
            HelperPlan::Write { remove: vec![1, 2] }
        );
    }

    #[test]
    fn unconfigure_takes_our_helpers_and_their_resets_and_keeps_the_users() {
        let take = |values: &[(Option<&str>, bool)]| ours_and_resets(values, EXE);
        // The user's own reset, then ours: only ours go.
        assert_eq!(
            take(&[(Some(""), false), (Some(""), true), (Some(EXE), true)]),
            [1, 2]
        );
        // Written by a git without --comment: the reset right before ours goes with it.
        assert_eq!(
            take(&[
                (Some("store"), false),
                (Some(""), false),
                (Some(EXE), false)
            ]),
            [1, 2]
        );
        // A marked reset whose helper was since removed by hand.
        assert_eq!(take(&[(Some(""), true), (Some("store"), false)]), [0]);
        assert!(take(&[(Some(""), false), (Some("store"), false)]).is_empty());
    }

    fn listing(text: &str) -> Vec<Entry> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, text).unwrap();
        list(&path).unwrap()
    }

    #[test]
    fn raw_lines_match_gits_listing_and_show_our_marker() {
        let text = "\u{feff}# top\n[core]\n\tbare = false ; c\n[credential \"https://h:8443\"]\n\thelper =  # added by git-credential-gitlab-ci\n\thelper = \"/x/git-credential-gitlab-ci # not a comment\" # added by git-credential-gitlab-ci\n\tuseHttpPath\n[Remote \"o\\\"q\"] url = a\\\n  b # added by someone\n[a.B]\n\tk = \"x;y\"\\\n\tz\n";
        let raw = parse_config_lines(text).unwrap();
        let git = listing(text);
        raw.check(&git).unwrap();
        let marks: Vec<bool> = raw.entries.iter().map(|e| e.marked).collect();
        assert_eq!(marks, [false, true, true, false, false, false]);
        assert_eq!(git[4].key, "remote.o\"q.url");
        assert_eq!(git[5].key, "a.b.k");
    }

    #[test]
    fn removing_lines_drops_a_section_left_empty_as_git_does() {
        let text = "[http]\n\tsslCAInfo = /ca.pem\n[credential \"https://h\"]\n\thelper =  # added by git-credential-gitlab-ci\n\thelper = /x # added by git-credential-gitlab-ci\n[user]\n\tname = Me\n";
        let raw = parse_config_lines(text).unwrap();
        assert_eq!(
            raw.without(&BTreeSet::from([1, 2])).unwrap(),
            "[http]\n\tsslCAInfo = /ca.pem\n[user]\n\tname = Me\n"
        );
        assert_eq!(
            raw.without(&BTreeSet::from([1])).unwrap(),
            "[http]\n\tsslCAInfo = /ca.pem\n[credential \"https://h\"]\n\thelper = /x # added by git-credential-gitlab-ci\n[user]\n\tname = Me\n"
        );
        // A section that holds a comment keeps its header, as git keeps it.
        let text = "[credential \"https://h\"]\n# mine\n\thelper = /x\n";
        let raw = parse_config_lines(text).unwrap();
        assert_eq!(
            raw.without(&BTreeSet::from([0])).unwrap(),
            "[credential \"https://h\"]\n# mine\n"
        );
        let shared = parse_config_lines("[credential \"https://h\"] helper = /x\n").unwrap();
        assert!(shared.without(&BTreeSet::from([0])).is_none());
    }

    fn marker_file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn configure_twice_then_unconfigure_restores_the_file() {
        let before = "[credential]\n\thelper = store\n[credential \"https://h.example\"]\n\thelper = \n\tusername = me\n";
        let (_dir, path) = marker_file(before);
        let target = Target::File(path.clone());
        let s = setup(
            &[
                ("https://h.example", true),
                ("https://o.example:8443", false),
            ],
            &["--token-env", "A B"],
        );
        configure(&target, &s).unwrap();
        let once = std::fs::read_to_string(&path).unwrap();
        assert!(
            once.contains("'A B' # added by git-credential-gitlab-ci"),
            "{once}"
        );
        let report = configure(&target, &s).unwrap().join("\n");
        assert!(report.contains("already configured"), "{report}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), once);
        let values: Vec<Option<String>> = list(&path)
            .unwrap()
            .into_iter()
            .filter(|e| e.key == "credential.https://h.example.helper")
            .map(|e| e.value)
            .collect();
        assert_eq!(
            values,
            [
                Some(String::new()),
                Some(String::new()),
                Some(s.helper.clone())
            ]
        );

        // Other options replace ours in place of adding a second copy.
        let other = setup(
            &[
                ("https://h.example", true),
                ("https://o.example:8443", false),
            ],
            &[],
        );
        configure(&target, &other).unwrap();
        let values = list(&path)
            .unwrap()
            .into_iter()
            .filter(|e| e.key.ends_with(".helper"))
            .count();
        assert_eq!(
            values,
            1 + 3 + 2,
            "{}",
            std::fs::read_to_string(&path).unwrap()
        );

        unconfigure(&target, &other).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
        let report = unconfigure(&target, &other).unwrap().join("\n");
        assert!(report.contains("nothing to remove"), "{report}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    }

    #[test]
    fn a_lock_held_by_git_stops_the_edit() {
        let (_dir, path) = marker_file(
            "[credential \"https://h\"]\n\thelper = \n\thelper = /x/git-credential-gitlab-ci\n",
        );
        let mut lock = path.clone().into_os_string();
        lock.push(".lock");
        std::fs::write(&lock, "").unwrap();
        let err = unconfigure(
            &Target::File(path.clone()),
            &setup(&[("https://h", false)], &[]),
        )
        .unwrap_err();
        assert!(matches!(err, SetupError::Locked(_)), "{err}");
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains("gitlab-ci"));
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn env_exports_append_after_existing_entries() {
        let s = setup(&[("https://h", true)], &["--token-env", "X"]);
        let existing = env(&[("credential.helper", "cache")]);
        let out = configure_env(&s, &existing);
        assert_eq!(
            out.script,
            format!(
                "export GIT_CONFIG_KEY_1='credential.https://h.helper' GIT_CONFIG_VALUE_1=''\n\
                 export GIT_CONFIG_KEY_2='credential.https://h.helper' GIT_CONFIG_VALUE_2='{EXE} --token-env X'\n\
                 export GIT_CONFIG_KEY_3='credential.https://h.useHttpPath' GIT_CONFIG_VALUE_3='true'\n\
                 export GIT_CONFIG_COUNT=4\n"
            )
        );
        let mut after = existing.clone();
        after.extend(env(&[
            ("credential.https://h.helper", ""),
            ("credential.https://h.helper", &s.helper),
            ("credential.https://h.useHttpPath", "true"),
        ]));
        let again = configure_env(&s, &after);
        assert_eq!(again.script, "");
        assert!(again.notes[0].contains("already configured"));

        let undo = unconfigure_env(&s, &after);
        assert_eq!(
            undo.script,
            "export GIT_CONFIG_KEY_0='credential.helper' GIT_CONFIG_VALUE_0='cache'\n\
             export GIT_CONFIG_COUNT=1\n\
             unset GIT_CONFIG_KEY_1 GIT_CONFIG_VALUE_1\n\
             unset GIT_CONFIG_KEY_2 GIT_CONFIG_VALUE_2\n\
             unset GIT_CONFIG_KEY_3 GIT_CONFIG_VALUE_3\n"
        );
        assert_eq!(unconfigure_env(&s, &existing).script, "");
    }

    #[test]
    fn every_served_origin_once_with_use_http_path_where_a_path_is_scoped() {
        let credential = |url: &str| Credential {
            scope: Scope::parse(url).unwrap(),
            username: "u".into(),
            sources: vec![],
            expires: None,
            provenance: Provenance::Flags,
        };
        let config = Config {
            credentials: vec![
                credential("https://H.example:443"),
                credential("https://h.example/group"),
                credential("https://h.example:8443"),
            ],
            ..Config::default()
        };
        assert_eq!(
            wanted(&config),
            [
                Wanted {
                    origin: "https://h.example".into(),
                    use_http_path: true
                },
                Wanted {
                    origin: "https://h.example:8443".into(),
                    use_http_path: false
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
    }
}
