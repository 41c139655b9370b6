//! `status --online` asks the server through git and names GitLab's cause: a 401 for a token
//! the server does not accept, a 403 on push for a job token when job-token push is off, a
//! 403 for an access token without the rights to push, and a 404 for a project the token
//! cannot see. It never prints the token.

use crate::support::gitlab::{Access, AccessTokenInfo, JobInfo, TokenSpec};
use crate::support::helper::TOKEN;
use crate::support::process::Run;
use crate::support::scenario::Scenario;

const PAT: &str = "glpat-ProjectAccessTokenForTests42";

/// `status --online` for the project, in a job whose helper serves `token`.
fn online(job: &Scenario) -> (Run, serde_json::Value) {
    online_with(job, &[])
}

/// The same, with the options of the helper string before `status`, as the README says.
fn online_with(job: &Scenario, options: &[&str]) -> (Run, serde_json::Value) {
    let url = job.url();
    let args = |json: bool| {
        let mut args = options.to_vec();
        args.extend(["status", "--online"]);
        if json {
            args.push("--json");
        }
        args.push(&url);
        args
    };
    let run = job.sandbox().helper(".", &args(false));
    run.assert_not_printed(&[TOKEN, PAT]);
    let json = job.sandbox().helper(".", &args(true));
    json.assert_not_printed(&[TOKEN, PAT]);
    let value = serde_json::from_slice(&json.stdout).expect("status --json");
    (run, value)
}

/// A job whose helper serves the project access token in MY_PAT (`--token-env MY_PAT`).
fn job_serving_pat() -> Scenario {
    Scenario::new()
        .server("someone-else", "glpat-NobodyUsesThisPassword0")
        .helper_args(["--token-env", "MY_PAT"])
        .in_job(TOKEN)
        .env("MY_PAT", PAT)
}

fn job_with(token: &str, spec: TokenSpec) -> Scenario {
    let job = Scenario::new()
        .server("someone-else", "glpat-NobodyUsesThisPassword0")
        .helper()
        .in_job(token);
    job.served().add_token(spec);
    job
}

#[test]
fn fetch_and_push_allowed_are_both_ok() {
    let job = job_with(TOKEN, TokenSpec::job(TOKEN));
    let (run, json) = online(&job);
    let out = run.stdout_str();
    assert!(run.success(), "{out}");
    assert!(
        out.contains("fetch: allowed") && out.contains("push: allowed"),
        "{out}"
    );
    assert_eq!(json["online"]["lines"][1]["level"], "ok", "{json:#}");
    // Nothing was pushed.
    assert_eq!(
        job.server_ref("refs/heads/git-credential-gitlab-ci-probe"),
        ""
    );
}

#[test]
fn a_job_token_that_may_not_push_names_the_project_setting() {
    let job = job_with(TOKEN, TokenSpec::job(TOKEN).access(Access::Read));
    let (run, _) = online(&job);
    let out = run.stdout_str();
    assert!(!run.success(), "{out}");
    assert!(out.contains("fetch: allowed"), "{out}");
    assert!(out.contains("push: the server answered 403"), "{out}");
    assert!(
        out.contains("Allow Git push requests to the repository"),
        "{out}"
    );
}

#[test]
fn an_access_token_that_may_not_push_names_role_and_scope() {
    let job = job_serving_pat();
    job.served()
        .add_token(TokenSpec::project_access(PAT).access(Access::Read));
    let (run, _) = online_with(&job, &["--token-env", "MY_PAT"]);
    let out = run.stdout_str();
    assert!(!run.success(), "{out}");
    assert!(out.contains("push: the server answered 403"), "{out}");
    assert!(out.contains("write_repository"), "{out}");
}

#[test]
fn a_token_the_server_refuses_is_a_401() {
    let job = Scenario::new()
        .server("gitlab-ci-token", "glcbt-TheServerWantsAnotherOne1")
        .helper()
        .in_job(TOKEN);
    let (run, _) = online(&job);
    let out = run.stdout_str();
    assert!(!run.success(), "{out}");
    assert!(
        out.contains("fetch: the server refused the token with 401"),
        "{out}"
    );
    assert!(
        out.contains("expired, revoked, or for another GitLab instance"),
        "{out}"
    );
}

#[test]
fn a_project_the_token_cannot_see_is_a_404() {
    let job = job_with(TOKEN, TokenSpec::job(TOKEN).projects(["other/project"]));
    let (run, _) = online(&job);
    let out = run.stdout_str();
    assert!(!run.success(), "{out}");
    assert!(out.contains("fetch: the server answered 404"), "{out}");
    assert!(out.contains("allowlist"), "{out}");
}

#[test]
fn gitlabs_api_says_whose_job_token_it_is() {
    let job = job_with(
        TOKEN,
        TokenSpec {
            job: JobInfo {
                id: 4242,
                name: "release".into(),
                project_id: 77,
                ..JobInfo::default()
            },
            ..TokenSpec::job(TOKEN)
        },
    );
    let (run, json) = online(&job);
    let out = run.stdout_str();
    assert!(run.success(), "{out}");
    assert!(
        out.contains("GitLab's API: a job token of job 4242 (release), project 77"),
        "{out}"
    );
    assert_eq!(json["online"]["lines"][2]["level"], "ok", "{json:#}");
    let asked: Vec<_> = job
        .served()
        .attempts()
        .into_iter()
        .filter_map(|a| a.api_token_header)
        .collect();
    // Once for the text report and once for the JSON one.
    assert_eq!(asked, ["JOB-TOKEN", "JOB-TOKEN"]);
}

