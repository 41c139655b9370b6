//! GitLab Runner's get_sources stage, replayed: the git commands the runner's shell writer
//! emits, in its order, for a runner version, the FF_GIT_URLS_WITHOUT_TOKENS flag and a
//! GIT_STRATEGY. Taken from gitlab-runner's `shells/abstract.go` (`writeGetSourcesScript`,
//! `setupTokenlessGitConfig`, `setupGlobalGitConfigSeed`, `setupCredHelperOnly`,
//! `setupTemplateDir`, `setupExternalGitConfig`, `includeExternalGitConfig`,
//! `writeRefspecFetchCmd`, `writeClearGitCredentials`) and `shells/bash.go`
//! (`SetupGitCredHelper`), v18.x and v19.3.0.
//!
//! The job's builds directory is the sandbox's work directory: the project is checked out
//! in `project`, and the runner's per-job files are in `project.tmp`.

use std::path::PathBuf;

use super::process::{self, Run};
use super::programs::binary;
use super::scenario::{Scenario, PROJECT};

/// The runner's inline helper (`credHelperCommand`).
pub const RUNNER_HELPER: &str =
    r#"!f(){ if [ "$1" = "get" ] ; then echo "password=${CI_JOB_TOKEN}" ; fi ; } ; f"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// 18.6 to 19.1: no seed file, no end-of-stage reject.
    V18,
    /// 19.3.0: the seed file (flag on, from 19.2) and the end-of-stage `credential reject`.
    V19_3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The old checkout is removed and fetched anew.
    Clone,
    /// The checkout of an earlier job is reused and fetched into.
    Fetch,
    /// No checkout at all.
    None,
}

pub struct Runner<'a> {
    job: &'a Scenario,
    pub version: Version,
    /// FF_GIT_URLS_WITHOUT_TOKENS.
    pub flag: bool,
    pub strategy: Strategy,
}

