//! Where connections come from: TCP and Unix-domain listeners bound here,
//! inherited from a parent (`--fd N`, a supervisor's workers) or from
//! systemd socket activation, readiness reported to systemd, and the
//! supervisor of `--workers N` processes.
//!
//! Nothing here knows how a connection is served: a server gets
//! [`Listener`]s that yield [`Stream`]s and client addresses, so every rgi
//! server can use them.

mod bind;
mod notify;
mod stream;
pub(crate) mod supervisor;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::task::{Context, Poll};

use tokio::net::{TcpListener, UnixListener};

pub use self::bind::{BindSpec, BoundSocket};
pub use self::notify::notify_ready;
pub use self::stream::Stream;

/// A listening socket, registered with the tokio runtime.
#[derive(Debug)]
pub enum Listener {
    /// A TCP listener.
    Tcp(TcpListener),
    /// A Unix-domain stream listener.
    Unix(UnixListener),
}

/// What a listener is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A Unix socket path (`None`: unnamed or abstract).
    Unix(Option<PathBuf>),
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(addr) => write!(f, "http://{addr}"),
            ListenAddr::Unix(Some(path)) => write!(f, "unix:{}", path.display()),
            ListenAddr::Unix(None) => f.write_str("unix:(unnamed)"),
        }
    }
}

impl Listener {
    /// Accepts one connection: the stream and, for TCP, the client's
    /// address.
    pub fn poll_accept(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Stream, Option<SocketAddr>)>> {
        match self {
            Listener::Tcp(l) => l
                .poll_accept(cx)
                .map_ok(|(s, peer)| (Stream::Tcp(s), Some(peer))),
            Listener::Unix(l) => l.poll_accept(cx).map_ok(|(s, _)| (Stream::Unix(s), None)),
        }
    }

    /// The address it is bound to.
    pub fn local_addr(&self) -> io::Result<ListenAddr> {
        Ok(match self {
            Listener::Tcp(l) => ListenAddr::Tcp(l.local_addr()?),
            Listener::Unix(l) => ListenAddr::Unix(l.local_addr()?.as_pathname().map(Into::into)),
        })
    }
}

impl From<TcpListener> for Listener {
    fn from(listener: TcpListener) -> Self {
        Listener::Tcp(listener)
    }
}

impl From<UnixListener> for Listener {
    fn from(listener: UnixListener) -> Self {
        Listener::Unix(listener)
    }
}

/// Accepts from whichever of `listeners` has a connection first.
pub(crate) fn poll_accept_any(
    listeners: &[Listener],
    cx: &mut Context<'_>,
) -> Poll<io::Result<(Stream, Option<SocketAddr>)>> {
    for listener in listeners {
        if let Poll::Ready(accepted) = listener.poll_accept(cx) {
            return Poll::Ready(accepted);
        }
    }
    Poll::Pending
}
