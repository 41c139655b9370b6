//! `configure` and `unconfigure`: writing and removing our entries in git's config.
//!
//! For each origin we serve, `configure` writes what the README tells users to write by hand:
//! a `credential.<origin>.helper` reset (an empty value clears the helpers git collected
//! before it), then our helper by absolute path with the options given, and
//! `credential.<origin>.useHttpPath true` where a path-scoped credential needs git to send the
//! path. Entries are added with `git config --add`, so git does the quoting and picks the
//! section. `--env` writes no file: it prints `GIT_CONFIG_*` exports, which git reads after
//! every file, so they also win over GitLab Runner's per-job reset.
//!
//! `unconfigure` must remove exactly what `configure` added, but a reset looks like any other
//! empty value. So every line `configure` writes carries a comment, `# added by
//! git-credential-gitlab-ci` (`git config --comment`, git 2.45 and later), and `unconfigure`
//! finds the tagged lines in the file. git deletes entries only by key and value, never "the
//! second of two empty values", so the removal is a line edit, made the way git makes its own:
//! in `<file>.lock`, created exclusively, then renamed over the file. Before the rename, git
//! must read the edited file as the old one minus exactly the removed entries, or nothing
//! changes.

mod env;
mod file;
mod model;
mod plan;
mod target;

pub use env::{configure_env, print_env, unconfigure_env, EnvEntries};
pub use file::{configure, unconfigure};
pub use model::{current_exe, helper_options, Setup, SetupError, Target};
