//! The command line in the exact form git runs a helper configured by `configure`,
//! `[--OPTION VALUE]... get|store|erase`, read without clap.

use std::ffi::{OsStr, OsString};

use super::args::{Command, Invocation};
use crate::client::Mode;
use crate::config::Flags;
use crate::token::{CommandSource, TokenSource};

/// A command line in the form git runs the helper in, `[--OPTION VALUE]... get|store|erase`,
/// read without clap.
///
/// Building clap's definition of the whole command line (every subcommand and its help) is
/// most of what `get` costs before it reads stdin, and git waits on `get` for every fetch
/// and push. So the helper strings that `configure` writes are read here, and anything else,
/// or anything out of the ordinary in them (an option that takes one value given twice, an
/// empty value or one that starts with '-', an option after the action), goes to clap as
/// before. `tests::git_calls_read_as_clap_reads_them` holds the two to the same result.
pub fn parse(args: &[OsString]) -> Option<Invocation> {
    let (action, options) = args.split_last()?;
    let action = match action.to_str()? {
        "get" => Command::Get,
        "store" => Command::Store,
        "erase" => Command::Erase,
        _ => return None,
    };
    let mut call = Invocation {
        command: action,
        flags: Flags::default(),
        socket: None,
        use_daemon: None,
    };
    let mut options = options.iter();
    while let Some(option) = options.next() {
        let option = option.to_str()?;
        let (name, value) = match option.split_once('=') {
            Some((name, value)) => (name, OsStr::new(value)),
            None => (option, options.next()?.as_os_str()),
        };
        if value.is_empty() || value.as_encoded_bytes().starts_with(b"-") {
            return None;
        }
        let text = || value.to_str().map(str::to_owned);
        let flags = &mut call.flags;
        match name {
            "--url" if flags.url.is_none() => flags.url = Some(text()?),
            "--username" if flags.username.is_none() => flags.username = Some(text()?),
            "--token-env" => flags.sources.push(TokenSource::Env(text()?)),
            "--token-file" => flags.sources.push(TokenSource::File(value.into())),
            "--token-command" => flags
                .sources
                .push(TokenSource::Command(CommandSource::new(text()?))),
            "--config" if flags.config.is_none() => flags.config = Some(value.into()),
            "--socket" if call.socket.is_none() => call.socket = Some(value.into()),
            "--use-daemon" if call.use_daemon.is_none() => {
                call.use_daemon = Some(value.to_str()?.parse::<Mode>().ok()?)
            }
            _ => return None,
        }
    }
    Some(call)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::args::Cli;
    use crate::cli::settings;
    use clap::{CommandFactory, FromArgMatches};

    fn args(line: &[&str]) -> Vec<OsString> {
        line.iter().map(OsString::from).collect()
    }

    /// Whatever the fast path reads, clap reads to the same action and settings; whatever
    /// is out of the ordinary, the fast path leaves to clap.
    #[test]
    fn git_calls_read_as_clap_reads_them() {
        let read_fast: [&[&str]; 9] = [
            &["get"],
            &["store"],
            &["erase"],
            &["--use-daemon", "never", "get"],
            &["--url", "https://h.example:8443/g", "--username=u", "get"],
            &[
                "--token-env",
                "A",
                "--token-file",
                "/run/t",
                "--token-env=B",
                "get",
            ],
            &[
                "--config",
                "/etc/c.toml",
                "--socket=/run/s.sock",
                "--use-daemon=only",
                "erase",
            ],
            &["--url", "get", "get"],
            &[
                "--token-file",
                "/run/t",
                "--token-command",
                "vault read -field=token gitlab/token",
                "--token-env=A",
                "--token-command=mint",
                "get",
            ],
        ];
        for line in read_fast {
            let call = parse(&args(line)).unwrap_or_else(|| panic!("{line:?}"));
            let argv = std::iter::once("git-credential-gitlab-ci").chain(line.iter().copied());
            let matches = Cli::command().try_get_matches_from(argv).unwrap();
            let cli = Cli::from_arg_matches(&matches).unwrap();
            assert_eq!(
                format!("{:?}", call.command),
                format!("{:?}", cli.command),
                "{line:?}"
            );
            let flags = settings::flags(&cli, &matches);
            assert_eq!(
                format!("{:?}", call.flags),
                format!("{flags:?}"),
                "{line:?}"
            );
            assert_eq!(call.socket, cli.socket, "{line:?}");
            assert_eq!(call.use_daemon, cli.use_daemon, "{line:?}");
        }
        let left_to_clap: [&[&str]; 15] = [
            &[],
            &["status"],
            &["get", "--url", "https://h"],
            &["--url", "https://a", "--url", "https://b", "get"],
            &["--url=", "get"],
            &["--url", "-x", "get"],
            &["--use-daemon", "AUTO", "get"],
            &["--help"],
            &["-h", "get"],
            &["--version"],
            &["--token-env", "get"],
            &["--", "get"],
            &["--unknown", "x", "get"],
            &["daemon", "--detach"],
            &["get", "get"],
        ];
        for line in left_to_clap {
            assert!(parse(&args(line)).is_none(), "{line:?}");
        }
    }
}
