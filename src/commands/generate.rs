//! The man pages and shell completions, generated from the same clap definition as the
//! command line itself, so they cannot drift from it.
//!
//! Packagers run `generate-man DIR` and `generate-completions SHELL DIR` on the binary they
//! ship (see packaging/build-deb.sh). These two commands are not part of the command line
//! that `--help`, the man pages and the completions describe: `cli::parse` reads them apart
//! when they are the first argument, before it parses anything else. So git's `get` never
//! builds their definitions (clap builds every subcommand's definition on each run), and
//! nothing here runs on its path.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap_complete::Shell;
use clap_mangen::Man;
use roff::{bold, italic, roman, Roff};

use crate::cli::{Packaging, BIN_NAME};
use crate::config::{
    system_config_path, ENV_CONFIG, ENV_SOCKET, ENV_TOKEN_COMMAND, ENV_TOKEN_COMMAND_TIMEOUT,
    ENV_TOKEN_COMMAND_TTL, ENV_TOKEN_ENV, ENV_TOKEN_FILE, ENV_URL, ENV_USERNAME, ENV_USE_DAEMON,
};
use crate::error::{Error, Failure};
use crate::logging::ENV_LOG;

/// Writes what `packaging` asks for, printing the files written, one a line.
pub fn run(packaging: Packaging) -> Result<ExitCode, Failure> {
    let written = match packaging {
        Packaging::GenerateMan { dir } => man_pages(crate::cli::command(), &dir),
        Packaging::GenerateCompletions { shell, dir } => {
            completions(crate::cli::command(), shell, &dir).map(|path| vec![path])
        }
    };
    let mut out = std::io::stdout().lock();
    for path in written.map_err(|e| Failure::bare(Error::Generate(e)))? {
        // An error, not a panic, when stdout cannot be written.
        writeln!(out, "{}", path.display()).map_err(|e| Failure::bare(Error::Generate(e)))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `git-credential-gitlab-ci.1` and one page per visible subcommand
/// (`git-credential-gitlab-ci-status.1`, ...) into `dir`, and returns their paths.
pub fn man_pages(cmd: clap::Command, dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    let main = Man::new(cmd.clone());
    let path = dir.join(main.get_filename());
    let mut out = BufWriter::new(File::create(&path)?);
    render_main_page(&main, &cmd, &mut out)?;
    out.into_inner().map_err(io::IntoInnerError::into_error)?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        written.push(Man::new(sub.clone()).generate_to(dir)?);
    }
    Ok(written)
}

/// clap_mangen's page, with the after-help kept as preformatted text (it holds shell
/// commands) and the sections a man page reader looks for: environment, files, exit status.
fn render_main_page(man: &Man, cmd: &clap::Command, w: &mut dyn Write) -> io::Result<()> {
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    man.render_options_section(w)?;
    man.render_subcommands_section(w)?;
    extra_sections(cmd).to_writer(w)?;
    man.render_version_section(w)
}

fn extra_sections(cmd: &clap::Command) -> Roff {
    let mut roff = Roff::new();
    if let Some(after) = cmd.get_after_long_help().or_else(|| cmd.get_after_help()) {
        roff.control("SH", ["CONFIGURING GIT"]);
        roff.control("nf", []);
        for line in after.to_string().lines() {
            roff.text([roman(line)]);
        }
        roff.control("fi", []);
    }

    roff.control("SH", ["ENVIRONMENT"]);
    let vars: [(&str, &str); 13] = [
        (ENV_URL, "Same as --url."),
        (ENV_USERNAME, "Same as --username."),
        (
            ENV_TOKEN_ENV,
            "Same as --token-env, as a comma-separated list.",
        ),
        (
            ENV_TOKEN_FILE,
            "Same as --token-file, as a list separated like PATH.",
        ),
        (ENV_TOKEN_COMMAND, "Same as --token-command (one command)."),
        (
            ENV_TOKEN_COMMAND_TIMEOUT,
            "How long a token command may run before its process group is killed, \
             e.g. 10s (default 5s).",
        ),
        (
            ENV_TOKEN_COMMAND_TTL,
            "How long the daemon keeps a command's token whose expiry is not known, \
             e.g. 10m (default 5m).",
        ),
        (ENV_CONFIG, "Same as --config."),
        (ENV_SOCKET, "Same as --socket."),
        (ENV_USE_DAEMON, "Same as --use-daemon."),
        (
            ENV_LOG,
            "Log decisions to stderr at this level: error, warn, info, debug or trace. \
             Tokens are never logged.",
        ),
        (
            "CI_SERVER_URL",
            "In a GitLab job with nothing configured, its origin is the server served \
             (a relative URL root is ignored).",
        ),
        (
            "CI_JOB_TOKEN",
            "The default token source, answered with the username gitlab-ci-token.",
        ),
    ];
    for (name, meaning) in vars {
        roff.control("TP", []);
        roff.text([bold(name)]);
        roff.text([roman(meaning)]);
    }

    roff.control("SH", ["FILES"]);
    roff.control("TP", []);
    roff.text([italic(
        "$XDG_CONFIG_HOME/git-credential-gitlab-ci/config.toml",
    )]);
    roff.text([roman(
        "The user's config file (~/.config/git-credential-gitlab-ci/config.toml when \
         XDG_CONFIG_HOME is unset). A missing file is fine.",
    )]);
    roff.control("TP", []);
    roff.text([italic(system_config_path().display().to_string())]);
    roff.text([roman(
        "The system config file, read after the user's. --config replaces both.",
    )]);
    roff.control("TP", []);
    roff.text([italic(
        "$XDG_RUNTIME_DIR/git-credential-gitlab-ci/daemon.sock",
    )]);
    roff.text([roman(
        "The daemon's socket (under ~/.cache when XDG_RUNTIME_DIR is unset, and under \
         $TMPDIR/git-credential-gitlab-ci-UID when HOME cannot be written), in a directory \
         of mode 0700 whose parents only the user or root can change (or root's sticky \
         /tmp); otherwise name one with --socket. Inside a GitLab job (CI_JOB_ID set) each \
         job has its own: \
         .../git-credential-gitlab-ci/job-CI_JOB_ID/daemon.sock, and the helper uses a \
         daemon only if it serves the helper's own job.",
    )]);

    roff.control("SH", ["EXIT STATUS"]);
    roff.text([roman(
        "get, store and erase exit 0 whether or not they answer, so git moves on to the \
         next helper; a configuration that cannot be used makes get exit 1 with one line \
         on stderr. status exits 0 when there is no problem (warnings are fine) and 1 when \
         there is one. A command-line usage error exits 2.",
    )]);

    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman(
        "git-credential(1), gitcredentials(7), git-config(1); README.md and SECURITY.md in \
         /usr/share/doc/git-credential-gitlab-ci/.",
    )]);
    roff
}

