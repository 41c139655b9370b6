//! `configure` and `unconfigure` for a config file: our entries added with `git config --add`,
//! tagged with the marker, and removed by a line edit under git's `.lock` protocol.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::model::{origins, run, Setup, SetupError, Target};
use super::plan::{ours_and_resets, plan_helper, HelperPlan};
use super::target::resolve;
use crate::git::{
    self, config_pairs, edit_config_file, is_our_helper, is_true, list_config_file, normalise_key,
    parse_config_lines, read_config_text, Entry, RawFile, MARKER,
};

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
        .map(|&i| (listing[i].value(), marks.get(i).copied().unwrap_or(false)))
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

fn read_text(path: &Path) -> Result<Zeroizing<String>, SetupError> {
    Ok(read_config_text(path)?)
}

/// Every entry in `path` itself (not its includes), in order; none when it does not exist.
fn list(path: &Path) -> Result<Vec<Entry>, SetupError> {
    Ok(list_config_file(path)?)
}

/// `git config --file path --add key value`, tagged with our marker: by git where it can
/// (`--comment`, git 2.45), else by a line edit of the entry git just wrote.
fn add(path: &Path, key: &str, value: &str, comment: bool) -> Result<(), SetupError> {
    let what = format!("writing {key} to {}", path.display());
    let mut cmd = git::command();
    cmd.args(["config", "--file"]).arg(path);
    if comment {
        cmd.args(["--comment", MARKER]);
    }
    run(cmd.args(["--add", key, value]), &what)?;
    if comment {
        return Ok(());
    }
    // `--add` puts the new entry after the key's last one, so it is the key's last entry.
    let file = ConfigFile::read(path)?;
    let key = normalise_key(key);
    let Some(at) = file.listing.iter().rposition(|e| e.key == key) else {
        return Err(unreadable(path));
    };
    rewrite(
        &file,
        |raw| raw.with_marker(at),
        &config_pairs(&file.listing),
    )
}

/// `configure` for a file target. Returns what it did, in words.
pub fn configure(target: &Target, setup: &Setup) -> Result<Vec<String>, SetupError> {
    let path = resolve(target)?;
    let comment = git::version()?.has_config_comment();
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
                add(&path, &key, "", comment)?;
                add(&path, &key, &setup.helper, comment)?;
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
                add(&path, &key, "true", comment)?;
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
        for (i, (value, marked)) in use_http_path.values.iter().enumerate() {
            // Untagged, as a git before 2.45 left it when `configure` could not tag it: the
            // `true` written right after our helper.
            let at = use_http_path.positions[i];
            let after_ours = at > 0 && remove.contains(&(at - 1)) && is_true(*value);
            if *marked || after_ours {
                remove.insert(at);
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
        let value = match e.value() {
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
        let ours = marked || e.value().is_some_and(|v| is_our_helper(v, &setup.exe));
        let served = setup.wanted.iter().any(|w| w.origin == origin);
        if ours && !served && !others.iter().any(|o| o == origin) {
            others.push(origin.to_owned());
        }
    }
    others
}

/// Removes the entries at `positions` in `file`'s listing, and a section left empty.
fn remove_entries(file: &ConfigFile, positions: &BTreeSet<usize>) -> Result<(), SetupError> {
    let kept: Vec<_> = file
        .listing
        .iter()
        .enumerate()
        .filter(|(i, _)| !positions.contains(i))
        .map(|(_, e)| (e.key.as_str(), e.value()))
        .collect();
    rewrite(file, |raw| raw.without(positions), &kept)
}

/// Replaces `file` with `edit` of its lines, as a line edit that git checks before it
/// replaces the file (see the module comment): git must read the edited text as `expected`.
/// `edit` gives `None` for a change it cannot make to these lines.
fn rewrite(
    file: &ConfigFile,
    edit: impl Fn(&RawFile<'_>) -> Option<String>,
    expected: &[(&str, Option<&str>)],
) -> Result<(), SetupError> {
    Ok(edit_config_file(&file.path, &file.listing, edit, expected)?)
}

#[cfg(test)]
mod tests {
    use super::super::model::testing::*;
    use super::*;

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
            .map(|e| e.value().map(str::to_owned))
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
}
