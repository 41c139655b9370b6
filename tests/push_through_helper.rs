//! The product's promise, end to end: real git, a real TLS smart-HTTP server that demands
//! Basic auth, our helper configured by absolute path, plain remote URLs. Clones and pushes
//! succeed, the server sees the right credential, no other origin sees any, and the token is
//! found nowhere on disk or in our output.

use std::net::{IpAddr, Ipv4Addr};

use crate::support::git_server::GitServer;
use crate::support::helper::{assert_nowhere_under, binary, helper_command, token_forms, TOKEN};
use crate::support::process;
use crate::support::sandbox::Sandbox;
use crate::support::scenario::{Scenario, PROJECT};

/// Clones, commits and pushes; returns the pushed commit.
fn clone_commit_push(job: &Scenario) -> String {
    job.git_ok(["clone", "--quiet", &job.url(), "clone"]);
    let head = job.commit("clone", "VERSION", "1.2.3\n");
    job.git_ok(["-C", "clone", "tag", "v1.2.3"]);
    job.git_ok(["-C", "clone", "push", "--quiet", "origin", "main", "v1.2.3"]);
    head
}

#[test]
fn clone_and_push_in_a_gitlab_job_with_only_ci_variables() {
    let job = Scenario::new()
        .server("gitlab-ci-token", TOKEN)
        .helper()
        .in_job(TOKEN)
        .env("GIT_CREDENTIAL_GITLAB_CI_LOG", "trace");

    let pushed = clone_commit_push(&job);

    assert_eq!(job.server_ref("refs/heads/main"), pushed);
    assert_eq!(job.server_ref("refs/tags/v1.2.3^{commit}"), pushed);
    let seen = job.served().credentials_seen();
    assert!(!seen.is_empty());
    assert!(seen
        .iter()
        .all(|c| c == &("gitlab-ci-token".to_owned(), TOKEN.to_owned())));

    let remotes = job.git_ok(["-C", "clone", "remote", "-v"]);
    assert!(remotes.stdout_str().contains(&job.url()));
    assert_nowhere_under(job.sandbox().root(), &token_forms("gitlab-ci-token", TOKEN));
}

#[test]
fn the_helpers_most_verbose_log_never_shows_the_token() {
    let job = Scenario::new()
        .server("gitlab-ci-token", TOKEN)
        .helper()
        .in_job(TOKEN)
        .env("GIT_CREDENTIAL_GITLAB_CI_LOG", "trace");
    // git passes a helper's stderr through, so git's stderr holds our whole log.
    let out = job.git_ok(["clone", &job.url(), "clone"]);
    let stderr = out.stderr_str();
    assert!(
        stderr.contains("decision=\"answer\""),
        "logging was not on: {stderr}"
    );
    for form in token_forms("gitlab-ci-token", TOKEN) {
        assert!(
            !stderr.contains(std::str::from_utf8(&form).unwrap()),
            "{stderr}"
        );
    }
}

#[test]
fn push_with_a_token_from_a_named_variable() {
    let pat = "glpat-N0tAR3alT0kenJustATest";
    let job = Scenario::new().server("gitlab-ci-token", pat);
    let url = job.served().url();
    let job = job
        .helper_args(["--url", &url, "--token-env", "MY_PAT"])
        .env("MY_PAT", pat)
        .env("CI_JOB_TOKEN", "glcbt-the-wrong-one");
    let pushed = clone_commit_push(&job);
    assert_eq!(job.server_ref("refs/heads/main"), pushed);
    assert!(job
        .served()
        .credentials_seen()
        .iter()
        .all(|(_, p)| p == pat));
    assert_nowhere_under(job.sandbox().root(), &token_forms("gitlab-ci-token", pat));
}

#[test]
fn push_with_a_token_file_and_a_deploy_token_username() {
    let deploy = "gldt-D3ployT0kenForTests";
    let job = Scenario::new().server("gitlab+deploy-token-7", deploy);
    let secrets = tempfile::tempdir().unwrap();
    let file = secrets.path().join("deploy-token");
    // As Kubernetes and GitLab "File" variables write it: with a trailing newline.
    std::fs::write(&file, format!("{deploy}\n")).unwrap();
    let url = job.served().url();
    let job = job.helper_args([
        "--url",
        &url,
        "--username",
        "gitlab+deploy-token-7",
        "--token-file",
        file.to_str().unwrap(),
    ]);
    let pushed = clone_commit_push(&job);
    assert_eq!(job.server_ref("refs/heads/main"), pushed);
    assert!(job
        .served()
        .credentials_seen()
        .iter()
        .all(|c| c == &("gitlab+deploy-token-7".to_owned(), deploy.to_owned())));
    assert_nowhere_under(
        job.sandbox().root(),
        &token_forms("gitlab+deploy-token-7", deploy),
    );
}

