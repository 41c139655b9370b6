//! The daemon: one hardened process that holds the job's tokens in memory and answers the
//! helper over a local socket, so the job can drop its token variables.
//!
//! Start-up, in order:
//!
//! 1. `daemon` (the process the user ran) loads the configuration, reads every token from
//!    the environment, and checks the socket directory, so that mistakes show in the job log;
//! 2. it re-executes itself with an empty environment, handing settings and tokens over a
//!    pipe ([`handoff`]); with `--detach` the new process is in its own session with no stdio
//!    of ours, and the caller waits on a second pipe until the socket accepts connections;
//! 3. the daemon hardens itself ([`crate::hardening`]), takes the instance lock, reclaims a
//!    stale socket, binds, and serves ([`server`]) until a signal, `stop`, `--ttl` or
//!    `--idle-timeout` ends it; then it removes its socket and its tokens are zeroed on drop.

mod audit;
mod handoff;
mod server;
mod socket;

pub use handoff::{decode as decode_handoff, Settings};
pub use socket::{choose_default_socket, default_socket_path, lock_holder};

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use interprocess::local_socket::ListenerOptions;

use self::socket::InstanceLock;
use crate::config::Config;
use crate::credential::Credential;
use crate::token::{CommandEnv, TokenSource};

/// The log level when `GIT_CREDENTIAL_GITLAB_CI_LOG` does not say: the audit trail is at info.
const DEFAULT_LOG: &str = "info";

/// How long a daemon started in a job without `--ttl` runs when the job's environment does
/// not give its timeout: GitLab's default job timeout.
pub const JOB_TTL_BOUND: std::time::Duration = std::time::Duration::from_secs(3600);

/// The TTL of a daemon started in a job without `--ttl`: the job's timeout, which GitLab gives
/// in `CI_JOB_TIMEOUT` (seconds), so the daemon cannot outlive the job it was started in;
/// [`JOB_TTL_BOUND`] when that is unset or not a positive number of seconds.
pub fn job_ttl(job_timeout: Option<&str>) -> std::time::Duration {
    job_timeout
        .and_then(|t| t.trim().parse::<u64>().ok())
        .filter(|secs| *secs > 0)
        .map(std::time::Duration::from_secs)
        .unwrap_or(JOB_TTL_BOUND)
}

/// `daemon`, as the user runs it.
pub fn start(config: Config, settings: Settings, detach: bool) -> Result<ExitCode, String> {
    if config.credentials.is_empty() {
        return Err("nothing to serve: pass --url, add a [[credential]] to a config file, or start it inside a GitLab CI job".to_owned());
    }
    // Token commands run in the daemon, whose own environment is cleared, with the one this
    // process was started with: read only when some credential has a command.
    let env = config
        .credentials
        .iter()
        .flat_map(|c| &c.sources)
        .any(|s| matches!(s, TokenSource::Command(_)))
        .then(|| Arc::new(CommandEnv::capture()));
    let held: Vec<Credential> = config
        .credentials
        .iter()
        .map(|c| Credential {
            sources: c
                .sources
                .iter()
                .map(|s| match (s, &env) {
                    (TokenSource::Command(c), Some(env)) => {
                        TokenSource::Command(c.in_daemon(Arc::clone(env)))
                    }
                    _ => s.hold(),
                })
                .collect(),
            ..c.clone()
        })
        .collect();
    if let Some(name) = settings.job.too_long() {
        return Err(format!(
            "{name} is longer than {} bytes; a GitLab job's is not",
            crate::ipc::MAX_JOB_FIELD
        ));
    }
    socket::prepare_dir(&settings.socket).map_err(|e| e.to_string())?;
    #[cfg(unix)]
    {
        reexec::run(&settings, &held, detach)
    }
    #[cfg(not(unix))]
    {
        let _ = detach;
        serve(settings, held, None)
    }
}

/// The re-executed daemon: reads the handoff from `fd`, then serves.
#[cfg(unix)]
pub fn serve_handoff(fd: i32, ready_fd: Option<i32>) -> Result<ExitCode, String> {
    use std::os::fd::FromRawFd;
    // SAFETY: these descriptors were placed at these numbers for us by the starting process
    // (see `reexec`) and nothing else in this process owns them.
    let mut input = unsafe { std::fs::File::from_raw_fd(fd) };
    let ready = ready_fd.map(|fd| unsafe { std::fs::File::from_raw_fd(fd) });
    let decoded = reexec::read_handoff(&mut input);
    drop(input);
    match decoded {
        Ok((settings, credentials)) => serve(settings, credentials, ready),
        Err(e) => report_failure(ready, &e.to_string()),
    }
}

