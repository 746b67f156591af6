//! The errors `serve` can end with.

/// Why [`Server::serve`](crate::Server::serve) stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The app's lifespan startup failed (it answered `StartupFailed`, or
    /// failed before answering): the server accepted nothing. Holds the
    /// app's message.
    #[error("lifespan startup failed: {0}")]
    StartupFailed(String),
    /// The listener failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}
