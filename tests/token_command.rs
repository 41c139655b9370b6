//! `--token-command`, through the real binary with real scripts: the token alone, credential
//! lines with a username and an expiry, a JWT; a command that fails, hangs or prints garbage
//! leaves the source unusable and git unanswered, in silence; the daemon runs the command
//! once per token and again after its expiry or a 401 erase; `status` says what the command
//! did without a secret; and a clone and a push through the TLS server with a minted token.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::support::daemon::{daemon_state, socket_dir, DaemonBuilder, ENV_SOCKET};
use crate::support::helper::{
    assert_nowhere_under, run_helper, token_forms, Run, TOKEN, TOKEN_EXPIRY,
};
use crate::support::sandbox::Sandbox;
use crate::support::scenario::Scenario;

const SERVED: &str = "https://gitlab.example.com";
const HOST: &str = "gitlab.example.com";
const REQUEST: &[u8] = b"protocol=https\nhost=gitlab.example.com\n";
const MINTED: &str = "glpat-MintedByACommand0123";

/// An executable `#!/bin/sh` script `name` in `dir`.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn path_var() -> (&'static str, String) {
    ("PATH", std::env::var("PATH").unwrap_or_default())
}

/// `get` by the standalone helper for [`SERVED`], with `args` before it and `env` (and PATH).
fn get(args: &[&str], env: &[(&str, String)]) -> Run {
    let mut argv = vec!["--url", SERVED];
    argv.extend_from_slice(args);
    argv.push("get");
    let mut env = env.to_vec();
    env.push(path_var());
    run_helper(&argv, REQUEST, &env)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn a_command_that_prints_the_token_alone_answers_git() {
    let dir = tempfile::tempdir().unwrap();
    let mint = script(dir.path(), "mint", &format!("echo {MINTED}\n"));
    let out = get(&["--token-command", mint.to_str().unwrap()], &[]);
    assert!(out.success(), "{}", out.output_str());
    assert_eq!(
        out.stdout_str(),
        format!("username=gitlab-ci-token\npassword={MINTED}\n")
    );
    assert!(out.stderr.is_empty(), "{}", out.stderr_str());

    // From the environment variable too, and with a CRLF ending.
    let crlf = script(dir.path(), "crlf", &format!("printf '{MINTED}\\r\\n'\n"));
    let out = get(
        &[],
        &[(
            "GIT_CREDENTIAL_GITLAB_CI_TOKEN_COMMAND",
            crlf.display().to_string(),
        )],
    );
    assert_eq!(
        out.stdout_str(),
        format!("username=gitlab-ci-token\npassword={MINTED}\n")
    );
}

#[test]
fn credential_lines_give_git_the_username_and_the_earliest_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let expiry = now() + 3600;
    // As `glab auth git-credential get` or any other helper answers: extra keys are ignored.
    let mint = script(
        dir.path(),
        "helper-like",
        &format!(
            "printf 'protocol=https\\nhost={HOST}\\nusername=deployer\\npassword={MINTED}\\npassword_expiry_utc={expiry}\\n'\n"
        ),
    );
    let out = get(&["--token-command", mint.to_str().unwrap()], &[]);
    assert!(out.stderr.is_empty(), "{}", out.stderr_str());
    assert_eq!(
        out.stdout_str(),
        format!("username=deployer\npassword={MINTED}\npassword_expiry_utc={expiry}\n")
    );

    // git's request names another user name: this source does not answer it.
    let other = run_helper(
        &[
            "--url",
            SERVED,
            "--token-command",
            mint.to_str().unwrap(),
            "get",
        ],
        b"protocol=https\nhost=gitlab.example.com\nusername=someone-else\n",
        &[path_var()],
    );
    assert!(other.stdout.is_empty(), "{}", other.stdout_str());

    // A configured `expires` earlier than the printed one wins.
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[[credential]]\nurl = \"{SERVED}\"\ntoken_command = \"{}\"\nexpires = \"{}\"\n",
            mint.display(),
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(expiry - 60))
        ),
    )
    .unwrap();
    let out = run_helper(
        &["--config", config.to_str().unwrap(), "get"],
        REQUEST,
        &[path_var()],
    );
    assert!(
        out.stdout_str()
            .ends_with(&format!("password_expiry_utc={}\n", expiry - 60)),
        "{}",
        out.output_str()
    );
}

