//! `status`: finds the URL to check, gathers what the report needs, and prints it as text or
//! JSON. The exit status is 1 when the report holds a problem.

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

use crate::client::Mode;
use crate::config::{Config, Flags, ProcessEnv};
use crate::error::Failure;
use crate::report::{query_daemon, Level, Report};

pub fn run(
    flags: &Flags,
    socket: &Path,
    mode: Mode,
    url: Option<String>,
    json: bool,
) -> Result<ExitCode, Failure> {
    let daemon = query_daemon(socket, mode);
    let target = url
        .map(|u| (u, "given on the command line".to_owned()))
        .or_else(origin_push_url)
        .or_else(ci_project_url);
    let report = Report::build(
        Config::load(flags, &ProcessEnv),
        daemon,
        target,
        SystemTime::now(),
    );
    let text = if json {
        let mut s = serde_json::to_string_pretty(&report).unwrap_or_default();
        s.push('\n');
        s
    } else {
        report.to_text()
    };
    let _ = io::stdout().lock().write_all(text.as_bytes());
    Ok(if report.worst() == Level::Problem {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The push URL of `origin` as written in the config (`pushurl`, else `url`), before any
/// `insteadOf` rewriting, which the report shows as a finding of its own.
fn origin_push_url() -> Option<(String, String)> {
    let get = |key: &str| {
        let out = crate::git::command()
            .args(["config", "--get", key])
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        let url = String::from_utf8(out.stdout).ok()?.trim().to_owned();
        (out.status.success() && !url.is_empty()).then_some(url)
    };
    get("remote.origin.pushurl")
        .or_else(|| get("remote.origin.url"))
        .map(|url| (url, "origin's push URL".to_owned()))
}

/// `$CI_SERVER_URL/$CI_PROJECT_PATH.git`, or the server alone.
fn ci_project_url() -> Option<(String, String)> {
    let server = std::env::var("CI_SERVER_URL")
        .ok()
        .filter(|s| !s.is_empty())?;
    let server = server.trim_end_matches('/');
    Some(
        match std::env::var("CI_PROJECT_PATH")
            .ok()
            .filter(|p| !p.is_empty())
        {
            Some(project) => (
                format!("{server}/{project}.git"),
                "CI_SERVER_URL and CI_PROJECT_PATH".to_owned(),
            ),
            None => (format!("{server}/"), "CI_SERVER_URL".to_owned()),
        },
    )
}
