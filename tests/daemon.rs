//! The daemon, as real processes on real sockets: it answers git when git's own environment
//! holds no token, under load and beside silent clients; one daemon per socket however many
//! start at once; a clean exit on SIGTERM, `--ttl` and `--idle-timeout`; a restart after
//! SIGKILL; no answer to another uid; token files re-read on every request; no token in its
//! `/proc` environment; and `status` reporting the server's rejection, never the token.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::support::daemon::{
    daemon_state, daemons_for, frame, get_via, is_our_daemon, lock_pid, raw_request, read_reply,
    running_pid, socket_dir, wait_gone, DaemonBuilder, SocketGuard, ENV_SOCKET, ENV_USE_DAEMON,
    KIND_ANSWER, KIND_GET,
};
use crate::support::helper::{binary, helper_command, run_helper, TOKEN};
use crate::support::process::{Process, Run};
use crate::support::programs::{carry_git_env, setpriv_command};
use crate::support::sandbox::Sandbox;
use crate::support::scenario::Scenario;

const SERVED: &str = "https://gitlab.example.com";
const HOST: &str = "gitlab.example.com";
const PROJECT: &str = crate::support::scenario::PROJECT;

/// A daemon as a GitLab job would start it: the job's variables in its environment only.
fn job_daemon(socket: &Path) -> DaemonBuilder {
    DaemonBuilder::new(socket)
        .env("CI_SERVER_URL", SERVED)
        .env("CI_JOB_TOKEN", TOKEN)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The token's fingerprint as the daemon logs it: the first 4 bytes of its SHA-256, in hex.
fn fingerprint(token: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes())[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `binary --socket S <args>` with an empty environment but for HOME and the git under test
/// (`status` runs git).
fn ours(socket: &Path, args: &[&str]) -> Command {
    let mut cmd = helper_command();
    cmd.arg("--socket").arg(socket).args(args).env_clear();
    carry_git_env(&mut cmd).env("HOME", "/nonexistent");
    cmd
}

#[test]
fn clone_and_push_go_through_the_daemon_while_gits_environment_has_no_token() {
    let job = Scenario::new().server("gitlab-ci-token", TOKEN).helper();
    let server = job.served();
    let dir = socket_dir();
    // A socket directory that does not exist yet: the daemon creates it, private.
    let socket = dir.path().join("run").join("sock");
    let daemon = DaemonBuilder::new(&socket)
        .env("CI_SERVER_URL", server.url())
        .env("CI_JOB_TOKEN", TOKEN)
        .detach();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(socket.parent().unwrap()), 0o700);
    assert_eq!(mode(&socket), 0o600);
    assert_eq!(lock_pid(&socket), Some(daemon.pid));

    // `only`: the helper never answers by itself, so every answer is the daemon's.
    let job = job.env(ENV_SOCKET, &socket).env(ENV_USE_DAEMON, "only");
    let server = job.served();
    let git = job.sandbox().git();
    for (k, v) in git.get_envs() {
        let v = v
            .map(|v| v.to_string_lossy().into_owned())
            .unwrap_or_default();
        assert!(
            !v.contains(TOKEN) && !k.to_string_lossy().starts_with("CI_"),
            "git's environment holds {k:?}"
        );
    }

    job.git_ok(["clone", "--quiet", &job.url(), "clone"]);
    let head = job.commit("clone", "VERSION", "1.2.3\n");
    job.git_ok(["-C", "clone", "push", "--quiet", "origin", "main"]);
    assert_eq!(
        job.server_ref("refs/heads/main"),
        head,
        "the push did not land"
    );

    let seen = server.credentials_seen();
    assert!(!seen.is_empty(), "the server never saw a credential");
    assert!(
        seen.iter()
            .all(|c| c == &("gitlab-ci-token".to_owned(), TOKEN.to_owned())),
        "{seen:?}"
    );
    let state = daemon_state(&socket).expect("the daemon reports its state");
    assert!(state["answered"].as_u64().unwrap() >= 2, "{state}");
    let log = daemon.log_text();
    let audit = log
        .lines()
        .find(|l| l.contains("event=\"get\"") && l.contains("decision=\"answer\""))
        .unwrap_or_else(|| panic!("no audit line for an answer in:\n{log}"));
    for field in ["peer_pid=", "peer_command=", "origin=", &fingerprint(TOKEN)] {
        assert!(audit.contains(field), "{field} missing from {audit}");
    }
    assert!(!log.contains(TOKEN), "the token is in the daemon's log");
}

#[test]
fn two_hundred_concurrent_fills_are_all_answered() {
    const N: usize = 200;
    let dir = socket_dir();
    let socket = dir.path().join("sock");
    let _daemon = job_daemon(&socket).detach();
    let sandbox = Sandbox::new();
    sandbox.run_ok(["config", "--global", "credential.helper", binary()]);
    sandbox.env(ENV_SOCKET, &socket).env(ENV_USE_DAEMON, "only");
    let request = format!("protocol=https\nhost={HOST}\n\n");

    let start = Arc::new(Barrier::new(N));
    let began = Instant::now();
    let runs: Vec<_> = (0..N)
        .map(|_| {
            let mut cmd = sandbox.git();
            cmd.args(["credential", "fill"]);
            let fill = Process::new(cmd).stdin(&request);
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                // Bounded: the runner kills git past its deadline and panics.
                fill.run()
            })
        })
        .collect();
    let mut unanswered = Vec::new();
    for run in runs {
        let out = run.join().expect("a fill timed out");
        let stdout = text(&out.stdout);
        if !out.status.success() || !stdout.contains(&format!("password={TOKEN}\n")) {
            unanswered.push(format!("{:?}: {}", out.status, text(&out.stderr)));
        }
    }
    eprintln!("{N} concurrent fills in {:?}", began.elapsed());
    assert!(
        unanswered.is_empty(),
        "{} of {N} fills got no answer, e.g. {:?}",
        unanswered.len(),
        unanswered.first()
    );
    let state = daemon_state(&socket).unwrap();
    assert_eq!(state["answered"].as_u64(), Some(N as u64), "{state}");
}