#[test]
fn a_jwt_from_a_command_expires_at_its_exp() {
    let dir = tempfile::tempdir().unwrap();
    let jwt = script(dir.path(), "jwt", &format!("echo '{TOKEN}'\n"));
    let out = get(&["--token-command", jwt.to_str().unwrap()], &[]);
    assert_eq!(
        out.stdout_str(),
        format!("username=gitlab-ci-token\npassword={TOKEN}\npassword_expiry_utc={TOKEN_EXPIRY}\n")
    );
    // A later printed expiry does not outlive the JWT's exp.
    let later = script(
        dir.path(),
        "later",
        &format!(
            "printf 'password={TOKEN}\\npassword_expiry_utc={}\\n'\n",
            TOKEN_EXPIRY + 100
        ),
    );
    let out = get(&["--token-command", later.to_str().unwrap()], &[]);
    assert!(
        out.stdout_str()
            .ends_with(&format!("password_expiry_utc={TOKEN_EXPIRY}\n")),
        "{}",
        out.output_str()
    );
}

#[test]
fn a_failing_command_leaves_git_unanswered_and_the_next_source_answers() {
    let dir = tempfile::tempdir().unwrap();
    let fail = script(
        dir.path(),
        "fail",
        "echo 'vault: permission denied' >&2\nexit 2\n",
    );
    let out = get(&["--token-command", fail.to_str().unwrap()], &[]);
    assert!(out.success());
    assert!(out.stdout.is_empty(), "{}", out.stdout_str());
    assert!(out.stderr.is_empty(), "{}", out.stderr_str());

    // A token printed before a failure is not used either.
    let printed_then_failed = script(dir.path(), "half", &format!("echo {MINTED}\nexit 1\n"));
    let out = get(
        &["--token-command", printed_then_failed.to_str().unwrap()],
        &[],
    );
    assert!(out.stdout.is_empty(), "{}", out.stdout_str());

    let out = get(
        &[
            "--token-command",
            fail.to_str().unwrap(),
            "--token-env",
            "FALLBACK",
        ],
        &[("FALLBACK", "glpat-TheFallbackToken99".to_owned())],
    );
    assert_eq!(
        out.stdout_str(),
        "username=gitlab-ci-token\npassword=glpat-TheFallbackToken99\n"
    );
}

/// Whether `pid` is gone: no such process, or a zombie nobody has reaped yet.
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

