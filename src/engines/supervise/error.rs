//! Why a throwaway server could not be set up or started.

#[derive(Debug, thiserror::Error)]
pub enum ThrowawayError {
    /// The server's binaries are not installed; the text says how to install them.
    #[error("{0}")]
    BinariesNotFound(&'static str),
    #[error(
        "running as root, {product} must run as the `{account}` system user, which does not exist (create it, or run counter as an ordinary user)"
    )]
    NoAccount {
        product: &'static str,
        account: &'static str,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A set-up step (initdb, mariadb-install-db) failed.
    #[error("{program} failed: {tail}")]
    Setup { program: &'static str, tail: String },
    #[error("{program} did not accept connections within {secs}s; last lines of its log:\n{tail}")]
    StartTimeout {
        program: &'static str,
        secs: u64,
        tail: String,
    },
    #[error("{program} exited during startup; last lines of its log:\n{tail}")]
    Exited { program: &'static str, tail: String },
}

pub fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ThrowawayError {
    let context = context.into();
    move |source| ThrowawayError::Io { context, source }
}