#[test]
fn silent_clients_delay_nobody() {
    let dir = socket_dir();
    let socket = dir.path().join("sock");
    let daemon = job_daemon(&socket).detach();

    let first_silent = Instant::now();
    let mut silent = UnixStream::connect(&socket).unwrap();
    let began = Instant::now();
    let run = daemon.get(HOST);
    let took = began.elapsed();
    run.assert_answered("gitlab-ci-token", TOKEN);
    assert!(took < Duration::from_secs(1), "one silent client: {took:?}");

    let more: Vec<UnixStream> = (0..32)
        .map(|_| UnixStream::connect(&socket).unwrap())
        .collect();
    let began = Instant::now();
    let run = daemon.get(HOST);
    let took = began.elapsed();
    run.assert_answered("gitlab-ci-token", TOKEN);
    assert!(took < Duration::from_secs(1), "33 silent clients: {took:?}");

    // The daemon gives up on a silent client after its 1 s request deadline, without answering.
    silent
        .set_read_timeout(Some(Duration::from_secs(6)))
        .unwrap();
    assert_eq!(read_reply(&mut silent).unwrap(), None);
    let held = first_silent.elapsed();
    assert!(
        held >= Duration::from_millis(900) && held < Duration::from_secs(5),
        "the silent client was closed after {held:?}"
    );
    drop(more);
    assert!(daemon.log_eventually_contains("client_timeout", Duration::from_secs(3)));
}

#[test]
fn a_restart_after_sigkill_reclaims_the_socket() {
    let dir = socket_dir();
    let socket = dir.path().join("sock");
    let first = job_daemon(&socket).detach();
    first.get(HOST).assert_answered("gitlab-ci-token", TOKEN);
    first.signal(libc::SIGKILL);
    assert!(wait_gone(first.pid, Duration::from_secs(5)));
    assert!(
        socket.exists(),
        "SIGKILL left no socket file: nothing to reclaim"
    );
    // The dead socket refuses connections: nothing is answered, and at once.
    let began = Instant::now();
    get_via(&socket, HOST).assert_silent("a dead daemon's socket");
    assert!(began.elapsed() < Duration::from_secs(1));

    let second = job_daemon(&socket).detach();
    assert_ne!(second.pid, first.pid);
    assert_eq!(lock_pid(&socket), Some(second.pid));
    second.get(HOST).assert_answered("gitlab-ci-token", TOKEN);
    assert_eq!(daemons_for(&socket), vec![second.pid]);
}

#[test]
fn eight_concurrent_detached_starts_leave_one_daemon() {
    const N: usize = 8;
    let dir = socket_dir();
    // The socket directory does not exist yet, so the starts also race to create it.
    let socket = dir.path().join("run").join("sock");
    let _guard = SocketGuard {
        socket: socket.clone(),
    };
    let builder = job_daemon(&socket);
    let start = Arc::new(Barrier::new(N));
    let starts: Vec<_> = (0..N)
        .map(|_| {
            let cmd = builder.command(true);
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                Process::new(cmd).timeout(Duration::from_secs(20)).run()
            })
        })
        .collect();
    let outs: Vec<_> = starts.into_iter().map(|t| t.join().unwrap()).collect();
    let report: Vec<String> = outs
        .iter()
        .map(|o| format!("{:?} {} {}", o.status, text(&o.stdout), text(&o.stderr)))
        .collect();
    let winners: Vec<_> = outs.iter().filter(|o| o.status.success()).collect();
    assert_eq!(winners.len(), 1, "{report:#?}");
    for loser in outs.iter().filter(|o| !o.status.success()) {
        assert_eq!(loser.status.code(), Some(1), "{report:#?}");
        let stderr = text(&loser.stderr);
        assert!(
            stderr.contains(&format!(
                "a daemon is already running on {}",
                socket.display()
            )),
            "{report:#?}"
        );
    }
    let pid = running_pid(&text(&winners[0].stdout)).expect("the winner names its pid");
    for loser in outs.iter().filter(|o| !o.status.success()) {
        // The pid is the winner's (it may be missing if read while the winner wrote it).
        let stderr = text(&loser.stderr);
        if stderr.contains("(pid ") {
            assert!(stderr.contains(&format!("(pid {pid})")), "{report:#?}");
        }
    }
    assert_eq!(lock_pid(&socket), Some(pid));
    assert_eq!(daemons_for(&socket), vec![pid], "{report:#?}");
    get_via(&socket, HOST).assert_answered("gitlab-ci-token", TOKEN);
    let state = daemon_state(&socket).unwrap();
    assert_eq!(state["pid"].as_u64(), Some(pid as u64));
}

#[test]
fn sigterm_and_sigint_finish_the_request_in_flight_remove_the_socket_and_exit_zero() {
    for (signal, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let dir = socket_dir();
        let socket = dir.path().join("sock");
        let mut daemon = job_daemon(&socket).foreground();
        daemon.get(HOST).assert_answered("gitlab-ci-token", TOKEN);

        // A request in flight: half a frame sent. A later request answered proves the daemon
        // accepted this connection (the backlog is served in order).
        let request = frame(
            KIND_GET,
            format!("protocol=https\nhost={HOST}\n").as_bytes(),
        );
        let mut in_flight = UnixStream::connect(&socket).unwrap();
        in_flight
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        std::io::Write::write_all(&mut in_flight, &request[..7]).unwrap();
        assert!(daemon_state(&socket).is_some());

        daemon.signal(signal);
        std::thread::sleep(Duration::from_millis(100));
        std::io::Write::write_all(&mut in_flight, &request[7..]).unwrap();
        let reply = read_reply(&mut in_flight).unwrap();
        let (kind, answer) =
            reply.unwrap_or_else(|| panic!("{name}: the request in flight was dropped"));
        assert_eq!(kind, KIND_ANSWER);
        assert!(text(&answer).contains(&format!("password={TOKEN}\n")));

        let status = daemon
            .wait_exit(Duration::from_secs(8))
            .unwrap_or_else(|| panic!("the daemon did not exit after {name}"));
        assert!(
            status.success(),
            "{name}: {status:?}: {}",
            daemon.log_text()
        );
        assert!(!socket.exists(), "{name}: the socket file is left behind");
        assert!(daemon.log_text().contains(name), "{}", daemon.log_text());
        // Stopped means stopped: nothing answers on that path any more.
        get_via(&socket, HOST).assert_silent("after the daemon stopped");
    }
}

