//! Real daemon processes on sockets in short private temp directories, and the tools to talk
//! to them, find them in `/proc`, and make sure none outlives its test.
//!
//! Every wait here has a deadline. A [`Daemon`] (or a [`SocketGuard`] for daemons started
//! some other way) stops whatever daemon holds its socket's lock when dropped: SIGTERM, a
//! short grace, then SIGKILL, so a failing test leaves no process behind.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::helper::run_helper;
use super::process::{Process, Run};
use super::programs::{binary, helper_command};

/// How long a daemon may take to accept connections, and to exit once told to.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(8);

pub const ENV_SOCKET: &str = "GIT_CREDENTIAL_GITLAB_CI_SOCKET";
pub const ENV_USE_DAEMON: &str = "GIT_CREDENTIAL_GITLAB_CI_USE_DAEMON";

/// The frame kinds of the daemon's wire format (magic "GLCI", version 2, kind, u32 BE length).
pub const KIND_GET: u8 = 1;
pub const KIND_ERASE: u8 = 2;
pub const KIND_STATUS: u8 = 3;
pub const KIND_ANSWER: u8 = 16;
pub const KIND_REFUSE: u8 = 17;
pub const KIND_DATA: u8 = 18;

/// A short private directory for sockets: `/tmp/dXXXXXX`, mode 0700 (tempfile leaves it to
/// the umask), ours. A Unix socket path must stay under 108 bytes, which the default temp dir
/// does not promise.
pub fn socket_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("d")
        .tempdir_in("/tmp")
        .expect("create a socket dir in /tmp");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

pub fn lock_path(socket: &Path) -> PathBuf {
    let mut name = socket.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// The pid recorded in `<socket>.lock`, if any.
pub fn lock_pid(socket: &Path) -> Option<u32> {
    std::fs::read_to_string(lock_path(socket))
        .ok()?
        .trim()
        .parse()
        .ok()
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A frame as the client writes it.
pub fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = b"GLCI".to_vec();
    out.push(2);
    out.push(kind);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// One request over the socket, as the client sends it, with a timeout on every step.
/// `Ok(None)`: the daemon closed the connection without an answer.
pub fn raw_request(
    socket: &Path,
    kind: u8,
    payload: &[u8],
    timeout: Duration,
) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(&frame(kind, payload))?;
    read_reply(&mut stream)
}

/// Reads one reply frame; `Ok(None)` on a close (or reset) before a complete header.
pub fn read_reply(stream: &mut UnixStream) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut header = [0u8; 10];
    let mut got = 0;
    while got < header.len() {
        match stream.read(&mut header[got..]) {
            Ok(0) => return Ok(None),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    assert_eq!(&header[..5], b"GLCI\x02", "not a reply frame: {header:?}");
    let len = u32::from_be_bytes([header[6], header[7], header[8], header[9]]) as usize;
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload)?;
    Ok(Some((header[5], payload)))
}

/// The daemon's own report of its state (a status frame), if it answers.
pub fn daemon_state(socket: &Path) -> Option<serde_json::Value> {
    match raw_request(socket, KIND_STATUS, b"", Duration::from_secs(3)) {
        Ok(Some((KIND_DATA, json))) => serde_json::from_slice(&json).ok(),
        _ => None,
    }
}

/// Whether `pid` is a live process (not gone, not a zombie waiting to be reaped).
pub fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses and may hold anything.
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].trim_start().chars().next());
    !matches!(state, None | Some('Z') | Some('X'))
}

/// Waits until `pid` is gone; false if it is still alive at the deadline.
pub fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            raw.split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `pid` is a running daemon of ours (the re-executed process, which alone serves).
pub fn is_our_daemon(pid: u32) -> bool {
    let argv = cmdline(pid);
    let ours = Path::new(binary()).file_name();
    alive(pid)
        && argv.first().map(|a| Path::new(a).file_name()) == Some(ours)
        && argv.iter().any(|a| a == "daemon")
        && argv.iter().any(|a| a == "--handoff-fd")
}

