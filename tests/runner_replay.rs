//! GitLab Runner's get_sources stage, replayed from the runner's source (`support/runner.rs`)
//! for 18.x and 19.3, FF_GIT_URLS_WITHOUT_TOKENS off and on, and GIT_STRATEGY clone, fetch
//! and none. In each, the image has our helper in its global config, as the Dockerfile sets
//! it up; the job then takes the step the README documents for its case and pushes. The
//! server lets the job token fetch but not push (job-token push off, GitLab's 403), so a push
//! that lands went through our helper with the project token.

use crate::support::helper::assert_nowhere_under;
use crate::support::process::Run;
use crate::support::programs::git_version;
use crate::support::runner::{Runner, Strategy, Version};
use crate::support::scenario::Scenario;

/// The job's CI_JOB_TOKEN: fetches, but cannot push.
const JOB_TOKEN: &str = "glcbt-64_JobTokenThatMayOnlyFetch01";
/// The token our helper serves, from MY_TOKEN: may push.
const WRITE_TOKEN: &str = "glpat-WriteTokenOnlyOurHelperReads";
const DEPLOY_TOKEN: &str = "gldt-DeployTokenOnlyOurHelperRead";

/// A job on a server where the job token may only fetch, with our helper configured in the
/// image's global config for `user` and MY_TOKEN.
fn job(user: &str, token: &str) -> Scenario {
    let job = Scenario::new()
        .server(user, token)
        .in_job(JOB_TOKEN)
        .env("MY_TOKEN", token);
    job.served().allow_fetch("gitlab-ci-token", JOB_TOKEN);
    let url = job.served().url();
    let mut args = vec![
        "configure",
        "--global",
        "--url",
        &url,
        "--token-env",
        "MY_TOKEN",
    ];
    if user != "gitlab-ci-token" {
        args.extend(["--username", user]);
    }
    let run = job.sandbox().helper(".", &args);
    run.assert_not_printed(&[JOB_TOKEN, token]);
    run.assert_success();
    job
}

/// What the README tells the job to do first, for this runner set-up.
fn documented_step(runner: &Runner, user: &str) -> String {
    let env = if user == "gitlab-ci-token" {
        r#"eval "$("$BIN" configure --env --url "$CI_SERVER_URL" --token-env MY_TOKEN)" || exit 1"#
            .to_owned()
    } else {
        format!(
            r#"eval "$("$BIN" configure --env --url "$CI_SERVER_URL" --username {user} --token-env MY_TOKEN)" || exit 1"#
        )
    };
    match (runner.flag, runner.strategy) {
        // The runner's insteadOf rule carries the job token: take it out.
        (false, Strategy::Clone | Strategy::Fetch) => {
            "(cd project && \"$BIN\" scrub) || exit 1".into()
        }
        // The runner's reset and helper come before the environment's entries.
        (true, Strategy::Clone | Strategy::Fetch) => env,
        // 19.2 and later write the reset and helper with GIT_STRATEGY none too.
        (true, Strategy::None) if runner.seeds() => env,
        (_, Strategy::None) => ":".into(),
    }
}

/// The job's work after the documented step: a fresh clone where there was no checkout,
/// a commit, a push, and `status` in the checkout.
fn push_script(runner: &Runner, user: &str) -> String {
    let clone = if runner.strategy == Strategy::None {
        "git clone --quiet \"$CI_SERVER_URL/group/project.git\" project || exit 1\n"
    } else {
        ""
    };
    let user_flag = if user == "gitlab-ci-token" {
        String::new()
    } else {
        format!(" --username {user}")
    };
    format!(
        "{clone}cd project || exit 1
echo changed > VERSION && git add VERSION && git commit --quiet -m bump || exit 1
git push --quiet origin HEAD:refs/heads/from-job || exit 1
\"$BIN\" --url \"$CI_SERVER_URL\"{user_flag} --token-env MY_TOKEN status > ../status.txt
echo \"status=$?\"
"
    )
}

