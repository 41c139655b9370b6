//! `git credential fill`, run the way git itself would ask its helpers for a URL: the whole
//! chain, resolved by git, with every prompt off and a deadline. `status` uses it to prove
//! what git will really get, instead of inferring it from the config.
//!
//! The answer holds a password. It is read into zeroized memory, its fingerprint taken, and
//! it is dropped; nothing of it is kept or printed.

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use zeroize::Zeroizing;

use super::runner::command;

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
    let mut cmd = command();
    cmd.args(["-c", "credential.interactive=never", "-c", "core.askPass="])
        .args(["credential", "fill"])
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "")
        .env("SSH_ASKPASS", "")
        .env("GCM_INTERACTIVE", "never")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Filled::NotRun(e.to_string()),
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(format!("url={url}\n\n").as_bytes());
    }
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut buf = Zeroizing::new(Vec::new());
        let _ = stdout.by_ref().take(64 * 1024).read_to_end(&mut buf);
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.by_ref().take(64 * 1024).read_to_end(&mut buf);
        buf
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let Some(status) = status else {
        return Filled::TimedOut;
    };
    let message = String::from_utf8_lossy(&stderr).trim().to_owned();
    if !status.success() {
        return Filled::Nothing { message };
    }
    parse(&stdout).unwrap_or(Filled::Nothing { message })
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
