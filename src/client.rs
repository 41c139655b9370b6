//! The helper's side of the socket: a synchronous, std-only client with short timeouts.
//!
//! It runs on git's `get` path, so it starts no runtime: one `stat`, one connect, one write,
//! one read. Before it sends anything it checks that the socket and the process behind it
//! belong to our own uid, so a socket planted by someone else never receives a request.

use std::io::{self, Read, Write};
use std::path::Path;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::ipc::{self, FrameError, Kind, HEADER_LEN};

/// Sending and reading each get this long: a wedged daemon must not hang git. It is longer
/// than the daemon's own per-connection deadline (1 s), so a request that waits for a free
/// connection slot behind silent peers is still answered.
#[cfg_attr(not(unix), allow(dead_code))]
pub const TIMEOUT: Duration = Duration::from_millis(2500);

/// Whether `get` asks a daemon: `auto` (if one is reachable), `only` (never answer
/// standalone) or `never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Auto,
    Only,
    Never,
}

impl Mode {
    /// Every mode's name, as the command line and the environment spell them.
    pub const NAMES: [&'static str; 3] = ["auto", "only", "never"];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Only => "only",
            Mode::Never => "never",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "auto" => Ok(Mode::Auto),
            "only" => Ok(Mode::Only),
            "never" => Ok(Mode::Never),
            _ => Err(format!("expected one of {}", Mode::NAMES.join(", "))),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no daemon is running on {0}")]
    NotRunning(String),
    #[error("the socket {0} was left by a daemon that is no longer running")]
    Stale(String),
    #[error("the socket {path} belongs to uid {owner}, not to us")]
    NotOurs { path: String, owner: u32 },
    #[error("the daemon on the socket runs as uid {0}, not as us")]
    PeerNotOurs(u32),
    #[error("cannot reach the daemon: {0}")]
    Io(#[from] io::Error),
    #[error("the daemon's answer is not understood: {0}")]
    Frame(#[from] FrameError),
}

/// Sends one frame and returns the daemon's reply.
pub fn request(
    socket: &Path,
    kind: Kind,
    payload: &[u8],
) -> Result<(Kind, Zeroizing<Vec<u8>>), ClientError> {
    let mut stream = connect(socket)?;
    let mut out = Zeroizing::new(Vec::with_capacity(HEADER_LEN + payload.len()));
    ipc::encode_into(kind, payload, &mut out);
    stream.write_all(&out)?;
    stream.flush()?;
    // The daemon writes its reply at once, so one read usually takes it all; exact reads
    // fetch whatever is still missing. Both buffers are zeroed: an answer holds the token.
    let mut first = Zeroizing::new([0u8; 2048]);
    let mut got = 0;
    while got < HEADER_LEN {
        match stream.read(&mut first[got..]) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let header = first[..HEADER_LEN].try_into().expect("HEADER_LEN bytes");
    let h = ipc::parse_header(header)?;
    let mut reply = Zeroizing::new(vec![0u8; h.len]);
    let have = (got - HEADER_LEN).min(h.len);
    reply[..have].copy_from_slice(&first[HEADER_LEN..HEADER_LEN + have]);
    stream.read_exact(&mut reply[have..])?;
    Ok((h.kind, reply))
}

#[cfg(unix)]
fn connect(socket: &Path) -> Result<std::os::unix::net::UnixStream, ClientError> {
    use rustix::net::{
        connect, socket_with, AddressFamily, SocketAddrUnix, SocketFlags, SocketType,
    };
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    let shown = || socket.display().to_string();
    let meta = match std::fs::symlink_metadata(socket) {
        Ok(m) if m.file_type().is_socket() => m,
        Ok(_) => return Err(ClientError::NotRunning(shown())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(ClientError::NotRunning(shown()))
        }
        Err(e) => return Err(e.into()),
    };
    let ours = crate::hardening::our_uid().unwrap_or(0);
    if meta.uid() != ours {
        return Err(ClientError::NotOurs {
            path: shown(),
            owner: meta.uid(),
        });
    }
    // Non-blocking connect: a full backlog answers EAGAIN at once instead of blocking git.
    let fd = socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )
    .map_err(io::Error::from)?;
    let addr = SocketAddrUnix::new(socket).map_err(io::Error::from)?;
    match connect(&fd, &addr) {
        Ok(()) => {}
        Err(rustix::io::Errno::CONNREFUSED) => return Err(ClientError::Stale(shown())),
        Err(rustix::io::Errno::NOENT) => return Err(ClientError::NotRunning(shown())),
        Err(e) => return Err(io::Error::from(e).into()),
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let peer = rustix::net::sockopt::socket_peercred(&fd).map_err(io::Error::from)?;
        if peer.uid.as_raw() != ours {
            return Err(ClientError::PeerNotOurs(peer.uid.as_raw()));
        }
    }
    rustix::io::ioctl_fionbio(&fd, false).map_err(io::Error::from)?;
    let stream = std::os::unix::net::UnixStream::from(fd);
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    Ok(stream)
}

#[cfg(not(unix))]
fn connect(socket: &Path) -> Result<interprocess::local_socket::Stream, ClientError> {
    use interprocess::local_socket::prelude::*;
    let name = crate::ipc::socket_name(socket)?;
    interprocess::local_socket::Stream::connect(name).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ClientError::NotRunning(socket.display().to_string()),
        _ => ClientError::Io(e),
    })
}
