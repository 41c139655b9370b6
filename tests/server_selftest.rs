//! Self-tests of the harness in `support/`: the HTTPS git server and the
//! sandbox work with plain git, with no credential helper involved. If these
//! fail, failures elsewhere say nothing about the credential helper.

use std::net::{IpAddr, Ipv4Addr};

use base64::Engine as _;

use crate::support::git_server::GitServer;
use crate::support::gitlab::{self, Access, AccessTokenInfo, JobInfo, TokenSpec};
use crate::support::https;
use crate::support::lfs;
use crate::support::process::Run;
use crate::support::sandbox::Sandbox;

const USER: &str = "alice";
const PASS: &str = "s3cret-token";

fn stderr(output: &Run) -> String {
    output.stderr_str()
}

/// A sandbox that trusts the test CA.
fn trusting_sandbox() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.trust(&GitServer::ca_pem_path());
    sandbox
}

fn rev_parse(sandbox: &Sandbox, git_dir: &std::path::Path, rev: &str) -> String {
    let git_dir = git_dir.to_str().unwrap();
    let out = sandbox.run_ok(["--git-dir", git_dir, "rev-parse", "--verify", rev]);
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn clone_and_push_with_credentials_in_url() {
    let server = GitServer::start_local(USER, PASS);
    let bare = server.create_repo("group/project.git");
    let sandbox = trusting_sandbox();
    let initial = rev_parse(&sandbox, &bare, "refs/heads/main");

    let url = format!("https://{USER}:{PASS}@{}/group/project.git", server.host());
    sandbox.run_ok(["clone", "--quiet", &url, "project"]);
    let checkout = sandbox.work().join("project");
    assert!(checkout.join("README").is_file(), "README not checked out");
    assert_eq!(rev_parse(&sandbox, &checkout.join(".git"), "HEAD"), initial);

    std::fs::write(checkout.join("CHANGES"), "a change\n").unwrap();
    sandbox.run_ok(["-C", "project", "add", "CHANGES"]);
    sandbox.run_ok(["-C", "project", "commit", "--quiet", "-m", "Change"]);
    sandbox.run_ok(["-C", "project", "push", "--quiet", "origin", "main"]);

    let pushed = rev_parse(&sandbox, &checkout.join(".git"), "HEAD");
    assert_ne!(pushed, initial);
    assert_eq!(rev_parse(&sandbox, &bare, "refs/heads/main"), pushed);

    let seen = server.credentials_seen();
    assert!(!seen.is_empty(), "server saw no credentials");
    assert!(
        seen.iter()
            .all(|c| *c == (USER.to_string(), PASS.to_string())),
        "unexpected credentials: {seen:?}"
    );
    let attempts = server.attempts();
    assert!(
        attempts.iter().any(|a| a.method == "POST"
            && a.path_and_query.ends_with("/git-receive-pack")
            && a.status == 200),
        "no successful receive-pack request: {attempts:#?}"
    );
}

#[test]
fn wrong_credentials_are_rejected_without_prompting() {
    let server = GitServer::start_local(USER, PASS);
    server.create_repo("group/project.git");
    let sandbox = trusting_sandbox();

    let url = format!("https://{USER}:wrong@{}/group/project.git", server.host());
    let out = sandbox.run(["clone", &url, "project"]);
    assert!(
        !out.status.success(),
        "clone with a wrong password succeeded"
    );
    assert!(
        stderr(&out).contains("Authentication failed"),
        "unexpected stderr: {}",
        stderr(&out)
    );

    let attempts = server.attempts();
    assert!(!attempts.is_empty());
    assert!(attempts.iter().all(|a| a.status == 401), "{attempts:#?}");
    assert!(server
        .credentials_seen()
        .contains(&(USER.to_string(), "wrong".to_string())));
    assert!(!sandbox.work().join("project/README").exists());
}

#[test]
fn missing_credentials_are_rejected_without_prompting() {
    let server = GitServer::start_local(USER, PASS);
    server.create_repo("group/project.git");
    let sandbox = trusting_sandbox();

    let url = format!("{}/group/project.git", server.url());
    let out = sandbox.run(["clone", &url, "project"]);
    assert!(!out.status.success(), "anonymous clone succeeded");
    // git asked for a username and the sandbox refused to prompt.
    assert!(
        stderr(&out).contains("could not read Username"),
        "unexpected stderr: {}",
        stderr(&out)
    );

    let attempts = server.attempts();
    assert!(!attempts.is_empty());
    for attempt in &attempts {
        assert_eq!(attempt.credentials, None, "{attempt:?}");
        assert_eq!(attempt.status, 401, "{attempt:?}");
    }
    assert!(attempts[0]
        .path_and_query
        .starts_with("/group/project.git/info/refs?service=git-upload-pack"));
}

#[test]
fn server_on_another_loopback_address() {
    let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let server = GitServer::start(ip, USER, PASS);
    assert_eq!(server.url(), format!("https://127.0.0.2:{}", server.port()));
    assert_eq!(server.host(), format!("127.0.0.2:{}", server.port()));
    server.create_repo("other/repo.git");
    let sandbox = trusting_sandbox();

    let url = format!("https://{USER}:{PASS}@{}/other/repo.git", server.host());
    sandbox.run_ok(["clone", "--quiet", &url, "repo"]);
    assert!(sandbox.work().join("repo/README").is_file());
    assert!(!server.credentials_seen().is_empty());
}

#[test]
fn untrusted_certificate_is_refused() {
    // Proves TLS verification is real: without the test CA, git must refuse
    // the connection before any HTTP request (and credential) is sent.
    let server = GitServer::start_local(USER, PASS);
    server.create_repo("group/project.git");
    let sandbox = Sandbox::new();

    let url = format!("https://{USER}:{PASS}@{}/group/project.git", server.host());
    let out = sandbox.run(["ls-remote", &url]);
    assert!(!out.status.success(), "ls-remote trusted an unknown CA");
    assert!(server.attempts().is_empty(), "{:#?}", server.attempts());
}

#[test]
fn chunked_push_and_gzipped_fetch() {
    // Exercises the request-body paths git only takes for bigger requests: a
    // push larger than http.postBuffer is sent chunked, and an upload-pack
    // request over 1 KiB (here: many "want" lines) is gzip-compressed, which
    // http-backend only understands when told via HTTP_CONTENT_ENCODING.
    let server = GitServer::start_local(USER, PASS);
    let bare = server.create_repo("group/big.git");
    let sandbox = trusting_sandbox();
    let url = format!("https://{USER}:{PASS}@{}/group/big.git", server.host());
    sandbox.run_ok(["clone", "--quiet", &url, "a"]);
    sandbox.run_ok(["clone", "--quiet", &url, "b"]);

    // ~2 MiB of incompressible data, over the 1 MiB default postBuffer.
    let mut data = Vec::with_capacity(2 << 20);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while data.len() < 2 << 20 {
        // xorshift64: cheap pseudo-random bytes that zlib cannot shrink.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(sandbox.work().join("a/blob.bin"), &data).unwrap();
    sandbox.run_ok(["-C", "a", "add", "blob.bin"]);
    sandbox.run_ok(["-C", "a", "commit", "--quiet", "-m", "Big"]);
    // 30 branches on distinct commits: fetching them all takes one "want"
    // line (50 bytes) each, so the very first request exceeds 1 KiB.
    let branches: Vec<String> = (0..30).map(|i| format!("branch-{i}")).collect();
    for branch in &branches {
        sandbox.run_ok([
            "-C",
            "a",
            "commit",
            "--quiet",
            "--allow-empty",
            "-m",
            branch,
        ]);
        sandbox.run_ok(["-C", "a", "branch", branch]);
    }
    let push_trace = sandbox.root().join("push.trace");
    sandbox.env("GIT_TRACE_CURL", &push_trace);
    sandbox.env("GIT_TRACE_CURL_NO_DATA", "1");
    let mut push = vec!["-C", "a", "push", "--quiet", "origin", "main"];
    push.extend(branches.iter().map(String::as_str));
    sandbox.run_ok(&push);
    let pushed = rev_parse(&sandbox, &sandbox.work().join("a/.git"), "HEAD");
    assert_eq!(rev_parse(&sandbox, &bare, "refs/heads/main"), pushed);
    let trace = std::fs::read_to_string(&push_trace).unwrap();
    assert!(
        trace.contains("Transfer-Encoding: chunked"),
        "push was not sent chunked; the test no longer covers that path"
    );

    let fetch_trace = sandbox.root().join("fetch.trace");
    sandbox.env("GIT_TRACE_CURL", &fetch_trace);
    sandbox.run_ok(["-C", "b", "fetch", "--quiet", "origin"]);
    assert_eq!(
        rev_parse(
            &sandbox,
            &sandbox.work().join("b/.git"),
            "refs/remotes/origin/branch-29"
        ),
        pushed
    );
    let trace = std::fs::read_to_string(&fetch_trace).unwrap();
    assert!(
        trace.contains("Content-Encoding: gzip"),
        "fetch request was not gzipped; the test no longer covers that path"
    );
}

#[test]
fn server_on_ipv6_loopback() {
    let ip = IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);
    // Some containers have no IPv6 at all; that is not a harness bug.
    if std::net::TcpListener::bind((ip, 0)).is_err() {
        eprintln!("skipping: cannot bind [::1]");
        return;
    }
    let server = GitServer::start(ip, USER, PASS);
    assert_eq!(server.url(), format!("https://[::1]:{}", server.port()));
    server.create_repo("group/project.git");
    let sandbox = trusting_sandbox();

    let url = format!("https://{USER}:{PASS}@{}/group/project.git", server.host());
    sandbox.run_ok(["ls-remote", &url]);
    assert!(!server.credentials_seen().is_empty());
}

// ---------------------------------------------------------------------------
// GitLab's answers to git, per registered token (support::gitlab)
// ---------------------------------------------------------------------------

const PAT: &str = "glpat-SelfTestPersonalAccessToken01";
const JOB: &str = "glcbt-64_SelfTestJobToken0000000001";
const DEPLOY: &str = "gldt-SelfTestDeployToken000000001";

/// A server whose `start` credential nobody uses, with `group/project` and `other/repo`.
fn gitlab_server() -> GitServer {
    let server = GitServer::start_local("nobody", "unused-password");
    server.create_repo("group/project.git");
    server.create_repo("other/repo.git");
    server
}

/// `https://USER:TOKEN@HOST/PATH`.
fn url_with(server: &GitServer, username: &str, token: &str, path: &str) -> String {
    format!("https://{username}:{token}@{}/{path}", server.host())
}

/// The statuses of the requests that carried credentials, in order (git's first request
/// carries none, and gets a 401 that asks for them).
fn statuses(server: &GitServer) -> Vec<u16> {
    server
        .attempts()
        .iter()
        .filter(|a| a.credentials.is_some())
        .map(|a| a.status)
        .collect()
}

/// Asserts that requests carried credentials, and that each got a 200.
#[track_caller]
fn all_served(server: &GitServer) {
    let statuses = statuses(server);
    assert!(
        !statuses.is_empty() && statuses.iter().all(|&s| s == 200),
        "{:#?}",
        server.attempts()
    );
}

/// Runs `git ls-remote URL` and asserts it fails with `message` shown as the server's.
#[track_caller]
fn ls_remote_fails(sandbox: &Sandbox, url: &str, message: &str) -> Run {
    let out = sandbox.run(["ls-remote", url]);
    assert!(!out.success(), "ls-remote {url} succeeded");
    assert!(
        stderr(&out).contains(&format!("remote: {message}")),
        "git did not show the server's message {message:?}: {}",
        stderr(&out)
    );
    out
}

#[test]
fn unknown_token_gets_gitlabs_401() {
    let server = gitlab_server();
    server.add_token(TokenSpec::personal_access(PAT));
    let sandbox = trusting_sandbox();

    let url = url_with(
        &server,
        "alice",
        "glpat-NotARegisteredToken",
        "group/project.git",
    );
    let out = ls_remote_fails(&sandbox, &url, gitlab::ACCESS_DENIED);
    assert!(
        stderr(&out).contains("Authentication failed"),
        "{}",
        stderr(&out)
    );
    assert_eq!(statuses(&server), [401]);

    // What git does not show: the realm and the exact body.
    let basic = base64::engine::general_purpose::STANDARD.encode("alice:glpat-NotARegisteredToken");
    let reply = https::get(
        &server,
        "/group/project.git/info/refs?service=git-upload-pack",
        &[("Authorization", &format!("Basic {basic}"))],
    );
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Basic realm=\"GitLab\"")
    );
    assert_eq!(reply.body, "HTTP Basic: Access denied");
    // No credentials at all: the same.
    let reply = https::get(
        &server,
        "/group/project.git/info/refs?service=git-upload-pack",
        &[],
    );
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Basic realm=\"GitLab\"")
    );
}