/// Replays get_sources (twice for fetch: an earlier job left the checkout), then the job.
#[track_caller]
fn replay(version: Version, flag: bool, strategy: Strategy, user: &str, token: &str) {
    let case = format!("runner {version:?}, flag {flag}, GIT_STRATEGY {strategy:?}, user {user}");
    let job = job(user, token);
    let runner = Runner::new(&job, version, flag, strategy);
    let runs = if strategy == Strategy::Fetch { 2 } else { 1 };
    for _ in 0..runs {
        let sources = runner.get_sources();
        assert!(
            sources.success(),
            "{case}: get_sources: {}",
            sources.output_str()
        );
    }
    let seed_applies = runner.seeds() && git_version() >= (2, 32);
    let shadowed = match strategy {
        Strategy::None => seed_applies,
        _ => true,
    };

    // Without the documented step, a push is refused where the runner's set-up is in the
    // way, and status says it is not in order.
    if shadowed {
        let before = runner.stage(&push_script(&runner, user).replace(
            "git push --quiet origin HEAD:refs/heads/from-job || exit 1",
            "git push --quiet origin HEAD:refs/heads/before-fix 2>/dev/null && echo pushed",
        ));
        assert_no_token(&before, &case);
        assert!(
            !before.stdout_str().contains("pushed"),
            "{case}: pushed without the documented step: {}",
            before.output_str()
        );
        let status = read_status(&job);
        assert!(
            before.stdout_str().contains("status=1"),
            "{case}: status should fail: {status}"
        );
        assert!(
            status.contains("git will not ask git-credential-gitlab-ci for this URL")
                || status.contains("git never asks any helper")
                || status.contains("git sends the user name gitlab-ci-token"),
            "{case}: {status}"
        );
        reset_checkout(&job, &runner);
    }

    job.served().clear_attempts();
    let script = format!(
        "{}\n{}",
        documented_step(&runner, user),
        push_script(&runner, user)
    );
    let run = runner.stage(&script);
    assert_no_token(&run, &case);
    assert!(run.success(), "{case}: {}", run.output_str());
    let status = read_status(&job);
    assert!(run.stdout_str().contains("status=0"), "{case}: {status}");
    assert!(
        status.contains("git asks git-credential-gitlab-ci for this URL"),
        "{case}: {status}"
    );
    assert!(
        !status.contains("rejected by the server at"),
        "{case}: {status}"
    );
    assert_eq!(
        status.contains("per-job seed file"),
        seed_applies,
        "{case}: {status}"
    );
    assert!(!job.server_ref("refs/heads/from-job").is_empty(), "{case}");
    let pushes: Vec<_> = job
        .served()
        .attempts()
        .into_iter()
        .filter(|a| a.path_and_query.contains("git-receive-pack") && a.status == 200)
        .filter_map(|a| a.credentials)
        .collect();
    assert!(!pushes.is_empty(), "{case}");
    assert!(
        pushes
            .iter()
            .all(|c| c == &(user.to_owned(), token.to_owned())),
        "{case}: {pushes:?}"
    );
    assert_nowhere_under(job.sandbox().root(), &[token.as_bytes().to_vec()]);
}

fn read_status(job: &Scenario) -> String {
    std::fs::read_to_string(job.sandbox().work().join("status.txt")).unwrap_or_default()
}

/// Undoes the failed attempt's commit, so the documented run starts from the same checkout.
fn reset_checkout(job: &Scenario, runner: &Runner) {
    let project = job.sandbox().work().join("project");
    if runner.strategy == Strategy::None {
        let _ = std::fs::remove_dir_all(project);
    } else {
        job.git_ok(["-C", "project", "reset", "--quiet", "--hard", "origin/main"]);
    }
}

#[track_caller]
fn assert_no_token(run: &Run, case: &str) {
    for secret in [WRITE_TOKEN, DEPLOY_TOKEN] {
        assert!(
            !run.output_str().contains(secret),
            "{case}: printed a token: {}",
            run.output_str()
        );
    }
}

#[test]
fn runner_18_flag_off() {
    for strategy in [Strategy::Clone, Strategy::Fetch, Strategy::None] {
        replay(
            Version::V18,
            false,
            strategy,
            "gitlab-ci-token",
            WRITE_TOKEN,
        );
    }
}

#[test]
fn runner_18_flag_on() {
    for strategy in [Strategy::Clone, Strategy::Fetch, Strategy::None] {
        replay(Version::V18, true, strategy, "gitlab-ci-token", WRITE_TOKEN);
    }
}

#[test]
fn runner_19_3_flag_off() {
    for strategy in [Strategy::Clone, Strategy::Fetch, Strategy::None] {
        replay(
            Version::V19_3,
            false,
            strategy,
            "gitlab-ci-token",
            WRITE_TOKEN,
        );
    }
}

#[test]
fn runner_19_3_flag_on() {
    for strategy in [Strategy::Clone, Strategy::Fetch, Strategy::None] {
        replay(
            Version::V19_3,
            true,
            strategy,
            "gitlab-ci-token",
            WRITE_TOKEN,
        );
    }
}

#[test]
fn runner_19_3_flag_on_with_a_deploy_token() {
    for strategy in [Strategy::Fetch, Strategy::None] {
        replay(Version::V19_3, true, strategy, "deployer", DEPLOY_TOKEN);
    }
}

#[test]
fn runner_19_3_seed_file_takes_global_config_writes() {
    // `git config --global` in a job with the seed writes into the seed file, not ~/.gitconfig.
    if git_version() < (2, 32) {
        return; // GIT_CONFIG_GLOBAL is not read before git 2.32: there is no seed in effect.
    }
    let job = job("gitlab-ci-token", WRITE_TOKEN);
    let runner = Runner::new(&job, Version::V19_3, true, Strategy::None);
    assert!(runner.get_sources().success());
    let before = std::fs::read(job.sandbox().global_config_path()).unwrap();
    let run = runner.stage("git config --global user.name 'In The Job'");
    assert!(run.success(), "{}", run.output_str());
    assert_eq!(
        std::fs::read(job.sandbox().global_config_path()).unwrap(),
        before
    );
    let seed = std::fs::read_to_string(runner.seed()).unwrap();
    assert!(seed.contains("In The Job"), "{seed}");
}
