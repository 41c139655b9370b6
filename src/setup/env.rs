//! `configure --env` and `unconfigure --env`: no file is written; the output is shell for
//! `eval` that sets config entries git reads after every config file, so they also win over
//! GitLab Runner's per-job reset and its `username` entry.
//!
//! git 2.31 and later read `GIT_CONFIG_COUNT` entries; older gits only read
//! `GIT_CONFIG_PARAMETERS` (what `git -c` passes on). The script never prints an entry that
//! is not ours: it appends to what is there, and to take ours out it moves the others by
//! naming their variables, never by writing out their values, which can hold a secret
//! (an `http.extraheader`, say).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{self, Write as _};

use super::model::{origins, Setup};
use crate::git::{is_our_helper, is_true, normalise_key, parameter, single_quote, Parameter};

/// What `--env` prints: shell for `eval` on stdout, and words for the person on stderr.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct EnvOutput {
    pub script: String,
    pub notes: Vec<String>,
}

/// The environment's config entries, in the variables the git on PATH reads.
#[derive(Debug, Clone)]
pub enum EnvEntries {
    /// `GIT_CONFIG_COUNT` entries, git 2.31 and later.
    Count(Vec<(String, String)>),
    /// `GIT_CONFIG_PARAMETERS`, as it is and as git reads it, for older gits.
    Parameters(String, Vec<Parameter>),
}

impl EnvEntries {
    fn pairs(&self) -> Vec<(&str, Option<&str>)> {
        match self {
            EnvEntries::Count(entries) => entries
                .iter()
                .map(|(k, v)| (k.as_str(), Some(v.as_str())))
                .collect(),
            EnvEntries::Parameters(_, entries) => entries
                .iter()
                .map(|p| (p.key.as_str(), p.value.as_deref()))
                .collect(),
        }
    }
}

/// `configure --env`: exports that append our entries after those already there.
pub fn configure_env(setup: &Setup, existing: &EnvEntries) -> EnvOutput {
    let mut entries: Vec<(String, Option<String>)> = existing
        .pairs()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.map(str::to_owned)))
        .collect();
    let before = entries.len();
    let mut notes = Vec::new();
    for wanted in &setup.wanted {
        let key = wanted.helper_key();
        let helpers = values(&entries, &key);
        if matches!(helpers[..], [.., Some(""), Some(last)] if last == setup.helper) {
            notes.push(format!(
                "{}: already configured in this environment, nothing changed",
                wanted.origin
            ));
        } else {
            entries.push((key.clone(), Some(String::new())));
            entries.push((key.clone(), Some(setup.helper.clone())));
            notes.push(format!(
                "{}: git will read, after every config file: {key} = \"\" (a reset), then {key} = {}",
                wanted.origin, setup.helper
            ));
        }
        if wanted.use_http_path {
            let key = wanted.use_http_path_key();
            if !values(&entries, &key).last().is_some_and(|v| is_true(*v)) {
                entries.push((key.clone(), Some("true".to_owned())));
                notes.push(format!("{}: and {key} = true", wanted.origin));
            }
        }
        if let Some(name) = &wanted.username {
            let key = wanted.username_key();
            if values(&entries, &key).last() != Some(&Some(name.as_str())) {
                entries.push((key.clone(), Some(name.clone())));
                notes.push(format!(
                    "{}: and {key} = {name} (git sends this user name, in place of the gitlab-ci-token GitLab Runner names)",
                    wanted.origin
                ));
            }
        }
    }
    let added: Vec<(String, String)> = entries
        .drain(before..)
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    let script = match existing {
        EnvEntries::Count(_) => exports(&added, before, before + added.len()),
        EnvEntries::Parameters(..) if added.is_empty() => String::new(),
        EnvEntries::Parameters(..) => {
            let ours: Vec<String> = added.iter().map(|(k, v)| parameter(k, v)).collect();
            format!(
                "export GIT_CONFIG_PARAMETERS=\"${{GIT_CONFIG_PARAMETERS:+$GIT_CONFIG_PARAMETERS }}\"{}\n",
                single_quote(&ours.join(" "))
            )
        }
    };
    EnvOutput { script, notes }
}

