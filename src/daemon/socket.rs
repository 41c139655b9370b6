//! Where the daemon's socket lives, and the checks that make it ours alone.
//!
//! The socket sits in a directory of its own that must be a real directory (not a symlink),
//! owned by us, with no access for group or others. One daemon per socket is guaranteed by an
//! exclusive `flock` on `<socket>.lock`, held for the daemon's whole life: only the holder
//! may remove or create the socket, so a loser of a start-up race can never unlink a live
//! daemon's socket, and the kernel drops the lock of a SIGKILLed daemon, so the next start
//! reclaims its stale socket.
//!
//! The default socket is the first of a few candidates (see [`default_candidates`]) whose
//! directory can be made: so a uid whose HOME cannot be written (Kubernetes, OpenShift) gets
//! one under `TMPDIR`. A default directory must also sit where no other user can move it away:
//! every directory above it is ours or root's, and none is writable by group or others unless
//! it is root's and sticky, as `/tmp` is ([`check_parents`]).

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
// The directory checks that construct most variants are Unix-only.
#[cfg_attr(not(unix), allow(dead_code))]
pub enum SocketError {
    #[error("cannot create the socket directory {}: {source}; choose another with --socket PATH", dir.display())]
    CreateDir { dir: PathBuf, source: io::Error },
    #[error("the socket directory's parent {} can be changed by other users (owner uid {owner}, mode {mode:04o}), who could move the socket away; choose a --socket PATH under a directory only you (or root) can write", dir.display())]
    UnsafeParent { dir: PathBuf, owner: u32, mode: u32 },
    #[error("no usable directory for the daemon's socket: {tried}; name one with --socket PATH (or GIT_CREDENTIAL_GITLAB_CI_SOCKET) in a directory only this user can write (in Kubernetes, a subdirectory of an emptyDir: see docs/kubernetes.md)")]
    NoDefault { tried: String },
    #[error("the socket directory {} is a symlink; use a real directory", dir.display())]
    Symlink { dir: PathBuf },
    #[error("{} is not a directory", dir.display())]
    NotADirectory { dir: PathBuf },
    #[error("the socket directory {} belongs to uid {owner}, not to us (uid {ours}); choose another --socket", dir.display())]
    NotOurs { dir: PathBuf, owner: u32, ours: u32 },
    #[error("the socket directory {} is open to other users (mode {mode:04o}); fix: chmod 700 {}", dir.display(), dir.display())]
    OpenToOthers { dir: PathBuf, mode: u32 },
    #[error("a daemon is already running on {}{}", socket.display(), pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    AlreadyRunning { socket: PathBuf, pid: Option<u32> },
    #[error("{} is not a socket, and the daemon will not replace it: remove it, or choose another --socket PATH", path.display())]
    NotASocket { path: PathBuf },
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

/// The default socket for the helper, `status` and `stop`: the first of
/// [`default_candidates`] where a socket file exists (one `lstat` each), else the first. A
/// daemon started without `--socket` took the first whose directory it could make, so this
/// finds it; the client's own checks (owner, peer uid) still apply to whatever is there.
pub fn default_socket_path() -> PathBuf {
    let candidates = default_candidates();
    candidates
        .iter()
        .find(|c| std::fs::symlink_metadata(c).is_ok())
        .or(candidates.first())
        .cloned()
        .unwrap_or_else(|| PathBuf::from("daemon.sock"))
}

/// Where a daemon started without `--socket` listens: the first of [`default_candidates`]
/// whose directory can be made, checked as [`prepare_dir`] and [`check_parents`] check it.
/// A directory that cannot be made (an unwritable HOME) moves on to the next; one that is
/// unsafe is an error, so an attack is reported rather than worked around.
pub fn choose_default_socket() -> Result<PathBuf, SocketError> {
    let mut tried = Vec::new();
    for socket in default_candidates() {
        match prepare_dir(&socket).and_then(|()| check_parents(&socket)) {
            Ok(()) => return Ok(socket),
            Err(SocketError::CreateDir { dir, source }) => {
                tried.push(format!("cannot create {}: {source}", dir.display()))
            }
            Err(e) => return Err(e),
        }
    }
    Err(SocketError::NoDefault {
        tried: tried.join("; "),
    })
}

/// The default sockets, in order: under `$XDG_RUNTIME_DIR`, under the user's cache directory
/// (`$XDG_CACHE_HOME`, else `~/.cache`), and under `$TMPDIR` (else `/tmp`) in a directory
/// named with our uid: `.../git-credential-gitlab-ci/daemon.sock`, or inside a GitLab job
/// (`CI_JOB_ID` set) `.../git-credential-gitlab-ci/job-<CI_JOB_ID>/daemon.sock`, so that
/// concurrent jobs of one uid and one HOME (a shell executor) each start and reach their own
/// daemon. Relative directories are left out. On Windows, one named pipe of the same name.
pub fn default_candidates() -> Vec<PathBuf> {
    let job = job_dir_name(std::env::var_os("CI_JOB_ID").as_deref());
    #[cfg(windows)]
    {
        let user = std::env::var("USERNAME").unwrap_or_default();
        let job = job.map(|j| format!("-{j}")).unwrap_or_default();
        vec![PathBuf::from(format!(
            "git-credential-gitlab-ci-{user}{job}"
        ))]
    }
    #[cfg(not(windows))]
    {
        // `get` computes these on every call, so they are built from the three variables
        // directly, each path in one allocation: the same directories `directories`
        // gives (an absolute XDG_RUNTIME_DIR; an absolute XDG_CACHE_HOME, else
        // $HOME/.cache), without computing the other base directories.
        let job = job.as_deref();
        let mut out: Vec<PathBuf> = Vec::with_capacity(3);
        let mut push = |base: &std::ffi::OsStr, extra: &str| {
            let socket = socket_under(base, extra, job);
            // Compared as bytes: `Path`'s own equality parses both into components.
            let seen = out.iter().any(|o| o.as_os_str() == socket.as_os_str());
            if socket.is_absolute() && !seen {
                out.push(socket);
            }
        };
        let var = |key: &str| std::env::var_os(key).filter(|v| Path::new(v).is_absolute());
        if let Some(runtime) = var("XDG_RUNTIME_DIR") {
            push(&runtime, "");
        }
        match var("XDG_CACHE_HOME") {
            Some(cache) => push(&cache, ""),
            None => match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
                Some(home) => push(&home, ".cache"),
                // No HOME: the account's home directory, as `directories` finds it.
                None => {
                    if let Some(base) = directories::BaseDirs::new() {
                        push(base.cache_dir().as_os_str(), "");
                    }
                }
            },
        }
        let tmp = std::env::temp_dir();
        let uid = crate::hardening::our_uid().unwrap_or(0);
        push(tmp.as_os_str(), &format!("git-credential-gitlab-ci-{uid}"));
        out
    }
}