/// A failure during start-up: told to the waiting `--detach` caller through the readiness
/// pipe when there is one (this process has no stderr then), else returned to be printed.
fn report_failure(ready: Option<std::fs::File>, message: &str) -> Result<ExitCode, String> {
    match ready {
        Some(mut r) => {
            let _ = writeln!(r, "error {message}");
            Ok(ExitCode::FAILURE)
        }
        None => Err(message.to_owned()),
    }
}

fn serve(
    settings: Settings,
    credentials: Vec<Credential>,
    ready: Option<std::fs::File>,
) -> Result<ExitCode, String> {
    let missed = crate::hardening::harden_process();
    if let Err(e) = init_logging(&settings) {
        return report_failure(ready, &e);
    }
    for m in missed {
        tracing::warn!(event = "hardening", "could not apply {m}");
    }
    let lock = match socket::prepare_dir(&settings.socket)
        .and_then(|()| InstanceLock::acquire(&settings.socket))
        .and_then(|lock| socket::remove_stale(&settings.socket).map(|()| lock))
    {
        Ok(lock) => lock,
        Err(e) => return report_failure(ready, &e.to_string()),
    };
    // One thread: a request is a few microseconds of work, so a second worker only adds
    // cross-thread wake-ups (futexes, work stealing) and takes a core from the clients. On a
    // 2-core runner this serves more requests per second, for less CPU each, than two workers.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return report_failure(ready, &format!("cannot start the runtime: {e}")),
    };
    let socket_path = settings.socket.clone();
    let daemon = Arc::new(server::Daemon::new(credentials, settings));
    let served = runtime.block_on(async {
        let listener = match bind(&socket_path) {
            Ok(l) => l,
            Err(e) => {
                return Err(format!("cannot listen on {}: {e}", socket_path.display()));
            }
        };
        tracing::info!(event = "ready", pid = std::process::id(), socket = %socket_path.display(), credentials = daemon.credentials.len(), job_id = daemon.settings.job.job_id.as_deref().unwrap_or_default(), ttl_secs = daemon.settings.ttl.map(|t| t.as_secs()));
        if let Some(mut r) = ready {
            let _ = writeln!(r, "ready {}", std::process::id());
        }
        server::run(listener, Arc::clone(&daemon)).await;
        Ok(())
    });
    runtime.shutdown_timeout(server::SHUTDOWN_GRACE);
    #[cfg(unix)]
    {
        let _ = std::fs::remove_file(&socket_path);
    }
    tracing::info!(event = "stopped", socket = %socket_path.display());
    // The tokens are zeroed as the last reference to them goes; the lock goes after the socket.
    drop(daemon);
    drop(lock);
    served
        .map(|()| ExitCode::SUCCESS)
        .inspect_err(|e| tracing::error!("{e}"))
}

fn bind(socket: &Path) -> std::io::Result<interprocess::local_socket::tokio::Listener> {
    let name = crate::ipc::socket_name(socket)?;
    let options = ListenerOptions::new().name(name).reclaim_name(false);
    #[cfg(unix)]
    let options = {
        use interprocess::os::unix::local_socket::ListenerOptionsExt;
        options.mode(0o600)
    };
    options.create_tokio()
}

/// The daemon logs its audit trail at info by default, to stderr or `--log-file`, as text or
/// JSON lines. Tokens have no `Display`, so none can reach a log line.
fn init_logging(settings: &Settings) -> Result<(), String> {
    use tracing::level_filters::LevelFilter;
    let level = std::env::var(crate::logging::ENV_LOG)
        .unwrap_or_else(|_| DEFAULT_LOG.to_owned())
        .parse::<LevelFilter>()
        .unwrap_or(LevelFilter::INFO);
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .with_timer(AuditTime);
    let result = match (&settings.log_file, settings.log_json) {
        (Some(path), json) => {
            let file = open_log(path)
                .map_err(|e| format!("cannot open the log file {}: {e}", path.display()))?;
            let writer = std::sync::Mutex::new(file);
            if json {
                builder.json().with_writer(writer).try_init()
            } else {
                builder.with_ansi(false).with_writer(writer).try_init()
            }
        }
        (None, true) => builder.json().with_writer(std::io::stderr).try_init(),
        (None, false) => builder.with_writer(std::io::stderr).try_init(),
    };
    result.map_err(|e| e.to_string())
}

/// The audit trail's timestamps, in tracing's own format (`2026-11-25T13:15:54.537716Z`),
/// written by humantime, which puts the digits straight into a buffer: tracing's formatter
/// makes seven `format!` calls, and the daemon writes a timestamp for every request.
struct AuditTime;

