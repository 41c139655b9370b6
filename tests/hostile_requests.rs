//! Hostile and odd requests, fed to the real binary: each one gets no answer, no panic, no
//! hang and no word on stderr, while the same configuration answers a proper request.

use std::time::Duration;

use crate::support::helper::{helper_command, run_helper, TOKEN};
use crate::support::process::{Process, Run};

const SERVED: &str = "https://gitlab.example.com";

fn served() -> Vec<(&'static str, String)> {
    vec![
        ("CI_SERVER_URL", SERVED.to_owned()),
        ("CI_JOB_TOKEN", TOKEN.to_owned()),
    ]
}

fn get(input: &[u8]) -> Run {
    run_helper(&["get"], input, &served())
}

#[test]
fn the_served_origin_is_answered() {
    let run = get(b"protocol=https\nhost=gitlab.example.com\n");
    run.assert_answered("gitlab-ci-token", TOKEN);
}

#[test]
fn hostile_and_odd_requests_get_silence() {
    let long_host = format!("protocol=https\nhost={}\n", "a".repeat(200_000));
    let huge = format!(
        "protocol=https\nhost=gitlab.example.com\nwwwauth[]={}\n",
        "x".repeat(2 << 20)
    );
    let rows: Vec<(&str, Vec<u8>)> = vec![
        ("empty input", b"".to_vec()),
        ("only a blank line", b"\n".to_vec()),
        (
            "LF smuggled through url=",
            b"url=https://evil.example%0ahost=gitlab.example.com\n".to_vec(),
        ),
        (
            "CR in host",
            b"protocol=https\nhost=gitlab.example.com\r\n".to_vec(),
        ),
        (
            "CR in protocol",
            b"protocol=https\r\nhost=gitlab.example.com\n".to_vec(),
        ),
        (
            "CR in path",
            b"protocol=https\nhost=gitlab.example.com\npath=a\rb\n".to_vec(),
        ),
        (
            "CR in username",
            b"protocol=https\nhost=gitlab.example.com\nusername=a\rb\n".to_vec(),
        ),
        (
            "NUL in host",
            b"protocol=https\nhost=gitlab.example.com\0.evil\n".to_vec(),
        ),
        (
            "NUL in protocol",
            b"protocol=ht\0tps\nhost=gitlab.example.com\n".to_vec(),
        ),
        (
            "NUL in url",
            b"url=https://gitlab.example.com%00.evil/\n".to_vec(),
        ),
        (
            "CR in url",
            b"url=https://gitlab.example.com%0d/\n".to_vec(),
        ),
        (
            "not UTF-8",
            b"protocol=https\nhost=gitlab.example.com\nx=\xff\xfe\n".to_vec(),
        ),
        (
            "line without =",
            b"protocol=https\nhost=gitlab.example.com\ngarbage\n".to_vec(),
        ),
        (
            "plain http",
            b"protocol=http\nhost=gitlab.example.com\n".to_vec(),
        ),
        ("empty host", b"protocol=https\nhost=\n".to_vec()),
        ("no host", b"protocol=https\n".to_vec()),
        ("no protocol", b"host=gitlab.example.com\n".to_vec()),
        (
            "cert request",
            b"protocol=cert\nhost=\npath=/home/me/cert.p12\n".to_vec(),
        ),
        (
            "another port",
            b"protocol=https\nhost=gitlab.example.com:8443\n".to_vec(),
        ),
        (
            "suffix lookalike",
            b"protocol=https\nhost=gitlab.example.com.attacker.example\n".to_vec(),
        ),
        (
            "prefix lookalike",
            b"protocol=https\nhost=attacker-gitlab.example.com\n".to_vec(),
        ),
        (
            "trailing dot",
            b"protocol=https\nhost=gitlab.example.com.\n".to_vec(),
        ),
        (
            "userinfo in host",
            b"protocol=https\nhost=x@gitlab.example.com\n".to_vec(),
        ),
        (
            "percent-encoded host",
            b"protocol=https\nhost=gitlab%2eexample.com\n".to_vec(),
        ),
        (
            "port zero",
            b"protocol=https\nhost=gitlab.example.com:0\n".to_vec(),
        ),
        (
            "port out of range",
            b"protocol=https\nhost=gitlab.example.com:70000\n".to_vec(),
        ),
        (
            "another username",
            b"protocol=https\nhost=gitlab.example.com\nusername=root\n".to_vec(),
        ),
        (
            "url= resets the served host",
            b"protocol=https\nhost=gitlab.example.com\nurl=https://other.example\n".to_vec(),
        ),
        (
            "last host wins",
            b"protocol=https\nhost=gitlab.example.com\nhost=other.example\n".to_vec(),
        ),
        ("ssh", b"protocol=ssh\nhost=gitlab.example.com\n".to_vec()),
        ("host too long to be real", long_host.into_bytes()),
        ("request over the size cap", huge.into_bytes()),
    ];
    for (name, input) in rows {
        get(&input).assert_silent(name);
    }
}