#[test]
fn a_hanging_command_is_killed_with_its_children_at_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    // A child in the background, then the script becomes a sleep itself.
    let hang = script(
        dir.path(),
        "hang",
        "echo $$ > \"$PIDS\"\nsleep 600 &\necho $! >> \"$PIDS\"\nexec sleep 600\n",
    );
    let started = Instant::now();
    let out = get(
        &["--token-command", hang.to_str().unwrap()],
        &[
            ("PIDS", pids.display().to_string()),
            (
                "GIT_CREDENTIAL_GITLAB_CI_TOKEN_COMMAND_TIMEOUT",
                "1s".to_owned(),
            ),
        ],
    );
    let took = started.elapsed();
    assert!(out.success(), "{}", out.output_str());
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{}",
        out.output_str()
    );
    assert!(
        took >= Duration::from_secs(1),
        "returned before the deadline: {took:?}"
    );
    assert!(took < Duration::from_secs(4), "took {took:?}");
    let pids: Vec<u32> = std::fs::read_to_string(&pids)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2);
    let deadline = Instant::now() + Duration::from_secs(3);
    while !pids.iter().all(|&p| gone(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    for pid in pids {
        assert!(gone(pid), "process {pid} of the command survived");
    }
}

#[test]
fn a_command_that_prints_garbage_gives_no_token() {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in [
        ("two-lines", format!("echo {MINTED}\necho second line\n")),
        ("empty", "true\n".to_owned()),
        (
            "no-password",
            "printf 'username=u\\nhost=h\\n'\n".to_owned(),
        ),
        (
            "bad-expiry",
            format!("printf 'password={MINTED}\\npassword_expiry_utc=tomorrow\\n'\n"),
        ),
        ("spaces", "echo 'not a token'\n".to_owned()),
        ("huge", "head -c 70000 /dev/zero | tr '\\0' a\n".to_owned()),
        ("binary", "printf '\\377\\376\\n'\n".to_owned()),
    ] {
        let garbage = script(dir.path(), name, &body);
        let out = get(&["--token-command", garbage.to_str().unwrap()], &[]);
        assert!(out.success(), "{name}: {}", out.output_str());
        assert!(out.stdout.is_empty(), "{name}: {}", out.stdout_str());
        assert!(out.stderr.is_empty(), "{name}: {}", out.stderr_str());
    }
}

#[test]
fn status_names_the_command_and_why_it_gave_no_token_without_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let fail = script(
        dir.path(),
        "fail",
        "echo 'vault: denied for hvs.CAESIJSecretVaultTokenValue0123' >&2\nexit 3\n",
    );
    let sandbox = Sandbox::new();
    sandbox.env("CI_SERVER_URL", SERVED);
    let text = sandbox.helper("", &["--token-command", fail.to_str().unwrap(), "status"]);
    let all = text.output_str();
    assert!(
        all.contains(&format!("command {}", fail.display())),
        "{all}"
    );
    assert!(all.contains("exited with status 3"), "{all}");
    assert!(
        all.contains(&format!(
            "fix: make command {} exit 0 and print the token",
            fail.display()
        )),
        "{all}"
    );
    assert!(all.contains("vault: denied for <long word>"), "{all}");
    assert!(!all.contains("SecretVaultToken"), "{all}");

    let hang = script(dir.path(), "hang", "exec sleep 600\n");
    let timed = sandbox.helper(
        "",
        &[
            "--token-command",
            hang.to_str().unwrap(),
            "status",
            "--json",
        ],
    );
    let report: serde_json::Value = serde_json::from_slice(&timed.stdout).unwrap();
    let source = &report["credentials"][0]["sources"][0];
    assert_eq!(source["source"]["type"], "command", "{report}");
    assert_eq!(source["source"]["command"], hang.display().to_string());
    let why = source["unavailable"].as_str().unwrap();
    assert!(why.contains("was killed after 5s"), "{why}");

    let mint = script(dir.path(), "mint", &format!("echo {MINTED}\n"));
    for args in [&["status"][..], &["status", "--json"]] {
        let mut argv = vec!["--token-command", mint.to_str().unwrap()];
        argv.extend_from_slice(args);
        let ok = sandbox.helper("", &argv);
        let all = ok.output_str();
        assert!(
            !all.contains(MINTED) && !all.contains(&MINTED[6..]),
            "{all}"
        );
        assert!(all.contains("access token (glpat-), fingerprint"), "{all}");
    }
}

/// The daemon's command: appends to `$MINT_COUNT`, then prints a token numbered by the run,
/// valid for `$MINT_LIFETIME` seconds when that is set, else with no expiry.
fn counting_script(dir: &Path) -> PathBuf {
    script(
        dir,
        "count-and-mint",
        "echo run >> \"$MINT_COUNT\"\n\
         n=$(wc -l < \"$MINT_COUNT\" | tr -d ' ')\n\
         printf 'password=glpat-MintedByTheCommandRun%s\\n' \"$n\"\n\
         if [ -n \"$MINT_LIFETIME\" ]; then\n\
           printf 'password_expiry_utc=%s\\n' $(( $(date +%s) + MINT_LIFETIME ))\n\
         fi\n",
    )
}

fn runs(count: &Path) -> usize {
    std::fs::read_to_string(count)
        .unwrap_or_default()
        .lines()
        .count()
}

fn password(out: &Run) -> String {
    let stdout = out.stdout_str();
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("password=").map(str::to_owned))
        .unwrap_or_else(|| panic!("no password: {}", out.output_str()))
}

fn command_daemon(socket: &Path, script: &Path, count: &Path) -> DaemonBuilder {
    DaemonBuilder::new(socket)
        .arg("--url")
        .arg(SERVED)
        .arg("--token-command")
        .arg(script)
        .env("PATH", path_var().1)
        // Only in the environment `daemon` starts with: the command still sees it.
        .env("MINT_COUNT", count.display().to_string())
}

