//! `configure --env` and `unconfigure --env`: no file is written; the output is shell for
//! `eval` that sets the `GIT_CONFIG_*` entries git reads after every config file.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{self, Write as _};

use super::model::{origins, Setup};
use crate::git::{is_our_helper, is_true, normalise_key, single_quote};

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

#[cfg(test)]
mod tests {
    use super::super::model::testing::*;
    use super::*;

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
}