#[test]
fn unknown_actions_store_and_erase_are_silent_but_for_a_401_of_our_token() {
    let input = format!(
        "protocol=https\nhost=gitlab.example.com\nusername=gitlab-ci-token\npassword={TOKEN}\n"
    );
    for action in ["store", "frobnicate", "capability"] {
        run_helper(&[action], input.as_bytes(), &served()).assert_silent(action);
    }
    // An erase of another password, or of none (GitLab Runner 19.3's end-of-stage reject).
    for other in ["password=glpat-SomebodyElsesToken0001\n", ""] {
        let input =
            format!("protocol=https\nhost=gitlab.example.com\nusername=gitlab-ci-token\n{other}");
        run_helper(&["erase"], input.as_bytes(), &served()).assert_silent("erase");
    }
    // The one exception: git erases our own token after a 401, and the job log gets one line.
    let run = run_helper(&["erase"], input.as_bytes(), &served());
    assert!(run.success() && run.stdout.is_empty());
    let hint = run.stderr_str();
    assert_eq!(hint.lines().count(), 1, "{hint}");
    assert!(hint.contains("with 401") && !hint.contains(TOKEN), "{hint}");
}

#[test]
fn a_stdin_that_never_closes_ends_in_silence_not_a_hang() {
    let mut cmd = helper_command();
    cmd.arg("get").env_clear().envs(served());
    // The request is written and stdin stays open; the helper must give up by itself before
    // the deadline.
    Process::new(cmd)
        .stdin(b"protocol=https\nhost=gitlab.example.com\n")
        .hold_stdin_open()
        .timeout(Duration::from_secs(30))
        .run()
        .assert_silent("stdin never closed");
}

#[test]
fn a_token_that_is_unusable_is_never_sent() {
    for (name, token) in [
        ("empty", ""),
        ("whitespace", "   "),
        ("newline", "glpat-a\nhost=evil"),
        ("space inside", "glpat-a b"),
        ("over 64 KiB", &"a".repeat(70 * 1024)),
    ] {
        let env = vec![
            ("CI_SERVER_URL", SERVED.to_owned()),
            ("CI_JOB_TOKEN", token.to_owned()),
        ];
        run_helper(&["get"], b"protocol=https\nhost=gitlab.example.com\n", &env)
            .assert_silent(name);
    }
}