/// `s` as one word for sh.
fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Go's `regexp.QuoteMeta`.
fn quote_meta(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl<'a> Runner<'a> {
    pub fn new(job: &'a Scenario, version: Version, flag: bool, strategy: Strategy) -> Runner<'a> {
        Runner {
            job,
            version,
            flag,
            strategy,
        }
    }

    pub fn tmp(&self) -> PathBuf {
        self.job.sandbox().work().join("project.tmp")
    }

    pub fn ext_conf(&self) -> PathBuf {
        self.tmp().join(".gitlab-runner.ext.conf")
    }

    pub fn seed(&self) -> PathBuf {
        self.tmp().join(".glr.gconf")
    }

    /// Whether every stage exports GIT_CONFIG_GLOBAL pointing at the seed file.
    pub fn seeds(&self) -> bool {
        self.flag && self.version == Version::V19_3
    }

    /// The variables the runner exports in every stage (`writeExports`), as `export` lines.
    fn exports(&self) -> String {
        if self.seeds() {
            format!(
                "export GIT_CONFIG_GLOBAL={}\n",
                sq(self.seed().to_str().unwrap())
            )
        } else {
            String::new()
        }
    }

    fn cred_helper(&self, file: &str, origin: &str) -> String {
        // SetupGitCredHelper (bash.go).
        let helper = sq(&format!("credential.{origin}.helper"));
        let user = sq(&format!("credential.{origin}.username"));
        format!(
            "git config -f {file} --replace-all {helper} \"\" && git config -f {file} --add {helper} {} && git config -f {file} {user} gitlab-ci-token\n",
            sq(RUNNER_HELPER)
        )
    }

    /// The get_sources stage's script.
    pub fn get_sources_script(&self) -> String {
        let server = self.job.served();
        let origin = server.url();
        let remote = self.job.url();
        let token = "${CI_JOB_TOKEN}";
        let with_creds = format!(
            "https://gitlab-ci-token:{token}@{}/{PROJECT}",
            origin.trim_start_matches("https://")
        );
        let tmp = sq(self.tmp().to_str().unwrap());
        let ext = sq(self.ext_conf().to_str().unwrap());
        let seed = sq(self.seed().to_str().unwrap());
        let mut s = String::from("set -e\n");
        s.push_str(&self.exports());
        s.push_str("export GIT_TERMINAL_PROMPT=0 GCM_INTERACTIVE=Never\n");
        s.push_str(&format!("mkdir -p {tmp}\n"));
        if self.seeds() {
            // setupGlobalGitConfigSeed
            s.push_str(&format!("rm -f {seed}\n"));
            for user in ["$HOME/.gitconfig", "$HOME/.config/git/config"] {
                s.push_str(&format!(
                    "if [ -r \"{user}\" ]; then git config --file {seed} --add include.path \"{user}\"; fi\n"
                ));
            }
            s.push_str(&format!(
                "git config --file {seed} --add include.path {ext}\n"
            ));
            if self.strategy == Strategy::None {
                // setupCredHelperOnly
                s.push_str(&format!("rm -f {ext}\n"));
                s.push_str(&self.cred_helper(&ext, &origin));
            }
        }
        if self.strategy == Strategy::None {
            s.push_str(&self.reject(&origin));
            return s;
        }
        // setupTemplateDir, setupExternalGitConfig, includeExternalGitConfig
        let template = sq(self.tmp().join("git-template").to_str().unwrap());
        let template_file = sq(self.tmp().join("git-template/config").to_str().unwrap());
        s.push_str(&format!("mkdir -p {template}\n"));
        for (key, value) in [
            ("init.defaultBranch", "none"),
            ("fetch.recurseSubmodules", "false"),
            ("credential.interactive", "never"),
            ("gc.autoDetach", "false"),
        ] {
            s.push_str(&format!("git config -f {template_file} {key} {value}\n"));
        }
        s.push_str(&format!("rm -f {ext}\n"));
        if !self.flag {
            s.push_str(&format!(
                "git config --file {ext} --replace-all \"url.{with_creds}.insteadOf\" {} {}\n",
                sq(&remote),
                sq(&format!("^{}$", quote_meta(&remote)))
            ));
        } else {
            s.push_str(&self.cred_helper(&ext, &origin));
        }
        s.push_str(&format!(
            "git config --file {template_file} --replace-all include.path {ext} {}\n",
            sq(&format!("{}$", quote_meta(".gitlab-runner.ext.conf")))
        ));
        // writeCloneCmdIfPossible / writeRefspecFetchCmd
        if self.strategy == Strategy::Clone {
            s.push_str("rm -rf project\n");
        }
        s.push_str(&format!(
            "git init project --template {template} >/dev/null\n"
        ));
        s.push_str("cd project\n");
        s.push_str(&format!(
            "if git remote add origin {r}; then :; else git remote set-url origin {r}; git config --file .git/config --replace-all include.path {ext} {}; fi\n",
            sq(&format!("{}$", quote_meta(".gitlab-runner.ext.conf"))),
            r = sq(&remote),
        ));
        s.push_str("git -c 'http.userAgent=gitlab-runner 19.3.0 linux/amd64' fetch origin --no-recurse-submodules '+refs/heads/*:refs/remotes/origin/*' --prune --quiet\n");
        s.push_str("git checkout -f -q origin/main\n");
        s.push_str("cd ..\n");
        s.push_str(&self.reject(&origin));
        s
    }

    /// writeClearGitCredentials (19.3): an erase with a user name and no password, sent to
    /// every helper, whatever the flag says.
    fn reject(&self, origin: &str) -> String {
        if self.version != Version::V19_3 {
            return String::new();
        }
        format!(
            "printf 'url={origin}\\nusername=gitlab-ci-token\\n' | git credential reject || true\n"
        )
    }

    /// Runs the get_sources stage in the sandbox.
    #[track_caller]
    pub fn get_sources(&self) -> Run {
        self.stage(&self.get_sources_script())
    }

    /// Runs `script` as a stage of the job (the runner's exports first), with our binary in
    /// `$BIN`, in the builds directory.
    #[track_caller]
    pub fn stage(&self, script: &str) -> Run {
        let sandbox = self.job.sandbox();
        let mut cmd = sandbox.command(std::process::Command::new("sh"));
        cmd.args(["-c", &format!("{}{script}", self.exports())])
            .current_dir(sandbox.work())
            .env("BIN", binary());
        process::run(cmd)
    }
}
