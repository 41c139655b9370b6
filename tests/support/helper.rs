//! Runs the real helper binary the way git does: arguments, a request on stdin, and a clean
//! environment, with a deadline so that a hang fails the test instead of stalling it.

use std::io::Write;

use base64::Engine as _;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A job token as GitLab 19 issues them: `glcbt-` then a JWT whose payload has `exp`.
pub const TOKEN: &str =
    "glcbt-eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjIyMDAwMDAwMDB9.c2lnbmF0dXJlLW5vdC1jaGVja2Vk";
/// The `exp` in [`TOKEN`].
pub const TOKEN_EXPIRY: u64 = 2_200_000_000;

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_git-credential-gitlab-ci")
}

pub struct HelperRun {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for HelperRun {
    fn from(o: Output) -> Self {
        HelperRun {
            status: o.status,
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl HelperRun {
    /// Nothing on stdout, nothing on stderr, a normal exit: git moves on.
    #[track_caller]
    pub fn assert_silent(&self, case: &str) {
        assert!(
            self.stdout.is_empty() && self.stderr.is_empty() && self.status.success(),
            "{case}: expected silence, got {:?}\nstdout: {:?}\nstderr: {:?}",
            self.status,
            self.stdout,
            self.stderr
        );
    }

    #[track_caller]
    pub fn assert_answered(&self, username: &str, password: &str) {
        assert!(self.status.success(), "{:?} {}", self.status, self.stderr);
        assert!(self.stderr.is_empty(), "stderr: {}", self.stderr);
        let expected = format!("username={username}\npassword={password}\n");
        assert!(
            self.stdout.starts_with(&expected),
            "expected an answer, got {:?}",
            self.stdout
        );
    }
}

/// Runs the helper with exactly `env` (plus an empty HOME, so no user config is read).
pub fn run_helper(args: &[&str], input: &[u8], env: &[(&str, String)]) -> HelperRun {
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(binary())
        .args(args)
        .env_clear()
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join(".config"))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the helper starts");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // The helper may stop reading early (a request over the cap): a broken pipe is expected.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the helper hung on {args:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = writer.join();
    child.wait_with_output().unwrap().into()
}

/// Every way the token could be written down: verbatim, and as HTTP Basic would encode it.
pub fn token_forms(username: &str, token: &str) -> Vec<Vec<u8>> {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{token}"));
    vec![token.as_bytes().to_vec(), basic.into_bytes()]
}

#[track_caller]
pub fn assert_nowhere_under(dir: &std::path::Path, forms: &[Vec<u8>]) {
    let mut stack = vec![dir.to_path_buf()];
    let mut files = 0;
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                files += 1;
                let data = std::fs::read(entry.path()).unwrap();
                for form in forms {
                    assert!(
                        !data.windows(form.len()).any(|w| w == &form[..]),
                        "the token is written in {}",
                        entry.path().display()
                    );
                }
            }
        }
    }
    assert!(
        files > 10,
        "the scan saw only {files} files: wrong directory?"
    );
}