#[test]
fn another_uid_gets_nothing() {
    if !crate::support::daemon::is_root() {
        eprintln!("skipped: another uid can only be tested as root");
        return;
    }
    let as_nobody = |program: &str| {
        let mut cmd = setpriv_command();
        cmd.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            program,
        ])
        .env_clear()
        .env("HOME", "/nonexistent");
        cmd
    };
    let runs_as_nobody = |program: &str, args: &[&str]| {
        let mut cmd = as_nobody(program);
        cmd.args(args);
        Process::new(cmd)
            .timeout(Duration::from_secs(10))
            .run()
            .success()
    };
    let mut version = setpriv_command();
    version.arg("--version");
    if Process::new(version).try_run().is_err() {
        eprintln!("skipped: setpriv (util-linux) is not installed");
        return;
    }
    if !runs_as_nobody(binary(), &["--version"]) {
        eprintln!("skipped: nobody cannot run {}", binary());
        return;
    }

    let dir = socket_dir();
    let socket = dir.path().join("sock");
    let daemon = job_daemon(&socket).detach();
    // Open the way at the filesystem level, after the daemon's own start-up check, so that
    // only the daemon's peer check and the client's owner check stand in the way.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let request = format!("protocol=https\nhost={HOST}\n");

    // The helper run as nobody: its client refuses a socket owned by root, so it does not
    // even connect (no peer_refused in the daemon's log).
    let mut helper = as_nobody(binary());
    helper
        .arg("get")
        .env(ENV_SOCKET, &socket)
        .env(ENV_USE_DAEMON, "only");
    let run = Process::new(helper)
        .stdin(&request)
        .timeout(Duration::from_secs(10))
        .run();
    run.assert_silent("the helper run as nobody");
    assert!(
        !daemon.log_text().contains("peer_refused"),
        "the client connected to a socket of another uid: {}",
        daemon.log_text()
    );

    // A raw client as nobody, speaking the frame format: closed with no answer.
    let python = ["/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3"]
        .into_iter()
        .find(|p| Path::new(p).exists() && runs_as_nobody(p, &["-c", "pass"]));
    match python {
        None => eprintln!("note: no python3 runnable as nobody; raw peer check skipped"),
        Some(python) => {
            let mut raw = as_nobody(python);
            raw.args(["-c", RAW_CLIENT]).arg(&socket).arg(HOST);
            let out = Process::new(raw).timeout(Duration::from_secs(15)).run();
            let said = text(&out.stdout);
            assert!(out.status.success(), "{said} {}", text(&out.stderr));
            assert_eq!(said.trim(), "closed", "the daemon answered another uid");
            assert!(!said.contains(TOKEN));
            assert!(
                daemon.log_eventually_contains("peer_refused", Duration::from_secs(3)),
                "no peer_refused warning: {}",
                daemon.log_text()
            );
            let log = daemon.log_text();
            let line = log.lines().find(|l| l.contains("peer_refused")).unwrap();
            assert!(
                line.contains("WARN") && line.contains("peer_uid=65534"),
                "{line}"
            );
        }
    }
    let state = daemon_state(&socket).unwrap();
    assert_eq!(state["answered"].as_u64(), Some(0), "{state}");
    // Root, the daemon's own uid, is still answered through the opened-up socket.
    daemon.get(HOST).assert_answered("gitlab-ci-token", TOKEN);
}

/// Connects to argv[1], sends a Get frame for host argv[2], prints what came back.
const RAW_CLIENT: &str = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("connect failed:", e)
    sys.exit(0)
p = ("protocol=https\nhost=" + sys.argv[2] + "\n").encode()
try:
    s.sendall(b"GLCI" + bytes([2, 1]) + len(p).to_bytes(4, "big") + p)
except OSError:
    pass
try:
    data = s.recv(65536)
    print("closed" if not data else "answer " + data.hex())
except ConnectionResetError:
    print("closed")
except socket.timeout:
    print("timeout")
"#;

