//! Process hardening for the daemon, and identity checks on both ends of its socket.
//!
//! The daemon holds tokens for hours, so at start it makes itself as hard to read as an
//! unprivileged process can: no core dumps, not dumpable (which also bars ptrace and
//! `/proc/<pid>/mem` for other processes of the same user), and no new privileges for anything
//! it could ever execute. Memory locking is not used: `mlockall` fails or breaks a threaded
//! runtime under ordinary `RLIMIT_MEMLOCK`, and a non-dumpable process already keeps its pages
//! out of core files; SECURITY.md explains the remaining swap exposure.

/// For every process, first thing, before it reads a token: no core file, and not dumpable,
/// so a crash (release builds abort on panic) writes no core holding the job's environment or
/// a token, and no other process of the same user can read our memory or `/proc/<pid>/environ`.
/// Two system calls; `get` pays them too (docs/benchmarks.md). Failures are ignored here: the
/// daemon, which holds tokens for long, checks and logs them through [`harden_process`].
pub fn no_core_dumps() {
    #[cfg(unix)]
    {
        use rustix::process::{setrlimit, Resource, Rlimit};
        let _ = setrlimit(
            Resource::Core,
            Rlimit {
                current: Some(0),
                maximum: Some(0),
            },
        );
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::process::{set_dumpable_behavior, DumpableBehavior};
        let _ = set_dumpable_behavior(DumpableBehavior::NotDumpable);
    }
}

/// What could not be applied, in words, for the log. An empty list means all of it.
pub fn harden_process() -> Vec<String> {
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut missed = Vec::new();
    #[cfg(unix)]
    {
        use rustix::process::{setrlimit, Resource, Rlimit};
        let none = Rlimit {
            current: Some(0),
            maximum: Some(0),
        };
        if let Err(e) = setrlimit(Resource::Core, none) {
            missed.push(format!("RLIMIT_CORE=0: {e}"));
        }
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::process::{set_dumpable_behavior, DumpableBehavior};
        if let Err(e) = set_dumpable_behavior(DumpableBehavior::NotDumpable) {
            missed.push(format!("PR_SET_DUMPABLE=0: {e}"));
        }
        if let Err(e) = rustix::thread::set_no_new_privs(true) {
            missed.push(format!("PR_SET_NO_NEW_PRIVS: {e}"));
        }
    }
    missed
}

/// Our effective user id; `None` where the platform has no such thing.
pub fn our_uid() -> Option<u32> {
    #[cfg(unix)]
    {
        Some(rustix::process::geteuid().as_raw())
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The short command name of a process, for the audit trail (Linux: `/proc/<pid>/comm`).
pub fn command_name(pid: u32) -> Option<String> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::fs::{open, Mode, OFlags};
        // The daemon does this for every request: one open, one read, one close. A command
        // name is at most 15 bytes and a newline, so one read of 64 bytes takes it all.
        let file = open(
            format!("/proc/{pid}/comm"),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        let mut buf = [0u8; 64];
        let n = rustix::io::read(&file, &mut buf).ok()?;
        let comm = std::str::from_utf8(&buf[..n]).ok()?;
        Some(
            comm.trim_end()
                .chars()
                .filter(|c| !c.is_control())
                .collect(),
        )
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = pid;
        None
    }
}

/// Opens a file for reading without blocking on a FIFO or taking a controlling terminal: a
/// path someone else could replace must never hang the caller. Check the type before reading.
#[cfg(unix)]
pub fn open_nonblocking(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(
            rustix::fs::OFlags::NONBLOCK.bits() as i32 | rustix::fs::OFlags::NOCTTY.bits() as i32,
        )
        .open(path)
}

/// Elsewhere there are no FIFOs to fear at these paths.
#[cfg(not(unix))]
pub fn open_nonblocking(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    std::fs::File::open(path)
}

/// Reads `reader` to its end or to `len` bytes, whichever comes first, into a buffer
/// allocated once at `len` bytes and zeroed when dropped. A `Vec` that grows moves its
/// contents and frees the old allocation without zeroing it, and what is read here (a token
/// file, git's answer with a password, a credentials file) may hold a token.
pub fn read_sized(
    reader: &mut impl std::io::Read,
    len: usize,
) -> std::io::Result<zeroize::Zeroizing<Vec<u8>>> {
    let mut buf = zeroize::Zeroizing::new(vec![0u8; len]);
    let mut filled = 0;
    while filled < len {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out at most 3 bytes a read, as a pipe may.
    struct Trickle<'a>(&'a [u8]);

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(out.len()).min(3);
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn read_sized_allocates_once_and_stops_at_its_size() {
        let text = b"glpat-0123456789abcdefghij\n";
        let short = read_sized(&mut Trickle(text), 64).unwrap();
        assert_eq!(&short[..], &text[..]);
        // Allocated once at 64 bytes: a Vec that had grown to hold this would not be 64.
        assert_eq!(short.capacity(), 64);
        let capped = read_sized(&mut Trickle(text), 10).unwrap();
        assert_eq!(&capped[..], &text[..10]);
        assert_eq!(capped.capacity(), 10);
        assert!(read_sized(&mut Trickle(b""), 8).unwrap().is_empty());
    }
}
