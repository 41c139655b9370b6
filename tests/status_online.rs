//! `status --online` asks the server through git and names GitLab's cause: a 401 for a token
//! the server does not accept, a 403 on push for a job token when job-token push is off, a
//! 403 for an access token without the rights to push, and a 404 for a project the token
//! cannot see. It never prints the token.

use crate::support::gitlab::{Access, TokenSpec};
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
    let job = Scenario::new()
        .server("someone-else", "glpat-NobodyUsesThisPassword0")
        .helper_args(["--token-env", "MY_PAT"])
        .in_job(TOKEN)
        .env("MY_PAT", PAT);
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
