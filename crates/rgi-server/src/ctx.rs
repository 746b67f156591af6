//! What every connection of one running server shares. Its own module so
//! that `server.rs` (which creates it), `conn/` and `ws/` (which read it)
//! depend on it and not on each other.

use std::net::SocketAddr;
use std::sync::Arc;

use rgi::State;

use crate::config::Config;
use crate::shutdown::Shutdown;

/// What every connection of one running server shares.
#[derive(Debug)]
pub(crate) struct ServerCtx {
    pub(crate) config: Config,
    /// The listener's address when it names one IP (then every accepted
    /// connection has it as its local address, and asking the kernel per
    /// connection is a wasted `getsockname`); `None` for a wildcard bind.
    pub(crate) bound_addr: Option<SocketAddr>,
    pub(crate) state: State,
    pub(crate) shutdown: Arc<Shutdown>,
}
