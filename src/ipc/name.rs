//! Where the socket is: the name the daemon listens on and the client connects to.

use std::path::Path;

/// The interprocess name for a socket path: a file path on Unix, a pipe name on Windows.
pub fn socket_name(socket: &Path) -> std::io::Result<interprocess::local_socket::Name<'_>> {
    #[cfg(unix)]
    {
        use interprocess::local_socket::{GenericFilePath, ToFsName};
        socket.to_fs_name::<GenericFilePath>()
    }
    #[cfg(not(unix))]
    {
        use interprocess::local_socket::{GenericNamespaced, ToNsName};
        socket.as_os_str().to_ns_name::<GenericNamespaced>()
    }
}
