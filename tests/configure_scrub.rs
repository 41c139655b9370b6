//! `configure`, `unconfigure` and `scrub` against real git and the real TLS server, starting
//! from the set-ups GitLab Runner leaves behind: the helper ends up in
//! the chain git runs, pushes go through it, tokens leave the repository's config, and none of
//! these commands ever prints a token.

use std::path::{Path, PathBuf};

use crate::support::helper::{assert_nowhere_under, binary, TOKEN};
use crate::support::process::{self, Run};
use crate::support::programs::git_version;
use crate::support::sandbox::Sandbox;
use crate::support::scenario::{Scenario, PROJECT};

/// A token only our helper is told about, in `MY_TOKEN`.
const OTHER_TOKEN: &str = "glpat-OnlyOurHelperReadsThis42";

/// Our binary in the sandbox's environment, in `work()/dir`; none of these commands may print
/// a token.
#[track_caller]
fn ours(sandbox: &Sandbox, dir: &str, args: &[&str]) -> Run {
    let run = sandbox.helper(dir, args);
    run.assert_not_printed(&[TOKEN, OTHER_TOKEN]);
    run
}

/// A shell script in the sandbox's environment, in `work()/dir`, with our binary in `$BIN`;
/// it must not print a token either.
#[track_caller]
fn sh(sandbox: &Sandbox, dir: &str, script: &str) -> Run {
    let mut cmd = sandbox.command(std::process::Command::new("sh"));
    cmd.args(["-c", script])
        .current_dir(sandbox.work().join(dir))
        .env("BIN", binary());
    let run = process::run(cmd);
    run.assert_not_printed(&[TOKEN, OTHER_TOKEN]);
    run
}

