//! Self-tests of the bounded runner in `support/process.rs` and of which git the sandbox
//! runs. Every other test relies on them: a runner that let a hung child hang, or lost its
//! output, would make those tests hang or pass for the wrong reason.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::daemon::{alive, wait_gone};
use crate::support::process::{self, Process};
use crate::support::sandbox::Sandbox;

fn sh(script: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script]);
    cmd
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn the_runner_feeds_stdin_and_keeps_status_stdout_and_stderr_apart() {
    let run = Process::new(sh("cat; echo oops >&2; exit 3"))
        .stdin("hello\n")
        .run();
    assert_eq!(run.code(), Some(3));
    assert!(!run.success());
    assert_eq!(run.stdout_str(), "hello\n");
    assert_eq!(run.stderr_str(), "oops\n");
    assert_eq!(run.output_str(), "hello\noops\n");
    assert_eq!(run.command, "sh -c cat; echo oops >&2; exit 3");
}

#[test]
fn the_runner_kills_a_hung_command_and_its_children_and_names_it() {
    let began = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        Process::new(sh("sleep 30 & echo \"child $!\" >&2; wait"))
            .timeout(Duration::from_millis(500))
            .run()
    }));
    let message = panic_message(outcome.expect_err("a hung command must fail the test"));
    assert!(began.elapsed() < Duration::from_secs(10), "{message}");
    assert!(message.contains("did not finish within"), "{message}");
    assert!(message.contains("sh -c sleep 30"), "{message}");
    let pid: u32 = message
        .rsplit("child ")
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {message:?}"));
    assert!(
        wait_gone(pid, Duration::from_secs(5)),
        "the hung command's child {pid} survived"
    );
}

#[test]
fn a_pipe_held_open_after_the_exit_fails_the_run_and_the_leftover_is_killed() {
    let began = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        process::run(sh("sleep 30 & echo \"child $!\""))
    }));
    let message = panic_message(outcome.expect_err("a held pipe must fail the test"));
    // Well before the leftover's 30 s: the grace for end-of-file is 5 s.
    assert!(began.elapsed() < Duration::from_secs(15), "{message}");
    assert!(message.contains("stdout of sh -c sleep 30"), "{message}");
    assert!(message.contains("held open"), "{message}");
    let pid: u32 = message
        .rsplit("child ")
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {message:?}"));
    assert!(
        wait_gone(pid, Duration::from_secs(5)),
        "the leftover {pid} survived"
    );
    assert!(!alive(pid));
}

#[test]
fn a_command_that_cannot_start_is_an_error_not_a_hang() {
    let missing = Command::new("/nonexistent/definitely-not-a-program");
    assert!(Process::new(missing).try_run().is_err());
}

/// The matrix CI step puts another git first in PATH: the sandbox's git must be that one.
#[test]
fn the_sandbox_runs_the_git_first_in_path() {
    let sandbox = Sandbox::new();
    let path = std::env::var_os("PATH").expect("the tests run with a PATH");
    let git = sandbox.git();
    let carried = |key: &str| {
        git.get_envs()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.map(|v| v.to_owned()))
    };
    assert_eq!(carried("PATH"), Some(path.clone()));
    assert_eq!(carried("GIT_EXEC_PATH"), std::env::var_os("GIT_EXEC_PATH"));

    // A wrapper named `git`, first in PATH, as /opt/git-matrix/<version>/bin holds them.
    let bin = sandbox.root().join("matrix-bin");
    std::fs::create_dir(&bin).unwrap();
    let log = sandbox.root().join("wrapper.log");
    let real = process::run(sh("command -v git")).assert_success();
    let wrapper = bin.join("git");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real.stdout_str().trim()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut with_wrapper = bin.into_os_string();
    with_wrapper.push(":");
    with_wrapper.push(&path);
    sandbox.env("PATH", with_wrapper);

    let version = sandbox.run_ok(["--version"]);
    assert!(version.stdout_str().starts_with("git version"));
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(
        logged, "--version\n",
        "the wrapper first in PATH did not run"
    );
}