/// `base[/extra]/git-credential-gitlab-ci[/job]/daemon.sock`, in one allocation.
#[cfg(not(windows))]
fn socket_under(base: &std::ffi::OsStr, extra: &str, job: Option<&str>) -> PathBuf {
    const TAIL: &str = "git-credential-gitlab-ci/daemon.sock";
    let len = base.len() + extra.len() + TAIL.len() + job.map_or(0, |j| j.len() + 1) + 3;
    let mut path = PathBuf::with_capacity(len);
    path.push(base);
    if !extra.is_empty() {
        path.push(extra);
    }
    path.push("git-credential-gitlab-ci");
    if let Some(job) = job {
        path.push(job);
    }
    path.push("daemon.sock");
    path
}

/// `job-<id>` for a job's own socket directory, or `None` outside a job. GitLab's job ids are
/// numbers; anything else is named by a hash, so a hostile `CI_JOB_ID` (`../x`) cannot
/// choose the path.
fn job_dir_name(job_id: Option<&std::ffi::OsStr>) -> Option<String> {
    let id = job_id.filter(|v| !v.is_empty())?.to_string_lossy();
    if id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit()) {
        return Some(format!("job-{id}"));
    }
    use sha2::Digest;
    let hash = sha2::Sha256::digest(id.as_bytes());
    let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    Some(format!("job-x{hex}"))
}