#[test]
fn token_files_swapped_by_rename_and_by_symlink_are_served_at_once() {
    let dir = socket_dir();
    let socket = dir.path().join("sock");
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let file = tokens.join("token");
    let versions = [
        "glpat-TokenFileVersionOne1",
        "glpat-TokenFileVersionTwo2",
        "glpat-TokenFileVersionThree3",
        "glpat-TokenFileVersionFour4",
    ];
    std::fs::write(&file, format!("{}\n", versions[0])).unwrap();
    let daemon = DaemonBuilder::new(&socket)
        .arg("--url")
        .arg(SERVED)
        .arg("--token-file")
        .arg(&file)
        .detach();
    daemon
        .get(HOST)
        .assert_answered("gitlab-ci-token", versions[0]);

    // (a) An atomic rename over the file.
    let tmp = tokens.join(".token.tmp");
    std::fs::write(&tmp, format!("{}\n", versions[1])).unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    daemon
        .get(HOST)
        .assert_answered("gitlab-ci-token", versions[1]);

    // (b) Kubernetes: token -> ..data/token, ..data -> ..<timestamp>, swapped by renaming a
    // fresh symlink over ..data.
    let write_generation = |name: &str, token: &str| {
        let generation = tokens.join(name);
        std::fs::create_dir(&generation).unwrap();
        std::fs::write(generation.join("token"), token).unwrap();
    };
    write_generation("..2024_01_01_00_00_00.1", versions[2]);
    std::os::unix::fs::symlink("..2024_01_01_00_00_00.1", tokens.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/token", &tmp).unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    daemon
        .get(HOST)
        .assert_answered("gitlab-ci-token", versions[2]);

    write_generation("..2024_01_01_00_10_00.2", versions[3]);
    let data_tmp = tokens.join("..data_tmp");
    std::os::unix::fs::symlink("..2024_01_01_00_10_00.2", &data_tmp).unwrap();
    std::fs::rename(&data_tmp, tokens.join("..data")).unwrap();
    std::fs::remove_dir_all(tokens.join("..2024_01_01_00_00_00.1")).unwrap();
    daemon
        .get(HOST)
        .assert_answered("gitlab-ci-token", versions[3]);
    assert!(std::fs::symlink_metadata(&file)
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn the_daemons_environment_holds_no_token() {
    let repository_url = format!("https://gitlab-ci-token:{TOKEN}@{HOST}/{PROJECT}");
    let dir = socket_dir();
    let with_job_variables = |socket: &Path| {
        job_daemon(socket)
            .env("CI_REPOSITORY_URL", repository_url.clone())
            .env("CI_PROJECT_PATH", "group/project")
    };
    // The process we start has the token in its environment ...
    let builder = with_job_variables(&dir.path().join("fg"));
    let starter_env: Vec<String> = builder
        .command(false)
        .get_envs()
        .filter_map(|(k, v)| Some(format!("{}={}", k.to_str()?, v?.to_str()?)))
        .collect();
    assert!(starter_env.contains(&format!("CI_JOB_TOKEN={TOKEN}")));
    // ... and, in the foreground, it is the daemon itself: the same pid, re-executed.
    let foreground = builder.foreground();
    let detached = with_job_variables(&dir.path().join("bg")).detach();
    for daemon in [&foreground, &detached] {
        daemon.get(HOST).assert_answered("gitlab-ci-token", TOKEN);
        for what in ["environ", "cmdline"] {
            let path = format!("/proc/{}/{what}", daemon.pid);
            match std::fs::read(&path) {
                Ok(raw) => {
                    let raw = text(&raw);
                    assert!(!raw.contains(TOKEN), "{path} holds the token: {raw:?}");
                    assert!(!raw.contains(&repository_url), "{path}: {raw:?}");
                    assert!(!raw.contains("CI_JOB_TOKEN"), "{path}: {raw:?}");
                    assert!(!raw.contains("CI_REPOSITORY_URL"), "{path}: {raw:?}");
                }
                // Not dumpable: only root may read it at all.
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    eprintln!("note: {path} is unreadable to us: {e}")
                }
                Err(e) => panic!("{path}: {e}"),
            }
        }
    }
}

#[test]
fn idle_timeout_ends_the_daemon() {
    let dir = socket_dir();
    let socket = dir.path().join("sock");
    let mut daemon = job_daemon(&socket)
        .daemon_arg("--idle-timeout")
        .daemon_arg("1s")
        .foreground();
    daemon.get(HOST).assert_answered("gitlab-ci-token", TOKEN);
    let last_request = Instant::now();
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        is_our_daemon(daemon.pid),
        "the daemon stopped while not idle long enough"
    );
    let status = daemon
        .wait_exit(Duration::from_secs(6))
        .expect("the daemon outlived --idle-timeout 1s by 6 s");
    let after = last_request.elapsed();
    assert!(status.success(), "{status:?}: {}", daemon.log_text());
    assert!(
        after >= Duration::from_millis(900),
        "stopped after {after:?}"
    );
    assert!(!socket.exists(), "the socket file is left behind");
    assert!(
        daemon.log_text().contains("--idle-timeout"),
        "{}",
        daemon.log_text()
    );
}

#[test]
fn ttl_ends_the_daemon_however_busy() {
    let dir = socket_dir();
    let socket = dir.path().join("sock");
    let began = Instant::now();
    let mut daemon = job_daemon(&socket)
        .daemon_arg("--ttl")
        .daemon_arg("2s")
        .daemon_arg("--idle-timeout")
        .daemon_arg("1m")
        .foreground();
    // Keep it busy: activity must not extend the TTL.
    let deadline = began + Duration::from_secs(8);
    let mut answered = 0;
    let status = loop {
        if let Some(status) = daemon.wait_exit(Duration::ZERO) {
            break status;
        }
        assert!(Instant::now() < deadline, "the daemon outlived --ttl 2s");
        if let Ok(Some((KIND_ANSWER, _))) = raw_request(
            &socket,
            KIND_GET,
            format!("protocol=https\nhost={HOST}\n").as_bytes(),
            Duration::from_secs(2),
        ) {
            answered += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let lived = began.elapsed();
    assert!(status.success(), "{status:?}: {}", daemon.log_text());
    assert!(lived >= Duration::from_secs(2), "stopped after {lived:?}");
    assert!(
        answered >= 5,
        "only {answered} requests answered while it ran"
    );
    assert!(!socket.exists(), "the socket file is left behind");
    assert!(daemon.log_text().contains("--ttl"), "{}", daemon.log_text());
}

#[test]
fn status_reports_the_daemon_and_the_servers_rejection_but_never_the_token() {
    let dir = socket_dir();
    let socket = dir.path().join("sock");
    let daemon = job_daemon(&socket).detach();
    daemon.get(HOST).assert_answered("gitlab-ci-token", TOKEN);
    let status = |args: &[&str]| {
        Process::new(ours(&socket, args))
            .timeout(Duration::from_secs(10))
            .run()
    };
    let assert_no_token = |out: &Run| {
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(!all.contains(TOKEN), "{all}");
        assert!(!all.contains(&TOKEN[6..20]), "{all}");
        all
    };

    let before = status(&["status"]);
    let all = assert_no_token(&before);
    assert!(before.status.success(), "{all}");
    assert!(
        all.contains(&format!("daemon running: pid {}", daemon.pid)),
        "{all}"
    );
    assert!(
        all.contains("answered 1, refused 0, rejected by the server 0"),
        "{all}"
    );
    assert!(!all.contains("rejected by the server at"), "{all}");

    // GitLab Runner 19.3 ends every get_sources with an erase that has a user name and no
    // password, and another helper's password can be erased too: neither is a rejection.
    for other in ["", "password=glpat-NotTheTokenWeServe\n"] {
        let erase = run_helper(
            &["erase"],
            format!("protocol=https\nhost={HOST}\nusername=gitlab-ci-token\n{other}").as_bytes(),
            &[(ENV_SOCKET, socket.display().to_string())],
        );
        erase.assert_silent("erase");
    }
    let still = status(&["status"]);
    let all = assert_no_token(&still);
    assert!(still.status.success(), "{all}");
    assert!(all.contains("rejected by the server 0"), "{all}");

    // git's erase, after a 401: the password that failed, which the daemon records as a
    // rejection by its fingerprint. The job log gets one line that says so.
    let erase = run_helper(
        &["erase"],
        format!("protocol=https\nhost={HOST}\nusername=gitlab-ci-token\npassword={TOKEN}\n")
            .as_bytes(),
        &[(ENV_SOCKET, socket.display().to_string())],
    );
    assert!(erase.status.success());
    assert!(erase.stdout.is_empty());
    let hint = text(&erase.stderr);
    assert_eq!(hint.lines().count(), 1, "{hint}");
    assert!(
        hint.contains(&format!(
            "refused the token the daemon serves (fingerprint {})",
            fingerprint(TOKEN)
        )) && hint.contains("status --online"),
        "{hint}"
    );
    assert!(!hint.contains(TOKEN), "{hint}");

    let after = status(&["status"]);
    let all = assert_no_token(&after);
    assert!(
        !after.status.success(),
        "a rejection must fail status: {all}"
    );
    assert!(all.contains("rejected by the server at"), "{all}");
    assert!(all.contains("rejected by the server 1"), "{all}");
    assert!(all.contains(&fingerprint(TOKEN)), "{all}");

    let json = status(&["status", "--json"]);
    let all = assert_no_token(&json);
    assert!(!json.status.success(), "{all}");
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let rejection = &report["daemon"]["state"]["last_rejection"];
    assert_eq!(rejection["origin"], SERVED, "{report:#}");
    assert_eq!(
        rejection["fingerprint"],
        fingerprint(TOKEN).as_str(),
        "{report:#}"
    );
    assert!(
        rejection["at"].as_u64().unwrap() > 1_700_000_000,
        "{report:#}"
    );
    assert_eq!(report["daemon"]["running"], true);

    let log = daemon.log_text();
    assert!(log.contains("rejected_by_server"), "{log}");
    assert!(!log.contains(TOKEN), "{log}");
}

#[test]
fn a_detached_daemon_has_its_own_session_no_stdio_and_stops_on_request() {
    let dir = socket_dir();
    let socket = dir.path().join("sock");
    let daemon = job_daemon(&socket).detach();
    // Session id and process group are its own pid (setsid), and it is no child of ours.
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", daemon.pid)).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .collect();
    let (ppid, pgrp, session) = (fields[1], fields[2], fields[3]);
    assert_ne!(ppid, std::process::id().to_string());
    assert_eq!(pgrp, daemon.pid.to_string(), "{stat}");
    assert_eq!(session, daemon.pid.to_string(), "{stat}");
    for fd in 0..3 {
        match std::fs::read_link(format!("/proc/{}/fd/{fd}", daemon.pid)) {
            Ok(target) => assert_eq!(target, Path::new("/dev/null"), "fd {fd}"),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                eprintln!("note: the daemon's descriptors are unreadable to us: {e}")
            }
            Err(e) => panic!("fd {fd}: {e}"),
        }
    }
    assert!(
        daemon.log_text().contains("event=\"ready\""),
        "{}",
        daemon.log_text()
    );

    let stop = Process::new(ours(&socket, &["stop"]))
        .timeout(Duration::from_secs(15))
        .run();
    assert!(stop.status.success(), "{}", text(&stop.stderr));
    assert!(wait_gone(daemon.pid, Duration::from_secs(5)));
    assert!(!socket.exists(), "the socket file is left behind");
    let again = Process::new(ours(&socket, &["stop"]))
        .timeout(Duration::from_secs(15))
        .run();
    assert_eq!(again.status.code(), Some(1), "stop with no daemon");
    assert!(
        text(&again.stderr).contains("no daemon is running"),
        "{}",
        text(&again.stderr)
    );
}

#[test]
fn at_most_256_connections_are_served_at_once() {
    const SILENT: usize = 300;
    let dir = socket_dir();
    let socket = dir.path().join("sock");
    let daemon = job_daemon(&socket).detach();
    let began = Instant::now();
    let mut open: Vec<(usize, UnixStream)> = (0..SILENT)
        .map(|i| {
            let s = UnixStream::connect(&socket).unwrap();
            s.set_nonblocking(true).unwrap();
            (i, s)
        })
        .collect();
    let connected = began.elapsed();
    // Each served connection is closed after the 1 s request deadline; the ones over the cap
    // wait in the kernel's backlog until a permit frees, and are closed 1 s after that.
    let mut closed_at = Vec::new();
    let deadline = began + Duration::from_secs(10);
    while !open.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{} silent clients never closed",
            open.len()
        );
        open.retain_mut(|(_, s)| {
            let mut byte = [0u8; 1];
            match std::io::Read::read(s, &mut byte) {
                Ok(0) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
                other => panic!("a silent client got {other:?}"),
            }
            closed_at.push(began.elapsed());
            false
        });
        std::thread::sleep(Duration::from_millis(20));
    }
    let first_wave = closed_at
        .iter()
        .filter(|t| **t < connected + Duration::from_millis(1600))
        .count();
    assert_eq!(
        first_wave, 256,
        "connections closed in the first 1 s wave (all connected within {connected:?}): {closed_at:?}"
    );
    assert!(closed_at.iter().all(|t| *t >= Duration::from_millis(900)));
    assert!(daemon.log_eventually_contains("client_timeout", Duration::from_secs(1)));
    daemon.get(HOST).assert_answered("gitlab-ci-token", TOKEN);
}

