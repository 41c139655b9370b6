//! Puts the git commit into `--version`: `GIT_CREDENTIAL_GITLAB_CI_COMMIT` is the short hash
//! of the commit built, found, in this order:
//!
//! 1. `GIT_CREDENTIAL_GITLAB_CI_COMMIT` in the build's environment (a packager's override);
//! 2. `git rev-parse --short HEAD` in a git checkout of this crate;
//! 3. a `git archive` tarball, GitLab's "Download source code" archives included: the
//!    `$Format$` placeholder below is replaced (see .gitattributes, `export-subst`);
//! 4. a crate tarball from `cargo package`: `.cargo_vcs_info.json`;
//! 5. else "unknown".
//!
//! The script reruns only when HEAD moves (`.git/HEAD`, the branch's ref, `packed-refs`), so
//! it never forces a rebuild of an unchanged tree.

use std::path::{Path, PathBuf};
use std::process::Command;

const VAR: &str = "GIT_CREDENTIAL_GITLAB_CI_COMMIT";
/// Replaced by `git archive` with the abbreviated hash; left as is in a checkout.
const ARCHIVED_COMMIT: &str = "$Format:%h$";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed={VAR}");
    let commit = match std::env::var(VAR) {
        Ok(given) if !given.trim().is_empty() => given.trim().to_owned(),
        _ => from_git()
            .or_else(from_archive)
            .or_else(from_cargo_package)
            .unwrap_or_else(|| "unknown".to_owned()),
    };
    println!("cargo:rustc-env={VAR}={commit}");
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn from_git() -> Option<String> {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    // Only this crate's own checkout: a tarball unpacked inside another repository must not
    // report that repository's commit.
    let top = PathBuf::from(git(&manifest_dir, &["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != manifest_dir.canonicalize().ok()? {
        return None;
    }
    // HEAD names the branch; the branch's ref (loose or packed) names the commit. Cargo
    // treats a missing path as changed and would rerun every build, so only existing paths
    // are named. A branch whose ref is only packed gets a loose file on its next commit: its
    // directory is watched instead (Cargo scans a directory's files).
    let path = |name: &str| {
        git(&manifest_dir, &["rev-parse", "--git-path", name]).map(|p| manifest_dir.join(p))
    };
    let mut watch = vec![path("HEAD")?];
    if let Some(branch) = git(&manifest_dir, &["symbolic-ref", "-q", "HEAD"]) {
        match path(&branch) {
            Some(loose) if loose.exists() => watch.push(loose),
            Some(loose) => watch.extend(loose.parent().map(Path::to_path_buf)),
            None => {}
        }
    }
    watch.extend(path("packed-refs"));
    for path in watch.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    git(&manifest_dir, &["rev-parse", "--short", "HEAD"])
}

fn from_archive() -> Option<String> {
    let hash = ARCHIVED_COMMIT.trim();
    (!hash.is_empty() && hash.bytes().all(|b| b.is_ascii_hexdigit())).then(|| hash.to_owned())
}

/// `cargo package` records the commit as `"sha1": "<40 hex digits>"`.
fn from_cargo_package() -> Option<String> {
    let info = std::fs::read_to_string(".cargo_vcs_info.json").ok()?;
    let after = &info[info.find("\"sha1\"")? + 6..];
    let hash: String = after
        .trim_start_matches(|c: char| c == ':' || c == '"' || c.is_whitespace())
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    (hash.len() >= 7).then(|| hash[..7].to_owned())
}
