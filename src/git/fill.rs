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
        /// How many helpers git ran: git stops at the first that completes the credential,
        /// so this is the answering helper's place among those the chain leaves in effect.
        /// 0 when the credential came from the URL or config with no helper asked.
        asked: usize,
    },
    /// git found none and said why (its own message, which names no secret of ours but is
    /// redacted before it is shown), after running `asked` helpers.
    Nothing { message: String, asked: usize },
    /// A helper did not finish within the deadline.
    TimedOut,
    /// git could not be run.
    NotRun(String),
}

/// Asks git for `url`'s credential, with `deadline` for the whole chain.
///
/// git's trace (`GIT_TRACE=2`, on its stderr, which is read into memory only) counts the
/// helpers it runs; the trace lines are left out of git's message.
pub fn fill(url: &str, deadline: Duration) -> Filled {
    let mut cmd = unattended();
    cmd.args(["credential", "fill"]).env("GIT_TRACE", "2");
    let run = match run_bounded(&mut cmd, format!("url={url}\n\n").as_bytes(), deadline) {
        Ok(run) => run,
        Err(e) => return Filled::NotRun(e.to_string()),
    };
    let Some(status) = run.status else {
        return Filled::TimedOut;
    };
    let (asked, message) = read_trace(&run.stderr);
    if !status.success() {
        return Filled::Nothing { message, asked };
    }
    match parse(&run.stdout) {
        Some((username, password)) => Filled::Credential {
            username,
            password,
            asked,
        },
        None => Filled::Nothing { message, asked },
    }
}

/// The number of helpers git ran, from its trace, and its stderr without the trace.
/// git traces each helper as `trace: run_command: '<helper> get'` (the action appended to the
/// helper's command); what the helpers themselves trace (a `git credential-store` is git too,
/// and `credential-cache` starts its daemon) has no such line.
fn read_trace(stderr: &str) -> (usize, String) {
    let mut asked = 0;
    let mut message = Vec::new();
    for line in stderr.lines() {
        match line.split_once(" trace: ") {
            Some((_, traced)) => {
                if traced.starts_with("run_command: ") && traced.ends_with(" get'") {
                    asked += 1;
                }
            }
            None => message.push(line),
        }
    }
    (asked, message.join("\n").trim().to_owned())
}

/// The user name and password in git's answer; `None` without a password.
fn parse(answer: &[u8]) -> Option<(Option<String>, SecretString)> {
    let text = std::str::from_utf8(answer).ok()?;
    let mut username = None;
    let mut password = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("username=") {
            username = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("password=") {
            // Copied once into an exact-size box; `answer` is the caller's zeroized buffer.
            password = Some(SecretString::from(Box::<str>::from(v)));
        }
    }
    Some((username, password?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn gits_answer_is_read_for_its_user_name_and_password() {
        let Some((username, password)) =
            parse(b"protocol=https\nhost=h\nusername=u\npassword=p4ss\n")
        else {
            panic!("no credential");
        };
        assert_eq!(username.as_deref(), Some("u"));
        assert_eq!(password.expose_secret(), "p4ss");
        assert!(parse(b"protocol=https\nhost=h\nusername=u\n").is_none());
    }

    #[test]
    fn the_trace_counts_the_helpers_git_ran_and_is_left_out_of_its_message() {
        let stderr = "\
12:00:00.000001 git.c:479               trace: built-in: git credential fill
12:00:00.000002 run-command.c:666       trace: run_command: 'f(){ :; }; f get'
12:00:00.000003 run-command.c:758       trace: start_command: /bin/sh -c 'f(){ :; }; f get' 'f(){ :; }; f get'
12:00:00.000004 run-command.c:666       trace: run_command: 'git credential-cache get'
12:00:00.000005 git.c:479               trace: built-in: git credential-cache get
12:00:00.000006 run-command.c:666       trace: run_command: git credential-cache--daemon /tmp/s
fatal: could not read Username for 'https://h': terminal prompts disabled";
        let (asked, message) = read_trace(stderr);
        assert_eq!(asked, 2);
        assert_eq!(
            message,
            "fatal: could not read Username for 'https://h': terminal prompts disabled"
        );
    }
}