#[test]
fn unsafe_socket_directories_are_refused() {
    let dir = socket_dir();
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
    let private = dir.path().join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&private, &link).unwrap();
    for (socket, why) in [
        (open.join("sock"), "is open to other users (mode 0755)"),
        (link.join("sock"), "is a symlink"),
    ] {
        let _guard = SocketGuard {
            socket: socket.clone(),
        };
        for detach in [true, false] {
            let out = Process::new(job_daemon(&socket).command(detach))
                .timeout(Duration::from_secs(15))
                .run();
            assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
            assert!(text(&out.stderr).contains(why), "{}", text(&out.stderr));
            assert!(!socket.exists());
            assert!(daemons_for(&socket).is_empty());
        }
    }
}

#[test]
fn a_request_queued_behind_a_full_set_of_silent_clients_is_still_answered() {
    let dir = socket_dir();
    let socket = dir.path().join("sock");
    let daemon = job_daemon(&socket).detach();
    // Every connection slot taken by a client that never speaks.
    let silent: Vec<UnixStream> = (0..256)
        .map(|_| UnixStream::connect(&socket).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    // The client's timeout outlasts the daemon's per-connection deadline, so this waits for
    // a slot instead of giving up.
    daemon.get(HOST).assert_answered("gitlab-ci-token", TOKEN);
    drop(silent);
}

#[test]
fn the_audit_trail_can_be_json_lines() {
    let dir = socket_dir();
    let socket = dir.path().join("sock");
    let daemon = job_daemon(&socket)
        .daemon_arg("--log-format")
        .daemon_arg("json")
        .detach();
    daemon.get(HOST).assert_answered("gitlab-ci-token", TOKEN);
    daemon.get("other.example").assert_silent("another host");
    assert!(daemon.log_eventually_contains("\"refuse\"", Duration::from_secs(3)));
    let log = daemon.log_text();
    assert!(!log.contains(TOKEN), "{log}");
    let events: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let answer = events
        .iter()
        .find(|e| e["fields"]["event"] == "get" && e["fields"]["decision"] == "answer")
        .unwrap_or_else(|| panic!("no answer event in {log}"));
    assert_eq!(answer["level"], "INFO");
    assert_eq!(answer["fields"]["origin"], SERVED);
    assert!(answer["fields"]["peer_pid"].as_u64().is_some(), "{answer}");
    assert!(
        answer["fields"]["token"]
            .as_str()
            .is_some_and(|t| t.contains(&fingerprint(TOKEN))),
        "{answer}"
    );
    let refusal = events
        .iter()
        .find(|e| e["fields"]["decision"] == "refuse")
        .unwrap_or_else(|| panic!("no refusal in {log}"));
    assert_eq!(
        refusal["fields"]["reason"],
        "scheme, host and port match no served origin"
    );
}

#[test]
fn a_stdout_that_cannot_be_written_is_an_error_not_a_panic() {
    // With `panic = "abort"`, a panic on a failed write would dump core; it must be an error.
    let dir = socket_dir();
    let socket = dir.path().join("sock");
    let to_full = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", r#"exec "$0" "$@" >/dev/full"#, binary()])
            .arg("--socket")
            .arg(&socket)
            .args(args)
            .env_clear();
        carry_git_env(&mut cmd).env("HOME", "/nonexistent");
        for (k, v) in env {
            cmd.env(k, v);
        }
        Process::new(cmd).timeout(Duration::from_secs(15)).run()
    };
    let started = to_full(
        &["daemon", "--detach", "--ttl", "60s"],
        &[
            ("CI_SERVER_URL", "https://gitlab.example.com"),
            ("CI_JOB_TOKEN", TOKEN),
        ],
    );
    assert_eq!(started.status.code(), Some(1), "{}", text(&started.stderr));
    assert!(
        text(&started.stderr).contains("but stdout cannot be written"),
        "{}",
        text(&started.stderr)
    );
    assert!(socket.exists(), "the daemon itself started");
    let stopped = to_full(&["stop"], &[]);
    assert_eq!(stopped.status.code(), Some(1), "{}", text(&stopped.stderr));
    assert!(
        text(&stopped.stderr).contains("the daemon stopped, but stdout cannot be written"),
        "{}",
        text(&stopped.stderr)
    );
    assert!(!text(&stopped.stderr).contains("panicked"));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while socket.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!socket.exists());
}