/// `unconfigure --env`: takes out what `configure --env` added: our helper, the reset right
/// before it, and the useHttpPath and username entries for its origin right after it.
pub fn unconfigure_env(setup: &Setup, existing: &EnvEntries) -> EnvOutput {
    let entries = existing.pairs();
    let remove = ours(setup, &entries);
    if remove.is_empty() {
        return EnvOutput {
            script: String::new(),
            notes: vec![format!(
                "nothing to remove: this environment's git config entries hold none of git-credential-gitlab-ci for {}",
                origins(setup)
            )],
        };
    }
    let script = match existing {
        EnvEntries::Count(_) => renumbered(entries.len(), &remove),
        EnvEntries::Parameters(raw, parameters) => {
            match without_parameters(raw, parameters, &remove) {
                Ok(script) => script,
                Err(why) => {
                    return EnvOutput {
                        script: String::new(),
                        notes: vec![format!("nothing removed: {why}")],
                    }
                }
            }
        }
    };
    EnvOutput {
        script,
        notes: vec![format!(
            "removed {} git config entr{} of git-credential-gitlab-ci from this environment",
            remove.len(),
            if remove.len() == 1 { "y" } else { "ies" }
        )],
    }
}

fn ours(setup: &Setup, entries: &[(&str, Option<&str>)]) -> BTreeSet<usize> {
    let mut remove = BTreeSet::new();
    for wanted in &setup.wanted {
        let helper_key = normalise_key(&wanted.helper_key());
        let after = [
            normalise_key(&wanted.use_http_path_key()),
            normalise_key(&wanted.username_key()),
        ];
        for (i, (key, value)) in entries.iter().enumerate() {
            let ours = value.is_some_and(|v| is_our_helper(v, &setup.exe));
            if normalise_key(key) != helper_key || !ours {
                continue;
            }
            remove.insert(i);
            if i > 0
                && normalise_key(entries[i - 1].0) == helper_key
                && entries[i - 1].1 == Some("")
            {
                remove.insert(i - 1);
            }
            for (j, (k, _)) in entries.iter().enumerate().skip(i + 1) {
                if !after.contains(&normalise_key(k)) {
                    break;
                }
                remove.insert(j);
            }
        }
    }
    remove
}

fn values<'a>(entries: &'a [(String, Option<String>)], key: &str) -> Vec<Option<&'a str>> {
    let key = normalise_key(key);
    entries
        .iter()
        .filter(|(k, _)| normalise_key(k) == key)
        .map(|(_, v)| v.as_deref())
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

/// The `GIT_CONFIG_COUNT` entries without those at `remove`: each kept entry moves down to
/// its new number by naming the variables it is in, the rest are unset, and so is
/// `GIT_CONFIG_COUNT` when nothing is left, for git refuses a count without its entries.
fn renumbered(count: usize, remove: &BTreeSet<usize>) -> String {
    let mut script = String::new();
    let kept: Vec<usize> = (0..count).filter(|i| !remove.contains(i)).collect();
    // In ascending order, an entry moves only into a slot that was read already.
    for (to, &from) in kept.iter().enumerate() {
        if to != from {
            let _ = writeln!(
                script,
                "export GIT_CONFIG_KEY_{to}=\"$GIT_CONFIG_KEY_{from}\" GIT_CONFIG_VALUE_{to}=\"$GIT_CONFIG_VALUE_{from}\""
            );
        }
    }
    for n in kept.len()..count {
        let _ = writeln!(script, "unset GIT_CONFIG_KEY_{n} GIT_CONFIG_VALUE_{n}");
    }
    if kept.is_empty() {
        script.push_str("unset GIT_CONFIG_COUNT\n");
    } else {
        let _ = writeln!(script, "export GIT_CONFIG_COUNT={}", kept.len());
    }
    script
}

/// `GIT_CONFIG_PARAMETERS` without the entries at `remove`. Each goes by cutting its own
/// text, which is ours, out of the variable; what is before and after it is kept by
/// reference. The shell cuts the first or the last copy of a text, so an entry whose text
/// also appears both before and after it cannot be cut that way: then nothing changes.
fn without_parameters(
    raw: &str,
    parameters: &[Parameter],
    remove: &BTreeSet<usize>,
) -> Result<String, String> {
    if remove.len() == parameters.len() {
        return Ok("unset GIT_CONFIG_PARAMETERS\n".to_owned());
    }
    let mut script = String::new();
    let mut now = raw.to_owned();
    // From the last, so what is before the next one to cut stays where it is. Each goes with
    // the space before it (the first with the space after it): git before 2.31 refuses a
    // value that starts or ends with a space.
    for &i in remove.iter().rev() {
        let span = parameters[i].span.clone();
        let cut = if i > 0 {
            parameters[i - 1].span.end..span.end
        } else {
            let rest = &now[span.end..];
            span.start..span.end + (rest.len() - rest.trim_start().len())
        };
        let text = now[cut.clone()].to_owned();
        let pattern = double_quoted(&text);
        let line = if now.rfind(&text) == Some(cut.start) {
            format!("GIT_CONFIG_PARAMETERS=${{GIT_CONFIG_PARAMETERS%{pattern}*}}${{GIT_CONFIG_PARAMETERS##*{pattern}}}")
        } else if now.find(&text) == Some(cut.start) {
            format!("GIT_CONFIG_PARAMETERS=${{GIT_CONFIG_PARAMETERS%%{pattern}*}}${{GIT_CONFIG_PARAMETERS#*{pattern}}}")
        } else {
            return Err(format!(
                "GIT_CONFIG_PARAMETERS holds copies of our entry {} before and after it; unset GIT_CONFIG_PARAMETERS, or start a new shell",
                parameters[i].key
            ));
        };
        let _ = writeln!(script, "{line}");
        now.replace_range(cut, "");
    }
    script.push_str("export GIT_CONFIG_PARAMETERS\n");
    Ok(script)
}

