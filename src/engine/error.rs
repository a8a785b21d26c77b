//! What can go wrong in the engine, in the categories the Docker API turns into status codes.

/// An engine failure; the API maps each variant to Docker's status code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object does not exist (404), e.g. "No such image: x".
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the state (409), e.g. a name in use.
    #[error("{0}")]
    Conflict(String),
    /// The request is malformed or names something invalid (400).
    #[error("{0}")]
    InvalidArgument(String),
    /// Nothing to do (304), e.g. starting a running container.
    #[error("not modified")]
    NotModified,
    /// No valid credentials (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Not allowed (403): for this caller, over a quota, or on this object (a predefined
    /// network, a network with running containers).
    #[error("{0}")]
    Forbidden(String),
    /// Too many requests from this tenant (429 with Retry-After).
    #[error("{0}")]
    TooManyRequests(String),
    /// Too much work queued; the client should retry (503 with Retry-After).
    #[error("{0}")]
    Busy(String),
    /// Not implemented by kapsel yet (501).
    #[error("{0}")]
    NotImplemented(String),
    /// A fault of the daemon or the host (500).
    #[error("{0:#}")]
    Internal(#[from] anyhow::Error),
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Internal(anyhow::Error::new(e).context("database"))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Internal(e.into())
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::Internal(anyhow::anyhow!("a worker task failed: {e}"))
    }
}

/// Shorthand for a 404 with Docker's wording for images.
pub fn no_such_image(name: &str) -> Error {
    Error::NotFound(format!("No such image: {name}"))
}