fn canonical_binary() -> String {
    std::fs::canonicalize(binary())
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

fn lines(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A checkout as GitLab Runner prepares one: `git init`, the remote, and the per-job file
/// `<dir>.tmp/.gitlab-runner.ext.conf` included from `.git/config`, written by `ext_conf`.
fn runner_checkout(sandbox: &Sandbox, remote: &str, ext_conf: impl Fn(&Path)) -> PathBuf {
    sandbox.run_ok(["init", "--quiet", "--initial-branch=main", "project"]);
    sandbox.run_ok(["-C", "project", "remote", "add", "origin", remote]);
    let tmp = sandbox.work().join("project.tmp");
    std::fs::create_dir(&tmp).unwrap();
    let ext = tmp.join(".gitlab-runner.ext.conf");
    std::fs::write(&ext, "").unwrap();
    ext_conf(&ext);
    sandbox.run_ok([
        "-C",
        "project",
        "config",
        "include.path",
        ext.to_str().unwrap(),
    ]);
    ext
}

#[test]
fn configure_global_twice_pushes_and_unconfigure_restores_the_file() {
    let job = Scenario::new()
        .server("gitlab-ci-token", TOKEN)
        .in_job(TOKEN);
    let (server, sandbox) = (job.served(), job.sandbox());
    let global = sandbox.global_config_path();
    let before = std::fs::read(&global).unwrap();

    let first = ours(sandbox, ".", &["configure", "--global"]).assert_success();
    assert!(
        first.stdout_str().contains("added to"),
        "{}",
        first.stdout_str()
    );
    let configured = std::fs::read(&global).unwrap();
    let second = ours(sandbox, ".", &["configure", "--global"]).assert_success();
    assert!(
        second.stdout_str().contains("already configured")
            && second.stdout_str().contains("nothing changed"),
        "{}",
        second.stdout_str()
    );
    assert_eq!(std::fs::read(&global).unwrap(), configured);
    let key = format!("credential.{}.helper", server.url());
    let helpers = sandbox.run_ok(["config", "--global", "--get-all", &key]);
    assert_eq!(lines(&helpers.stdout), ["".to_owned(), canonical_binary()]);

    let url = job.url();
    sandbox.run_ok(["clone", "--quiet", &url, "clone"]);
    let head = job.commit("clone", "VERSION", "changed\n");
    sandbox.run_ok(["-C", "clone", "push", "--quiet", "origin", "main"]);
    assert_eq!(job.server_ref("refs/heads/main"), head);

    let removed = ours(sandbox, ".", &["unconfigure", "--global"]).assert_success();
    assert!(
        removed.stdout_str().contains("removed from"),
        "{}",
        removed.stdout_str()
    );
    assert_eq!(
        String::from_utf8(std::fs::read(&global).unwrap()).unwrap(),
        String::from_utf8(before.clone()).unwrap()
    );
    let again = ours(sandbox, ".", &["unconfigure", "--global"]).assert_success();
    assert!(
        again.stdout_str().contains("nothing to remove"),
        "{}",
        again.stdout_str()
    );
    assert_eq!(std::fs::read(&global).unwrap(), before);
}

/// `configure` then `unconfigure` with `target`, whose file is `file`, for a path-scoped URL
/// (so useHttpPath is written too): every line added carries the marker, a push goes
/// through the helper, and `unconfigure` leaves the file as it was.
#[track_caller]
fn round_trip(job: &Scenario, target: &[&str], file: &Path, dir: &str) {
    let sandbox = job.sandbox();
    let case = format!("{target:?} ({})", file.display());
    let read = || std::fs::read_to_string(file).unwrap_or_default();
    let before = read();
    let scoped = format!("{}/group", job.served().url());
    let mut args = vec!["configure"];
    args.extend(target);
    args.extend(["--url", &scoped]);
    ours(sandbox, dir, &args).assert_success();
    let added: Vec<String> = read()
        .lines()
        .filter(|l| !before.lines().any(|b| b == *l) && !l.starts_with('['))
        .map(str::to_owned)
        .collect();
    assert_eq!(added.len(), 3, "{case}: {added:?}");
    assert!(
        added
            .iter()
            .all(|l| l.ends_with("# added by git-credential-gitlab-ci")),
        "{case}: {added:?}"
    );
    assert!(
        added.iter().any(|l| l.contains("useHttpPath")),
        "{case}: {added:?}"
    );

    let head = job.commit("clone", "VERSION", &format!("{case}\n"));
    sandbox.run_ok(["-C", "clone", "push", "--quiet", "origin", "main"]);
    assert_eq!(job.server_ref("refs/heads/main"), head, "{case}");

    args[0] = "unconfigure";
    let removed = ours(sandbox, dir, &args).assert_success();
    assert!(
        removed.stdout_str().contains("removed from"),
        "{case}: {}",
        removed.stdout_str()
    );
    assert_eq!(read(), before, "{case}");
    let failed = sandbox.run([
        "-C",
        "clone",
        "push",
        "--quiet",
        "origin",
        "main:refs/heads/x",
    ]);
    assert!(!failed.success(), "{case}: pushed with nothing configured");
}

#[test]
fn configure_and_unconfigure_every_target_on_this_git() {
    let job = Scenario::new()
        .server("gitlab-ci-token", TOKEN)
        .in_job(TOKEN);
    let sandbox = job.sandbox();
    // A checkout made with the token from a one-off helper, which is then taken out again.
    let url = job.url();
    let once = format!("credential.{}.helper", job.served().url());
    sandbox.run_ok([
        "-c",
        &format!(
            "{once}=!f() {{ echo username=gitlab-ci-token; echo password=$CI_JOB_TOKEN; }}; f"
        ),
        "clone",
        "--quiet",
        &url,
        "clone",
    ]);
    sandbox.run_ok(["-C", "clone", "config", "user.name", "Test"]);

    round_trip(&job, &["--global"], &sandbox.global_config_path(), ".");
    round_trip(
        &job,
        &["--local"],
        &sandbox.work().join("clone/.git/config"),
        "clone",
    );
    let extra = sandbox.home().join("extra.gitconfig");
    sandbox.run_ok([
        "config",
        "--global",
        "include.path",
        extra.to_str().unwrap(),
    ]);
    round_trip(&job, &["--file", extra.to_str().unwrap()], &extra, ".");
    if git_version() >= (2, 32) {
        // GIT_CONFIG_SYSTEM moves the system file out of /etc, which is never written.
        let system = sandbox.root().join("system.gitconfig");
        sandbox
            .env("GIT_CONFIG_SYSTEM", &system)
            .env("GIT_CONFIG_NOSYSTEM", "0");
        round_trip(&job, &["--system"], &system, ".");
    } else {
        // git 2.30 has no GIT_CONFIG_SYSTEM: the system file is the real one, so only read it.
        let out = ours(sandbox, ".", &["unconfigure", "--system"]).assert_success();
        let etc = String::from_utf8(
            process::run({
                let mut cmd = sandbox.git();
                cmd.args(["config", "--system", "--edit"])
                    .env("GIT_EDITOR", "echo");
                cmd
            })
            .stdout,
        )
        .unwrap();
        assert!(
            out.stdout_str()
                .contains(&format!("nothing to remove: {}", etc.trim())),
            "{}",
            out.stdout_str()
        );
    }
}

#[test]
fn configure_env_appends_after_existing_entries_and_unconfigure_env_takes_them_back() {
    let sandbox = Sandbox::new();
    sandbox.env("CI_SERVER_URL", "https://gitlab.example.com");
    // An entry already in the environment, where this git reads such entries: git 2.31 and
    // later read GIT_CONFIG_COUNT, older gits only GIT_CONFIG_PARAMETERS. The other entry
    // holds a secret that neither command may print.
    let key = "credential.https://gitlab.example.com.helper";
    let header = "http.extraheader";
    let secret = "AUTHORIZATION: Bearer NotOursToPrint";
    let count = git_version() >= (2, 31);
    if count {
        sandbox
            .env("GIT_CONFIG_COUNT", "2")
            .env("GIT_CONFIG_KEY_0", key)
            .env("GIT_CONFIG_VALUE_0", "cache --timeout=60")
            .env("GIT_CONFIG_KEY_1", header)
            .env("GIT_CONFIG_VALUE_1", secret);
    } else {
        sandbox.env(
            "GIT_CONFIG_PARAMETERS",
            format!("'{key}=cache --timeout=60' '{header}={secret}'"),
        );
    }
    let script = r#"
        eval "$("$BIN" configure --env)" || exit 1
        git config --get-all credential.https://gitlab.example.com.helper || exit 1
        echo "again=[$("$BIN" configure --env)]"
        "$BIN" unconfigure --env > undo.sh || exit 1
        grep -q NotOursToPrint undo.sh && { echo "printed the secret"; exit 1; }
        eval "$(cat undo.sh)" || exit 1
        git config --get-all credential.https://gitlab.example.com.helper || exit 1
        git config --get http.extraheader || exit 1
        echo "count=${GIT_CONFIG_COUNT-unset}"
    "#;
    let out = sh(&sandbox, ".", script).assert_success();
    let count_after = if count { "count=2" } else { "count=unset" };
    assert_eq!(
        out.stdout_str().lines().collect::<Vec<_>>(),
        [
            "cache --timeout=60",
            "",
            &canonical_binary(),
            "again=[]",
            "cache --timeout=60",
            secret,
            count_after,
        ],
        "stderr: {}",
        out.stderr_str()
    );
    assert!(
        out.stderr_str()
            .contains("already configured in this environment"),
        "{}",
        out.stderr_str()
    );
    assert!(!out.stderr_str().contains("NotOursToPrint"));
}

#[test]
fn unconfigure_env_with_nothing_else_kept_leaves_git_working() {
    let sandbox = Sandbox::new();
    sandbox.env("CI_SERVER_URL", "https://gitlab.example.com");
    let script = r#"
        eval "$("$BIN" configure --env)" || exit 1
        eval "$("$BIN" unconfigure --env)" || exit 1
        git config --list > /dev/null || exit 1
        echo "count=${GIT_CONFIG_COUNT-unset} parameters=${GIT_CONFIG_PARAMETERS-unset}"
    "#;
    let out = sh(&sandbox, ".", script).assert_success();
    assert_eq!(out.stdout_str(), "count=unset parameters=unset\n");
}

#[test]
fn scrub_removes_the_runners_tokens_and_the_push_then_goes_through_our_helper() {
    let job = Scenario::new()
        .server("gitlab-ci-token", TOKEN)
        .in_job(TOKEN);
    let (server, sandbox) = (job.served(), job.sandbox());
    let plain = job.url();
    // FF_GIT_URLS_WITHOUT_TOKENS off: older runners put the token in the remote URL, newer
    // ones in an insteadOf rule in the per-job file. Both at once here.
    let with_token = format!(
        "https://gitlab-ci-token:{TOKEN}@{}/{PROJECT}",
        server.host()
    );
    let ext = runner_checkout(sandbox, &with_token, |ext| {
        std::fs::write(
            ext,
            format!(
                "[url \"https://gitlab-ci-token:{TOKEN}@{}/\"]\n\tinsteadOf = {}/\n",
                server.host(),
                server.url()
            ),
        )
        .unwrap()
    });
    sandbox.run_ok(["-C", "project", "fetch", "--quiet", "origin"]);
    sandbox.run_ok([
        "-C",
        "project",
        "checkout",
        "--quiet",
        "-b",
        "work",
        "origin/main",
    ]);
    let local = sandbox.work().join("project/.git/config");
    let (local_before, ext_before) = (std::fs::read(&local).unwrap(), std::fs::read(&ext).unwrap());

    // status names the runner's mode and every place the token sits, by file and key.
    let status = ours(sandbox, "project", &["status"]);
    assert!(!status.success(), "{}", status.stdout_str());
    for expected in [
        "GitLab Runner wrote it (FF_GIT_URLS_WITHOUT_TOKENS off)",
        ".gitlab-runner.ext.conf (local) rewrites URLs into ones that carry a password",
        "remote.origin.url in ",
        "carries a password",
        "the served token (fingerprint ",
        "fix: git-credential-gitlab-ci scrub",
    ] {
        assert!(
            status.stdout_str().contains(expected),
            "{expected:?} missing from:\n{}",
            status.stdout_str()
        );
    }

    let dry = ours(sandbox, "project", &["scrub", "--dry-run"]).assert_success();
    assert!(
        dry.stdout_str().contains("remote.origin.url"),
        "{}",
        dry.stdout_str()
    );
    assert!(
        dry.stdout_str().contains(".gitlab-runner.ext.conf"),
        "{}",
        dry.stdout_str()
    );
    assert!(
        dry.stdout_str().contains("<secret>"),
        "{}",
        dry.stdout_str()
    );
    assert!(dry.stdout_str().contains("dry run"), "{}", dry.stdout_str());
    assert_eq!(std::fs::read(&local).unwrap(), local_before);
    assert_eq!(std::fs::read(&ext).unwrap(), ext_before);

    let scrubbed = ours(sandbox, "project", &["scrub"]).assert_success();
    let mentions = |needle: &str| scrubbed.stdout_str().lines().any(|l| l.contains(needle));
    assert!(
        mentions("project/.git/config: remote.origin.url: https://gitlab-ci-token:<secret>@"),
        "{}",
        scrubbed.stdout_str()
    );
    assert!(
        mentions(".gitlab-runner.ext.conf: url.\"https://gitlab-ci-token:<secret>@"),
        "{}",
        scrubbed.stdout_str()
    );
    let url = sandbox.run_ok(["-C", "project", "config", "remote.origin.url"]);
    assert_eq!(lines(&url.stdout), [plain]);
    let rules = sandbox.run(["-C", "project", "config", "--get-regexp", r"^url\."]);
    assert!(
        rules.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&rules.stdout)
    );

    let again = ours(sandbox, "project", &["scrub"]).assert_success();
    assert!(
        again.stdout_str().contains("nothing to scrub"),
        "{}",
        again.stdout_str()
    );

    ours(sandbox, ".", &["configure", "--global"]).assert_success();
    let status = ours(sandbox, "project", &["status"]).assert_success();
    assert!(
        status
            .stdout_str()
            .contains("git asks git-credential-gitlab-ci for this URL"),
        "{}",
        status.stdout_str()
    );
    sandbox.env("GIT_CREDENTIAL_GITLAB_CI_LOG", "info");
    let head = job.commit("project", "CHANGELOG", "changed\n");
    let push = sandbox.run_ok(["-C", "project", "push", "--quiet", "origin", "work:main"]);
    assert!(
        String::from_utf8_lossy(&push.stderr).contains("decision=\"answer\""),
        "the push did not go through our helper: {}",
        String::from_utf8_lossy(&push.stderr)
    );
    assert_eq!(job.server_ref("refs/heads/main"), head);
    assert_nowhere_under(sandbox.root(), &[TOKEN.as_bytes().to_vec()]);
}

/// `strace -f -e trace=execve`, for the argv of every program a command starts.
fn traced(sandbox: &Sandbox, dir: &str, args: &[&str], log: &Path) -> Run {
    let mut cmd = sandbox.command(std::process::Command::new("strace"));
    cmd.args(["-f", "-e", "trace=execve", "-s", "4096", "-o"])
        .arg(log)
        .arg(binary())
        .args(args)
        .current_dir(sandbox.work().join(dir));
    let run = process::run(cmd);
    run.assert_not_printed(&[TOKEN, OTHER_TOKEN]);
    run
}

#[test]
fn scrub_puts_no_token_on_any_command_line() {
    let job = Scenario::new()
        .server("gitlab-ci-token", TOKEN)
        .in_job(TOKEN);
    let (server, sandbox) = (job.served(), job.sandbox());
    let with_token = format!(
        "https://gitlab-ci-token:{TOKEN}@{}/{PROJECT}",
        server.host()
    );
    // The runner's rule, with a comment inside its section; and a rule of the user's whose
    // section holds another entry too, so only the rule goes.
    let ext = runner_checkout(sandbox, &with_token, |ext| {
        std::fs::write(
            ext,
            format!(
                "[url \"https://gitlab-ci-token:{TOKEN}@{}/\"]\n\t# written by the runner\n\tinsteadOf = {}/\n\tpushInsteadOf = {}/\n",
                server.host(),
                server.url(),
                server.url()
            ),
        )
        .unwrap()
    });
    let local = sandbox.work().join("project/.git/config");
    let mut text = std::fs::read_to_string(&local).unwrap();
    text.push_str(&format!(
        "[url \"https://someone:{OTHER_TOKEN}@mirror.example/\"]\n\tinsteadOf = https://elsewhere.example/\n\tnote = kept\n"
    ));
    std::fs::write(&local, text).unwrap();

    let log = tempfile::tempdir().unwrap();
    let trace = log.path().join("execve.log");
    let probe = process::run({
        let mut cmd = std::process::Command::new("strace");
        cmd.args(["-f", "-e", "trace=execve", "-o"])
            .arg(log.path().join("probe.log"))
            .arg("true");
        cmd
    });
    assert!(
        probe.success(),
        "strace cannot trace here (install it, and allow ptrace): {}",
        probe.stderr_str()
    );

    let scrubbed = traced(sandbox, "project", &["scrub"], &trace).assert_success();
    assert!(
        scrubbed.stdout_str().contains("scrubbed: 3 changes made"),
        "{}",
        scrubbed.stdout_str()
    );
    let execs: Vec<String> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .filter(|l| l.contains("execve("))
        .map(str::to_owned)
        .collect();
    // The trace saw scrub's own git calls: the remote URL is rewritten by git.
    assert!(
        execs.iter().any(|l| l.contains("\"--replace-all\"")),
        "{execs:#?}"
    );
    for secret in [TOKEN, OTHER_TOKEN] {
        let with: Vec<String> = execs
            .iter()
            .filter(|l| l.contains(secret))
            .map(|l| l.replace(secret, "<THE TOKEN>"))
            .collect();
        assert!(with.is_empty(), "a token on a command line: {with:#?}");
    }

    // The scrub worked: no URL and no rule carries a token, the other entry stays.
    let url = sandbox.run_ok(["-C", "project", "config", "remote.origin.url"]);
    assert_eq!(lines(&url.stdout), [job.url()]);
    let rules = sandbox.run([
        "-C",
        "project",
        "config",
        "--get-regexp",
        r"^url\..*insteadof$",
    ]);
    assert!(
        rules.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&rules.stdout)
    );
    let note = sandbox.run_ok([
        "-C",
        "project",
        "config",
        "--get-regexp",
        r"^url\..*\.note$",
    ]);
    assert_eq!(lines(&note.stdout).len(), 1);
    let ext_after = std::fs::read_to_string(&ext).unwrap();
    assert!(!ext_after.contains(TOKEN), "{ext_after}");

    // And a push goes through our helper.
    ours(sandbox, ".", &["configure", "--global"]).assert_success();
    sandbox.run_ok(["-C", "project", "fetch", "--quiet", "origin"]);
    sandbox.run_ok([
        "-C",
        "project",
        "checkout",
        "--quiet",
        "-b",
        "work",
        "origin/main",
    ]);
    sandbox.env("GIT_CREDENTIAL_GITLAB_CI_LOG", "info");
    let head = job.commit("project", "CHANGELOG", "changed\n");
    let push = sandbox.run_ok(["-C", "project", "push", "--quiet", "origin", "work:main"]);
    assert!(
        String::from_utf8_lossy(&push.stderr).contains("decision=\"answer\""),
        "the push did not go through our helper: {}",
        String::from_utf8_lossy(&push.stderr)
    );
    assert_eq!(job.server_ref("refs/heads/main"), head);
    assert_nowhere_under(sandbox.root(), &[TOKEN.as_bytes().to_vec()]);
}