#[test]
fn job_and_deploy_tokens_take_only_their_username() {
    let server = gitlab_server();
    server.add_token(TokenSpec::job(JOB));
    server.add_token(TokenSpec::deploy(DEPLOY, "gitlab+deploy-token-7"));
    let sandbox = trusting_sandbox();

    for (username, token) in [
        ("alice", JOB),
        ("gitlab+deploy-token-8", DEPLOY),
        ("gitlab-ci-token", DEPLOY),
    ] {
        ls_remote_fails(
            &sandbox,
            &url_with(&server, username, token, "group/project.git"),
            gitlab::ACCESS_DENIED,
        );
    }
    assert_eq!(statuses(&server), [401, 401, 401]);

    server.clear_attempts();
    sandbox.run_ok([
        "ls-remote",
        &url_with(&server, "gitlab-ci-token", JOB, "group/project.git"),
    ]);
    sandbox.run_ok([
        "ls-remote",
        &url_with(
            &server,
            "gitlab+deploy-token-7",
            DEPLOY,
            "group/project.git",
        ),
    ]);
    all_served(&server);
}

#[test]
fn access_tokens_take_any_nonempty_username() {
    let server = gitlab_server();
    server.add_token(TokenSpec::project_access(PAT));
    let sandbox = trusting_sandbox();

    for username in ["alice", "oauth2", "gitlab-ci-token", "project_7_bot"] {
        sandbox.run_ok([
            "ls-remote",
            &url_with(&server, username, PAT, "group/project.git"),
        ]);
    }
    all_served(&server);

    // git never sends an empty username, so ask by hand.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(":{PAT}"));
    let reply = https::get(
        &server,
        "/group/project.git/info/refs?service=git-upload-pack",
        &[("Authorization", &format!("Basic {basic}"))],
    );
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(reply.body, gitlab::ACCESS_DENIED);
}