#[test]
fn the_daemon_runs_the_command_once_and_again_after_a_401_erase() {
    let dir = tempfile::tempdir().unwrap();
    let count = dir.path().join("count");
    let mint = counting_script(dir.path());
    let sockets = socket_dir();
    let socket = sockets.path().join("d.sock");
    let daemon = command_daemon(&socket, &mint, &count)
        .env("MINT_LIFETIME", "3600")
        .detach();
    // The daemon runs the command once at start, so git's first request finds the token.
    let deadline = Instant::now() + Duration::from_secs(5);
    while runs(&count) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        runs(&count),
        1,
        "the daemon did not run the command at start"
    );
    assert!(
        daemon.log_eventually_contains("outcome=\"token\"", Duration::from_secs(5)),
        "{}",
        daemon.log_text()
    );
    assert!(!daemon.log_text().contains("MintedBy"));

    let first = daemon.get(HOST);
    let token = password(&first);
    assert_eq!(token, "glpat-MintedByTheCommandRun1");
    assert!(
        first.stdout_str().contains("password_expiry_utc="),
        "{}",
        first.stdout_str()
    );
    for _ in 0..19 {
        assert_eq!(password(&daemon.get(HOST)), token);
    }
    assert_eq!(
        runs(&count),
        1,
        "20 requests within the expiry run the command once"
    );

    let state = daemon_state(&socket).unwrap();
    let shown = state.to_string();
    assert!(
        !shown.contains(&token) && !shown.contains("MintedBy"),
        "{shown}"
    );
    assert!(
        state["credentials"][0]["token"]
            .as_str()
            .unwrap()
            .contains("access token (glpat-)"),
        "{shown}"
    );

    // git's erase after a 401 carries the token that failed: the daemon drops it.
    let erase = run_helper(
        &["erase"],
        format!("protocol=https\nhost={HOST}\nusername=gitlab-ci-token\npassword={token}\n")
            .as_bytes(),
        &[(ENV_SOCKET, socket.display().to_string())],
    );
    assert!(erase.success(), "{}", erase.output_str());
    let state = daemon_state(&socket).unwrap();
    assert!(state["credentials"][0]["token"].is_null(), "{state}");
    assert_eq!(state["credentials"][0]["pending"], true, "{state}");
    let again = daemon.get(HOST);
    assert_eq!(password(&again), "glpat-MintedByTheCommandRun2");
    assert_eq!(runs(&count), 2);
}

#[test]
fn the_daemon_runs_the_command_again_once_its_token_nears_expiry_or_its_ttl_ends() {
    let dir = tempfile::tempdir().unwrap();
    let count = dir.path().join("count");
    let mint = counting_script(dir.path());
    let sockets = socket_dir();

    // Valid for 4 s: kept for half of what is left of it, about 2 s.
    let socket = sockets.path().join("short.sock");
    let daemon = command_daemon(&socket, &mint, &count)
        .env("MINT_LIFETIME", "4")
        .detach();
    for _ in 0..3 {
        assert_eq!(password(&daemon.get(HOST)), "glpat-MintedByTheCommandRun1");
    }
    std::thread::sleep(Duration::from_millis(2300));
    assert_eq!(password(&daemon.get(HOST)), "glpat-MintedByTheCommandRun2");
    drop(daemon);

    // No expiry: kept for the TTL.
    std::fs::remove_file(&count).unwrap();
    let socket = sockets.path().join("ttl.sock");
    let daemon = command_daemon(&socket, &mint, &count)
        .env("GIT_CREDENTIAL_GITLAB_CI_TOKEN_COMMAND_TTL", "1s")
        .detach();
    for _ in 0..3 {
        assert_eq!(password(&daemon.get(HOST)), "glpat-MintedByTheCommandRun1");
    }
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(password(&daemon.get(HOST)), "glpat-MintedByTheCommandRun2");
    assert_eq!(runs(&count), 2);
}

