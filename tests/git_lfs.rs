//! git-lfs through our helper: git-lfs asks `git credential fill` for the LFS endpoint
//! (`<repo>.git/info/lfs`, with a path only under `credential.useHttpPath`), and the test
//! server's LFS batch API demands Basic auth with GitLab's token rules. LFS objects are
//! pushed and pulled with the job token our helper answers, and the token is written to no
//! file of the job.
//!
//! These tests need git-lfs (Debian's `git-lfs`); CI installs it, and without it they say
//! so and pass.

use sha2::{Digest as _, Sha256};

use crate::support::helper::{assert_nowhere_under, token_forms, TOKEN};
use crate::support::process::Run;
use crate::support::programs::on_path;
use crate::support::scenario::{Scenario, PROJECT};

/// The job's user name for the job token.
const JOB_USER: &str = "gitlab-ci-token";

/// False, after saying why, when git-lfs is not installed.
fn have_git_lfs() -> bool {
    let found = on_path("git-lfs");
    if !found {
        eprintln!("skipped: git-lfs is not installed (apt-get install git-lfs)");
    }
    found
}

/// Bytes no text filter would leave alone: every byte value, NULs and CRs included.
fn binary_content() -> Vec<u8> {
    let mut state: u32 = 0x2545_f491;
    (0..64 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect()
}

fn oid(content: &[u8]) -> String {
    Sha256::digest(content)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A job whose global git config holds our helper as `configure --global` writes it, for the
/// job's server (`CI_SERVER_URL`), with the job token in `CI_JOB_TOKEN`.
fn configured_job() -> Scenario {
    let job = Scenario::new().server(JOB_USER, TOKEN).in_job(TOKEN);
    job.sandbox()
        .helper(".", &["configure", "--global"])
        .assert_success()
        .assert_not_printed(&[TOKEN]);
    job
}

/// `git args...` in the job, which must succeed and print no token.
#[track_caller]
fn git(job: &Scenario, args: &[&str]) -> Run {
    let run = job.git_ok(args);
    run.assert_not_printed(&[TOKEN]);
    run
}

/// Commits `data.bin` (tracked by LFS) in a fresh clone `dir` and pushes it.
fn push_an_lfs_object(job: &Scenario, dir: &str, content: &[u8]) {
    git(job, &["clone", "--quiet", &job.url(), dir]);
    git(job, &["-C", dir, "lfs", "install", "--local"]);
    git(job, &["-C", dir, "lfs", "track", "*.bin"]);
    std::fs::write(job.sandbox().work().join(dir).join("data.bin"), content).unwrap();
    git(job, &["-C", dir, "add", ".gitattributes", "data.bin"]);
    git(job, &["-C", dir, "commit", "--quiet", "-m", "Add data.bin"]);
    git(job, &["-C", dir, "push", "--quiet", "origin", "main"]);
}

#[test]
fn lfs_objects_are_pushed_and_pulled_with_the_token_our_helper_answers() {
    if !have_git_lfs() {
        return;
    }
    let job = configured_job();
    let content = binary_content();
    let oid = oid(&content);

    push_an_lfs_object(&job, "pushed", &content);
    let server = job.served();
    assert_eq!(
        server.lfs_object(PROJECT, &oid).as_deref(),
        Some(&content[..]),
        "the object did not reach the LFS store"
    );
    // git holds the pointer, not the content.
    let pointer = git(&job, &["-C", "pushed", "show", "HEAD:data.bin"]).stdout_str();
    assert!(pointer.contains(&format!("oid sha256:{oid}")), "{pointer}");

    let lfs = |method: &str, path: &str| {
        server
            .attempts()
            .into_iter()
            .filter(|a| a.method == method && a.path_and_query.contains(path))
            .collect::<Vec<_>>()
    };
    // git-lfs asks without a credential first (its lock check before a push); the 401's
    // LFS-Authenticate makes it ask git, and so our helper.
    let api = lfs("POST", "/info/lfs/");
    assert!(
        api.first()
            .is_some_and(|a| a.status == 401 && a.credentials.is_none()),
        "{api:#?}"
    );
    // It remembers that the endpoint wants Basic auth, in the repository's config: a mode,
    // not a secret (the scan below covers that file too).
    let access = git(
        &job,
        &[
            "-C",
            "pushed",
            "config",
            "--local",
            "--get-regexp",
            r"^lfs\..*\.access$",
        ],
    );
    assert!(
        access.stdout_str().trim_end().ends_with(" basic"),
        "{}",
        access.stdout_str()
    );
    let batches = lfs("POST", "/info/lfs/objects/batch");
    let ours = Some((JOB_USER.to_owned(), TOKEN.to_owned()));
    assert!(
        batches
            .iter()
            .any(|a| a.status == 200 && a.credentials == ours),
        "{batches:#?}"
    );
    let uploads = lfs("PUT", "/gitlab-lfs/objects/");
    assert!(
        uploads
            .iter()
            .any(|a| a.status == 200 && a.credentials == ours),
        "{uploads:#?}"
    );

    // A fresh clone holds the pointer; `git lfs pull` fetches the content.
    server.clear_attempts();
    git(&job, &["clone", "--quiet", &job.url(), "fresh"]);
    let fresh = job.sandbox().work().join("fresh");
    assert_ne!(std::fs::read(fresh.join("data.bin")).unwrap(), content);
    git(&job, &["-C", "fresh", "lfs", "install", "--local"]);
    git(&job, &["-C", "fresh", "lfs", "pull"]);
    assert_eq!(std::fs::read(fresh.join("data.bin")).unwrap(), content);
    let downloads = lfs("GET", &format!("/gitlab-lfs/objects/{oid}"));
    assert!(
        downloads
            .iter()
            .any(|a| a.status == 200 && a.credentials == ours),
        "{downloads:#?}"
    );

    // Every credential anyone sent was ours, and no request went unanswered for want of one.
    assert!(server
        .credentials_seen()
        .iter()
        .all(|c| Some(c) == ours.as_ref()));
    assert_nowhere_under(job.sandbox().root(), &token_forms(JOB_USER, TOKEN));
}

#[test]
fn a_path_scoped_credential_answers_git_lfs_for_the_info_lfs_path() {
    if !have_git_lfs() {
        return;
    }
    let deploy = "gldt-LfsDeployTokenForTests";
    let job = Scenario::new()
        .server("deployer", deploy)
        .env("DEPLOY", deploy);
    let scope = format!("{}/group", job.served().url());
    // A credential with a path gets credential.<origin>.useHttpPath from configure, so
    // git-lfs sends `path=group/project.git/info/lfs`, which the prefix `group` covers. Out of
    // a job there is no other credential: without that path, git-lfs would get no answer.
    job.sandbox()
        .helper(
            ".",
            &[
                "configure",
                "--global",
                "--url",
                &scope,
                "--username",
                "deployer",
                "--token-env",
                "DEPLOY",
            ],
        )
        .assert_success();
    let content = binary_content();
    push_an_lfs_object(&job, "pushed", &content);
    assert_eq!(
        job.served().lfs_object(PROJECT, &oid(&content)).as_deref(),
        Some(&content[..])
    );
    let seen = job.served().credentials_seen();
    let deployer = ("deployer".to_owned(), deploy.to_owned());
    assert!(
        !seen.is_empty() && seen.iter().all(|c| *c == deployer),
        "{seen:?}"
    );
    assert_nowhere_under(job.sandbox().root(), &token_forms("deployer", deploy));
}