#[test]
fn a_project_the_token_cannot_see_is_not_found() {
    let server = gitlab_server();
    server.add_token(TokenSpec::job(JOB).projects(["group/project"]));
    let sandbox = trusting_sandbox();

    sandbox.run_ok([
        "ls-remote",
        &url_with(&server, "gitlab-ci-token", JOB, "group/project.git"),
    ]);
    all_served(&server);
    server.clear_attempts();
    // Exists, but not for this token; and does not exist at all: the same 404.
    for path in ["other/repo.git", "group/missing.git"] {
        let out = ls_remote_fails(
            &sandbox,
            &url_with(&server, "gitlab-ci-token", JOB, path),
            gitlab::PROJECT_NOT_FOUND,
        );
        assert!(stderr(&out).contains("not found"), "{}", stderr(&out));
    }
    assert_eq!(statuses(&server), [404, 404]);
    // Without credentials, GitLab asks for them before it says whether a project exists.
    let reply = https::get(
        &server,
        "/group/missing.git/info/refs?service=git-upload-pack",
        &[],
    );
    assert_eq!(reply.status, 401);
}

#[test]
fn a_read_only_token_fetches_but_cannot_push() {
    let server = gitlab_server();
    server.add_token(TokenSpec::job(JOB).access(Access::Read));
    let sandbox = trusting_sandbox();
    let initial = server.rev_parse("group/project.git", "refs/heads/main");

    let url = url_with(&server, "gitlab-ci-token", JOB, "group/project.git");
    sandbox.run_ok(["clone", "--quiet", &url, "project"]);
    sandbox.run_ok([
        "-C",
        "project",
        "commit",
        "--quiet",
        "--allow-empty",
        "-m",
        "Change",
    ]);
    let out = sandbox.run(["-C", "project", "push", "origin", "main"]);
    assert!(!out.success(), "a read-only token pushed");
    assert!(
        stderr(&out).contains(&format!("remote: {}", gitlab::PUSH_DENIED)),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("403"), "{}", stderr(&out));
    assert_eq!(
        server.rev_parse("group/project.git", "refs/heads/main"),
        initial
    );
    let attempts = server.attempts();
    let last = attempts.last().unwrap();
    assert!(
        last.path_and_query
            .ends_with("/info/refs?service=git-receive-pack")
            && last.status == 403,
        "{attempts:#?}"
    );

    // git stops at info/refs; the POST itself is refused too, before http-backend sees it.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("gitlab-ci-token:{JOB}"));
    let reply = https::request(
        server.addr(),
        "POST",
        "/group/project.git/git-receive-pack",
        &[
            ("Authorization", &format!("Basic {basic}")),
            ("Content-Type", "application/x-git-receive-pack-request"),
        ],
        b"0000",
    );
    assert_eq!(reply.status, 403, "{reply:?}");
    assert_eq!(reply.body, gitlab::PUSH_DENIED);
    assert_eq!(
        server.rev_parse("group/project.git", "refs/heads/main"),
        initial
    );
}

