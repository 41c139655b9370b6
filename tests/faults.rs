//! Faults around the helper: a daemon that dies or wedges mid-request, a socket removed under
//! a running daemon, a token file that vanishes or turns bad, git closing its end early, an
//! expired token. None may hang git, crash, or give a wrong answer, and `status` must say what
//! happened where a user would look.

use std::io::Read;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::support::daemon::{socket_dir, DaemonBuilder, ENV_SOCKET, ENV_USE_DAEMON};
use crate::support::helper::{helper_command, run_helper, TOKEN};
use crate::support::process::{self, Process, Run};
use crate::support::programs::carry_git_env;

const SERVED: &str = "https://gitlab.example.com";
const REQUEST: &[u8] = b"protocol=https\nhost=gitlab.example.com\n";

/// The helper in a job whose own environment still has the token, pointed at `socket`.
fn get_with_fallback(socket: &Path, mode: &str) -> (Run, Duration) {
    let started = Instant::now();
    let run = run_helper(
        &["get"],
        REQUEST,
        &[
            ("CI_SERVER_URL", SERVED.to_owned()),
            ("CI_JOB_TOKEN", TOKEN.to_owned()),
            (ENV_SOCKET, socket.display().to_string()),
            (ENV_USE_DAEMON, mode.to_owned()),
        ],
    );
    (run, started.elapsed())
}

fn status(socket: &Path, env: &[(&str, &str)]) -> (bool, String) {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = helper_command();
    cmd.args(["--socket"])
        .arg(socket)
        .args(["status", "https://gitlab.example.com/g/p.git"])
        .env_clear();
    carry_git_env(&mut cmd)
        .env("HOME", home.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .envs(env.iter().copied())
        .current_dir(home.path());
    let out = process::run(cmd);
    let text = out.output_str();
    assert!(!text.contains(TOKEN), "status printed the token: {text}");
    (out.success(), text)
}

/// A "daemon" that accepts, reads the request, and then closes without an answer, as a
/// daemon killed in the middle of a request does.
#[test]
fn a_daemon_that_dies_mid_request_means_fallback_or_silence_never_a_hang() {
    let dir = socket_dir();
    let socket = dir.path().join("sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut conn, _) = listener.accept().unwrap();
            let mut header = [0u8; 10];
            let _ = conn.read_exact(&mut header);
            drop(conn);
        }
    });
    let (run, took) = get_with_fallback(&socket, "auto");
    run.assert_answered("gitlab-ci-token", TOKEN);
    assert!(
        took < Duration::from_secs(2),
        "auto fell back after {took:?}"
    );
    let (run, took) = get_with_fallback(&socket, "only");
    run.assert_silent("daemon died mid-request, --use-daemon only");
    assert!(took < Duration::from_secs(2), "only gave up after {took:?}");
    server.join().unwrap();
}

/// A "daemon" that accepts and then never answers: the client's timeout ends the wait.
#[test]
fn a_wedged_daemon_costs_git_a_bounded_wait() {
    let dir = socket_dir();
    let socket = dir.path().join("sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let held = std::thread::spawn(move || {
        let conns: Vec<_> = (0..2).map(|_| listener.accept().unwrap().0).collect();
        std::thread::sleep(Duration::from_secs(6));
        drop(conns);
    });
    let (run, took) = get_with_fallback(&socket, "auto");
    run.assert_answered("gitlab-ci-token", TOKEN);
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(5),
        "a wedged daemon held git for {took:?}"
    );
    let (run, took) = get_with_fallback(&socket, "only");
    run.assert_silent("wedged daemon, --use-daemon only");
    assert!(took < Duration::from_secs(5), "{took:?}");
    held.join().unwrap();
}

