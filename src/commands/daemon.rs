//! `daemon` and `stop`: start the process that holds the tokens, and stop it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::cli::{DaemonArgs, LogFormat};
use crate::client;
use crate::config::{Config, Flags, ProcessEnv};
use crate::daemon::{self, Settings};
use crate::error::{Error, Failure};
use crate::ipc::{JobIdentity, Kind};

/// `socket` is the one the user named; without one, the daemon chooses the default.
pub fn run(flags: &Flags, socket: Option<PathBuf>, args: DaemonArgs) -> Result<ExitCode, Failure> {
    let fail = |e: String| Failure::new("daemon", Error::Daemon(e));
    #[cfg(unix)]
    if let Some(fd) = args.handoff_fd {
        return daemon::serve_handoff(fd, args.ready_fd).map_err(fail);
    }
    let config = Config::load(flags, &ProcessEnv).map_err(|e| Failure::new("daemon", e))?;
    // The job it is started in, told to every helper that asks: a helper of another job does
    // not use it. In a job, it also stops by itself once the job must be over.
    let job = JobIdentity::from_env();
    let ttl = args.ttl.or_else(|| {
        job.is_job()
            .then(|| daemon::job_ttl(std::env::var("CI_JOB_TIMEOUT").ok().as_deref()))
    });
    // In a job, the default directory is the job's own (see `daemon::default_candidates`).
    let socket = match socket {
        Some(socket) => socket,
        None => daemon::choose_default_socket().map_err(|e| fail(e.to_string()))?,
    };
    let log_file = args
        .log_file
        .or_else(|| args.detach.then(|| socket.with_file_name("daemon.log")));
    let settings = Settings {
        socket,
        idle_timeout: args.idle_timeout,
        ttl,
        log_json: args.log_format == LogFormat::Json,
        log_file,
        job,
    };
    daemon::start(config, settings, args.detach).map_err(fail)
}

pub fn stop(socket: &Path) -> Result<ExitCode, Failure> {
    client::request(socket, Kind::Stop, b"").map_err(|e| Failure::new("stop", e))?;
    // The daemon removes its socket as its last act; wait for that, briefly.
    let deadline = Instant::now() + Duration::from_secs(10);
    while socket.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // A failed write is an error with a message, never a panic: with `panic = "abort"` a
    // panic would dump core.
    let said = writeln!(
        std::io::stdout(),
        "git-credential-gitlab-ci: the daemon on {} has stopped",
        socket.display()
    );
    said.map_err(|e| {
        Failure::new(
            "stop",
            Error::Daemon(format!(
                "the daemon stopped, but stdout cannot be written: {e}"
            )),
        )
    })?;
    Ok(ExitCode::SUCCESS)
}