#[test]
fn a_token_with_no_access_cannot_fetch_either() {
    let server = gitlab_server();
    server.add_token(TokenSpec::personal_access(PAT).access(Access::None));
    let sandbox = trusting_sandbox();

    ls_remote_fails(
        &sandbox,
        &url_with(&server, "alice", PAT, "group/project.git"),
        gitlab::DOWNLOAD_DENIED,
    );
    assert_eq!(statuses(&server), [403]);
}

#[test]
fn revoked_and_expired_tokens_are_unknown() {
    let server = gitlab_server();
    let revoked = "glpat-SelfTestRevokedToken00000001";
    server.add_token(TokenSpec::personal_access(revoked).revoked());
    server.add_token(TokenSpec::job(JOB).expired());
    let sandbox = trusting_sandbox();

    ls_remote_fails(
        &sandbox,
        &url_with(&server, "alice", revoked, "group/project.git"),
        gitlab::ACCESS_DENIED,
    );
    ls_remote_fails(
        &sandbox,
        &url_with(&server, "gitlab-ci-token", JOB, "group/project.git"),
        gitlab::ACCESS_DENIED,
    );
    assert_eq!(statuses(&server), [401, 401]);
}

#[test]
fn an_added_token_narrows_the_start_credential() {
    let server = GitServer::start_local(USER, PASS);
    server.create_repo("group/project.git");
    let sandbox = trusting_sandbox();
    let url = url_with(&server, USER, PASS, "group/project.git");
    sandbox.run_ok(["clone", "--quiet", &url, "project"]);
    sandbox.run_ok([
        "-C",
        "project",
        "commit",
        "--quiet",
        "--allow-empty",
        "-m",
        "Change",
    ]);

    server.add_token(TokenSpec::password(USER, PASS).access(Access::Read));
    let out = sandbox.run(["-C", "project", "push", "origin", "main"]);
    assert!(!out.success(), "pushed with a credential narrowed to read");
    assert!(
        stderr(&out).contains(gitlab::PUSH_DENIED),
        "{}",
        stderr(&out)
    );

    // And `allow_fetch` still does what it did: fetch, no push.
    server.allow_fetch("reader", "reader-password");
    let reader = url_with(&server, "reader", "reader-password", "group/project.git");
    sandbox.run_ok(["ls-remote", &reader]);
    let out = sandbox.run(["-C", "project", "push", &reader, "main"]);
    assert!(
        stderr(&out).contains(gitlab::PUSH_DENIED),
        "{}",
        stderr(&out)
    );
}

