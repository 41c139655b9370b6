//! `git credential fill`, run the way git itself would ask its helpers for a URL: the whole
//! chain, resolved by git, with every prompt off and a deadline. `status` uses it to prove
//! what git will really get, instead of inferring it from the config.
//!
//! The answer holds a password. It is read into zeroized memory, its fingerprint taken, and
//! it is dropped; nothing of it is kept or printed.

use std::time::Duration;

use secrecy::SecretString;

use super::runner::{run_bounded, unattended};

/// What `git credential fill` gave for a URL.
#[derive(Debug)]
pub enum Filled {
    /// A credential: its user name, and its password (never shown).
    Credential {
        username: Option<String>,
        password: SecretString,
    },
    /// git found none and said why (its own message, which names no secret of ours but is
    /// redacted before it is shown).
    Nothing { message: String },
    /// A helper did not finish within the deadline.
    TimedOut,
    /// git could not be run.
    NotRun(String),
}

/// Asks git for `url`'s credential, with `deadline` for the whole chain.
pub fn fill(url: &str, deadline: Duration) -> Filled {
    let mut cmd = unattended();
    cmd.args(["credential", "fill"]);
    let run = match run_bounded(&mut cmd, format!("url={url}\n\n").as_bytes(), deadline) {
        Ok(run) => run,
        Err(e) => return Filled::NotRun(e.to_string()),
    };
    let Some(status) = run.status else {
        return Filled::TimedOut;
    };
    if !status.success() {
        return Filled::Nothing {
            message: run.stderr,
        };
    }
    parse(&run.stdout).unwrap_or(Filled::Nothing {
        message: run.stderr,
    })
}

/// The user name and password in git's answer; `None` without a password.
fn parse(answer: &[u8]) -> Option<Filled> {
    let text = std::str::from_utf8(answer).ok()?;
    let mut username = None;
    let mut password = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("username=") {
            username = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("password=") {
            password = Some(SecretString::from(v.to_owned()));
        }
    }
    Some(Filled::Credential {
        username,
        password: password?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn gits_answer_is_read_for_its_user_name_and_password() {
        let Some(Filled::Credential { username, password }) =
            parse(b"protocol=https\nhost=h\nusername=u\npassword=p4ss\n")
        else {
            panic!("no credential");
        };
        assert_eq!(username.as_deref(), Some("u"));
        assert_eq!(password.expose_secret(), "p4ss");
        assert!(parse(b"protocol=https\nhost=h\nusername=u\n").is_none());
    }
}