/// A configuration that cannot be used gets one clear line on stderr and no answer; one
/// whose token source is missing gets silence. Neither panics, hangs or prints a secret.
#[test]
fn bad_configuration_gets_a_clear_error_and_no_answer() {
    let dir = tempfile::tempdir().unwrap();
    let malformed = dir.path().join("malformed.toml");
    std::fs::write(
        &malformed,
        "[[credential]\nurl = \"https://gitlab.example.com\"\n",
    )
    .unwrap();
    let secret_in_wrong_key = dir.path().join("secret.toml");
    std::fs::write(
        &secret_in_wrong_key,
        format!("[[credential]]\nurl = \"https://gitlab.example.com\"\ntoken = \"{TOKEN}\"\n"),
    )
    .unwrap();
    let missing_token_file = dir.path().join("missing-token.toml");
    std::fs::write(
        &missing_token_file,
        "[[credential]]\nurl = \"https://gitlab.example.com\"\ntoken_file = \"/nonexistent/token\"\n",
    )
    .unwrap();
    let request = b"protocol=https\nhost=gitlab.example.com\n";
    let config_env = |path: &std::path::Path| {
        vec![
            (
                "GIT_CREDENTIAL_GITLAB_CI_CONFIG",
                path.display().to_string(),
            ),
            ("GIT_CREDENTIAL_GITLAB_CI_USE_DAEMON", "never".to_owned()),
        ]
    };
    for (case, env, expected) in [
        (
            "malformed TOML",
            config_env(&malformed),
            "not valid TOML at line 1",
        ),
        (
            "a token pasted into the config",
            config_env(&secret_in_wrong_key),
            "must never hold a token",
        ),
        (
            "a config file that does not exist",
            config_env(&dir.path().join("absent.toml")),
            "does not exist",
        ),
        (
            "a directory as config file",
            config_env(dir.path()),
            "is not a regular file",
        ),
        (
            "a URL with a password in it",
            vec![(
                "GIT_CREDENTIAL_GITLAB_CI_URL",
                format!("https://u:{TOKEN}@gitlab.example.com"),
            )],
            "must not contain a user name or password",
        ),
    ] {
        let run = run_helper(&["get"], request, &env);
        let stderr = run.stderr_str();
        assert!(
            run.stdout.is_empty(),
            "{case}: answered {:?}",
            run.stdout_str()
        );
        assert!(!run.success(), "{case}: exit 0");
        assert!(stderr.contains(expected), "{case}: {stderr:?}");
        assert_eq!(stderr.lines().count(), 1, "{case}: {stderr:?}");
        assert!(
            !stderr.contains(&TOKEN[6..20]),
            "{case}: the token is in {stderr:?}"
        );
        assert!(!stderr.contains("panicked"), "{case}");
    }
    run_helper(&["get"], request, &config_env(&missing_token_file))
        .assert_silent("a token file that does not exist");
}

#[test]
fn a_relative_config_path_or_home_is_never_read() {
    // git runs helpers in the repository it works on: a relative path would make a file
    // committed there ("url = https://evil.example") our configuration.
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(repo.path().join("ci")).unwrap();
    let evil = "[[credential]]\nurl = \"https://evil.example\"\n";
    std::fs::write(repo.path().join("ci/creds.toml"), evil).unwrap();
    // Where the user's config file is with HOME=. in the repository.
    let user = repo.path().join(".config/git-credential-gitlab-ci");
    std::fs::create_dir_all(&user).unwrap();
    std::fs::write(user.join("config.toml"), evil).unwrap();
    let request = b"protocol=https\nhost=evil.example\n";
    for (name, value) in [
        ("GIT_CREDENTIAL_GITLAB_CI_CONFIG", "ci/creds.toml"),
        ("HOME", "."),
    ] {
        let mut env = served();
        env.retain(|(k, _)| *k != "HOME");
        env.push((name, value.to_owned()));
        if name == "GIT_CREDENTIAL_GITLAB_CI_CONFIG" {
            env.push(("HOME", "/nonexistent".to_owned()));
        }
        let mut cmd = helper_command();
        cmd.arg("get")
            .env_clear()
            .envs(env.clone())
            .current_dir(repo.path());
        let got = crate::support::process::Process::new(cmd)
            .stdin(request)
            .run();
        got.assert_silent(name);
        // status says why, plainly, and exits 1.
        let mut cmd = helper_command();
        cmd.arg("status")
            .env_clear()
            .envs(env)
            .current_dir(repo.path());
        let status = crate::support::process::run(cmd);
        assert_eq!(
            status.status.code(),
            Some(1),
            "{name}: {}",
            status.output_str()
        );
        assert!(
            status.output_str().contains("is not an absolute path"),
            "{name}: {}",
            status.output_str()
        );
    }
}

#[test]
fn the_log_setting_reads_booleans_as_git_does() {
    let request = format!(
        "protocol=https\nhost={}\n",
        SERVED.trim_start_matches("https://")
    );
    for (value, logs) in [
        ("false", false),
        ("no", false),
        ("0", false),
        ("off", false),
        ("", false),
        ("true", true),
        ("1", true),
        ("info", true),
    ] {
        let mut env = served();
        env.push(("GIT_CREDENTIAL_GITLAB_CI_LOG", value.to_owned()));
        let run = run_helper(&["get"], request.as_bytes(), &env);
        assert!(run.success(), "{value}: {}", run.output_str());
        assert!(run.stdout_str().contains("password="), "{value}");
        assert_eq!(
            !run.stderr.is_empty(),
            logs,
            "{value:?}: {}",
            run.stderr_str()
        );
    }
}
