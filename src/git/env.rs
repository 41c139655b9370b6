//! `GIT_CONFIG_COUNT`, `GIT_CONFIG_KEY_<n>` and `GIT_CONFIG_VALUE_<n>`: config entries that
//! git (2.31 and later) reads from the environment after every config file.

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
}