#[test]
fn request_fields_in_the_audit_trail_are_quoted_and_escaped() {
    // A same-uid caller must not forge fields or put terminal escapes in daemon.log.
    let hostile = "evil.example\u{1b}[2J\u{202e} decision=\"answer\" token=x";
    let dir = socket_dir();
    let socket = dir.path().join("sock");
    let daemon = job_daemon(&socket).detach();
    daemon.get(hostile).assert_silent("a hostile host");
    assert!(daemon.log_eventually_contains("\"refuse\"", Duration::from_secs(3)));
    let log = daemon.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("decision=\"refuse\""))
        .unwrap_or_else(|| panic!("no refusal in {log}"));
    assert!(
        !line.contains('\u{1b}') && !line.contains('\u{202e}'),
        "{line:?}"
    );
    assert!(
        line.contains(r#"host="evil.example\u{1b}[2J\u{202e} decision=\"answer\" token=x""#),
        "{line:?}"
    );
}

#[test]
fn a_fifo_at_the_lock_path_cannot_hang_status() {
    // Anyone who can write in the socket directory could plant one (issue: status hung).
    let dir = socket_dir();
    let socket = dir.path().join("sock");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        dir.path().join("sock.lock"),
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    let status = Process::new(ours(&socket, &["status"]))
        .timeout(Duration::from_secs(10))
        .run();
    let out = text(&status.stdout);
    assert!(out.contains("summary:"), "{out}{}", text(&status.stderr));
    assert!(out.contains("no daemon on"), "{out}");
}

/// `( daemon --detach 7>&1 ) | cat`: a descriptor the caller left open (here fd 7, the write
/// end of a pipe) must not be kept by the detached daemon, or whoever reads that pipe (a job's
/// log reader, `cat`) waits for the daemon's `--ttl`.
#[test]
fn a_detached_daemon_keeps_none_of_the_callers_other_descriptors() {
    use std::io::Read;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;

    let dir = socket_dir();
    let socket = dir.path().join("sock");
    let _guard = SocketGuard {
        socket: socket.clone(),
    };
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array, which we then own.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let mut cmd = job_daemon(&socket)
        .daemon_arg("--ttl")
        .daemon_arg("30s")
        .command(true);
    let w = write_end.as_raw_fd();
    // SAFETY: only dup2 between fork and exec; it clears close-on-exec on fd 7.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(w, 7) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = Process::new(cmd).timeout(Duration::from_secs(15)).run();
    assert!(out.success(), "{}", out.output_str());
    let pid = running_pid(&out.stdout_str()).expect("a running daemon");
    drop(write_end);

    // The starting process has exited and we closed our copy: only the daemon could still
    // hold the write end. The read must see end-of-file at once, not after the 30 s TTL.
    let (done, got) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = std::fs::File::from(read_end);
        let mut buf = Vec::new();
        let _ = done.send(reader.read_to_end(&mut buf).map(|_| buf));
    });
    let began = Instant::now();
    let read = got.recv_timeout(Duration::from_secs(5));
    assert!(
        matches!(read, Ok(Ok(ref b)) if b.is_empty()),
        "the pipe did not reach end-of-file within {:?} (daemon pid {pid} alive: {}): {read:?}",
        began.elapsed(),
        is_our_daemon(pid)
    );
    assert!(is_our_daemon(pid), "the daemon is still running");
    // Nothing beyond the descriptors the daemon opened itself: 0-2 are /dev/null, and none
    // is the caller's pipe.
    if let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for entry in entries.flatten() {
            let target = std::fs::read_link(entry.path()).unwrap_or_default();
            assert!(
                !target.to_string_lossy().starts_with("pipe:"),
                "the daemon holds a pipe at fd {:?}: {}",
                entry.file_name(),
                target.display()
            );
        }
    }
}

/// A second job's token, for jobs that share one uid and one HOME.
const TOKEN_B: &str = "glpat-SecondJobOnTheSameRunner2";

/// `binary <args>` as GitLab job `id` of project 7 on a shell executor runs it: one HOME for
/// every job, no `--socket`, the job's variables, and the job token when `token` is given.
fn in_job(home: &Path, id: &str, token: Option<&str>, args: &[&str]) -> Command {
    let mut cmd = helper_command();
    cmd.args(args).env_clear().current_dir(home);
    carry_git_env(&mut cmd)
        .env("HOME", home)
        .env("CI_SERVER_URL", SERVED)
        .env("CI_PROJECT_ID", "7")
        .env("CI_JOB_ID", id);
    if let Some(token) = token {
        cmd.env("CI_JOB_TOKEN", token);
    }
    cmd
}

/// The socket in "git-credential-gitlab-ci daemon: running, pid N, socket S".
fn running_socket(stdout: &str) -> std::path::PathBuf {
    let socket = stdout
        .split(", socket ")
        .nth(1)
        .unwrap_or_else(|| panic!("no socket in {stdout:?}"));
    socket.trim().into()
}