#[test]
fn a_killed_daemons_socket_is_reported_and_git_falls_back() {
    let dir = socket_dir();
    let socket = dir.path().join("sock");
    let daemon = DaemonBuilder::new(&socket)
        .env("CI_SERVER_URL", SERVED)
        .env("CI_JOB_TOKEN", TOKEN)
        .detach();
    daemon.signal(libc::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(5);
    while crate::support::daemon::alive(daemon.pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(socket.exists(), "SIGKILL leaves the socket behind");
    let (run, took) = get_with_fallback(&socket, "auto");
    run.assert_answered("gitlab-ci-token", TOKEN);
    assert!(took < Duration::from_secs(1), "{took:?}");
    let (_, text) = status(
        &socket,
        &[("CI_SERVER_URL", SERVED), ("CI_JOB_TOKEN", TOKEN)],
    );
    assert!(
        text.contains("was left by a daemon that is no longer running"),
        "{text}"
    );
    assert!(text.contains("it reclaims the stale socket"), "{text}");
}

#[test]
fn a_daemon_whose_socket_is_removed_stops_and_status_says_so_meanwhile() {
    let dir = socket_dir();
    let socket = dir.path().join("sock");
    let mut daemon = DaemonBuilder::new(&socket)
        .env("CI_SERVER_URL", SERVED)
        .env("CI_JOB_TOKEN", TOKEN)
        .foreground();
    std::fs::remove_file(&socket).unwrap();
    // Right after the removal the daemon still holds its lock: status names it.
    let (ok, text) = status(&socket, &[("GIT_CREDENTIAL_GITLAB_CI_USE_DAEMON", "only")]);
    assert!(!ok);
    assert!(
        text.contains("but its socket is gone") || text.contains("no daemon is running"),
        "{text}"
    );
    // Unreachable, it stops by itself instead of holding the token.
    let exit = daemon.wait_exit(Duration::from_secs(5));
    assert!(exit.is_some_and(|s| s.success()), "{exit:?}");
    assert!(daemon.log_eventually_contains("socket_lost", Duration::from_secs(1)));
    let (run, _) = get_with_fallback(&socket, "only");
    run.assert_silent("socket removed, --use-daemon only");
    // And the next start serves again.
    let again = DaemonBuilder::new(&socket)
        .env("CI_SERVER_URL", SERVED)
        .env("CI_JOB_TOKEN", TOKEN)
        .detach();
    again
        .get("gitlab.example.com")
        .assert_answered("gitlab-ci-token", TOKEN);
}

#[test]
fn a_token_file_that_vanishes_empties_or_locks_is_never_half_served() {
    let dir = socket_dir();
    let socket = dir.path().join("sock");
    let secrets = tempfile::tempdir().unwrap();
    let file = secrets.path().join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let daemon = DaemonBuilder::new(&socket)
        .arg("--url")
        .arg(SERVED)
        .arg("--token-file")
        .arg(&file)
        .detach();
    daemon
        .get("gitlab.example.com")
        .assert_answered("gitlab-ci-token", TOKEN);

    let only = [("GIT_CREDENTIAL_GITLAB_CI_USE_DAEMON", "only")];
    std::fs::remove_file(&file).unwrap();
    daemon
        .get("gitlab.example.com")
        .assert_silent("token file removed");
    let (ok, text) = status(&socket, &only);
    assert!(!ok);
    assert!(text.contains("the daemon has no usable token"), "{text}");
    assert!(text.contains("no such file"), "{text}");

    std::fs::write(&file, "").unwrap();
    daemon
        .get("gitlab.example.com")
        .assert_silent("token file emptied");
    let (_, text) = status(&socket, &only);
    assert!(text.contains("empty"), "{text}");

    std::fs::write(&file, "glpat-half\nwritten").unwrap();
    daemon
        .get("gitlab.example.com")
        .assert_silent("token file with two lines");
    let (_, text) = status(&socket, &only);
    assert!(text.contains("contains a newline"), "{text}");

    // Unreadable: only meaningful when not root (root reads mode 000 files).
    if !crate::support::daemon::is_root() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(&file, TOKEN).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o000)).unwrap();
        daemon
            .get("gitlab.example.com")
            .assert_silent("token file unreadable");
        let (_, text) = status(&socket, &only);
        assert!(text.contains("permission denied"), "{text}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    std::fs::write(&file, "glpat-Restored0123").unwrap();
    daemon
        .get("gitlab.example.com")
        .assert_answered("gitlab-ci-token", "glpat-Restored0123");
}

#[test]
fn git_closing_our_stdout_early_is_not_an_error() {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = helper_command();
    cmd.args(["--use-daemon", "never", "get"])
        .env_clear()
        .env("HOME", home.path())
        .env("CI_SERVER_URL", SERVED)
        .env("CI_JOB_TOKEN", TOKEN);
    // The read end of stdout is closed before the helper writes its answer; a hang fails
    // the test at the deadline.
    let run = Process::new(cmd)
        .stdin(REQUEST)
        .close_stdout()
        .timeout(Duration::from_secs(10))
        .run();
    assert!(run.success(), "{:?} {}", run.status, run.stderr_str());
    assert!(run.stderr.is_empty(), "{}", run.stderr_str());
}

/// A job token whose JWT `exp` has passed: git is told, `status` says so and fails.
#[test]
fn an_expired_token_is_flagged_and_git_is_told_its_expiry() {
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let expired = format!(
        "glcbt-{}.{}.c2ln",
        b64(r#"{"alg":"RS256"}"#),
        b64(r#"{"exp":1000000000}"#)
    );
    let run = run_helper(
        &["--use-daemon", "never", "get"],
        REQUEST,
        &[
            ("CI_SERVER_URL", SERVED.to_owned()),
            ("CI_JOB_TOKEN", expired.clone()),
        ],
    );
    run.assert_answered("gitlab-ci-token", &expired);
    assert!(
        run.stdout_str()
            .ends_with("password_expiry_utc=1000000000\n"),
        "{}",
        run.stdout_str()
    );

    let dir = socket_dir();
    let (ok, text) = status(
        &dir.path().join("none"),
        &[
            ("CI_SERVER_URL", SERVED),
            ("CI_JOB_TOKEN", expired.as_str()),
        ],
    );
    assert!(!ok, "{text}");
    assert!(
        text.contains("the token expired at 2001-09-09T01:46:40Z"),
        "{text}"
    );
    assert!(!text.contains(&expired));
}

/// An expiry set in the configuration that is only minutes away is a warning, not a problem.
#[test]
fn a_token_about_to_expire_is_a_warning() {
    let soon = humantime_in(Duration::from_secs(120));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!("[[credential]]\nurl = \"{SERVED}\"\ntoken_env = \"T\"\nexpires = \"{soon}\"\n"),
    )
    .unwrap();
    let (_, text) = status(
        &dir.path().join("none"),
        &[
            ("GIT_CREDENTIAL_GITLAB_CI_CONFIG", config.to_str().unwrap()),
            ("T", "glpat-Soon0123456"),
        ],
    );
    assert!(text.contains("warning  the token expires at"), "{text}");
}

fn humantime_in(d: Duration) -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now() + d).to_string()
}

