//! Clients other than git that a job runs, as far as our side of them goes: what `status`
//! says about them, and the ones that run git and so ask our helper through it.
//! git-lfs has its own module (`git_lfs`).

use std::path::PathBuf;
use std::process::Command;

use crate::support::git_server::GitServer;
use crate::support::helper::{assert_nowhere_under, token_forms, TOKEN};
use crate::support::process;
use crate::support::sandbox::Sandbox;
use crate::support::scenario::Scenario;

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

/// A job whose git asks our helper, as `configure --global` sets it up.
fn job_with_our_helper() -> Scenario {
    let job = Scenario::new()
        .server("gitlab-ci-token", TOKEN)
        .in_job(TOKEN);
    job.sandbox()
        .helper(".", &["configure", "--global"])
        .assert_success();
    job
}

/// The server saw only our job token, as `gitlab-ci-token`, and no file of the job holds it
/// (as-is or Basic-encoded), the tool's own caches included.
#[track_caller]
fn assert_only_our_token_was_used(job: &Scenario) {
    let seen = job.served().credentials_seen();
    let ours = ("gitlab-ci-token".to_owned(), TOKEN.to_owned());
    assert!(
        !seen.is_empty() && seen.iter().all(|c| *c == ours),
        "{seen:?}"
    );
    assert_nowhere_under(job.sandbox().root(), &token_forms("gitlab-ci-token", TOKEN));
}

/// The Python interpreter on the test process's PATH, as an absolute path (pyenv's shims
/// need the developer's HOME, which a sandbox replaces), if it has pip and setuptools.
fn python_with_pip() -> Option<PathBuf> {
    let mut cmd = Command::new("python3");
    cmd.args([
        "-c",
        "import sys, pip, setuptools; sys.stdout.write(sys.executable)",
    ]);
    let out = process::run(cmd);
    let found = out
        .success()
        .then(|| PathBuf::from(out.stdout_str()))
        .filter(|p| p.is_absolute());
    if found.is_none() {
        eprintln!("skipped: no python3 with pip and setuptools (apt-get install python3-pip python3-setuptools)");
    }
    found
}

/// A package git can clone and pip can build without an index: setuptools, one module.
fn push_a_python_package(job: &Scenario) {
    job.git_ok(["clone", "--quiet", &job.url(), "package"]);
    let dir = job.sandbox().work().join("package");
    std::fs::write(
        dir.join("pyproject.toml"),
        "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n\
         [project]\nname = \"demo-package\"\nversion = \"1.2.3\"\n\n\
         [tool.setuptools]\npy-modules = [\"demo\"]\n",
    )
    .unwrap();
    std::fs::write(dir.join("demo.py"), "ANSWER = 42\n").unwrap();
    job.git_ok(["-C", "package", "add", "pyproject.toml", "demo.py"]);
    job.git_ok([
        "-C",
        "package",
        "commit",
        "--quiet",
        "-m",
        "A Python package",
    ]);
    job.git_ok(["-C", "package", "push", "--quiet", "origin", "main"]);
}

/// `pip install git+https://HOST/group/project.git` runs `git clone`, so git asks our helper:
/// pip downloads the package from the TLS test server with the job token, from a plain URL,
/// and the token is in no file of the job and nowhere in pip's output.
#[test]
fn pip_fetches_a_git_https_requirement_through_the_helper() {
    let Some(python) = python_with_pip() else {
        return;
    };
    let job = job_with_our_helper();
    push_a_python_package(&job);
    job.served().clear_attempts();

    let tmp = job.sandbox().root().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let mut pip = job.sandbox().command(Command::new(&python));
    pip.args(["-m", "pip", "download", "--no-deps", "--no-index"])
        .args(["--no-build-isolation", "--dest", "dist"])
        .arg(format!("git+{}", job.url()))
        .env("TMPDIR", &tmp)
        .env("PIP_NO_INPUT", "1")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_CONFIG_FILE", "/dev/null");
    let run = process::run(pip);
    run.assert_not_printed(&[TOKEN]);
    let run = run.assert_success();
    let dist = job.sandbox().work().join("dist");
    let archives: Vec<String> = std::fs::read_dir(&dist)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        archives
            .iter()
            .any(|a| a.starts_with("demo") && a.contains("1.2.3")),
        "{archives:?}\n{}",
        run.output_str()
    );
    assert_only_our_token_was_used(&job);
}