// ---------------------------------------------------------------------------
// GitLab's API on the same server (support::gitlab::api_answer)
// ---------------------------------------------------------------------------

const UNAUTHORIZED: &str = r#"{"message":"401 Unauthorized"}"#;

/// Asserts GitLab's API 401, to the byte.
#[track_caller]
fn assert_unauthorized(reply: &https::Reply, case: &dyn std::fmt::Debug) {
    json_reply(reply, 401);
    assert_eq!(reply.body, UNAUTHORIZED, "{case:?}");
}

/// Asserts a JSON answer with `status`, and returns its body.
#[track_caller]
fn json_reply(reply: &https::Reply, status: u16) -> serde_json::Value {
    assert_eq!(reply.status, status, "{reply:?}");
    assert_eq!(
        reply.header("content-type"),
        Some("application/json"),
        "{reply:?}"
    );
    reply.json()
}

#[test]
fn token_self_reports_an_access_token() {
    let server = gitlab_server();
    server.add_token(TokenSpec {
        access_token: AccessTokenInfo {
            id: 42,
            name: "push from CI".into(),
            scopes: vec!["read_repository".into(), "write_repository".into()],
            created_at: "2025-03-04T05:06:07.890Z".into(),
            expires_at: Some("2030-01-31".into()),
            user_id: 7,
            last_used_at: None,
        },
        ..TokenSpec::personal_access(PAT)
    });
    let expected = serde_json::json!({
        "id": 42,
        "name": "push from CI",
        "revoked": false,
        "created_at": "2025-03-04T05:06:07.890Z",
        "scopes": ["read_repository", "write_repository"],
        "user_id": 7,
        "last_used_at": null,
        "active": true,
        "expires_at": "2030-01-31",
    });

    let path = gitlab::TOKEN_SELF_PATH;
    let by_header = https::get(&server, path, &[("PRIVATE-TOKEN", PAT)]);
    assert_eq!(json_reply(&by_header, 200), expected);
    let bearer = format!("Bearer {PAT}");
    let by_bearer = https::get(&server, path, &[("Authorization", &bearer)]);
    assert_eq!(json_reply(&by_bearer, 200), expected);

    // Project and group access tokens are access tokens too; no expiry is a null.
    for spec in [
        TokenSpec::project_access("glpat-SelfTestProjectToken0000001"),
        TokenSpec::group_access("glpat-SelfTestGroupToken000000001"),
    ] {
        let secret = spec.secret.clone();
        server.add_token(spec);
        let body = json_reply(
            &https::get(&server, path, &[("PRIVATE-TOKEN", &secret)]),
            200,
        );
        assert_eq!(body["active"], true, "{body}");
        assert_eq!(body["expires_at"], serde_json::Value::Null, "{body}");
        assert_eq!(
            body["scopes"],
            serde_json::json!(["api", "read_repository", "write_repository"])
        );
    }

    let attempts = server.attempts();
    assert_eq!(attempts.len(), 4, "{attempts:#?}");
    assert_eq!(attempts[0].path_and_query, path);
    assert_eq!(attempts[0].api_token_header, Some("PRIVATE-TOKEN"));
    assert_eq!(attempts[1].api_token_header, Some("Authorization: Bearer"));
    assert!(attempts
        .iter()
        .all(|a| a.status == 200 && a.credentials.is_none()));
}