#[test]
fn gitlabs_api_flags_an_access_token_without_write_repository_and_near_expiry() {
    let soon = {
        let days = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            / 86_400
            + 5;
        // A date 5 days from now, as GitLab writes it.
        let out = std::process::Command::new("date")
            .args(["-u", "-d", &format!("@{}", days * 86_400), "+%Y-%m-%d"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    for (scopes, expect) in [
        (vec!["read_repository"], "without write_repository"),
        (vec!["write_repository"], "expires within 14 days"),
    ] {
        let job = job_serving_pat();
        job.served().add_token(TokenSpec {
            access_token: AccessTokenInfo {
                name: "release".into(),
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                expires_at: Some(soon.clone()),
                ..AccessTokenInfo::default()
            },
            ..TokenSpec::project_access(PAT)
        });
        let (run, _) = online_with(&job, &["--token-env", "MY_PAT"]);
        let out = run.stdout_str();
        assert!(
            out.contains("GitLab's API: access token \"release\"") && out.contains(expect),
            "{scopes:?}: {out}"
        );
        assert!(
            out.contains(&format!("expires {soon} (in 5 days)")),
            "{out}"
        );
    }
}

/// A directory to put first on PATH, holding `curl`: a script that writes its arguments to
/// `argv.log` beside it and then runs the real curl with them, stdin and all.
fn logging_curl(job: &Scenario) -> std::path::PathBuf {
    let dir = job.sandbox().root().join("curl-wrapper");
    std::fs::create_dir_all(&dir).unwrap();
    let real = ["/usr/bin/curl", "/usr/local/bin/curl", "/bin/curl"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("curl is installed for the tests");
    let script = dir.join("curl");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" >> '{}'\nexec {real} \"$@\"\n",
            dir.join("argv.log").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn path_with_first(dir: &std::path::Path) -> std::ffi::OsString {
    let mut path = dir.as_os_str().to_owned();
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    path
}

#[test]
fn the_api_request_keeps_the_token_out_of_curls_argv() {
    let job = job_with(TOKEN, TokenSpec::job(TOKEN));
    let dir = logging_curl(&job);
    let job = job.env("PATH", path_with_first(&dir));
    let (run, _) = online(&job);
    let out = run.stdout_str();
    assert!(out.contains("GitLab's API: a job token of job"), "{out}");
    let argv = std::fs::read_to_string(dir.join("argv.log")).expect("curl was run");
    // Everything but these went to curl on its stdin.
    assert_eq!(argv, "-q\n--config\n-\n".repeat(2), "{argv}");
}

#[test]
fn a_repositorys_own_config_does_not_choose_the_apis_trust() {
    // A CA file in the repository's config that would fail the request if it were used:
    // the check reads git's http settings outside the repository.
    let job = job_with(TOKEN, TokenSpec::job(TOKEN));
    job.git_ok(["clone", &job.url(), "checkout"]);
    job.git_ok([
        "-C",
        "checkout",
        "config",
        "http.sslCAInfo",
        "/nonexistent/ca.pem",
    ]);
    let run = job
        .sandbox()
        .helper("checkout", &["status", "--online", &job.url()]);
    run.assert_not_printed(&[TOKEN]);
    let out = run.stdout_str();
    assert!(out.contains("GitLab's API: a job token of job"), "{out}");
}

#[test]
fn without_curl_the_api_check_says_what_to_install() {
    // PATH with git and a shell, and no curl.
    let job = job_with(TOKEN, TokenSpec::job(TOKEN));
    let dir = job.sandbox().root().join("no-curl");
    std::fs::create_dir_all(&dir).unwrap();
    for program in ["git", "sh"] {
        let found = std::env::var_os("PATH")
            .and_then(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join(program))
                    .find(|p| p.exists())
            })
            .unwrap_or_else(|| panic!("{program} on PATH"));
        std::os::unix::fs::symlink(found, dir.join(program)).unwrap();
    }
    let job = job.env("PATH", &dir);
    let (run, json) = online(&job);
    let out = run.stdout_str();
    assert!(
        out.contains("curl, which makes the request, is not installed")
            && out.contains("install curl"),
        "{out}"
    );
    // git's own probes still ran, and decide the verdict.
    assert!(out.contains("push: allowed"), "{out}");
    assert!(run.success(), "{out}");
    assert_eq!(json["online"]["lines"][2]["level"], "warning", "{json:#}");
}

#[test]
fn gitlabs_api_refuses_a_revoked_access_token() {
    let job = job_serving_pat();
    job.served().add_token(TokenSpec {
        access_token: AccessTokenInfo {
            name: "old-release".into(),
            scopes: vec!["write_repository".into()],
            ..AccessTokenInfo::default()
        },
        ..TokenSpec::project_access(PAT).revoked()
    });
    let (run, _) = online_with(&job, &["--token-env", "MY_PAT"]);
    let out = run.stdout_str();
    assert!(!run.success(), "{out}");
    // GitLab answers 401 for a revoked token on every endpoint, this one too.
    assert!(
        out.contains("GitLab's API does not know the token (401)"),
        "{out}"
    );
}