/// Every live daemon process that holds `<socket>.lock` open: by its descriptors where we
/// may read them (as root, or for a dumpable process), else by `/proc/locks`.
pub fn daemons_for(socket: &Path) -> Vec<u32> {
    use std::os::unix::fs::MetadataExt;
    let lock = lock_path(socket);
    let lock_inode = std::fs::metadata(&lock).ok().map(|m| m.ino());
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    let holds_flock = |pid: u32| {
        let Some(ino) = lock_inode else { return false };
        locks.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() >= 6
                && f[1] == "FLOCK"
                && f[4] == pid.to_string()
                && f[5].rsplit(':').next() == Some(&ino.to_string())
        })
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if !is_our_daemon(pid) {
            continue;
        }
        let has_lock_open = match std::fs::read_dir(format!("/proc/{pid}/fd")) {
            Ok(fds) => fds
                .flatten()
                .any(|fd| std::fs::read_link(fd.path()).ok().as_deref() == Some(lock.as_path())),
            Err(_) => holds_flock(pid),
        };
        if has_lock_open {
            found.push(pid);
        }
    }
    found
}

/// SIGTERM, then SIGKILL if `pid` is still alive after a grace period. Only for our daemons.
pub fn terminate(pid: u32) {
    if !is_our_daemon(pid) {
        return;
    }
    // SAFETY: kill has no memory-safety preconditions; the pid was just checked to be ours.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    if !wait_gone(pid, Duration::from_secs(3)) && is_our_daemon(pid) {
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        wait_gone(pid, Duration::from_secs(2));
    }
}

/// Stops, on drop, the daemon that holds `socket`'s lock (whoever started it).
pub struct SocketGuard {
    pub socket: PathBuf,
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        // Only processes that hold the lock file open: a stale pid in it is never signalled.
        for pid in daemons_for(&self.socket) {
            terminate(pid);
        }
    }
}

/// How to start a daemon: options before `daemon`, options after it, and its environment
/// (which starts empty but for HOME, an empty directory, so no user config file is read).
#[derive(Clone)]
pub struct DaemonBuilder {
    socket: PathBuf,
    home: std::sync::Arc<tempfile::TempDir>,
    global: Vec<String>,
    daemon_args: Vec<String>,
    env: Vec<(String, String)>,
}