/// A helper that holds the job's token, here waiting for git's request, dumps no core and is
/// not dumpable: another process of the same uid cannot read its environment, and a crash
/// (release builds abort on panic) would write no core holding it.
#[test]
fn a_helper_waiting_for_its_request_cannot_be_read_by_its_own_uid() {
    use crate::support::programs::{binary, setpriv_command};
    use std::process::Stdio;
    if !crate::support::daemon::is_root() {
        eprintln!("skipped: another uid can only be tested as root");
        return;
    }
    let as_nobody = |args: &[&str]| {
        let mut cmd = setpriv_command();
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .args(args)
            .env_clear()
            .env("HOME", "/nonexistent");
        cmd
    };
    if !as_nobody(&[binary(), "--version"])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        eprintln!("skipped: nobody cannot run {} with setpriv", binary());
        return;
    }
    let mut helper = as_nobody(&[binary(), "get"]);
    helper
        .env("CI_SERVER_URL", SERVED)
        .env("CI_JOB_TOKEN", TOKEN)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = helper.spawn().unwrap();
    let pid = child.id();
    // Wait until setpriv has become the helper and the helper sleeps, reading stdin.
    let start = Instant::now();
    loop {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .chars()
            .next();
        if comm.starts_with("git-credential") && state == Some('S') {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the helper never waited for its request"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap()
        .split_whitespace()
        .skip(4)
        .take(2)
        .collect::<Vec<_>>();
    assert_eq!(core, ["0", "0"], "{limits}");
    let environ = format!("/proc/{pid}/environ");
    let peek = as_nobody(&["cat", &environ]).output().unwrap();
    drop(child.stdin.take());
    let _ = child.wait();
    assert!(
        !peek.status.success(),
        "the same uid read the helper's environment"
    );
    assert!(!String::from_utf8_lossy(&peek.stdout).contains(TOKEN));
}