/// Creates the socket's directory (mode 0700) if needed and checks that it is ours alone.
#[cfg(unix)]
pub fn prepare_dir(socket: &Path) -> Result<(), SocketError> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};

    let dir = socket
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        // Directories we make on the way are private too (the fallback under /tmp above all).
        if !parent.is_dir() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|source| SocketError::CreateDir {
                    dir: parent.to_path_buf(),
                    source,
                })?;
        }
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(source) => {
            return Err(SocketError::CreateDir {
                dir: dir.to_path_buf(),
                source,
            })
        }
    }
    let meta = std::fs::symlink_metadata(dir).map_err(|source| SocketError::Io {
        what: "cannot inspect",
        path: dir.to_path_buf(),
        source,
    })?;
    let dir = dir.to_path_buf();
    if meta.file_type().is_symlink() {
        return Err(SocketError::Symlink { dir });
    }
    if !meta.is_dir() {
        return Err(SocketError::NotADirectory { dir });
    }
    let ours = crate::hardening::our_uid().unwrap_or(0);
    if meta.uid() != ours {
        return Err(SocketError::NotOurs {
            dir,
            owner: meta.uid(),
            ours,
        });
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SocketError::OpenToOthers { dir, mode });
    }
    Ok(())
}

#[cfg(not(unix))]
pub fn prepare_dir(_socket: &Path) -> Result<(), SocketError> {
    Ok(())
}

/// Checks every directory above the socket's, as resolved: each must be ours or root's, and
/// none writable by group or others unless it is root's and sticky (`/tmp`). Otherwise
/// another user could rename our directory away, or put their own in its place. Applied to
/// the default directories; a `--socket` is the user's choice, and only its own directory is
/// checked ([`prepare_dir`]).
#[cfg(unix)]
pub fn check_parents(socket: &Path) -> Result<(), SocketError> {
    use std::os::unix::fs::MetadataExt;
    let Some(dir) = socket.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    let resolved = dir.canonicalize().map_err(|source| SocketError::Io {
        what: "cannot resolve",
        path: dir.to_path_buf(),
        source,
    })?;
    let ours = crate::hardening::our_uid().unwrap_or(0);
    for parent in resolved.ancestors().skip(1) {
        let meta = std::fs::metadata(parent).map_err(|source| SocketError::Io {
            what: "cannot inspect",
            path: parent.to_path_buf(),
            source,
        })?;
        let mode = meta.mode() & 0o7777;
        if !parent_is_safe(meta.uid(), mode, ours) {
            return Err(SocketError::UnsafeParent {
                dir: parent.to_path_buf(),
                owner: meta.uid(),
                mode,
            });
        }
    }
    Ok(())
}

#[cfg(not(unix))]
pub fn check_parents(_socket: &Path) -> Result<(), SocketError> {
    Ok(())
}

/// A directory above the socket's is safe when it is ours or root's, and writable only by
/// its owner, or root's with the sticky bit (then only an entry's owner may rename it).
#[cfg_attr(not(unix), allow(dead_code))]
fn parent_is_safe(owner: u32, mode: u32, ours: u32) -> bool {
    let writable_by_others = mode & 0o022 != 0;
    let sticky = mode & 0o1000 != 0;
    match owner {
        0 => !writable_by_others || sticky,
        o if o == ours => !writable_by_others,
        _ => false,
    }
}

/// The exclusive lock that makes a daemon the one owner of its socket. Dropping it (or the
/// process dying) releases it.
pub struct InstanceLock {
    _file: std::fs::File,
}

impl InstanceLock {
    pub fn path_for(socket: &Path) -> PathBuf {
        let mut name = socket.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    }

