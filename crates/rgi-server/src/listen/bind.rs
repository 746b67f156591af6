//! Binding listeners: TCP with socket2 (backlog, `SO_REUSEADDR`), Unix
//! sockets with permissions, and sockets inherited by descriptor number
//! (`--fd N`, systemd's `LISTEN_FDS`, a supervisor's workers).
//!
//! Binding and listening are two steps: a socket is bound early (so a bad
//! address or a port in use is refused before the app starts), and
//! listens only once lifespan startup has completed
//! ([`BoundSocket::into_listener`]), so that no client is queued on a
//! server that is not ready. Binding happens before the tokio runtime
//! exists when a supervisor binds for its workers, so a bound socket is a
//! plain [`socket2::Socket`] until then.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use socket2::{Domain, SockAddr, Socket, Type};

use super::{ListenAddr, Listener};

/// One thing to listen on, as the command line names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindSpec {
    /// A TCP address (`--bind`).
    Tcp(SocketAddr),
    /// A Unix socket path, with the permissions to give it (`--uds`).
    Unix {
        /// The socket file.
        path: PathBuf,
        /// Its mode, e.g. `0o660`; `None` leaves what the umask gives.
        mode: Option<u32>,
    },
    /// A listening socket inherited as descriptor `N` (`--fd`).
    Fd(RawFd),
    /// The sockets systemd passed (`LISTEN_FDS`, `LISTEN_PID`).
    Systemd,
}

impl fmt::Display for BindSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindSpec::Tcp(addr) => write!(f, "{addr}"),
            BindSpec::Unix { path, .. } => write!(f, "unix:{}", path.display()),
            BindSpec::Fd(fd) => write!(f, "fd {fd}"),
            BindSpec::Systemd => f.write_str("systemd sockets"),
        }
    }
}

/// A bound, listening socket not yet registered with a runtime.
#[derive(Debug)]
pub struct BoundSocket {
    socket: Socket,
    unix: bool,
}

impl BindSpec {
    /// Binds, without listening yet (inherited sockets may already
    /// listen).
    pub fn bind(&self) -> io::Result<Vec<BoundSocket>> {
        match self {
            BindSpec::Tcp(addr) => bind_tcp(*addr).map(|s| vec![s]),
            BindSpec::Unix { path, mode } => bind_unix(path, *mode).map(|s| vec![s]),
            BindSpec::Fd(fd) => Ok(vec![BoundSocket::inherited(*fd)?]),
            BindSpec::Systemd => systemd_sockets(),
        }
    }
}

fn bind_tcp(addr: SocketAddr) -> io::Result<BoundSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    // What every server sets: a restarted server can bind while the old
    // one's connections are in TIME_WAIT.
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        // `[::]` means IPv6 only, so that `--bind 0.0.0.0:80 --bind [::]:80`
        // works everywhere.
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    Ok(BoundSocket {
        socket,
        unix: false,
    })
}

fn bind_unix(path: &Path, mode: Option<u32>) -> io::Result<BoundSocket> {
    remove_stale_socket(path)?;
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.bind(&SockAddr::unix(path)?)?;
    // Permissions before listening: no client connects with the umask's.
    if let Some(mode) = mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(BoundSocket { socket, unix: true })
}

/// A socket file left by a server that did not remove it is removed; one
/// a server still listens on, or a file that is not a socket, is an error.
fn remove_stale_socket(path: &Path) -> io::Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        ));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{}: another server is listening on it", path.display()),
        )),
        Err(_) => std::fs::remove_file(path),
    }
}

/// The sockets systemd passed to this process: descriptors 3 to
/// `3 + LISTEN_FDS`, when `LISTEN_PID` is this process. The variables are
/// removed, so that child processes do not take them for theirs.
fn systemd_sockets() -> io::Result<Vec<BoundSocket>> {
    let pid = std::env::var("LISTEN_PID").ok();
    let fds = std::env::var("LISTEN_FDS").ok();
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_FDNAMES");
    let not_activated = |why: String| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("no systemd socket activation: {why}"),
        )
    };
    let pid: u32 = pid
        .ok_or_else(|| not_activated("LISTEN_PID is not set".into()))?
        .parse()
        .map_err(|_| not_activated("LISTEN_PID is not a number".into()))?;
    if pid != std::process::id() {
        return Err(not_activated(format!(
            "LISTEN_PID {pid} is not this process ({})",
            std::process::id()
        )));
    }
    let count: RawFd = fds
        .ok_or_else(|| not_activated("LISTEN_FDS is not set".into()))?
        .parse()
        .ok()
        .filter(|n| (1..=1024).contains(n))
        .ok_or_else(|| not_activated("LISTEN_FDS is not a number from 1 to 1024".into()))?;
    (3..3 + count).map(BoundSocket::inherited).collect()
}

impl BoundSocket {
    /// A bound socket inherited as descriptor `fd` (listening or not).
    pub fn inherited(fd: RawFd) -> io::Result<BoundSocket> {
        let owned: OwnedFd = rgi_fd::take_inherited_socket(fd)?;
        let socket = Socket::from(owned);
        if socket.r#type()? != Type::STREAM {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("descriptor {fd} is not a stream socket"),
            ));
        }
        let unix = socket.local_addr()?.domain() == Domain::UNIX;
        Ok(BoundSocket { socket, unix })
    }

    /// The descriptor number, left open across `exec` so that a worker
    /// process inherits it.
    pub fn inheritable_fd(&self) -> io::Result<RawFd> {
        self.socket.set_cloexec(false)?;
        Ok(self.socket.as_raw_fd())
    }

    /// What it is bound to.
    pub fn local_addr(&self) -> io::Result<ListenAddr> {
        let addr = self.socket.local_addr()?;
        Ok(match addr.as_socket() {
            Some(addr) => ListenAddr::Tcp(addr),
            None => ListenAddr::Unix(addr.as_pathname().map(Path::to_path_buf)),
        })
    }

    /// Listens with `backlog` (unless it already does: an inherited
    /// socket, or one a sibling worker made listen) and registers it with
    /// the current tokio runtime.
    pub fn into_listener(self, backlog: u32) -> io::Result<Listener> {
        if !self.socket.is_listener()? {
            self.socket
                .listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
        }
        self.socket.set_nonblocking(true)?;
        let fd = OwnedFd::from(self.socket);
        Ok(if self.unix {
            Listener::Unix(tokio::net::UnixListener::from_std(fd.into())?)
        } else {
            Listener::Tcp(tokio::net::TcpListener::from_std(fd.into())?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl BoundSocket {
        fn into_listener_std(self, backlog: i32) -> Socket {
            self.socket.listen(backlog).unwrap();
            self.socket
        }
    }

    #[test]
    fn a_stale_unix_socket_is_replaced_and_a_live_one_refused() {
        let dir = std::env::temp_dir().join(format!("rgi-bind-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let first = bind_unix(&path, Some(0o600)).unwrap().into_listener_std(16);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let err = bind_unix(&path, None).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        drop(first); // the file stays, nobody listens: stale
        bind_unix(&path, None).unwrap();
        std::fs::write(dir.join("plain"), b"x").unwrap();
        assert!(bind_unix(&dir.join("plain"), None).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn systemd_activation_for_another_process_is_ignored() {
        // Only this test touches these variables in this test binary.
        std::env::set_var("LISTEN_PID", "1");
        std::env::set_var("LISTEN_FDS", "1");
        let err = systemd_sockets().unwrap_err();
        assert!(err.to_string().contains("not this process"), "{err}");
        assert!(std::env::var("LISTEN_FDS").is_err(), "removed");
    }
}