/// `s` inside double quotes, where it matches itself as a pattern in `${var%%"s"*}`.
fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Prints `--env` output: the script on stdout, for `eval`; the notes on stderr, for people.
pub fn print_env(output: &EnvOutput) {
    let _ = io::stdout().lock().write_all(output.script.as_bytes());
    let mut err = io::stderr().lock();
    let redactor = crate::redact::Redactor::default();
    for note in &output.notes {
        let _ = writeln!(err, "git-credential-gitlab-ci: {}", redactor.apply(note));
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::testing::*;
    use super::*;
    use crate::git::parameters;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn params(raw: &str) -> EnvEntries {
        EnvEntries::Parameters(raw.to_owned(), parameters(raw).unwrap())
    }

    /// Runs `script` in sh with `vars`, then prints the variables named in `show`.
    fn run_sh(vars: &[(&str, &str)], script: &str, show: &[&str]) -> Vec<String> {
        let mut cmd = std::process::Command::new("sh");
        let mut line = script.to_owned();
        for name in show {
            line.push_str(&format!(
                "printf '%s=%s|\\n' {name} \"${{{name}-(unset)}}\"\n"
            ));
        }
        cmd.arg("-c").arg(line).env_clear();
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn env_exports_append_after_existing_entries() {
        let s = setup(&[("https://h", true)], &["--token-env", "X"]);
        let existing = env(&[("credential.helper", "cache")]);
        let out = configure_env(&s, &EnvEntries::Count(existing.clone()));
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
        let again = configure_env(&s, &EnvEntries::Count(after.clone()));
        assert_eq!(again.script, "");
        assert!(again.notes[0].contains("already configured"));

        let undo = unconfigure_env(&s, &EnvEntries::Count(after));
        assert_eq!(
            undo.script,
            "unset GIT_CONFIG_KEY_1 GIT_CONFIG_VALUE_1\n\
             unset GIT_CONFIG_KEY_2 GIT_CONFIG_VALUE_2\n\
             unset GIT_CONFIG_KEY_3 GIT_CONFIG_VALUE_3\n\
             export GIT_CONFIG_COUNT=1\n"
        );
        assert_eq!(unconfigure_env(&s, &EnvEntries::Count(existing)).script, "");
    }

    #[test]
    fn unconfigure_env_moves_the_others_by_name_and_never_prints_their_values() {
        let s = setup(&[("https://h", false)], &[]);
        let secret = "AUTHORIZATION: Bearer s3cr3t";
        let entries = env(&[
            ("credential.https://h.helper", ""),
            ("credential.https://h.helper", EXE),
            ("http.extraheader", secret),
        ]);
        let undo = unconfigure_env(&s, &EnvEntries::Count(entries));
        assert!(!undo.script.contains("s3cr3t"), "{}", undo.script);
        let vars = [
            ("GIT_CONFIG_COUNT", "3"),
            ("GIT_CONFIG_KEY_0", "credential.https://h.helper"),
            ("GIT_CONFIG_VALUE_0", ""),
            ("GIT_CONFIG_KEY_1", "credential.https://h.helper"),
            ("GIT_CONFIG_VALUE_1", EXE),
            ("GIT_CONFIG_KEY_2", "http.extraheader"),
            ("GIT_CONFIG_VALUE_2", secret),
        ];
        let shown = run_sh(
            &vars,
            &undo.script,
            &[
                "GIT_CONFIG_COUNT",
                "GIT_CONFIG_KEY_0",
                "GIT_CONFIG_VALUE_0",
                "GIT_CONFIG_KEY_1",
            ],
        );
        assert_eq!(
            shown,
            [
                "GIT_CONFIG_COUNT=1|",
                "GIT_CONFIG_KEY_0=http.extraheader|",
                &format!("GIT_CONFIG_VALUE_0={secret}|"),
                "GIT_CONFIG_KEY_1=(unset)|",
            ]
        );
    }

    #[test]
    fn unconfigure_env_with_nothing_left_unsets_the_count() {
        let s = setup(&[("https://h", false)], &[]);
        let entries = env(&[
            ("credential.https://h.helper", ""),
            ("credential.https://h.helper", EXE),
        ]);
        let undo = unconfigure_env(&s, &EnvEntries::Count(entries));
        assert!(
            undo.script.contains("unset GIT_CONFIG_COUNT\n"),
            "{}",
            undo.script
        );
        let shown = run_sh(
            &[
                ("GIT_CONFIG_COUNT", "2"),
                ("GIT_CONFIG_KEY_0", "credential.https://h.helper"),
                ("GIT_CONFIG_VALUE_0", ""),
                ("GIT_CONFIG_KEY_1", "credential.https://h.helper"),
                ("GIT_CONFIG_VALUE_1", EXE),
            ],
            &undo.script,
            &["GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0"],
        );
        assert_eq!(
            shown,
            ["GIT_CONFIG_COUNT=(unset)|", "GIT_CONFIG_KEY_0=(unset)|"]
        );
    }

    #[test]
    fn a_deploy_tokens_user_name_is_set_after_the_runners_and_taken_back() {
        let mut s = setup(&[("https://h", false)], &[]);
        s.wanted[0].username = Some("deployer".into());
        let runner = env(&[
            ("credential.https://h.helper", ""),
            ("credential.https://h.username", "gitlab-ci-token"),
        ]);
        let out = configure_env(&s, &EnvEntries::Count(runner.clone()));
        assert!(
            out.script.ends_with(
                "export GIT_CONFIG_KEY_4='credential.https://h.username' GIT_CONFIG_VALUE_4='deployer'\n\
                 export GIT_CONFIG_COUNT=5\n"
            ),
            "{}",
            out.script
        );
        let mut after = runner;
        after.extend(env(&[
            ("credential.https://h.helper", ""),
            ("credential.https://h.helper", EXE),
            ("credential.https://h.username", "deployer"),
        ]));
        let undo = unconfigure_env(&s, &EnvEntries::Count(after));
        assert_eq!(
            undo.script,
            "unset GIT_CONFIG_KEY_2 GIT_CONFIG_VALUE_2\n\
             unset GIT_CONFIG_KEY_3 GIT_CONFIG_VALUE_3\n\
             unset GIT_CONFIG_KEY_4 GIT_CONFIG_VALUE_4\n\
             export GIT_CONFIG_COUNT=2\n"
        );
    }

    #[test]
    fn old_gits_get_config_parameters_appended_and_cut_back_out() {
        let s = setup(&[("https://h", true)], &["--token-env", "X"]);
        let theirs = "'http.extraheader=AUTHORIZATION: s3cr3t' 'user.name=it'\\''s me'";
        let out = configure_env(&s, &params(theirs));
        assert!(!out.script.contains("s3cr3t"), "{}", out.script);
        let after = &run_sh(
            &[("GIT_CONFIG_PARAMETERS", theirs)],
            &out.script,
            &["GIT_CONFIG_PARAMETERS"],
        )[0];
        let after = after
            .strip_prefix("GIT_CONFIG_PARAMETERS=")
            .unwrap()
            .strip_suffix('|')
            .unwrap();
        let read: Vec<(String, Option<String>)> = parameters(after)
            .unwrap()
            .into_iter()
            .map(|p| (p.key, p.value))
            .collect();
        let some = |v: &str| Some(v.to_owned());
        assert_eq!(
            read,
            [
                ("http.extraheader".to_owned(), some("AUTHORIZATION: s3cr3t")),
                ("user.name".to_owned(), some("it's me")),
                ("credential.https://h.helper".to_owned(), some("")),
                ("credential.https://h.helper".to_owned(), some(&s.helper)),
                ("credential.https://h.useHttpPath".to_owned(), some("true")),
            ]
        );
        assert_eq!(configure_env(&s, &params(after)).script, "");

        let undo = unconfigure_env(&s, &params(after));
        assert!(!undo.script.contains("s3cr3t"), "{}", undo.script);
        let back = run_sh(
            &[("GIT_CONFIG_PARAMETERS", after)],
            &undo.script,
            &["GIT_CONFIG_PARAMETERS"],
        );
        let back = back[0].strip_prefix("GIT_CONFIG_PARAMETERS=").unwrap();
        assert_eq!(back.trim_end_matches('|'), theirs);

        // Nothing but ours: the variable goes.
        let fresh = configure_env(&s, &params(""));
        let only = run_sh(&[], &fresh.script, &["GIT_CONFIG_PARAMETERS"]);
        let only = only[0].strip_prefix("GIT_CONFIG_PARAMETERS=").unwrap();
        let only = only.trim_end_matches('|');
        assert_eq!(
            unconfigure_env(&s, &params(only)).script,
            "unset GIT_CONFIG_PARAMETERS\n"
        );
    }
}
