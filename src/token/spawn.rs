//! Running a shell command with a deadline, for token commands: `/bin/sh -c CMD` with stdin
//! on `/dev/null`, stdout and stderr read into buffers sized once and zeroed on drop, in its
//! own process group, which is killed (SIGKILL) at the deadline or once the command has
//! exited while something it left behind still holds its output open.
//!
//! `posix_spawn` rather than `std::process::Command`: the environment is passed as a block
//! the caller keeps zeroed (or as this process's own), where `Command` would copy every
//! variable into buffers of its own that are freed without zeroing; and the child gets its
//! own process group without code between fork and exec.

#[cfg(unix)]
use std::ffi::CString;
#[cfg(unix)]
use std::io::Read;
#[cfg(unix)]
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;
#[cfg(unix)]
use std::time::Instant;

#[cfg(unix)]
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use zeroize::Zeroizing;

/// How a run ended. (Elsewhere than Unix no command runs, so none is made.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(unix), allow(dead_code))]
pub enum End {
    Exited(i32),
    Signalled(i32),
    TimedOut,
    /// It ended, but its exit status could not be read (someone else reaped it).
    Lost,
}

pub struct Ran {
    pub end: End,
    pub stdout: Zeroizing<Vec<u8>>,
    pub stderr: Zeroizing<Vec<u8>>,
    /// stdout went past its cap; the command was killed.
    pub overflow: bool,
}

#[cfg(unix)]
extern "C" {
    static environ: *const *const libc::c_char;
}

#[cfg(unix)]
/// How often a run looks for the command's exit while its output is still open.
const TICK: Duration = Duration::from_millis(20);

#[cfg(unix)]
/// Runs `/bin/sh -c command` with `env` (`NAME=VALUE\0` entries; `None`: this process's
/// environment) until it exits and closes its output, or until `timeout` has passed, when
/// its process group is killed. At most `out_cap` bytes of stdout are kept (more is
/// [`Ran::overflow`], and the command is killed), and `err_cap` of stderr. `Err` says why
/// it could not be started.
pub fn run(
    command: &str,
    env: Option<&[u8]>,
    timeout: Duration,
    out_cap: usize,
    err_cap: usize,
) -> Result<Ran, String> {
    let unstartable = |what: &str, e: std::io::Error| format!("{what}: {}", e.kind());
    let argv_c = [
        CString::new("/bin/sh").expect("no NUL"),
        CString::new("-c").expect("no NUL"),
        CString::new(command).map_err(|_| "it contains a NUL byte".to_owned())?,
    ];
    let argv: [*const libc::c_char; 4] = [
        argv_c[0].as_ptr(),
        argv_c[1].as_ptr(),
        argv_c[2].as_ptr(),
        std::ptr::null(),
    ];
    // Pointers into the zeroed block; the block outlives the spawn.
    let env_ptrs: Option<Vec<*const libc::c_char>> = env.map(|block| {
        let mut ptrs = Vec::new();
        let mut start = 0;
        for (i, &b) in block.iter().enumerate() {
            if b == 0 {
                ptrs.push(block[start..].as_ptr().cast());
                start = i + 1;
            }
        }
        ptrs.push(std::ptr::null());
        ptrs
    });
    let null = std::fs::File::open("/dev/null").map_err(|e| unstartable("/dev/null", e))?;
    let pipe = || {
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| unstartable("a pipe", e.into()))
    };
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;

    let mut pid: libc::pid_t = 0;
    // SAFETY: the attribute and action objects are initialised before use and destroyed
    // after; every pointer passed (argv, envp, the path) stays valid for the call.
    let spawned = unsafe {
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        libc::posix_spawn_file_actions_init(&mut actions);
        libc::posix_spawnattr_init(&mut attr);
        libc::posix_spawn_file_actions_adddup2(&mut actions, null.as_raw_fd(), 0);
        libc::posix_spawn_file_actions_adddup2(&mut actions, out_w.as_raw_fd(), 1);
        libc::posix_spawn_file_actions_adddup2(&mut actions, err_w.as_raw_fd(), 2);
        // Its own process group, so the deadline kills all it started; signals we ignore
        // (SIGPIPE, as every Rust program does) back to their defaults; nothing blocked.
        let mut defaults: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut defaults);
        for sig in [
            libc::SIGPIPE,
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGCHLD,
        ] {
            libc::sigaddset(&mut defaults, sig);
        }
        let mut mask: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut mask);
        libc::posix_spawnattr_setsigdefault(&mut attr, &defaults);
        libc::posix_spawnattr_setsigmask(&mut attr, &mask);
        libc::posix_spawnattr_setpgroup(&mut attr, 0);
        libc::posix_spawnattr_setflags(
            &mut attr,
            (libc::POSIX_SPAWN_SETPGROUP
                | libc::POSIX_SPAWN_SETSIGDEF
                | libc::POSIX_SPAWN_SETSIGMASK) as _,
        );
        let envp = match &env_ptrs {
            Some(p) => p.as_ptr(),
            None => environ,
        };
        let rc = libc::posix_spawn(
            &mut pid,
            argv[0],
            &actions,
            &attr,
            argv.as_ptr() as *const *mut libc::c_char,
            envp as *const *mut libc::c_char,
        );
        libc::posix_spawn_file_actions_destroy(&mut actions);
        libc::posix_spawnattr_destroy(&mut attr);
        rc
    };
    drop((out_w, err_w, null));
    if spawned != 0 {
        return Err(unstartable(
            "/bin/sh",
            std::io::Error::from_raw_os_error(spawned),
        ));
    }
    Ok(collect(
        pid,
        out_r,
        err_r,
        Instant::now() + timeout,
        out_cap,
        err_cap,
    ))
}