impl tracing_subscriber::fmt::time::FormatTime for AuditTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        let now = std::time::SystemTime::now();
        match now.duration_since(std::time::UNIX_EPOCH) {
            // humantime covers 1970 to 9999; a clock outside that gets tracing's formatter.
            Ok(since) if since.as_secs() < 253_402_300_800 => {
                write!(w, "{}", humantime::format_rfc3339_micros(now))
            }
            _ => tracing_subscriber::fmt::time::SystemTime.format_time(w),
        }
    }
}

/// Opens (or creates, mode 0600) the audit log for appending. The log may sit in a directory
/// others can write to, so the path is not followed if it is a symlink, the open does not
/// block (a FIFO planted there would otherwise hang the daemon's start until someone reads
/// it), and anything but a regular file is refused before a byte is written.
fn open_log(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use rustix::fs::OFlags;
        use std::os::unix::fs::OpenOptionsExt;
        options
            .mode(0o600)
            .custom_flags((OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY).bits() as i32);
    }
    // A FIFO with no reader answers a non-blocking open for writing with ENXIO.
    let file = options.open(path).map_err(|e| {
        if cfg!(unix) && e.raw_os_error() == Some(libc::ENXIO) {
            std::io::Error::other("it is not a regular file (a FIFO or a device)")
        } else {
            e
        }
    })?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("it is not a regular file"));
    }
    #[cfg(unix)]
    {
        // Writes to a regular file never block; clear the flag so nothing can tell.
        use rustix::fs::OFlags;
        let flags = rustix::fs::fcntl_getfl(&file)?;
        rustix::fs::fcntl_setfl(&file, flags - OFlags::NONBLOCK)?;
    }
    Ok(file)
}

#[cfg(unix)]
mod reexec {
    //! Unix start-up: re-execute with an empty environment and hand the tokens over a pipe.