/// Issue 13's reproducer: on a shell executor, job A's daemon answered job B with A's token,
/// and B's own daemon could not start ("already running").
#[test]
fn concurrent_jobs_sharing_a_home_each_use_their_own_daemon() {
    let home = socket_dir();
    let home = home.path();
    let request = format!("protocol=https\nhost={HOST}\n");
    let run = |cmd: Command| {
        let out = Process::new(cmd)
            .stdin(&request)
            .timeout(Duration::from_secs(20))
            .run();
        let stderr = out.stderr_str();
        assert!(
            !stderr.contains(TOKEN) && !stderr.contains(TOKEN_B),
            "{stderr}"
        );
        out
    };
    let start = |id: &str, token: &str| {
        let out = Process::new(in_job(home, id, Some(token), &["daemon", "--detach"]))
            .timeout(Duration::from_secs(20))
            .run();
        assert!(out.success(), "job {id}'s daemon: {}", out.output_str());
        let socket = running_socket(&out.stdout_str());
        (
            SocketGuard {
                socket: socket.clone(),
            },
            socket,
        )
    };

    let (_a, a_socket) = start("1", TOKEN);
    assert_eq!(
        a_socket,
        home.join(".cache/git-credential-gitlab-ci/job-1/daemon.sock"),
        "the default socket is the job's own"
    );

    // Job B, with its own token in its environment, is answered with it, never with A's.
    let b_get = run(in_job(home, "2", Some(TOKEN_B), &["get"]));
    b_get.assert_answered("gitlab-ci-token", TOKEN_B);
    // Even pointed at A's socket, B does not use A's daemon: with `auto` it answers from its
    // own environment, with `only` it stays silent, as when no daemon runs.
    let mut pointed = in_job(home, "2", Some(TOKEN_B), &["get"]);
    pointed.env(ENV_SOCKET, &a_socket);
    run(pointed).assert_answered("gitlab-ci-token", TOKEN_B);
    let mut pointed = in_job(home, "2", None, &["get"]);
    pointed
        .env(ENV_SOCKET, &a_socket)
        .env(ENV_USE_DAEMON, "only");
    run(pointed).assert_silent("job 2, only A's daemon to ask");
    // The same job number on another project or server is another job.
    for (key, value) in [
        ("CI_PROJECT_ID", "8"),
        ("CI_SERVER_URL", "https://gitlab.other.example"),
    ] {
        let mut other = in_job(home, "1", None, &["get"]);
        other
            .env(key, value)
            .env(ENV_SOCKET, &a_socket)
            .env(ENV_USE_DAEMON, "only");
        run(other).assert_silent(key);
    }

    // Job B's own daemon starts beside A's.
    let (_b, b_socket) = start("2", TOKEN_B);
    assert_ne!(a_socket, b_socket);

    // With the tokens dropped from the jobs' environments, each is served by its own daemon.
    for (id, token) in [("1", TOKEN), ("2", TOKEN_B)] {
        let mut get = in_job(home, id, None, &["get"]);
        get.env(ENV_USE_DAEMON, "only");
        run(get).assert_answered("gitlab-ci-token", token);
    }

    // `status` names the job a daemon serves, and says when it is not this one.
    let status = |id: &str, args: &[&str]| {
        let out = run(in_job(home, id, None, args));
        out.assert_not_printed(&[TOKEN, TOKEN_B]);
        out.stdout_str()
    };
    let text_a = status("1", &["status"]);
    assert!(
        text_a.contains(
            "the daemon serves job 1 (project 7 on https://gitlab.example.com), this job"
        ),
        "{text_a}"
    );
    let json: serde_json::Value = serde_json::from_str(&status("1", &["status", "--json"]))
        .expect("status --json prints JSON");
    let state = &json["daemon"]["state"]["job"];
    assert_eq!(state["job_id"], "1", "{json:#}");
    assert_eq!(state["project_id"], "7", "{json:#}");
    assert_eq!(state["server_url"], SERVED, "{json:#}");
    assert_eq!(json["daemon"]["serves_this_job"], true, "{json:#}");
    let text_b = status("2", &["--socket", a_socket.to_str().unwrap(), "status"]);
    assert!(
        text_b.contains(
            "serves job 1 (project 7 on https://gitlab.example.com), not this one (job 2"
        ),
        "{text_b}"
    );
}

#[test]
fn a_daemon_started_in_a_job_stops_by_itself_at_the_jobs_timeout() {
    let dir = socket_dir();
    let socket = |name: &str| dir.path().join(name);
    let lifetime = |s: &Path| {
        let state = daemon_state(s).expect("the daemon answers");
        state["stops_at"]
            .as_u64()
            .map(|at| at - state["started_at"].as_u64().unwrap())
    };

    // No --ttl, CI_JOB_TIMEOUT=2: it stops two seconds after it started.
    let timed = job_daemon(&socket("a"))
        .env("CI_JOB_ID", "5")
        .env("CI_JOB_TIMEOUT", "2")
        .detach();
    // An explicit --ttl wins over the job's timeout.
    let explicit = job_daemon(&socket("b"))
        .env("CI_JOB_ID", "6")
        .env("CI_JOB_TIMEOUT", "2")
        .daemon_arg("--ttl")
        .daemon_arg("90s")
        .detach();
    // No timeout in the environment: the documented bound, an hour.
    let bounded = job_daemon(&socket("c")).env("CI_JOB_ID", "7").detach();
    // Outside a job, as before: no TTL unless asked for.
    let outside = job_daemon(&socket("d")).detach();

    assert_eq!(lifetime(&timed.socket), Some(2));
    assert_eq!(lifetime(&explicit.socket), Some(90));
    assert_eq!(lifetime(&bounded.socket), Some(3600));
    assert_eq!(lifetime(&outside.socket), None);
    assert!(
        wait_gone(timed.pid, Duration::from_secs(10)),
        "the job daemon outlived CI_JOB_TIMEOUT"
    );
    assert!(!timed.socket.exists(), "its socket is left behind");
    assert!(is_our_daemon(explicit.pid), "--ttl 90s stopped early");
    assert!(is_our_daemon(bounded.pid));
    assert!(is_our_daemon(outside.pid));
}

/// `program` as `uid` through setpriv, with an empty environment; `None` (and a note) where
/// that cannot be tested: not root, no setpriv, or a binary the uid cannot run.
fn as_uid(uid: u32, program: &str) -> Option<Command> {
    if !crate::support::daemon::is_root() {
        eprintln!("skipped: another uid can only be tested as root");
        return None;
    }
    let make = || {
        let mut cmd = setpriv_command();
        cmd.arg(format!("--reuid={uid}"))
            .arg(format!("--regid={uid}"))
            .args(["--clear-groups", "--", program])
            .env_clear();
        cmd
    };
    let mut probe = make();
    probe.arg("--version");
    match Process::new(probe)
        .timeout(Duration::from_secs(10))
        .try_run()
    {
        Ok(run) if run.success() => Some(make()),
        _ => {
            eprintln!("skipped: setpriv is missing, or uid {uid} cannot run {program}");
            None
        }
    }
}

fn chown(path: &Path, uid: u32) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: chown on a NUL-terminated path we own.
    assert_eq!(
        unsafe { libc::chown(c.as_ptr(), uid, uid) },
        0,
        "chown {path:?}"
    );
}

