//! Why a hammer run could not be made.

#[derive(Debug, thiserror::Error)]
pub enum HammerError {
    /// A bad flag or value.
    #[error("{0}")]
    Usage(String),
    /// The server could not be reached or did not behave like a counter server.
    #[error("{0}")]
    Connect(String),
}