    use super::*;
    use std::io::Read;
    use std::os::fd::{AsRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use zeroize::Zeroizing;

    /// Where the handoff and readiness pipes land in the new process.
    const HANDOFF_FD: i32 = 3;
    const READY_FD: i32 = 4;
    /// How long `--detach` waits for the daemon to accept connections.
    const READY_TIMEOUT: Duration = Duration::from_secs(10);

    pub fn run(settings: &Settings, held: &[Credential], detach: bool) -> Result<ExitCode, String> {
        let payload = handoff::encode(settings, held);
        let mut framed = Zeroizing::new(Vec::with_capacity(4 + payload.len()));
        framed.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        framed.extend_from_slice(&payload);
        drop(payload);

        let exe =
            std::env::current_exe().map_err(|e| format!("cannot find our own executable: {e}"))?;
        let (hand_r, hand_w) = high_pipe()?;
        let mut cmd = Command::new(exe);
        cmd.arg("daemon")
            .arg("--handoff-fd")
            .arg(HANDOFF_FD.to_string())
            .env_clear()
            .stdin(Stdio::null());
        if let Some(level) = std::env::var_os(crate::logging::ENV_LOG) {
            cmd.env(crate::logging::ENV_LOG, level);
        }
        let hand_raw = hand_r.as_raw_fd();

        if !detach {
            // The pipe must hold everything before exec: nobody is left to write after it.
            if framed.len() > 65536 {
                rustix::pipe::fcntl_setpipe_size(&hand_w, framed.len()).map_err(|e| {
                    format!(
                        "cannot hand {} bytes of settings to the daemon: {e}",
                        framed.len()
                    )
                })?;
            }
            let mut writer = std::fs::File::from(hand_w);
            writer
                .write_all(&framed)
                .map_err(|e| format!("cannot hand over to the daemon: {e}"))?;
            drop(writer);
            drop(framed);
            // SAFETY: only async-signal-safe calls (dup2) between fork and exec.
            unsafe {
                cmd.pre_exec(move || place_fd(hand_raw, HANDOFF_FD));
            }
            let e = cmd.exec();
            return Err(format!("cannot start the daemon: {e}"));
        }

        let (ready_r, ready_w) = high_pipe()?;
        let ready_raw = ready_w.as_raw_fd();
        cmd.arg("--ready-fd")
            .arg(READY_FD.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls (setsid, dup2, close_range or fcntl) between
        // fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setsid() == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                place_fd(hand_raw, HANDOFF_FD)?;
                place_fd(ready_raw, READY_FD)?;
                close_on_exec_from(READY_FD + 1);
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start the daemon: {e}"))?;
        drop(hand_r);
        drop(ready_w);
        let mut writer = std::fs::File::from(hand_w);
        let _ = writer.write_all(&framed);
        drop(writer);
        drop(framed);

        let answer = read_ready(ready_r)?;
        if let Some(pid) = answer.strip_prefix("ready ") {
            // A failed write is an error with a message, never a panic (see `stop`).
            let said = writeln!(
                std::io::stdout(),
                "git-credential-gitlab-ci daemon: running, pid {}, socket {}",
                pid.trim(),
                settings.socket.display()
            );
            return said.map(|()| ExitCode::SUCCESS).map_err(|e| {
                format!(
                    "the daemon is running (pid {}), but stdout cannot be written: {e}",
                    pid.trim()
                )
            });
        }
        let _ = child.wait();
        match answer.strip_prefix("error ") {
            Some(message) => Err(message.trim().to_owned()),
            None => Err("the daemon exited during start-up".to_owned()),
        }
    }

    /// A CLOEXEC pipe whose ends sit at fd 10 or above, so that placing them at 3 and 4 in the
    /// child can never overwrite one with the other.
    fn high_pipe() -> Result<(OwnedFd, OwnedFd), String> {
        use rustix::io::fcntl_dupfd_cloexec;
        let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| format!("cannot create a pipe: {e}"))?;
        let r = fcntl_dupfd_cloexec(&r, 10).map_err(|e| format!("cannot create a pipe: {e}"))?;
        let w = fcntl_dupfd_cloexec(&w, 10).map_err(|e| format!("cannot create a pipe: {e}"))?;
        Ok((r, w))
    }

    /// In the child, between fork and exec: `dup2` clears close-on-exec on the copy.
    fn place_fd(from: i32, to: i32) -> std::io::Result<()> {
        // SAFETY: dup2 on descriptors we own; async-signal-safe.
        if unsafe { libc::dup2(from, to) } == -1 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// In the child, between fork and exec: every descriptor from `first` on is marked
    /// close-on-exec, so the detached daemon keeps none that the caller left open (a job's
    /// `exec 3>&1`, a `7>&1` on the command line): a reader of such a pipe would otherwise
    /// wait for the daemon to end. Marked rather than closed, so that the standard library's
    /// own close-on-exec pipe still reports a failed exec.
    fn close_on_exec_from(first: i32) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            // SAFETY: a system call on plain integers; async-signal-safe. Linux 5.11 and later.
            let done = unsafe {
                libc::syscall(
                    libc::SYS_close_range,
                    first as libc::c_uint,
                    libc::c_uint::MAX,
                    libc::CLOSE_RANGE_CLOEXEC,
                )
            } == 0;
            if done {
                return;
            }
        }
        // Older kernels and other systems: each descriptor up to the limit, one by one.
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we own; async-signal-safe.
        let max = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
            limit.rlim_cur.min(1 << 20) as i32
        } else {
            1024
        };
        for fd in first..max {
            // SAFETY: fcntl on a descriptor number; one that is not open gives EBADF.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }

    fn read_ready(ready: OwnedFd) -> Result<String, String> {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut file = std::fs::File::from(ready);
        let mut answer = Vec::new();
        let mut buf = [0u8; 512];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("the daemon did not become ready in time".to_owned());
            }
            let timeout = Timespec {
                tv_sec: left.as_secs() as i64,
                tv_nsec: left.subsec_nanos() as _,
            };
            let mut fds = [PollFd::new(&file, PollFlags::IN)];
            match poll(&mut fds, Some(&timeout)) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(format!("cannot wait for the daemon: {e}")),
            }
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if answer.contains(&b'\n') || answer.len() > 4096 {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("cannot wait for the daemon: {e}")),
            }
        }
        Ok(String::from_utf8_lossy(&answer).into_owned())
    }

    /// Reads the length-prefixed handoff into a buffer of exactly its size.
    pub fn read_handoff(
        input: &mut impl Read,
    ) -> Result<(Settings, Vec<Credential>), handoff::HandoffError> {
        let mut len = [0u8; 4];
        input
            .read_exact(&mut len)
            .map_err(|_| handoff::HandoffError::Malformed)?;
        let len = u32::from_be_bytes(len) as usize;
        if len > handoff::MAX_HANDOFF_BYTES {
            return Err(handoff::HandoffError::TooLarge);
        }
        let mut buf = Zeroizing::new(vec![0u8; len]);
        input
            .read_exact(&mut buf)
            .map_err(|_| handoff::HandoffError::Malformed)?;
        handoff::decode(&buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_job_daemon_lives_as_long_as_the_jobs_timeout_or_an_hour() {
        assert_eq!(job_ttl(Some("5400")), Duration::from_secs(5400));
        assert_eq!(job_ttl(Some(" 2 ")), Duration::from_secs(2));
        for unusable in [
            None,
            Some(""),
            Some("0"),
            Some("-5"),
            Some("1h"),
            Some("9e9"),
        ] {
            assert_eq!(job_ttl(unusable), JOB_TTL_BOUND, "{unusable:?}");
        }
        assert_eq!(JOB_TTL_BOUND, Duration::from_secs(3600));
    }
}