const ARBITRARY_UID: u32 = 1_000_650_000;

/// An OpenShift-style arbitrary uid: no passwd entry, HOME=/ (unwritable). The daemon finds a
/// private directory under TMPDIR, and the helper of that uid finds the daemon there.
#[test]
fn an_arbitrary_uid_with_an_unwritable_home_gets_a_socket_under_tmpdir() {
    let Some(_) = as_uid(ARBITRARY_UID, binary()) else {
        return;
    };
    let tmp = socket_dir();
    chown(tmp.path(), ARBITRARY_UID);
    let run = |args: &[&str], token: Option<&str>| {
        let mut cmd = as_uid(ARBITRARY_UID, binary()).unwrap();
        cmd.args(args)
            .env("HOME", "/")
            .env("TMPDIR", tmp.path())
            .env("CI_SERVER_URL", SERVED);
        if let Some(token) = token {
            cmd.env("CI_JOB_TOKEN", token);
        }
        Process::new(cmd)
            .stdin(format!("protocol=https\nhost={HOST}\n"))
            .timeout(Duration::from_secs(20))
            .run()
    };
    let expected = tmp
        .path()
        .join(format!("git-credential-gitlab-ci-{ARBITRARY_UID}"))
        .join("git-credential-gitlab-ci")
        .join("daemon.sock");
    let _guard = SocketGuard {
        socket: expected.clone(),
    };
    let started = run(&["daemon", "--detach", "--ttl", "60s"], Some(TOKEN));
    assert!(started.success(), "{}", started.output_str());
    assert_eq!(running_socket(&started.stdout_str()), expected);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(expected.parent().unwrap()), 0o700);
    assert_eq!(mode(expected.parent().unwrap().parent().unwrap()), 0o700);

    // The same uid's helper, its token gone, finds the daemon under TMPDIR.
    let mut only = run(&["--use-daemon", "only", "get"], None);
    only.assert_answered("gitlab-ci-token", TOKEN);
    only = run(&["stop"], None);
    assert!(only.success(), "{}", only.output_str());
}

/// The fallback directory's parents: another user who controls one of them could move the
/// socket directory away (or swap it). Each unsafe case is refused with a message that names
/// the directory and `--socket`, and no daemon starts.
#[test]
fn an_unsafe_or_unwritable_fallback_directory_is_refused_with_a_hint() {
    let Some(_) = as_uid(ARBITRARY_UID, binary()) else {
        return;
    };
    let base = socket_dir();
    // Root's and closed to writes: a safe parent, which the other uid may pass through.
    std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let case = |name: &str, mode: u32, owner: u32| {
        let dir = base.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        chown(&dir, owner);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
        dir
    };
    // Root's, open to everyone, not sticky: anyone may rename what is in it.
    let open = case("open", 0o777, 0);
    // A sticky /tmp-like directory where another user already made our fallback directory.
    let sticky = case("sticky", 0o1777, 0);
    let planted = sticky.join(format!("git-credential-gitlab-ci-{ARBITRARY_UID}"));
    std::fs::create_dir(&planted).unwrap();
    chown(&planted, 65534);
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o777)).unwrap();
    // Root's and closed: nothing can be created there.
    let closed = case("closed", 0o755, 0);

    for (tmpdir, why) in [
        (
            &open,
            format!("{} can be changed by other users", open.display()),
        ),
        (
            &planted,
            format!("{} can be changed by other users", planted.display()),
        ),
        (
            &closed,
            "no usable directory for the daemon's socket".to_owned(),
        ),
    ] {
        let tmpdir = if *tmpdir == planted { &sticky } else { tmpdir };
        let socket = tmpdir
            .join(format!("git-credential-gitlab-ci-{ARBITRARY_UID}"))
            .join("git-credential-gitlab-ci")
            .join("daemon.sock");
        let _guard = SocketGuard {
            socket: socket.clone(),
        };
        // No HOME and no passwd entry: the fallback under TMPDIR is the only default left.
        let mut cmd = as_uid(ARBITRARY_UID, binary()).unwrap();
        cmd.args(["daemon", "--detach", "--ttl", "60s"])
            .env("TMPDIR", tmpdir)
            .env("CI_SERVER_URL", SERVED)
            .env("CI_JOB_TOKEN", TOKEN);
        let out = Process::new(cmd).timeout(Duration::from_secs(20)).run();
        let stderr = out.stderr_str();
        assert_eq!(out.code(), Some(1), "{tmpdir:?}: {}", out.output_str());
        assert!(stderr.contains(&why), "{tmpdir:?}: {stderr}");
        assert!(stderr.contains("--socket"), "{tmpdir:?}: {stderr}");
        assert!(!stderr.contains(TOKEN));
        assert!(!socket.exists(), "{socket:?}");
        assert!(daemons_for(&socket).is_empty());
    }
}

/// What someone who can write in the socket's directory could plant at the daemon's log or
/// socket path: a FIFO at the log would hang `daemon --detach` until someone read it, a file
/// or symlink at the socket path would be deleted as if it were a stale socket. The daemon
/// refuses both, promptly and with a message naming the path, and removes nothing.
#[test]
fn a_fifo_at_the_log_path_or_a_file_at_the_socket_path_is_refused_not_used() {
    let dir = socket_dir();
    let socket = dir.path().join("sock");
    let log = dir.path().join("daemon.log");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &log,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    let mut start = ours(
        &socket,
        &["daemon", "--detach", "--log-file", log.to_str().unwrap()],
    );
    start
        .env("CI_SERVER_URL", SERVED)
        .env("CI_JOB_TOKEN", TOKEN);
    let run = Process::new(start).timeout(Duration::from_secs(10)).run();
    let err = text(&run.stderr);
    assert!(!run.success(), "a daemon started on a FIFO log: {err}");
    assert!(
        err.contains("daemon.log") && err.contains("not a regular file"),
        "{err}"
    );
    assert!(!socket.exists(), "no daemon is left listening");

    // A regular file where the socket goes: not a stale socket, so not removed.
    std::fs::remove_file(&log).unwrap();
    std::fs::write(&socket, "not a socket").unwrap();
    let mut start = ours(&socket, &["daemon", "--detach"]);
    start
        .env("CI_SERVER_URL", SERVED)
        .env("CI_JOB_TOKEN", TOKEN);
    let run = Process::new(start).timeout(Duration::from_secs(10)).run();
    let err = text(&run.stderr);
    assert!(!run.success(), "{err}");
    assert!(err.contains("is not a socket"), "{err}");
    assert_eq!(std::fs::read_to_string(&socket).unwrap(), "not a socket");
}