#[test]
fn configure_env_puts_our_helper_after_the_runners_per_job_reset() {
    // The server takes only the token our helper reads, not the runner's CI_JOB_TOKEN, so a
    // push that succeeds went through our helper.
    let job = Scenario::new()
        .server("gitlab-ci-token", OTHER_TOKEN)
        .in_job(TOKEN)
        .env("MY_TOKEN", OTHER_TOKEN);
    let url = job.served().url();
    let job = job.env("URL", url);
    let (server, sandbox) = (job.served(), job.sandbox());
    let plain = job.url();
    // FF_GIT_URLS_WITHOUT_TOKENS on: the runner resets the helpers for its server and adds
    // its own inline one.
    runner_checkout(sandbox, &plain, |ext| {
        let ext = ext.to_str().unwrap();
        let key = format!("credential.{}.helper", server.url());
        sandbox.run_ok(["config", "--file", ext, "--add", &key, ""]);
        sandbox.run_ok([
            "config",
            "--file",
            ext,
            "--add",
            &key,
            r#"!f() { echo "username=gitlab-ci-token"; echo "password=${CI_JOB_TOKEN}"; }; f"#,
        ]);
        let user = format!("credential.{}.username", server.url());
        sandbox.run_ok(["config", "--file", ext, &user, "gitlab-ci-token"]);
    });
    // Our helper in the image's config is shadowed by the runner's reset.
    ours(
        sandbox,
        ".",
        &[
            "configure",
            "--global",
            "--url",
            &server.url(),
            "--token-env",
            "MY_TOKEN",
        ],
    )
    .assert_success();
    let shadowed = sandbox.run(["-C", "project", "fetch", "--quiet", "origin"]);
    assert!(!shadowed.status.success());
    let status = ours(
        sandbox,
        "project",
        &["--url", &server.url(), "--token-env", "MY_TOKEN", "status"],
    );
    assert!(!status.success(), "{}", status.stdout_str());
    assert!(
        status
            .stdout_str()
            .contains("GitLab Runner's per-job helper from")
            && status
                .stdout_str()
                .contains("(FF_GIT_URLS_WITHOUT_TOKENS on)"),
        "{}",
        status.stdout_str()
    );
    assert!(
        status
            .stdout_str()
            .contains("git will not ask git-credential-gitlab-ci for this URL"),
        "{}",
        status.stdout_str()
    );
    assert!(server
        .credentials_seen()
        .iter()
        .all(|(_, password)| password == TOKEN));

    server.clear_attempts();
    let script = r#"
        eval "$("$BIN" configure --env --url "$URL" --token-env MY_TOKEN)" || exit 1
        "$BIN" --url "$URL" --token-env MY_TOKEN status > status.txt || { cat status.txt; exit 1; }
        grep -q "git asks git-credential-gitlab-ci for this URL" status.txt || exit 1
        git fetch --quiet origin &&
        git push --quiet origin origin/main:refs/heads/from-job
    "#;
    let out = sh(sandbox, "project", script).assert_success();
    assert!(
        out.stderr_str()
            .contains("git will read, after every config file"),
        "{}",
        out.stderr_str()
    );
    assert!(!job.server_ref("refs/heads/from-job").is_empty());
    let seen = server.credentials_seen();
    assert!(!seen.is_empty());
    assert!(seen
        .iter()
        .all(|c| c == &("gitlab-ci-token".to_owned(), OTHER_TOKEN.to_owned())));
    assert_nowhere_under(sandbox.root(), &[OTHER_TOKEN.as_bytes().to_vec()]);
}