#[test]
fn clone_and_push_with_a_token_minted_by_a_command() {
    // The script builds the token, so that its text does not hold it verbatim either.
    let tools = tempfile::tempdir().unwrap();
    let mint = script(
        tools.path(),
        "mint",
        "printf 'username=gitlab-ci-token\\npassword=%s-%s\\n' glpat MintedByACommand0123\n",
    );
    let job = Scenario::new().server("gitlab-ci-token", MINTED);
    let url = job.served().url();
    let job = job
        .helper_args(["--token-command", mint.to_str().unwrap()])
        .env("CI_SERVER_URL", &url)
        .env("CI_JOB_TOKEN", "glcbt-NotTheOneTheServerTakes");
    job.git_ok(["clone", "--quiet", &job.url(), "clone"]);
    let head = job.commit("clone", "MINTED", "by a command\n");
    job.git_ok(["-C", "clone", "push", "--quiet", "origin", "main"]);
    assert_eq!(job.server_ref("refs/heads/main"), head);
    let seen = job.served().credentials_seen();
    assert!(!seen.is_empty());
    assert!(
        seen.iter()
            .all(|c| c == &("gitlab-ci-token".to_owned(), MINTED.to_owned())),
        "{seen:?}"
    );
    assert_nowhere_under(
        job.sandbox().root(),
        &token_forms("gitlab-ci-token", MINTED),
    );
}

#[test]
fn a_daemons_failing_command_is_logged_by_its_kind_and_reported_as_a_problem() {
    let dir = tempfile::tempdir().unwrap();
    let fail = script(
        dir.path(),
        "fail",
        "echo 'broker said: go away' >&2\nexit 2\n",
    );
    let sockets = socket_dir();
    let socket = sockets.path().join("fail.sock");
    let daemon = DaemonBuilder::new(&socket)
        .arg("--url")
        .arg(SERVED)
        .arg("--token-command")
        .arg(&fail)
        .detach();
    assert!(
        daemon.log_eventually_contains("outcome=\"no_token\"", Duration::from_secs(5)),
        "{}",
        daemon.log_text()
    );
    let log = daemon.log_text();
    assert!(log.contains("exited with status 2"), "{log}");
    assert!(
        !log.contains("go away"),
        "the command's stderr reached the log: {log}"
    );
    assert!(daemon.get(HOST).stdout.is_empty());
    let state = daemon_state(&socket).unwrap();
    let held = &state["credentials"][0];
    assert!(held["pending"].is_null(), "{state}");
    let why = held["unavailable"][0].as_str().unwrap();
    assert!(
        why.contains("exited with status 2") && why.contains("broker said: go away"),
        "{why}"
    );
}

#[test]
fn no_token_is_on_any_command_line_while_git_clones_with_a_command_token() {
    let tools = tempfile::tempdir().unwrap();
    let secret = tools.path().join("minted");
    std::fs::write(&secret, format!("{MINTED}\n")).unwrap();
    let mint = script(tools.path(), "mint", "exec cat \"$MINT_FILE\"\n");
    let job = Scenario::new().server("gitlab-ci-token", MINTED);
    let url = job.served().url();
    let job = job
        .helper_args(["--token-command", mint.to_str().unwrap()])
        .env("CI_SERVER_URL", &url)
        .env("MINT_FILE", &secret);
    let trace = tools.path().join("execve.log");
    let mut cmd = job.sandbox().command(std::process::Command::new("strace"));
    cmd.args(["-f", "-e", "trace=execve", "-s", "4096", "-o"])
        .arg(&trace)
        .args(["git", "clone", "--quiet", &job.url(), "clone"])
        .current_dir(job.sandbox().work());
    let run = crate::support::process::run(cmd);
    assert!(run.success(), "{}", run.output_str());
    let execs: Vec<String> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .filter(|l| l.contains("execve("))
        .map(str::to_owned)
        .collect();
    // The trace saw the helper start the command, and the command start cat.
    assert!(
        execs.iter().any(|l| l.contains("\"/bin/sh\", \"-c\"")),
        "{execs:#?}"
    );
    assert!(execs.iter().any(|l| l.contains("\"cat\"")), "{execs:#?}");
    let with: Vec<&String> = execs.iter().filter(|l| l.contains(MINTED)).collect();
    assert!(with.is_empty(), "a token on a command line: {with:#?}");
    assert!(!job.served().credentials_seen().is_empty());
}