impl DaemonBuilder {
    pub fn new(socket: &Path) -> DaemonBuilder {
        DaemonBuilder {
            socket: socket.to_path_buf(),
            // Not beside the socket: the daemon creates and checks that directory itself.
            home: std::sync::Arc::new(tempfile::tempdir().expect("create a home dir")),
            global: Vec::new(),
            daemon_args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// An option before `daemon` (`--url`, `--token-file`, ...).
    pub fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Self {
        self.global
            .push(arg.as_ref().to_string_lossy().into_owned());
        self
    }

    /// An option after `daemon` (`--ttl`, `--idle-timeout`, ...).
    pub fn daemon_arg(mut self, arg: &str) -> Self {
        self.daemon_args.push(arg.to_owned());
        self
    }

    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_owned(), value.into()));
        self
    }

    /// The command, not yet run: `binary --socket S <global> daemon [--detach] <daemon args>`.
    pub fn command(&self, detach: bool) -> Command {
        let home = self.home.path();
        let mut cmd = helper_command();
        cmd.arg("--socket")
            .arg(&self.socket)
            .args(&self.global)
            .arg("daemon");
        if detach {
            cmd.arg("--detach");
        }
        cmd.args(&self.daemon_args)
            .env_clear()
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        cmd
    }

    /// `daemon --detach`; panics unless it reports a running daemon.
    pub fn detach(self) -> Daemon {
        let guard = SocketGuard {
            socket: self.socket.clone(),
        };
        let out = Process::new(self.command(true))
            .timeout(START_TIMEOUT + Duration::from_secs(5))
            .run();
        let (stdout, stderr) = (out.stdout_str(), out.stderr_str());
        assert!(
            out.success(),
            "daemon --detach failed: {:?}\nstdout: {stdout}\nstderr: {stderr}",
            out.status
        );
        let pid = running_pid(&stdout)
            .unwrap_or_else(|| panic!("no pid in the --detach message: {stdout:?}"));
        Daemon {
            log: self.socket.with_file_name("daemon.log"),
            socket: self.socket,
            pid,
            child: None,
            _guard: guard,
        }
    }

    /// `daemon` in the foreground, as a child of the test; returns once it answers a status
    /// request. Its stderr (the audit trail, unless `--log-file`) goes to `daemon.stderr`.
    pub fn foreground(self) -> Daemon {
        let guard = SocketGuard {
            socket: self.socket.clone(),
        };
        let log = self.socket.with_file_name("daemon.stderr");
        let mut cmd = self.command(false);
        cmd.stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
            .stderr(Stdio::from(
                std::fs::OpenOptions::new().append(true).open(&log).unwrap(),
            ));
        // A live child, not the bounded runner: the test talks to it, signals it and waits
        // for its exit; `Daemon`'s Drop bounds its life.
        let child = cmd.spawn().expect("the daemon starts");
        let mut daemon = Daemon {
            socket: self.socket,
            pid: child.id(),
            log,
            child: Some(child),
            _guard: guard,
        };
        daemon.wait_ready();
        daemon
    }
}

/// The pid in "git-credential-gitlab-ci daemon: running, pid N, socket S".
pub fn running_pid(stdout: &str) -> Option<u32> {
    let rest = stdout.split("running, pid ").nth(1)?;
    rest.split(',').next()?.trim().parse().ok()
}

/// A daemon started by a test; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Daemon {
    pub socket: PathBuf,
    pub pid: u32,
    /// The file that receives the audit trail.
    pub log: PathBuf,
    child: Option<Child>,
    _guard: SocketGuard,
}

impl Daemon {
    /// Polls with status requests until the daemon answers; panics at the deadline or if a
    /// foreground daemon exits first.
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if daemon_state(&self.socket).is_some() {
                return;
            }
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait().unwrap() {
                    panic!(
                        "the daemon exited during start-up ({status:?}): {}",
                        self.log_text()
                    );
                }
            }
            assert!(
                Instant::now() < deadline,
                "the daemon on {} did not answer within {START_TIMEOUT:?}: {}",
                self.socket.display(),
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log holds `needle`; false at the deadline.
    pub fn log_eventually_contains(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log_text().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// For a foreground daemon: its exit status, waiting at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self
            .child
            .as_mut()
            .expect("only a foreground daemon has a status");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn signal(&self, signal: i32) {
        assert!(
            is_our_daemon(self.pid),
            "pid {} is not our daemon",
            self.pid
        );
        // SAFETY: kill has no memory-safety preconditions; the pid is our daemon.
        unsafe { libc::kill(self.pid as i32, signal) };
    }

    /// A `get` through the real helper binary, daemon only, with no token in its environment.
    pub fn get(&self, host: &str) -> Run {
        get_via(&self.socket, host)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if child.try_wait().ok().flatten().is_none() {
                // SAFETY: as in `signal`; the child is ours and not yet reaped.
                unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
                let deadline = Instant::now() + Duration::from_secs(3);
                while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // `_guard` then stops whatever daemon still holds the socket.
    }
}

/// `get` through the helper binary against `socket`, with `--use-daemon only` semantics.
pub fn get_via(socket: &Path, host: &str) -> Run {
    run_helper(
        &["get"],
        format!("protocol=https\nhost={host}\n").as_bytes(),
        &[
            (ENV_SOCKET, socket.display().to_string()),
            (ENV_USE_DAEMON, "only".to_owned()),
        ],
    )
}