#[test]
fn token_self_knows_no_other_token() {
    let server = GitServer::start_local("gitlab-ci-token", "a-password");
    server.add_token(TokenSpec::personal_access(PAT).revoked());
    let expired = "glpat-SelfTestExpiredToken00000001";
    server.add_token(TokenSpec::personal_access(expired).expired());
    server.add_token(TokenSpec::job(JOB));
    server.add_token(TokenSpec::deploy(DEPLOY, "gitlab+deploy-token-7"));
    let valid = "glpat-SelfTestValidToken0000000001";
    server.add_token(TokenSpec::personal_access(valid));

    let path = gitlab::TOKEN_SELF_PATH;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("alice:{valid}"));
    let basic = format!("Basic {basic}");
    for headers in [
        vec![],
        vec![("PRIVATE-TOKEN", "glpat-NotARegisteredToken")],
        vec![("PRIVATE-TOKEN", PAT)],
        vec![("PRIVATE-TOKEN", expired)],
        vec![("PRIVATE-TOKEN", JOB)],
        vec![("PRIVATE-TOKEN", DEPLOY)],
        vec![("PRIVATE-TOKEN", "a-password")],
        // The right token, in the wrong header.
        vec![("JOB-TOKEN", valid)],
        vec![("Authorization", basic.as_str())],
    ] {
        assert_unauthorized(&https::get(&server, path, &headers), &headers);
    }
    assert_eq!(
        json_reply(&https::get(&server, path, &[("PRIVATE-TOKEN", valid)]), 200)["active"],
        true
    );
}