    /// Takes the lock without waiting, and records our pid in it for others' messages.
    #[cfg(unix)]
    pub fn acquire(socket: &Path) -> Result<InstanceLock, SocketError> {
        use std::io::{Read, Seek, Write};
        use std::os::unix::fs::OpenOptionsExt;

        let path = Self::path_for(socket);
        let io_err = |what, source| SocketError::Io {
            what,
            path: path.clone(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&path)
            .map_err(|e| io_err("cannot open the lock file", e))?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => {
                // The winner may be between truncating the file and writing its pid.
                let mut pid = String::new();
                for _ in 0..5 {
                    pid.clear();
                    let _ = file.rewind();
                    let _ = file.read_to_string(&mut pid);
                    if !pid.trim().is_empty() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                return Err(SocketError::AlreadyRunning {
                    socket: socket.to_path_buf(),
                    pid: pid.trim().parse().ok(),
                });
            }
            Err(e) => return Err(io_err("cannot lock", e.into())),
        }
        file.set_len(0).map_err(|e| io_err("cannot write", e))?;
        file.rewind().map_err(|e| io_err("cannot write", e))?;
        write!(file, "{}", std::process::id()).map_err(|e| io_err("cannot write", e))?;
        Ok(InstanceLock { _file: file })
    }

    #[cfg(not(unix))]
    pub fn acquire(socket: &Path) -> Result<InstanceLock, SocketError> {
        let path = Self::path_for(socket);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(std::env::temp_dir().join(path.file_name().unwrap_or_default()))
            .map_err(|source| SocketError::Io {
                what: "cannot open the lock file",
                path,
                source,
            })?;
        Ok(InstanceLock { _file: file })
    }
}

/// The pid of a live daemon holding the instance lock for `socket`, if any. Used by `status`
/// to tell a daemon whose socket was removed from no daemon at all. It takes a shared lock
/// for an instant, so a daemon starting in that same instant may report "already running".
#[cfg(unix)]
pub fn lock_holder(socket: &Path) -> Option<u32> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking, so a FIFO planted at the lock's path cannot hang `status`; and only a
    // regular file is read.
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(
            (rustix::fs::OFlags::NOFOLLOW
                | rustix::fs::OFlags::NONBLOCK
                | rustix::fs::OFlags::NOCTTY)
                .bits() as i32,
        )
        .open(InstanceLock::path_for(socket))
        .ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockShared) {
        Ok(()) => None,
        Err(rustix::io::Errno::WOULDBLOCK) => {
            let mut pid = String::new();
            file.read_to_string(&mut pid).ok()?;
            pid.trim().parse().ok()
        }
        Err(_) => None,
    }
}

#[cfg(not(unix))]
pub fn lock_holder(_socket: &Path) -> Option<u32> {
    None
}

