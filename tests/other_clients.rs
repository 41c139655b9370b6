//! Clients other than git that a job runs, as far as our side of them goes: what `status`
//! says about them, and the ones that run git and so ask our helper through it.
//! git-lfs has its own module (`git_lfs`).

use crate::support::helper::TOKEN;
use crate::support::sandbox::Sandbox;

/// libgit2 (cargo's git fetch without `net.git-fetch-with-cli`) looks up
/// `credential.https://HOST.helper` without the port, so it cannot find the helper that
/// `configure` scoped to a server with a port of its own: `status` warns, in text and JSON,
/// and names the cargo setting that makes cargo run git instead. A warning, not a problem.
#[test]
fn status_warns_that_libgit2_misses_a_server_with_its_own_port() {
    let sandbox = Sandbox::new();
    sandbox
        .env("CI_SERVER_URL", "https://gitlab.example.com:8443")
        .env("CI_JOB_TOKEN", TOKEN);
    sandbox
        .helper(".", &["configure", "--global"])
        .assert_success();

    let text = sandbox.helper(".", &["status"]);
    text.assert_not_printed(&[TOKEN]);
    let out = text.stdout_str();
    assert!(text.success(), "{}", text.output_str());
    assert!(
        out.contains("https://gitlab.example.com:8443 has a port of its own: libgit2")
            && out.contains("credential.https://gitlab.example.com.helper, without the port")
            && out.contains("CARGO_NET_GIT_FETCH_WITH_CLI=true"),
        "{out}"
    );
    assert!(out.contains("summary: working, with warnings"), "{out}");

    let json = sandbox.helper(".", &["status", "--json"]);
    json.assert_not_printed(&[TOKEN]);
    assert!(json.success(), "{}", json.output_str());
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let lines = report["credentials"][0]["lines"].as_array().unwrap();
    let warning = lines
        .iter()
        .find(|l| l["message"].as_str().is_some_and(|m| m.contains("libgit2")))
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(warning["level"], "warning");
    assert!(warning["fix"]
        .as_str()
        .is_some_and(|f| f.contains("[net] git-fetch-with-cli = true")));
}

/// The same job on the default port: nothing about libgit2.
#[test]
fn status_says_nothing_about_libgit2_on_the_default_port() {
    let sandbox = Sandbox::new();
    sandbox
        .env("CI_SERVER_URL", "https://gitlab.example.com")
        .env("CI_JOB_TOKEN", TOKEN);
    sandbox
        .helper(".", &["configure", "--global"])
        .assert_success();
    let out = sandbox.helper(".", &["status"]);
    assert!(out.success(), "{}", out.output_str());
    assert!(
        !out.stdout_str().contains("libgit2"),
        "{}",
        out.stdout_str()
    );
}