#[test]
fn job_reports_a_job_tokens_job() {
    // The start credential is the job token, as in a job; registering it as a job token
    // too makes the API know it, while git keeps working.
    let server = GitServer::start_local("gitlab-ci-token", JOB);
    server.create_repo("group/project.git");
    server.add_token(TokenSpec {
        job: JobInfo {
            id: 1234,
            name: "deploy".into(),
            stage: "release".into(),
            git_ref: "v1.2.3".into(),
            pipeline_id: 567,
            project_id: 89,
            user_id: 7,
            username: "alice".into(),
        },
        ..TokenSpec::job(JOB)
    });
    server.add_token(TokenSpec::personal_access(PAT));
    let expired = "glcbt-64_SelfTestFinishedJobToken001";
    server.add_token(TokenSpec::job(expired).expired());

    let reply = https::get(&server, gitlab::JOB_PATH, &[("JOB-TOKEN", JOB)]);
    let body = json_reply(&reply, 200);
    assert_eq!(body["id"], 1234, "{body}");
    assert_eq!(body["name"], "deploy", "{body}");
    assert_eq!(body["stage"], "release", "{body}");
    assert_eq!(body["status"], "running", "{body}");
    assert_eq!(body["ref"], "v1.2.3", "{body}");
    assert_eq!(body["pipeline"]["id"], 567, "{body}");
    assert_eq!(body["pipeline"]["project_id"], 89, "{body}");
    assert_eq!(body["user"]["username"], "alice", "{body}");
    assert_eq!(body["user"]["id"], 7, "{body}");

    for headers in [
        vec![],
        vec![("JOB-TOKEN", "glcbt-NotARegisteredToken")],
        vec![("JOB-TOKEN", expired)],
        vec![("JOB-TOKEN", PAT)],
        // The job token, in the access tokens' headers.
        vec![("PRIVATE-TOKEN", JOB)],
    ] {
        assert_unauthorized(&https::get(&server, gitlab::JOB_PATH, &headers), &headers);
    }
    // A job token is not an access token.
    let reply = https::get(&server, gitlab::TOKEN_SELF_PATH, &[("PRIVATE-TOKEN", JOB)]);
    assert_unauthorized(&reply, &"PRIVATE-TOKEN: a job token");

    let sandbox = trusting_sandbox();
    sandbox.run_ok([
        "ls-remote",
        &url_with(&server, "gitlab-ci-token", JOB, "group/project.git"),
    ]);
    let attempts = server.attempts();
    assert_eq!(attempts[0].api_token_header, Some("JOB-TOKEN"));
    assert_eq!(attempts[0].status, 200);
}

#[test]
fn other_api_requests_get_gitlabs_json_errors() {
    let server = gitlab_server();
    server.add_token(TokenSpec::personal_access(PAT));

    // Another endpoint, even with a good token: a JSON 404, never git's.
    let reply = https::get(&server, "/api/v4/projects/1", &[("PRIVATE-TOKEN", PAT)]);
    assert_eq!(
        json_reply(&reply, 404),
        serde_json::json!({"error": "404 Not Found"})
    );
    let reply = https::request(
        server.addr(),
        "POST",
        gitlab::TOKEN_SELF_PATH,
        &[("PRIVATE-TOKEN", PAT)],
        b"",
    );
    assert_eq!(
        json_reply(&reply, 405),
        serde_json::json!({"error": "405 Not Allowed"})
    );
    let statuses: Vec<u16> = server.attempts().iter().map(|a| a.status).collect();
    assert_eq!(statuses, [404, 405]);
}