#[test]
fn a_path_scoped_deploy_token_from_the_config_file() {
    let deploy = "gldt-ScopedToTheDeployGroup";
    let job = Scenario::new().server("deployer", deploy);
    let server = job.served();
    server.create_repo("deploy/app.git");
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, deploy).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[[credential]]\nurl = \"{url}/deploy\"\nusername = \"deployer\"\ntoken_file = \"{file}\"\n\n\
             [[credential]]\nurl = \"{url}\"\ntoken_env = \"OTHER_TOKEN\"\n",
            url = server.url(),
            file = token_file.display()
        ),
    )
    .unwrap();
    let job = job
        .helper_args(["--config", config.to_str().unwrap()])
        .env("OTHER_TOKEN", "glpat-NotForTheDeployGroup");
    let server = job.served();
    let url = format!("{}/deploy/app.git", server.url());

    // Without useHttpPath git sends no path, so the origin-wide credential answers.
    let failed = job.git(["clone", "--quiet", &url, "without-path"]);
    assert!(!failed.success());
    assert!(server
        .credentials_seen()
        .iter()
        .all(|(u, _)| u == "gitlab-ci-token"));

    server.clear_attempts();
    let key = format!("credential.{}.useHttpPath", server.url());
    job.git_ok(["config", "--global", &key, "true"]);
    job.git_ok(["clone", "--quiet", &url, "with-path"]);
    assert!(server
        .credentials_seen()
        .iter()
        .all(|c| c == &("deployer".to_owned(), deploy.to_owned())));
}

#[test]
fn no_credential_reaches_another_origin() {
    let served = GitServer::start_local("gitlab-ci-token", TOKEN);
    let other_address = GitServer::start(
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
        "gitlab-ci-token",
        TOKEN,
    );
    let other_port = GitServer::start_local("gitlab-ci-token", TOKEN);
    for server in [&served, &other_address, &other_port] {
        server.create_repo(PROJECT);
    }
    // Configured for every host, so that only our own policy stands between the token and
    // the other servers, not git's per-URL helper scoping.
    let sandbox = Sandbox::new();
    sandbox.trust(&GitServer::ca_pem_path());
    sandbox.run_ok(["config", "--global", "credential.helper", binary()]);
    sandbox
        .env("CI_SERVER_URL", served.url())
        .env("CI_JOB_TOKEN", TOKEN);

    for (i, server) in [&other_address, &other_port].into_iter().enumerate() {
        let url = format!("{}/{PROJECT}", server.url());
        let out = sandbox.run(["clone", "--quiet", &url, &format!("other-{i}")]);
        assert!(!out.success(), "{url} was cloned without credentials");
        assert!(!server.attempts().is_empty(), "{url} was never asked");
        assert_eq!(
            server.credentials_seen(),
            vec![],
            "{url} received a credential"
        );
    }
    let url = format!("{}/{PROJECT}", served.url());
    sandbox.run_ok(["clone", "--quiet", &url, "served"]);
    assert!(!served.credentials_seen().is_empty());
}

