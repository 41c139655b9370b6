//! `status`, `configure` and `scrub` never print a token, wherever a user puts one: as a
//! URL's user name, in an insteadOf replacement, where a variable name or a path belongs
//! (in YAML, `GIT_CREDENTIAL_GITLAB_CI_TOKEN_ENV: $RELEASE_TOKEN` expands to the token), or
//! as a password inside a config key. Each case is checked in text and in `--json`, for the
//! token itself and for any token-shaped value.

use crate::support::helper::TOKEN;
use crate::support::process::Run;
use crate::support::sandbox::Sandbox;

/// Another token, the one a user mistakenly pastes where a name belongs.
const PASTED: &str = "glpat-PastedWhereANameBelongs42";

/// Runs our binary with `args` in the sandbox's `dir`, in a job on gitlab.example.com.
fn ours(sandbox: &Sandbox, dir: &str, args: &[&str]) -> Run {
    sandbox.helper(dir, args)
}

/// Neither the token, nor a part of it, nor any token-shaped value is in `run`'s output.
#[track_caller]
fn assert_clean(run: &Run, what: &str) {
    let all = run.output_str();
    for secret in [TOKEN, PASTED] {
        assert!(!all.contains(secret), "{what}: printed a token:\n{all}");
        assert!(
            !all.contains(&secret[6..20]),
            "{what}: printed part of a token:\n{all}"
        );
    }
    for word in all.split(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c))) {
        let shaped = ["glpat-", "glcbt-"]
            .iter()
            .any(|p| word.starts_with(p) && word.len() > 12);
        assert!(
            !shaped,
            "{what}: printed a token-shaped value {word:?}:\n{all}"
        );
    }
}

fn job() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox
        .env("CI_SERVER_URL", "https://gitlab.example.com")
        .env("CI_JOB_TOKEN", TOKEN);
    sandbox
}

/// `status` and `status --json` in `dir` with `args` before the command.
fn statuses(sandbox: &Sandbox, dir: &str, args: &[&str]) -> [Run; 2] {
    let mut text = args.to_vec();
    text.push("status");
    let mut json = text.clone();
    json.push("--json");
    [ours(sandbox, dir, &text), ours(sandbox, dir, &json)]
}

#[test]
fn a_token_as_a_remote_urls_user_name_is_never_printed() {
    let sandbox = job();
    sandbox.run_ok(["init", "--quiet", "project"]);
    let remote = format!("https://{TOKEN}@gitlab.example.com/g/p.git");
    sandbox.run_ok(["-C", "project", "remote", "add", "origin", &remote]);
    for run in statuses(&sandbox, "project", &[]) {
        assert_clean(&run, "status");
        assert!(
            run.stdout_str().contains("https://<token ") || run.stdout_str().contains("<secret>@"),
            "{}",
            run.stdout_str()
        );
    }
    assert_clean(&ours(&sandbox, "project", &["scrub", "--dry-run"]), "scrub");
}

#[test]
fn a_token_in_an_insteadof_replacement_or_a_config_key_is_never_printed() {
    let sandbox = job();
    sandbox.run_ok(["init", "--quiet", "project"]);
    sandbox.run_ok([
        "-C",
        "project",
        "remote",
        "add",
        "origin",
        "https://gitlab.example.com/g/p.git",
    ]);
    let rule = format!("url.https://{PASTED}@gitlab.example.com/.insteadOf");
    sandbox.run_ok([
        "-C",
        "project",
        "config",
        &rule,
        "https://gitlab.example.com/",
    ]);
    let key = "credential.https://u:SuperSecretPassword9@gitlab.example.com.helper";
    sandbox.run_ok(["-C", "project", "config", key, "store"]);
    for run in statuses(&sandbox, "project", &[]) {
        assert_clean(&run, "status");
        assert!(
            !run.output_str().contains("SuperSecretPassword9"),
            "{}",
            run.output_str()
        );
    }
    let scrub = ours(&sandbox, "project", &["scrub", "--dry-run"]);
    assert_clean(&scrub, "scrub");
}

#[test]
fn a_token_given_as_a_variable_name_or_a_path_is_named_for_what_it_is() {
    let sandbox = job();
    // As the shell expands `--token-env $RELEASE_TOKEN`.
    for args in [
        vec!["--token-env", PASTED],
        vec!["--token-file", PASTED],
        vec![
            "--token-file",
            "/run/secrets/glpat-PastedWhereANameBelongs42",
        ],
    ] {
        for run in statuses(&sandbox, ".", &args) {
            assert_clean(&run, &format!("status {args:?}"));
            assert!(
                run.stdout_str().contains("looks like a token, not a"),
                "{args:?}: {}",
                run.stdout_str()
            );
        }
    }
    // As YAML expands `GIT_CREDENTIAL_GITLAB_CI_TOKEN_ENV: $RELEASE_TOKEN`.
    sandbox.env("GIT_CREDENTIAL_GITLAB_CI_TOKEN_ENV", PASTED);
    for run in statuses(&sandbox, ".", &[]) {
        assert_clean(&run, "status with the variable");
        assert!(
            run.stdout_str()
                .contains("write RELEASE_TOKEN, not $RELEASE_TOKEN"),
            "{}",
            run.stdout_str()
        );
    }
}

#[test]
fn a_token_in_a_config_files_token_env_or_token_file_is_never_printed() {
    let sandbox = job();
    let config = sandbox.root().join("creds.toml");
    std::fs::write(
        &config,
        format!(
            "[[credential]]\nurl = \"https://gitlab.example.com\"\ntoken_env = \"{PASTED}\"\n\n[[credential]]\nurl = \"https://other.example.com\"\ntoken_file = \"/run/{PASTED}\"\n"
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    for run in statuses(&sandbox, ".", &["--config", config]) {
        assert_clean(&run, "status --config");
        assert!(
            run.stdout_str().contains("looks like a token"),
            "{}",
            run.stdout_str()
        );
    }
}

#[test]
fn configure_refuses_a_token_where_a_name_or_path_belongs_and_writes_nothing() {
    let sandbox = job();
    let global = sandbox.global_config_path();
    let before = std::fs::read(&global).unwrap_or_default();
    for args in [
        vec!["configure", "--global", "--token-env", PASTED],
        vec!["configure", "--global", "--token-file", PASTED],
        vec!["configure", "--env", "--token-env", PASTED],
    ] {
        let run = ours(&sandbox, ".", &args);
        assert_clean(&run, &format!("{args:?}"));
        assert!(!run.success(), "{args:?}: {}", run.output_str());
        assert!(
            run.stderr_str().contains("looks like a token, not a"),
            "{args:?}: {}",
            run.stderr_str()
        );
        assert!(
            run.stdout_str().is_empty(),
            "{args:?}: {}",
            run.stdout_str()
        );
        assert_eq!(std::fs::read(&global).unwrap_or_default(), before);
    }
    // A usage error quotes what it could not use: never the token.
    let run = ours(
        &sandbox,
        ".",
        &["status", "https://gitlab.example.com", PASTED],
    );
    assert_clean(&run, "a usage error");
    assert_eq!(run.status.code(), Some(2));
    assert!(
        run.stderr_str()
            .contains("unexpected argument '<token-shaped value>'"),
        "{}",
        run.stderr_str()
    );
}
