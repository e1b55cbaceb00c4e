//! The HTTP contract, in one place: the routes, the bodies of requests and answers, and the
//! error codes. The server serves it, the hammer reads it, the OpenAPI document describes it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Isolation, IsolationScope};

/// The increment route (`{n}`: a method number or slug), as the original project had it.
pub const INCREMENT_ROUTE: &str = "/api/v1/endpoint/counter/{n}";
/// Every counter row.
pub const COUNTS_ROUTE: &str = "/api/v1/endpoint/count";
/// One counter row.
pub const COUNT_ROUTE: &str = "/api/v1/endpoint/count/{id}";
pub const INFO_PATH: &str = "/api/v1/info";
pub const HEALTH_PATH: &str = "/health";
pub const SWAGGER_PATH: &str = "/api/v1/swagger";
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// The path that increments with method `number` (with the trailing slash the original used).
pub fn increment_path(number: u32) -> String {
    format!("/api/v1/endpoint/counter/{number}/")
}

/// The path of counter row `id`.
pub fn count_path(id: i64) -> String {
    format!("/api/v1/endpoint/count/{id}/")
}

/// The path of every counter row.
pub fn counts_path() -> String {
    format!("{COUNTS_ROUTE}/")
}

/// The `error` codes of error bodies (the vocabulary lives in `model`, where the results that
/// count them can reach it).
pub use crate::model::codes;

/// The answer to an increment.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IncrementResponse {
    /// Row id (equal to the method number).
    pub id: i64,
    /// The count this request wrote; null for a method that does not know it (`count_is`).
    pub count: Option<i64>,
    /// What `count` is when it is not the counter after this increment: `slot` (method 10:
    /// the count of the one slot it added to) or `unknown` (method 11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count_is: Option<String>,
    /// Method number.
    pub method: u32,
    pub method_slug: String,
    /// How many times the transaction ran (more than 1 only with retries).
    pub attempts: u32,
    /// When the increment's database work began (its first statement, of its first attempt),
    /// in microseconds since the Unix epoch: one clock for every server on the machine.
    pub db_started_us: u64,
    /// When it committed, in microseconds since the Unix epoch.
    pub db_finished_us: u64,
}

/// Every error answer: a stable code, words for humans, and the database's code when it
/// refused the work.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `unknown_method`, `serialization_failure`.
    pub error: String,
    /// What happened, for humans.
    pub message: String,
    /// The SQLSTATE when the database refused the transaction or could not say what it did
    /// (40001, 40P01, 23505, ...; MariaDB reports one with each error, SQLite has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqlstate: Option<String>,
    /// The engine's own code beside it: the SQLSTATE again on PostgreSQL, the server's
    /// constant on MariaDB (`ER_LOCK_DEADLOCK`), the result code on SQLite (`SQLITE_BUSY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// How many times the transaction ran before this answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// `false` when the server knows the increment was not applied although the answer is a
    /// 5xx (no database connection could be had: nothing was sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<bool>,
}

/// A counter row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CountRow {
    pub id: i64,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Deleted {
    /// How many rows were deleted.
    pub deleted: u64,
}

/// What a method does on the server's engine.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MethodInfo {
    pub number: u32,
    pub slug: String,
    pub name: String,
    pub summary: String,
    /// The statements that make the method what it is, as this server's engine sends them
    /// (placeholders as the engine writes them).
    #[serde(default)]
    pub statements: Vec<String>,
}

/// A method the server's engine cannot run, and why.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Unavailable {
    pub number: u32,
    pub reason: String,
}

/// The server run's settings (`/api/v1/info`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Info {
    /// counter's version.
    pub version: String,
    /// `postgresql`, `mariadb`, `sqlite`, `cockroachdb` or `yugabytedb`.
    pub engine: String,
    /// The engine as its makers spell it (`PostgreSQL`, `MariaDB`, `SQLite`, ...), for pages.
    #[serde(default)]
    pub engine_product: String,
    /// The isolation level requested for this server run, as SQL writes it
    /// (`read committed`).
    #[serde(with = "crate::model::isolation::sql_name")]
    #[schema(value_type = String, example = "read committed")]
    pub isolation: Isolation,
    /// The level the database says its transactions run at.
    pub effective_isolation: String,
    /// Which statements the level reaches: `session` (all) or `transaction` (explicit
    /// transactions only).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "session")]
    pub isolation_scope: Option<IsolationScope>,
    /// The database settings that change outcomes (`fsync`, `synchronous_commit`, ...).
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    pub server_version: String,
    pub pool_size: u32,
    /// Extra attempts on serialization failures (`--retry`).
    #[serde(default)]
    pub retry: u32,
    /// Pause between read and write of the read-then-write methods (`--think-ms`).
    #[serde(default)]
    pub think_ms: u64,
    /// The methods this engine runs.
    pub methods: Vec<MethodInfo>,
    /// The methods this engine cannot express, and why.
    #[serde(default)]
    pub unavailable: Vec<Unavailable>,
    /// Increments in progress, by row id (rows with none are left out).
    #[serde(default)]
    pub in_flight: BTreeMap<String, u64>,
    /// The longest this server takes to answer an increment (its statement timeout, a
    /// script's deadline and a connection's wait), in milliseconds; absent: no bound. A client
    /// should wait at least this long before it counts a request as unknown.
    #[serde(default)]
    pub answer_within_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    pub status: String,
}