#[test]
fn status_never_prints_the_token() {
    let file_dir = tempfile::tempdir().unwrap();
    let file = file_dir.path().join("t");
    std::fs::write(&file, TOKEN).unwrap();
    // git is set up as the README says, so the report has no problem and exits 0. The
    // file is $HOME/.gitconfig, which every git reads (GIT_CONFIG_GLOBAL needs git 2.32).
    let gitconfig = file_dir.path().join(".gitconfig");
    std::fs::write(
        &gitconfig,
        format!(
            "[credential \"https://gitlab.example.com\"]\n\thelper =\n\thelper = {}\n",
            binary()
        ),
    )
    .unwrap();
    for args in [&["status"][..], &["status", "--json"]] {
        let mut cmd = helper_command();
        cmd.args(["--token-env", "CI_JOB_TOKEN", "--token-file"])
            .arg(&file)
            .args(args)
            .env("CI_SERVER_URL", "https://gitlab.example.com")
            .env("CI_JOB_TOKEN", TOKEN)
            .env("HOME", file_dir.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .current_dir(file_dir.path());
        let out = process::run(cmd);
        let all = out.output_str();
        assert!(out.success(), "{all}");
        assert!(all.contains("CI/CD job token"), "{all}");
        assert!(!all.contains(TOKEN), "{all}");
        assert!(!all.contains(&TOKEN[6..20]), "{all}");
    }
}

#[test]
fn a_401_for_our_token_gets_one_line_in_the_job_log_and_nothing_else_does() {
    // The server knows another token: ours is refused with 401, so git erases it.
    let job = Scenario::new()
        .server("gitlab-ci-token", "glcbt-TheServerWantsThisOne123456")
        .helper()
        .in_job(TOKEN);
    let clone = job.git(["clone", "--quiet", &job.url(), "clone"]);
    assert!(!clone.success());
    let stderr = clone.stderr_str();
    let hints: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("git-credential-gitlab-ci:"))
        .collect();
    assert_eq!(hints.len(), 1, "{stderr}");
    assert!(
        hints[0].contains("refused the token from environment variable CI_JOB_TOKEN")
            && hints[0].contains("with 401")
            && hints[0].contains("status --online"),
        "{stderr}"
    );
    assert!(!stderr.contains(TOKEN), "{stderr}");

    // GitLab Runner 19.3's end-of-stage reject: no password, so not a rejection, and silent.
    let mut reject = job.sandbox().git();
    reject.args(["credential", "reject"]);
    let run = crate::support::process::Process::new(reject)
        .stdin(format!(
            "url={}\nusername=gitlab-ci-token\n",
            job.served().url()
        ))
        .run();
    assert!(run.success(), "{}", run.output_str());
    assert_eq!(
        run.stderr_str(),
        "",
        "a reject without our token must be silent"
    );
}

/// The recipe `git config credential.helper store` plus a `.git-credentials` written with the
/// job token: status names the file and line, and never shows the token.
#[test]
fn status_finds_the_token_in_git_credentials_by_file_and_line() {
    let sandbox = Sandbox::new();
    sandbox.env("CI_SERVER_URL", "https://gitlab.example.com");
    sandbox.env("CI_JOB_TOKEN", TOKEN);
    sandbox.config_global(
        "credential.https://gitlab.example.com.helper",
        format!("{} --use-daemon never", binary()),
    );
    let file = sandbox.home().join(".git-credentials");
    std::fs::write(
        &file,
        format!("https://alice:not-ours@github.com\nhttps://gitlab-ci-token:{TOKEN}@gitlab.example.com\n"),
    )
    .unwrap();
    let at = format!("{}:2 holds the served token", file.display());
    for args in [&["status"][..], &["status", "--json"]] {
        let out = sandbox.helper(".", args);
        let all = out.output_str();
        assert_eq!(out.code(), Some(1), "{all}");
        assert!(all.contains(&at), "{all}");
        assert!(
            all.contains(&format!("sed -i '2d' {}", file.display())),
            "{all}"
        );
        out.assert_not_printed(&[TOKEN, &TOKEN[6..20]]);
    }
    // The fix, run as given, leaves the other line and no finding.
    let mut sed = std::process::Command::new("sed");
    sed.args(["-i", "2d"]).arg(&file);
    process::run(sed).assert_success();
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "https://alice:not-ours@github.com\n"
    );
    let all = sandbox.helper(".", &["status"]).output_str();
    assert!(
        all.contains(&format!("{}: no served token", file.display())),
        "{all}"
    );
}

/// A FIFO where `.git-credentials` or `.netrc` would be is skipped, not waited on.
#[cfg(unix)]
#[test]
fn status_skips_a_fifo_in_place_of_a_credential_file() {
    let sandbox = Sandbox::new();
    sandbox.env("CI_SERVER_URL", "https://gitlab.example.com");
    sandbox.env("CI_JOB_TOKEN", TOKEN);
    for name in [".git-credentials", ".netrc"] {
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            sandbox.home().join(name),
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
    }
    // The bounded runner fails the test if status blocks on a FIFO.
    let out = sandbox.helper(".", &["status"]);
    let all = out.output_str();
    assert!(all.contains("summary:"), "{all}");
    assert!(!all.contains("stored on disk"), "{all}");
}