/// Identifies the socket file we bound, so the daemon notices when it is removed or replaced.
#[cfg(unix)]
pub fn identity(socket: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(socket)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
pub fn identity(_socket: &Path) -> Option<(u64, u64)> {
    Some((0, 0))
}

/// Removes a socket file left by a daemon that died without cleaning up. Only the holder of
/// the instance lock calls this, so the file cannot belong to a live daemon. Anything but a
/// socket at the path (a file, a FIFO, a symlink) is not ours to remove: that is an error.
pub fn remove_stale(socket: &Path) -> Result<(), SocketError> {
    match std::fs::symlink_metadata(socket) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(SocketError::Io {
            what: "cannot inspect",
            path: socket.to_path_buf(),
            source,
        }),
        #[cfg(unix)]
        Ok(meta) if !std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()) => {
            Err(SocketError::NotASocket {
                path: socket.to_path_buf(),
            })
        }
        Ok(_) => std::fs::remove_file(socket).map_err(|source| SocketError::Io {
            what: "cannot remove the stale socket",
            path: socket.to_path_buf(),
            source,
        }),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_default_candidates_are_the_directories_crates_dirs() {
        // The same directories `directories` gives, for this process's environment.
        let base = directories::BaseDirs::new().unwrap();
        let job = job_dir_name(std::env::var_os("CI_JOB_ID").as_deref());
        let mut want: Vec<PathBuf> = Vec::new();
        let tmp = std::env::temp_dir().join(format!(
            "git-credential-gitlab-ci-{}",
            crate::hardening::our_uid().unwrap()
        ));
        for dir in [
            base.runtime_dir().map(Path::to_path_buf),
            Some(base.cache_dir().to_path_buf()),
            Some(tmp),
        ]
        .into_iter()
        .flatten()
        .filter(|d| d.is_absolute())
        {
            let mut socket = dir.join("git-credential-gitlab-ci");
            if let Some(job) = &job {
                socket.push(job);
            }
            socket.push("daemon.sock");
            if !want.contains(&socket) {
                want.push(socket);
            }
        }
        assert_eq!(default_candidates(), want);
        let built = socket_under("/run/user/1".as_ref(), "", Some("job-7"));
        assert_eq!(
            built,
            Path::new("/run/user/1/git-credential-gitlab-ci/job-7/daemon.sock")
        );
        assert!(built.capacity() >= built.as_os_str().len());
        assert_eq!(
            socket_under("/home/u".as_ref(), ".cache", None),
            Path::new("/home/u/.cache/git-credential-gitlab-ci/daemon.sock")
        );
    }

    #[test]
    fn the_directory_is_created_private_and_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let socket = tmp.path().join("run").join("daemon.sock");
        prepare_dir(&socket).unwrap();
        let mode = std::fs::metadata(socket.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);

        std::fs::set_permissions(
            socket.parent().unwrap(),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        assert!(matches!(
            prepare_dir(&socket),
            Err(SocketError::OpenToOthers { mode: 0o755, .. })
        ));

        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(socket.parent().unwrap(), &link).unwrap();
        assert!(matches!(
            prepare_dir(&link.join("daemon.sock")),
            Err(SocketError::Symlink { .. })
        ));
    }

    #[test]
    fn each_job_has_its_own_socket_directory_named_safely() {
        let name = |id: &str| job_dir_name(Some(std::ffi::OsStr::new(id)));
        assert_eq!(job_dir_name(None), None);
        assert_eq!(name(""), None, "an empty CI_JOB_ID is no job");
        assert_eq!(name("1").as_deref(), Some("job-1"));
        assert_eq!(name("12345678901").as_deref(), Some("job-12345678901"));
        for hostile in ["../../etc", "1/2", "a b", "1\n2", &"9".repeat(21)] {
            let got = name(hostile).unwrap();
            assert!(
                got.starts_with("job-x") && got.len() == 21,
                "{hostile:?}: {got}"
            );
            assert!(got[4..].bytes().all(|b| b.is_ascii_alphanumeric()), "{got}");
        }
        assert_ne!(name("../a"), name("../b"));
    }

    #[test]
    fn a_parent_is_safe_when_only_we_or_root_can_move_what_is_in_it() {
        const US: u32 = 1000;
        for (owner, mode, safe) in [
            (0, 0o755, true),      // /, /home, /run
            (0, 0o1777, true),     // /tmp
            (0, 0o700, true),      // /root
            (US, 0o700, true),     // our HOME
            (US, 0o755, true),     // our HOME, readable
            (0, 0o777, false),     // an emptyDir, or a /tmp without its sticky bit
            (0, 0o775, false),     // root's, group-writable
            (US, 0o777, false),    // ours, but open to everyone
            (US, 0o1777, false),   // ours and sticky: not root's, refused all the same
            (US, 0o770, false),    // ours, group-writable
            (65534, 0o700, false), // another user's
            (65534, 0o1777, false),
        ] {
            assert_eq!(
                parent_is_safe(owner, mode, US),
                safe,
                "owner {owner} mode {mode:o}"
            );
        }
        // As root, "ours" and root are the same.
        assert!(parent_is_safe(0, 0o755, 0));
    }

    #[test]
    fn the_parents_of_a_socket_directory_are_checked_as_they_are_on_disk() {
        let tmp = tempfile::tempdir().unwrap();
        let socket = tmp.path().join("a").join("b").join("daemon.sock");
        prepare_dir(&socket).unwrap();
        // Made on the way: private as well.
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        check_parents(&socket).unwrap();

        std::fs::set_permissions(tmp.path().join("a"), std::fs::Permissions::from_mode(0o777))
            .unwrap();
        match check_parents(&socket) {
            Err(SocketError::UnsafeParent { dir, mode, .. }) => {
                assert_eq!(dir, tmp.path().join("a").canonicalize().unwrap());
                assert_eq!(mode, 0o777);
            }
            other => panic!("expected UnsafeParent, got {other:?}"),
        }
        // Through a symlink, the directory it resolves to is checked.
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(tmp.path().join("a"), &link).unwrap();
        assert!(matches!(
            check_parents(&link.join("b").join("daemon.sock")),
            Err(SocketError::UnsafeParent { .. })
        ));
        std::fs::set_permissions(tmp.path().join("a"), std::fs::Permissions::from_mode(0o700))
            .unwrap();
        check_parents(&link.join("b").join("daemon.sock")).unwrap();
    }

    #[test]
    fn only_one_holder_of_the_instance_lock() {
        let tmp = tempfile::tempdir().unwrap();
        let socket = tmp.path().join("daemon.sock");
        let first = InstanceLock::acquire(&socket).unwrap();
        match InstanceLock::acquire(&socket) {
            Err(SocketError::AlreadyRunning { pid, .. }) => {
                assert_eq!(pid, Some(std::process::id()))
            }
            other => panic!("expected AlreadyRunning, got {:?}", other.err()),
        }
        drop(first);
        InstanceLock::acquire(&socket).unwrap();
    }
}
