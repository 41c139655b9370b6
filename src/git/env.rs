//! Config entries that git reads from the environment after every config file:
//! `GIT_CONFIG_COUNT`, `GIT_CONFIG_KEY_<n>` and `GIT_CONFIG_VALUE_<n>` (git 2.31 and later),
//! and `GIT_CONFIG_PARAMETERS`, which `git -c` exports to the commands it starts and which
//! every supported git reads.

use std::ops::Range;

/// The environment's entries cannot be read, and git would refuse them too.
#[derive(Debug, thiserror::Error)]
#[error("GIT_CONFIG_COUNT entries in the environment: {0}")]
pub struct EnvError(String);

/// `GIT_CONFIG_COUNT` entries, as git reads them, in order.
pub fn env_entries(
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, EnvError> {
    let Some(count) = env("GIT_CONFIG_COUNT").filter(|c| !c.is_empty()) else {
        return Ok(Vec::new());
    };
    let count: usize = count
        .trim()
        .parse()
        .map_err(|_| EnvError("GIT_CONFIG_COUNT is not a number, and git refuses it too".into()))?;
    (0..count)
        .map(|n| {
            let key = env(&format!("GIT_CONFIG_KEY_{n}"));
            let value = env(&format!("GIT_CONFIG_VALUE_{n}"));
            match (key, value) {
                (Some(k), Some(v)) if !k.is_empty() => Ok((k, v)),
                _ => Err(EnvError(format!(
                    "GIT_CONFIG_KEY_{n} or GIT_CONFIG_VALUE_{n} is missing, and git refuses that too"
                ))),
            }
        })
        .collect()
}

/// `GIT_CONFIG_*` as this process sees it; empty values count (a reset is one).
pub fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// One entry of `GIT_CONFIG_PARAMETERS`, and where its text is in the variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    pub key: String,
    /// `None` for a key given without `=`, which git reads as true.
    pub value: Option<String>,
    pub span: Range<usize>,
}

/// `GIT_CONFIG_PARAMETERS` as git reads it: single-quoted words (`'\''` for a quote inside
/// one) separated by spaces, each `'key=value'`, or `'key'='value'` as git 2.31 and later
/// write it.
pub fn parameters(raw: &str) -> Result<Vec<Parameter>, EnvError> {
    let bad = || EnvError("GIT_CONFIG_PARAMETERS cannot be read, and git refuses it too".into());
    let bytes = raw.as_bytes();
    let mut at = 0;
    let mut out = Vec::new();
    let skip_space = |mut at: usize| {
        while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
            at += 1;
        }
        at
    };
    // One quoted word from `at`: its text and where it ends.
    let word = |mut at: usize| -> Option<(String, usize)> {
        let mut text = Vec::new();
        loop {
            if bytes.get(at) != Some(&b'\'') {
                return None;
            }
            at += 1;
            let end = at + bytes[at..].iter().position(|&b| b == b'\'')?;
            text.extend_from_slice(&bytes[at..end]);
            at = end + 1;
            match (bytes.get(at), bytes.get(at + 1)) {
                (Some(b'\\'), Some(&c @ (b'\'' | b'!'))) => {
                    text.push(c);
                    at += 2;
                }
                _ => return Some((String::from_utf8(text).ok()?, at)),
            }
        }
    };
    at = skip_space(at);
    while at < bytes.len() {
        let start = at;
        let (first, end) = word(at).ok_or_else(bad)?;
        let (key, value, end) = if bytes.get(end) == Some(&b'=') {
            let (value, end) = word(end + 1).ok_or_else(bad)?;
            (first, Some(value), end)
        } else {
            match first.split_once('=') {
                Some((k, v)) => (k.trim().to_owned(), Some(v.to_owned()), end),
                None => (first.trim().to_owned(), None, end),
            }
        };
        if bytes.get(end).is_some_and(|b| !b.is_ascii_whitespace()) {
            return Err(bad());
        }
        out.push(Parameter {
            key,
            value,
            span: start..end,
        });
        at = skip_space(end);
    }
    Ok(out)
}

/// One entry in the form every git reads from `GIT_CONFIG_PARAMETERS`: `'key=value'`.
pub fn parameter(key: &str, value: &str) -> String {
    let mut out = String::from("'");
    for c in format!("{key}={value}").chars() {
        match c {
            '\'' => out.push_str("'\\''"),
            '!' => out.push_str("'\\!'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_entries_are_read_as_git_reads_them() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(env_entries(vars(&[])).unwrap(), []);
        assert_eq!(
            env_entries(vars(&[
                ("GIT_CONFIG_COUNT", "1"),
                ("GIT_CONFIG_KEY_0", "a.b"),
                ("GIT_CONFIG_VALUE_0", "")
            ]))
            .unwrap(),
            [("a.b".to_owned(), String::new())]
        );
        assert!(env_entries(vars(&[
            ("GIT_CONFIG_COUNT", "2"),
            ("GIT_CONFIG_KEY_0", "a.b"),
            ("GIT_CONFIG_VALUE_0", "")
        ]))
        .is_err());
        assert!(env_entries(vars(&[("GIT_CONFIG_COUNT", "x")])).is_err());
    }

    #[test]
    fn parameters_are_read_in_both_of_gits_forms() {
        let raw = "'a.b=1' 'credential.https://h.helper'='' 'x.y'  'it'\\''s.k=v'\\!'' 'flag'";
        let got = parameters(raw).unwrap();
        let pairs: Vec<(&str, Option<&str>)> = got
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_deref()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("a.b", Some("1")),
                ("credential.https://h.helper", Some("")),
                ("x.y", None),
                ("it's.k", Some("v!")),
                ("flag", None),
            ]
        );
        assert_eq!(
            &raw[got[1].span.clone()],
            "'credential.https://h.helper'=''"
        );
        assert!(parameters("'unterminated").is_err());
        assert!(parameters("bare").is_err());
        assert_eq!(parameters("  ").unwrap(), []);
    }

    #[test]
    fn a_written_parameter_reads_back_as_the_same_entry() {
        let value = "!f() { echo \"it's\"; }; f";
        let text = parameter("credential.https://h.helper", value);
        let got = parameters(&format!("'a.b=c' {text}")).unwrap();
        assert_eq!(got[1].key, "credential.https://h.helper");
        assert_eq!(got[1].value.as_deref(), Some(value));
    }
}