/// npm's `git+https://` dependencies run `git ls-remote` and `git clone`, so git asks our
/// helper: `npm pack` fetches the package from the TLS test server with the job token.
/// Needs npm (not installed by CI: without it, the test says so and passes).
#[test]
fn npm_fetches_a_git_https_dependency_through_the_helper() {
    if !crate::support::programs::on_path("npm") {
        eprintln!("skipped: npm is not installed");
        return;
    }
    let job = job_with_our_helper();
    job.git_ok(["clone", "--quiet", &job.url(), "package"]);
    std::fs::write(
        job.sandbox().work().join("package/package.json"),
        "{\"name\": \"demo-package\", \"version\": \"1.2.3\"}\n",
    )
    .unwrap();
    job.git_ok(["-C", "package", "add", "package.json"]);
    job.git_ok(["-C", "package", "commit", "--quiet", "-m", "An npm package"]);
    job.git_ok(["-C", "package", "push", "--quiet", "origin", "main"]);
    job.served().clear_attempts();

    std::fs::create_dir(job.sandbox().work().join("dist")).unwrap();
    let mut npm = job.sandbox().command(Command::new("npm"));
    npm.args(["pack", "--pack-destination", "dist"])
        .arg(format!("git+{}", job.url()))
        // Nothing may come from a registry: this one refuses every connection.
        .env("npm_config_registry", "https://127.0.0.1:9/")
        .env("npm_config_update_notifier", "false")
        .env("npm_config_audit", "false")
        .env("npm_config_fund", "false");
    let run = process::run(npm);
    run.assert_not_printed(&[TOKEN]);
    let run = run.assert_success();
    assert!(
        job.sandbox()
            .work()
            .join("dist/demo-package-1.2.3.tgz")
            .is_file(),
        "{}",
        run.output_str()
    );
    assert_only_our_token_was_used(&job);
}

/// pre-commit fetches a hook repository given by an https URL with `git fetch`, so git asks
/// our helper: `pre-commit run` gets the hook from the TLS test server with the job token,
/// and the token is in no file of the job, pre-commit's cache included. Needs pre-commit
/// (Debian's `pre-commit`; without it, the test says so and passes).
#[test]
fn pre_commit_fetches_a_hook_repository_through_the_helper() {
    if !crate::support::programs::on_path("pre-commit") {
        eprintln!("skipped: pre-commit is not installed (apt-get install pre-commit)");
        return;
    }
    let job = job_with_our_helper();
    // The hook repository: one hook that runs a program every image has.
    job.git_ok(["clone", "--quiet", &job.url(), "hooks"]);
    std::fs::write(
        job.sandbox().work().join("hooks/.pre-commit-hooks.yaml"),
        "- id: demo-hook\n  name: demo hook\n  entry: \"true\"\n  language: system\n",
    )
    .unwrap();
    job.git_ok(["-C", "hooks", "add", ".pre-commit-hooks.yaml"]);
    job.git_ok(["-C", "hooks", "commit", "--quiet", "-m", "A hook"]);
    job.git_ok(["-C", "hooks", "push", "--quiet", "origin", "main"]);
    let rev = job.server_ref("refs/heads/main");
    job.served().clear_attempts();

    // The project that uses it.
    job.git_ok(["init", "--quiet", "project"]);
    std::fs::write(
        job.sandbox().work().join("project/.pre-commit-config.yaml"),
        format!(
            "repos:\n- repo: {}\n  rev: {rev}\n  hooks:\n  - id: demo-hook\n",
            job.url()
        ),
    )
    .unwrap();
    job.git_ok(["-C", "project", "add", ".pre-commit-config.yaml"]);
    let mut pre_commit = job.sandbox().command(Command::new("pre-commit"));
    pre_commit
        .args(["run", "--all-files"])
        .current_dir(job.sandbox().work().join("project"))
        .env(
            "PRE_COMMIT_HOME",
            job.sandbox().root().join("pre-commit-cache"),
        );
    let run = process::run(pre_commit);
    run.assert_not_printed(&[TOKEN]);
    let run = run.assert_success();
    assert!(
        run.stdout_str().contains("demo hook"),
        "{}",
        run.output_str()
    );
    assert_only_our_token_was_used(&job);
}