/// `POST path` to the LFS API with `body`, and `basic` (`user:pass`) as Basic credentials.
fn lfs_post(server: &GitServer, path: &str, basic: Option<&str>, body: &str) -> https::Reply {
    let auth = basic.map(|b| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(b)
        )
    });
    let mut headers = vec![
        ("Content-Type", lfs::MEDIA_TYPE),
        ("Accept", lfs::MEDIA_TYPE),
    ];
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth));
    }
    https::request(server.addr(), "POST", path, &headers, body.as_bytes())
}

#[test]
fn the_lfs_batch_api_demands_basic_auth_with_gitlabs_token_rules() {
    let server = gitlab_server();
    server.add_token(TokenSpec::job(JOB).projects(["group/project"]));
    server.add_token(TokenSpec::personal_access(PAT).access(Access::Read));
    let batch = "/group/project.git/info/lfs/objects/batch";
    let oid = "0".repeat(64);
    let upload = format!(
        r#"{{"operation":"upload","transfers":["basic"],"objects":[{{"oid":"{oid}","size":3}}]}}"#
    );
    let download = upload.replace("upload", "download");
    let job = format!("gitlab-ci-token:{JOB}");

    // No credential, a wrong one, or the job token with another user name: the challenge
    // that makes git-lfs ask git's credential helpers.
    for basic in [
        None,
        Some("gitlab-ci-token:glcbt-wrong"),
        Some(&*format!("alice:{JOB}")),
    ] {
        let reply = lfs_post(&server, batch, basic, &upload);
        assert_eq!(reply.status, 401, "{basic:?}: {reply:?}");
        assert_eq!(
            reply.header("LFS-Authenticate"),
            Some(lfs::LFS_AUTHENTICATE)
        );
        assert_eq!(reply.header("Content-Type"), Some(lfs::MEDIA_TYPE));
    }
    // A project the token cannot see, and a read-only token's upload.
    let other = lfs_post(
        &server,
        "/other/repo.git/info/lfs/objects/batch",
        Some(&job),
        &upload,
    );
    assert_eq!(other.status, 404, "{other:?}");
    let read_only = format!("alice:{PAT}");
    assert_eq!(
        lfs_post(&server, batch, Some(&read_only), &upload).status,
        403
    );
    let lock_check = lfs_post(
        &server,
        "/group/project.git/info/lfs/locks/verify",
        Some(&read_only),
        "{}",
    );
    assert_eq!(lock_check.status, 403);

    // The job token may upload: an action on the same server, with the request's own
    // Authorization, as GitLab answers.
    let reply = lfs_post(&server, batch, Some(&job), &upload);
    assert_eq!(reply.status, 200, "{reply:?}");
    let object = &reply.json()["objects"][0];
    let action = &object["actions"]["upload"];
    assert_eq!(
        action["href"],
        format!(
            "{}/group/project.git/gitlab-lfs/objects/{oid}/3",
            server.url()
        )
    );
    assert!(action["header"]["Authorization"]
        .as_str()
        .is_some_and(|a| a.starts_with("Basic ")));
    // Nothing is stored yet, so a download finds no object.
    let reply = lfs_post(&server, batch, Some(&read_only), &download);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["objects"][0]["error"]["code"], 404);

    // An upload whose content is not its oid is refused, and unauthenticated ones too.
    let put = |basic: Option<&str>, body: &[u8]| {
        let auth = basic.map(|b| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(b)
            )
        });
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        let path = format!("/group/project.git/gitlab-lfs/objects/{oid}/3");
        https::request(server.addr(), "PUT", &path, &headers, body)
    };
    assert_eq!(put(None, b"abc").status, 401);
    assert_eq!(put(Some(&job), b"abc").status, 422);
    assert_eq!(server.lfs_object("group/project.git", &oid), None);
}
