//! Runs the real helper binary the way git does: arguments, a request on stdin, and a clean
//! environment, through the bounded runner so that a hang fails the test instead of stalling
//! it. Also the test token, and the scan that proves a token was written nowhere.

use std::time::Duration;

use base64::Engine as _;

use super::process::Process;
pub use super::process::Run;
pub use super::programs::{binary, helper_command};

/// A job token as GitLab 19 issues them: `glcbt-` then a JWT whose payload has `exp`.
pub const TOKEN: &str =
    "glcbt-eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjIyMDAwMDAwMDB9.c2lnbmF0dXJlLW5vdC1jaGVja2Vk";
/// The `exp` in [`TOKEN`].
pub const TOKEN_EXPIRY: u64 = 2_200_000_000;

/// Runs the helper with exactly `env` (plus an empty HOME, so no user config is read), with
/// `input` on stdin and a 20 s deadline.
#[track_caller]
pub fn run_helper(args: &[&str], input: &[u8], env: &[(&str, String)]) -> Run {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = helper_command();
    cmd.args(args)
        .env_clear()
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join(".config"))
        .envs(env.iter().map(|(k, v)| (k, v)));
    Process::new(cmd)
        .stdin(input)
        .timeout(Duration::from_secs(20))
        .run()
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