#[test]
fn status_flags_a_storage_helper_after_ours_and_an_authorization_header() {
    let sandbox = Sandbox::new();
    sandbox
        .env("CI_SERVER_URL", "https://gitlab.example.com")
        .env("CI_JOB_TOKEN", TOKEN);
    ours(&sandbox, ".", &["configure", "--global"]).assert_success();
    // A storage helper read after ours, in the repository's config, would get our token on
    // `store`; an extraheader sends a credential with every request.
    sandbox.run_ok(["init", "--quiet", "repo"]);
    sandbox.run_ok([
        "-C",
        "repo",
        "remote",
        "add",
        "origin",
        "https://gitlab.example.com/group/project.git",
    ]);
    sandbox.run_ok(["-C", "repo", "config", "credential.helper", "store"]);
    let header = format!("AUTHORIZATION: Bearer {TOKEN}");
    sandbox.run_ok([
        "-C",
        "repo",
        "config",
        "http.https://gitlab.example.com/.extraheader",
        &header,
    ]);
    let status = ours(&sandbox, "repo", &["status"]);
    assert!(!status.success(), "{}", status.stdout_str());
    for expected in [
        "git asks git-credential-gitlab-ci for this URL (first in the chain)",
        "helper `store` from ",
        "would write the CI token to disk",
        "http.https://gitlab.example.com/.extraheader in ",
        "sends an Authorization header",
        "the served token (fingerprint ",
    ] {
        assert!(
            status.stdout_str().contains(expected),
            "{expected:?} missing from:\n{}",
            status.stdout_str()
        );
    }
    let json = ours(&sandbox, "repo", &["status", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&json.stdout_str()).unwrap();
    assert_eq!(report["git"]["reaches_us"], true);
    let kinds: Vec<&str> = report["git"]["chain"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["ours", "storage"]);
}
