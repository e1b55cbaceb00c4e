//! The `error` codes of the HTTP API's error bodies, and the client's own key for a request
//! that never reached a server. The server answers with them, the hammer and the results
//! count them: they live here, below all three.

pub const NOT_FOUND: &str = "not_found";
pub const UNKNOWN_METHOD: &str = "unknown_method";
pub const OUT_OF_RANGE: &str = "out_of_range";
pub const INVALID_ID: &str = "invalid_id";
pub const INVALID_PATH: &str = "invalid_path";
/// An HTTP/1.1 request without a Host header, or with several (RFC 9112, 3.2).
pub const INVALID_HOST: &str = "invalid_host";
pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
pub const NOT_APPLICABLE: &str = "not_applicable";
pub const SERIALIZATION_FAILURE: &str = "serialization_failure";
pub const DEADLOCK_DETECTED: &str = "deadlock_detected";
pub const UNIQUE_VIOLATION: &str = "unique_violation";
pub const ROLLED_BACK: &str = "transaction_rolled_back";
pub const CAS_EXHAUSTED: &str = "cas_exhausted";
pub const LOCK_TIMEOUT: &str = "lock_timeout";
/// A statement ran past `--statement-timeout`: cancelled and rolled back, nothing applied.
pub const STATEMENT_TIMEOUT: &str = "statement_timeout";
/// A custom method's script ran past the increment's deadline: its statement cancelled,
/// its transaction rolled back, nothing applied.
pub const DEADLINE_EXCEEDED: &str = "deadline_exceeded";
/// The row was deleted while the increment ran: nothing was applied.
pub const ROW_GONE: &str = "row_gone";
/// A custom method's script refused the attempt (`\refuse-if-zero-rows`).
pub const REFUSED_BY_SCRIPT: &str = "refused_by_script";
/// A custom method's script could not go on (a `\gset` without its one row, ...); its
/// transaction was rolled back.
pub const SCRIPT_FAILED: &str = "script_failed";
pub const OUTCOME_UNKNOWN: &str = "outcome_unknown";
pub const DATABASE_UNAVAILABLE: &str = "database_unavailable";
/// `/health`: the database answers, but the counter tables cannot be read (dropped?).
pub const TABLES_MISSING: &str = "tables_missing";
/// Too many increments in progress: this one was not started.
pub const OVERLOADED: &str = "overloaded";
pub const INTERNAL: &str = "internal_error";
/// The request's body is larger than the server takes: nothing was done.
pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
/// The request's body was cut short, or stalled: nothing was done.
pub const INCOMPLETE_BODY: &str = "incomplete_body";
/// Not an answer: the client could not connect to the server (the request was never sent).
pub const NOT_CONNECTED: &str = "connect";