/// A crate for cargo to fetch as a git dependency, pushed to `url`, and a project `app`
/// that depends on it by that plain URL.
fn push_a_crate_and_depend_on_it(job: &Scenario, url: &str) {
    job.git_ok(["clone", "--quiet", url, "dep"]);
    let dep = job.sandbox().work().join("dep");
    std::fs::create_dir(dep.join("src")).unwrap();
    std::fs::write(
        dep.join("Cargo.toml"),
        "[package]\nname = \"demo-dep\"\nversion = \"1.2.3\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(dep.join("src/lib.rs"), "pub const ANSWER: u32 = 42;\n").unwrap();
    job.git_ok(["-C", "dep", "add", "Cargo.toml", "src/lib.rs"]);
    job.git_ok(["-C", "dep", "commit", "--quiet", "-m", "A crate"]);
    job.git_ok(["-C", "dep", "push", "--quiet", "origin", "main"]);
    let app = job.sandbox().work().join("app");
    std::fs::create_dir_all(app.join("src")).unwrap();
    std::fs::write(
        app.join("Cargo.toml"),
        format!(
            "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [dependencies]\ndemo-dep = {{ git = \"{url}\", branch = \"main\" }}\n"
        ),
    )
    .unwrap();
    std::fs::write(app.join("src/main.rs"), "fn main() {}\n").unwrap();
}

/// `cargo generate-lockfile` in `app`, with the cargo that builds these tests, its own
/// CARGO_HOME in the sandbox, the test CA, and `CARGO_NET_GIT_FETCH_WITH_CLI=true`.
fn cargo_lock_with_git(job: &Scenario) -> process::Run {
    let mut cargo = job.sandbox().command(Command::new(env!("CARGO")));
    cargo
        .args(["generate-lockfile", "--quiet"])
        .current_dir(job.sandbox().work().join("app"))
        .env("CARGO_HOME", job.sandbox().root().join("cargo-home"))
        .env("CARGO_HTTP_CAINFO", GitServer::ca_pem_path())
        .env("CARGO_NET_RETRY", "0")
        .env("CARGO_NET_GIT_FETCH_WITH_CLI", "true");
    let run = process::run(cargo);
    run.assert_not_printed(&[TOKEN]);
    run
}

/// The recipe `status` gives for cargo: with CARGO_NET_GIT_FETCH_WITH_CLI=true cargo runs
/// git for a git dependency, git asks our helper, and cargo fetches the dependency from the
/// TLS test server, on its port of its own, with the job token and a plain URL.
#[test]
fn cargo_with_git_fetch_with_cli_fetches_a_git_dependency_through_the_helper() {
    let job = job_with_our_helper();
    push_a_crate_and_depend_on_it(&job, &job.url());
    job.served().clear_attempts();

    cargo_lock_with_git(&job).assert_success();
    let lock = std::fs::read_to_string(job.sandbox().work().join("app/Cargo.lock")).unwrap();
    assert!(lock.contains("name = \"demo-dep\""), "{lock}");
    assert_only_our_token_was_used(&job);
}
