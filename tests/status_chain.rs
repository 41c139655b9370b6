//! `status` proves the helper chain by asking git as git will ask (`git credential fill`),
//! so it never says "in order" when git will fail: a helper git cannot run, a bare helper
//! name, or another helper answering first is a PROBLEM with a fix that works.

use crate::support::helper::{binary, TOKEN};
use crate::support::process::Run;
use crate::support::sandbox::Sandbox;

const KEY: &str = "credential.https://gitlab.example.com.helper";

fn job_with(helpers: &[&str]) -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox
        .env("CI_SERVER_URL", "https://gitlab.example.com")
        .env("CI_JOB_TOKEN", TOKEN);
    for (i, helper) in helpers.iter().enumerate() {
        let mut args = vec!["config", "--global"];
        if i > 0 {
            args.push("--add");
        }
        args.extend([KEY, helper]);
        sandbox.run_ok(args);
    }
    sandbox
}

fn status(sandbox: &Sandbox) -> Run {
    let run = sandbox.helper(".", &["status"]);
    run.assert_not_printed(&[TOKEN]);
    run
}

#[test]
fn a_working_chain_is_proved_by_gits_own_answer() {
    let sandbox = job_with(&["", binary()]);
    let run = status(&sandbox);
    assert!(run.success(), "{}", run.stdout_str());
    assert!(
        run.stdout_str()
            .contains("git credential fill for https://gitlab.example.com/ gets our token"),
        "{}",
        run.stdout_str()
    );
    // Named by its place in the chain as printed: the reset is 1.
    assert!(
        run.stdout_str()
            .contains("from helper 2 in the chain (git-credential-gitlab-ci)"),
        "{}",
        run.stdout_str()
    );
}

#[test]
fn a_helper_git_cannot_run_is_a_problem_with_a_fix() {
    for (helper, says) in [
        ("git-credential-gitlab-ci", "is not a git command"),
        ("/nonexistent/git-credential-gitlab-ci", "not found"),
    ] {
        let sandbox = job_with(&["", helper]);
        let run = status(&sandbox);
        let out = run.stdout_str();
        assert!(!run.success(), "{helper}: {out}");
        assert!(
            out.contains("gets no credential, so git would fail"),
            "{helper}: {out}"
        );
        assert!(out.contains(says), "{helper}: {out}");
        assert!(out.contains("configure --global"), "{helper}: {out}");
        assert!(!out.contains("everything is in order"), "{helper}: {out}");
    }
}

#[test]
fn another_helper_answering_first_is_a_problem() {
    let sandbox = job_with(&[
        "",
        "!f() { echo username=gitlab-ci-token; echo password=glpat-NotOursButAnswersFirst1; }; f",
        binary(),
    ]);
    let run = status(&sandbox);
    let out = run.stdout_str();
    assert!(!run.success(), "{out}");
    assert!(out.contains("gets another credential"), "{out}");
    // git ran the shell helper (2 in the printed chain) and stopped there.
    assert!(
        out.contains("from helper 2 in the chain (an inline shell helper)"),
        "{out}"
    );
    assert!(!out.contains("NotOursButAnswersFirst"), "{out}");
}

#[test]
fn the_storage_helper_fix_works_as_pasted() {
    let sandbox = job_with(&["", binary(), "store --file /tmp/never-written"]);
    let run = status(&sandbox);
    let out = run.stdout_str();
    assert!(!run.success(), "{out}");
    assert!(
        !out.contains("never-written"),
        "helper arguments are not shown: {out}"
    );
    let fix = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("fix: remove it: "))
        .and_then(|f| f.split("; or ").next())
        .unwrap_or_else(|| panic!("no storage-helper fix in {out}"));
    let mut cmd = sandbox.command(std::process::Command::new("sh"));
    cmd.args(["-c", fix]);
    crate::support::process::run(cmd).assert_success();
    let left = sandbox.run_ok(["config", "--global", "--get-all", KEY]);
    assert_eq!(left.stdout_str(), format!("\n{}\n", binary()), "{fix}");
    let after = status(&sandbox);
    assert!(after.success(), "{}", after.stdout_str());
}

#[test]
fn a_configured_image_outside_a_job_is_in_order() {
    // As in a Dockerfile: no job variables, the helper configured for the server.
    let sandbox = Sandbox::new();
    sandbox
        .helper(
            ".",
            &[
                "configure",
                "--global",
                "--url",
                "https://gitlab.example.com",
            ],
        )
        .assert_success();
    let run = status(&sandbox);
    let out = run.stdout_str();
    assert!(run.success(), "{out}");
    assert!(!out.contains("PROBLEM"), "{out}");
    assert!(
        out.contains("outside a GitLab CI job, so nothing to serve yet: git asks git-credential-gitlab-ci for https://gitlab.example.com"),
        "{out}"
    );
    // Not configured at all: nothing will ever be served, which is a problem.
    let bare = Sandbox::new();
    assert!(!status(&bare).success());
}