#[cfg(unix)]
/// Reads both pipes until they close and the command exits, or until the deadline.
fn collect(
    pid: libc::pid_t,
    out_r: OwnedFd,
    err_r: OwnedFd,
    deadline: Instant,
    out_cap: usize,
    err_cap: usize,
) -> Ran {
    // Sized once, and zeroed on drop: stdout holds the token.
    let mut stdout = Zeroizing::new(vec![0u8; out_cap + 1]);
    let mut stderr = Zeroizing::new(vec![0u8; err_cap]);
    let mut scratch = Zeroizing::new([0u8; 4096]);
    let (mut out_len, mut err_len) = (0, 0);
    let mut out = Some(std::fs::File::from(out_r));
    let mut err = Some(std::fs::File::from(err_r));
    let mut overflow = false;
    // The command is reaped only once we are done with its process group: until then its
    // pid, and so its group's id, cannot be given to another process.
    let mut exited = false;
    let mut settle = Duration::from_micros(50);
    let timed_out = loop {
        if !exited {
            exited = has_exited(pid);
        }
        if exited && out.is_none() && err.is_none() {
            break false;
        }
        let now = Instant::now();
        if now >= deadline || overflow {
            kill_group(pid);
            break !overflow;
        }
        if out.is_none() && err.is_none() {
            // Both pipes closed, and the command has not exited yet: it is usually a matter
            // of microseconds (a process closes its files before it becomes a zombie), so
            // look again soon, rather than after a tick.
            std::thread::sleep(settle.min(deadline - now));
            settle = (settle * 2).min(TICK);
            continue;
        }
        // After the command exited, its output is drained for as long as it comes at once: a
        // process it left behind may hold the pipes open.
        let wait = if exited {
            Duration::ZERO
        } else {
            (deadline - now).min(TICK)
        };
        let timeout = Timespec {
            tv_sec: wait.as_secs() as _,
            tv_nsec: wait.subsec_nanos() as _,
        };
        let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(2);
        if let Some(f) = &out {
            fds.push(PollFd::new(f, PollFlags::IN));
        }
        if let Some(f) = &err {
            fds.push(PollFd::new(f, PollFlags::IN));
        }
        let ready = match poll(&mut fds, Some(&timeout)) {
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => {
                std::thread::sleep(TICK);
                0
            }
        };
        let readable: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        drop(fds);
        if ready == 0 {
            if exited {
                // Exited, and nothing more came at once: what is left holds our pipes.
                kill_group(pid);
                out = None;
                err = None;
            }
            continue;
        }
        let mut i = 0;
        if out.is_some() {
            if readable[i] {
                let f = out.as_mut().expect("checked");
                let got = if out_len < stdout.len() {
                    f.read(&mut stdout[out_len..])
                } else {
                    f.read(&mut scratch[..])
                };
                match got {
                    Ok(0) | Err(_) => out = None,
                    Ok(n) if out_len < stdout.len() => {
                        out_len += n;
                        overflow = out_len > out_cap;
                    }
                    Ok(_) => overflow = true,
                }
            }
            i += 1;
        }
        if err.is_some() && readable[i] {
            let f = err.as_mut().expect("checked");
            let got = if err_len < stderr.len() {
                f.read(&mut stderr[err_len..])
            } else {
                f.read(&mut scratch[..])
            };
            match got {
                Ok(0) | Err(_) => err = None,
                Ok(n) if err_len < stderr.len() => err_len += n,
                Ok(_) => {}
            }
        }
    };
    let status = reap(pid);
    stdout.truncate(out_len.min(out_cap));
    stderr.truncate(err_len);
    Ran {
        end: if timed_out { End::TimedOut } else { status },
        stdout,
        stderr,
        overflow,
    }
}

#[cfg(unix)]
/// Whether the command has exited, without reaping it (`WNOWAIT`).
fn has_exited(pid: libc::pid_t) -> bool {
    loop {
        // SAFETY: waitid on our own child, into a siginfo we own; zeroed, as POSIX sets only
        // si_signo and si_pid to zero when nothing has changed under WNOHANG.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        if rc == -1 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            // ECHILD: already reaped by someone else (SIGCHLD ignored); it has exited.
            return true;
        }
        return info.si_signo != 0;
    }
}

#[cfg(unix)]
/// Reaps the command (it has exited, or was killed), and says how it ended.
fn reap(pid: libc::pid_t) -> End {
    let mut status = 0;
    loop {
        // SAFETY: waitpid on our own child, with a status we own.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if rc != pid {
            return End::Lost;
        }
        return if libc::WIFEXITED(status) {
            End::Exited(libc::WEXITSTATUS(status))
        } else {
            End::Signalled(libc::WTERMSIG(status))
        };
    }
}

#[cfg(unix)]
/// SIGKILL to the command's whole process group.
fn kill_group(pid: libc::pid_t) {
    // SAFETY: a signal to the process group our child leads.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
}

/// Token commands run through `/bin/sh`, on Unix only.
#[cfg(not(unix))]
pub fn run(
    _command: &str,
    _env: Option<&[u8]>,
    _timeout: Duration,
    _out_cap: usize,
    _err_cap: usize,
) -> Result<Ran, String> {
    Err("token commands run through /bin/sh, on Unix only".into())
}