/// Writes `shell`'s completion script into `dir` under the name that shell looks for
/// (`git-credential-gitlab-ci.bash`, `_git-credential-gitlab-ci`, ...) and returns its path.
pub fn completions(cmd: clap::Command, shell: Shell, dir: &Path) -> io::Result<PathBuf> {
    clap_complete::generate_to(shell, &mut visible_only(&cmd), BIN_NAME, dir)
}

/// A copy of an unbuilt command without its hidden subcommands and arguments: clap_complete
/// (4.6) offers those to users, while clap_mangen and `--help` leave them out.
///
/// Without clap's `string` feature a command's name must be `&'static str`; the few names
/// are leaked, once, in this short-lived packaging command, rather than adding a feature to
/// the parser that `get` runs.
fn visible_only(cmd: &clap::Command) -> clap::Command {
    let name: &'static str = Box::leak(cmd.get_name().to_owned().into_boxed_str());
    let mut copy = clap::Command::new(name)
        .subcommand_required(cmd.is_subcommand_required_set())
        .args(cmd.get_arguments().filter(|a| !a.is_hide_set()).cloned())
        .subcommands(
            cmd.get_subcommands()
                .filter(|s| !s.is_hide_set())
                .map(visible_only),
        );
    if let Some(about) = cmd.get_about() {
        copy = copy.about(about.clone());
    }
    if let Some(about) = cmd.get_long_about() {
        copy = copy.long_about(about.clone());
    }
    if cmd.get_version().is_some() {
        copy = copy.version(crate::VERSION);
    }
    copy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_man_pages_cover_the_visible_commands_and_hide_the_internal_ones() {
        let dir = tempfile::tempdir().unwrap();
        let pages = man_pages(crate::cli::command(), dir.path()).unwrap();
        let names: Vec<String> = pages
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(names.contains(&"git-credential-gitlab-ci.1".to_owned()));
        assert!(names.contains(&"git-credential-gitlab-ci-daemon.1".to_owned()));
        assert!(names.iter().all(|n| !n.contains("generate")), "{names:?}");
        assert!(names.contains(&"git-credential-gitlab-ci-status.1".to_owned()));

        let main = std::fs::read_to_string(dir.path().join("git-credential-gitlab-ci.1")).unwrap();
        for expected in [
            ".SH OPTIONS",
            "\\-\\-token\\-env",
            ".SH ENVIRONMENT",
            "GIT_CREDENTIAL_GITLAB_CI_TOKEN_FILE",
            ".SH \"EXIT STATUS\"",
            "git\\-credential\\-gitlab\\-ci\\-status(1)",
        ] {
            assert!(main.contains(expected), "missing {expected:?}");
        }
        assert!(
            !main.contains("handoff"),
            "an internal flag leaked into the page"
        );
        assert!(!main.contains("generate\\-man"));
        let daemon =
            std::fs::read_to_string(dir.path().join("git-credential-gitlab-ci-daemon.1")).unwrap();
        assert!(daemon.contains("\\-\\-idle\\-timeout"));
    }

    #[test]
    fn the_packaging_commands_are_not_part_of_the_command_line_git_runs() {
        let cli = crate::cli::command();
        assert!(cli.find_subcommand("generate-man").is_none());
        assert!(cli.find_subcommand("generate-completions").is_none());

        let dir = tempfile::tempdir().unwrap();
        let dir_arg = dir.path().to_str().unwrap();
        let run_args = |args: &[&str]| {
            let args = args.iter().map(std::ffi::OsString::from).collect();
            let invocation = crate::cli::parse(args).map_err(|e| e.exit_code())?;
            crate::commands::run(invocation).map_err(|_| 1)
        };
        assert_eq!(run_args(&["generate-man", dir_arg]), Ok(ExitCode::SUCCESS));
        assert!(dir.path().join("git-credential-gitlab-ci.1").exists());
        let zsh = ["generate-completions", "zsh", dir_arg];
        assert_eq!(run_args(&zsh), Ok(ExitCode::SUCCESS));
        assert!(dir.path().join("_git-credential-gitlab-ci").exists());
        let unknown_shell = ["generate-completions", "tcsh", dir_arg];
        assert_eq!(run_args(&unknown_shell), Err(2));
    }

    #[test]
    fn completions_name_the_subcommands_but_not_the_hidden_ones() {
        let dir = tempfile::tempdir().unwrap();
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let path = completions(crate::cli::command(), shell, dir.path()).unwrap();
            let script = std::fs::read_to_string(&path).unwrap();
            assert!(script.contains("status"), "{shell}: no status");
            assert!(script.contains("token-file"), "{shell}: no --token-file");
            assert!(
                !script.contains("generate-man"),
                "{shell}: a hidden command"
            );
            assert!(!script.contains("handoff-fd"), "{shell}: a hidden flag");
        }
    }
}
