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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_named_as_the_command_line_spells_them() {
        assert_eq!(Mode::default(), Mode::Auto);
        for (name, mode) in Mode::NAMES
            .iter()
            .zip([Mode::Auto, Mode::Only, Mode::Never])
        {
            assert_eq!(name.parse::<Mode>(), Ok(mode));
            assert_eq!(mode.as_str(), *name);
            assert_eq!(serde_json::to_string(&mode).unwrap(), format!("\"{name}\""));
        }
        assert_eq!(
            "Auto".parse::<Mode>(),
            Err("expected one of auto, only, never".to_owned())
        );
        assert!("".parse::<Mode>().is_err());
    }

    #[cfg(unix)]
    mod socket {
        use super::super::*;
        use crate::ipc::MAX_PAYLOAD;
        use std::os::unix::net::{UnixListener, UnixStream};
        use std::path::PathBuf;
        use std::thread::JoinHandle;
        use std::time::Instant;

        /// The longest any step of the fake server waits, so a broken test fails, not hangs.
        const LIMIT: Duration = Duration::from_secs(10);

        /// A one-connection server on a socket in a temporary directory, running `script`.
        struct Fake<T> {
            _dir: tempfile::TempDir,
            path: PathBuf,
            server: JoinHandle<T>,
        }

        impl<T: Send + 'static> Fake<T> {
            fn start(script: impl FnOnce(&mut UnixStream) -> T + Send + 'static) -> Fake<T> {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("daemon.sock");
                let listener = UnixListener::bind(&path).unwrap();
                let server = std::thread::spawn(move || {
                    let mut stream = accept(&listener);
                    script(&mut stream)
                });
                Fake {
                    _dir: dir,
                    path,
                    server,
                }
            }

            fn finish(self) -> T {
                self.server.join().expect("the fake server panicked")
            }
        }

        fn accept(listener: &UnixListener) -> UnixStream {
            listener.set_nonblocking(true).unwrap();
            let deadline = Instant::now() + LIMIT;
            loop {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        stream.set_read_timeout(Some(LIMIT)).unwrap();
                        stream.set_write_timeout(Some(LIMIT)).unwrap();
                        return stream;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        assert!(Instant::now() < deadline, "nobody connected");
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            }
        }

        /// Reads one frame as the daemon would: header, then exactly its payload.
        fn read_request(stream: &mut UnixStream) -> (Kind, Vec<u8>) {
            let mut header = [0u8; HEADER_LEN];
            stream.read_exact(&mut header).unwrap();
            let h = ipc::parse_header(&header).unwrap();
            let mut payload = vec![0u8; h.len];
            stream.read_exact(&mut payload).unwrap();
            (h.kind, payload)
        }

        fn frame(kind: Kind, payload: &[u8]) -> Vec<u8> {
            let mut out = Vec::new();
            ipc::encode_into(kind, payload, &mut out);
            out
        }

        /// The header of an empty Data frame, with bytes `at..` replaced by `with`.
        fn header(at: usize, with: &[u8]) -> Vec<u8> {
            let mut out = frame(Kind::Data, b"");
            out[at..at + with.len()].copy_from_slice(with);
            out
        }

        /// A server that reads the request, writes `reply` and closes.
        fn replying(reply: Vec<u8>) -> Fake<(Kind, Vec<u8>)> {
            Fake::start(move |s| {
                let got = read_request(s);
                s.write_all(&reply).unwrap();
                got
            })
        }

        #[test]
        fn a_request_and_its_reply_make_the_round_trip() {
            let fake = replying(frame(Kind::Answer, b"username=u\npassword=p\n"));
            let (kind, reply) =
                request(&fake.path, Kind::Get, b"protocol=https\nhost=h\n").unwrap();
            assert_eq!(kind, Kind::Answer);
            assert_eq!(&reply[..], b"username=u\npassword=p\n");
            assert_eq!(
                fake.finish(),
                (Kind::Get, b"protocol=https\nhost=h\n".to_vec())
            );
        }

        #[test]
        fn an_empty_request_and_an_empty_reply() {
            let fake = replying(frame(Kind::Data, b""));
            let (kind, reply) = request(&fake.path, Kind::Status, b"").unwrap();
            assert_eq!((kind, reply.len()), (Kind::Data, 0));
            assert_eq!(fake.finish(), (Kind::Status, Vec::new()));
        }

        #[test]
        fn a_reply_in_pieces_and_longer_than_the_first_read_is_read_whole() {
            let payload: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
            let reply = frame(Kind::Data, &payload);
            let fake = Fake::start(move |s| {
                read_request(s);
                // The header split in two, then the payload in uneven parts.
                for part in [
                    &reply[..3],
                    &reply[3..HEADER_LEN + 1],
                    &reply[HEADER_LEN + 1..],
                ] {
                    s.write_all(part).unwrap();
                    s.flush().unwrap();
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
            let (kind, got) = request(&fake.path, Kind::Status, b"").unwrap();
            assert_eq!(kind, Kind::Data);
            assert_eq!(&got[..], &payload[..]);
            fake.finish();
        }

        #[test]
        fn a_missing_socket_means_no_daemon_is_running() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("absent.sock");
            let err = request(&path, Kind::Get, b"").unwrap_err();
            assert!(
                matches!(&err, ClientError::NotRunning(p) if *p == path.display().to_string()),
                "{err:?}"
            );
            assert_eq!(
                err.to_string(),
                format!("no daemon is running on {}", path.display())
            );
        }

        #[test]
        fn a_file_that_is_not_a_socket_means_no_daemon_is_running() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("plain-file");
            std::fs::write(&path, b"not a socket").unwrap();
            let err = request(&path, Kind::Get, b"").unwrap_err();
            assert!(matches!(err, ClientError::NotRunning(_)), "{err:?}");
            std::fs::create_dir(dir.path().join("a-dir")).unwrap();
            let err = request(&dir.path().join("a-dir"), Kind::Get, b"").unwrap_err();
            assert!(matches!(err, ClientError::NotRunning(_)), "{err:?}");
        }

        #[test]
        fn a_socket_nobody_listens_on_is_stale() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("left.sock");
            drop(UnixListener::bind(&path).unwrap());
            assert!(path.exists(), "the socket file outlives its listener");
            let err = request(&path, Kind::Get, b"").unwrap_err();
            assert!(
                matches!(&err, ClientError::Stale(p) if *p == path.display().to_string()),
                "{err:?}"
            );
        }

        #[test]
        fn a_connection_has_the_clients_timeouts() {
            let fake = Fake::start(|_| ());
            let stream = connect(&fake.path).unwrap();
            assert_eq!(stream.read_timeout().unwrap(), Some(TIMEOUT));
            assert_eq!(stream.write_timeout().unwrap(), Some(TIMEOUT));
            fake.finish();
        }

        fn eof(err: &ClientError) -> bool {
            matches!(err, ClientError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof)
        }

        #[test]
        fn a_server_that_closes_without_a_reply_is_an_error() {
            let fake = Fake::start(|s| {
                read_request(s);
            });
            let err = request(&fake.path, Kind::Get, b"protocol=https\nhost=h\n").unwrap_err();
            assert!(eof(&err), "{err:?}");
            fake.finish();
        }

        #[test]
        fn a_server_that_closes_before_reading_is_an_error() {
            let fake = Fake::start(|s| {
                let _ = s.shutdown(std::net::Shutdown::Both);
            });
            // Whether the write or the read notices first depends on timing: both are errors.
            let err = request(&fake.path, Kind::Get, b"protocol=https\nhost=h\n").unwrap_err();
            assert!(matches!(err, ClientError::Io(_)), "{err:?}");
            fake.finish();
        }

        #[test]
        fn a_reply_cut_short_in_the_header_or_the_payload_is_an_error() {
            let whole = frame(Kind::Answer, &[b'x'; 100]);
            for cut in [
                1,
                HEADER_LEN - 1,
                HEADER_LEN,
                HEADER_LEN + 50,
                whole.len() - 1,
            ] {
                let fake = replying(whole[..cut].to_vec());
                let err = request(&fake.path, Kind::Get, b"").unwrap_err();
                assert!(eof(&err), "cut at {cut}: {err:?}");
                assert_eq!(fake.finish(), (Kind::Get, Vec::new()));
            }
        }

        #[test]
        fn an_oversized_reply_is_refused_from_its_header() {
            let len = MAX_PAYLOAD as u32 + 1;
            let fake = replying(header(6, &len.to_be_bytes()));
            let err = request(&fake.path, Kind::Status, b"").unwrap_err();
            assert!(
                matches!(err, ClientError::Frame(FrameError::TooLarge(n)) if n == len),
                "{err:?}"
            );
            fake.finish();
            let fake = replying(header(6, &u32::MAX.to_be_bytes()));
            let err = request(&fake.path, Kind::Status, b"").unwrap_err();
            assert!(
                matches!(err, ClientError::Frame(FrameError::TooLarge(u32::MAX))),
                "{err:?}"
            );
            fake.finish();
        }

        #[test]
        fn a_garbled_reply_is_refused() {
            for (reply, expected) in [
                (header(0, b"HTTP"), FrameError::BadMagic),
                (
                    b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec(),
                    FrameError::BadMagic,
                ),
                (header(4, &[99]), FrameError::Version(99)),
                (header(5, &[99]), FrameError::Kind(99)),
            ] {
                let fake = replying(reply);
                let err = request(&fake.path, Kind::Status, b"").unwrap_err();
                assert!(
                    matches!(&err, ClientError::Frame(e) if *e == expected),
                    "{expected:?}: {err:?}"
                );
                fake.finish();
            }
        }

        #[test]
        fn a_silent_server_times_out_instead_of_hanging() {
            let (done, wait) = std::sync::mpsc::channel::<()>();
            let fake = Fake::start(move |s| {
                read_request(s);
                // Holds the connection open, saying nothing, until the client has given up.
                let _ = wait.recv_timeout(LIMIT);
            });
            let started = Instant::now();
            let err = request(&fake.path, Kind::Get, b"protocol=https\nhost=h\n").unwrap_err();
            let took = started.elapsed();
            let _ = done.send(());
            assert!(
                matches!(&err, ClientError::Io(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)),
                "{err:?}"
            );
            assert!(took >= TIMEOUT - Duration::from_millis(100), "{took:?}");
            assert!(took < TIMEOUT + Duration::from_secs(5), "{took:?}");
            fake.finish();
        }
    }
}
