//! The database engines, one folder each: connecting, the methods' statements in the engine's
//! SQL (`session.rs`), its error-code table (`errors.rs`), its throwaway server, and what it
//! cannot run ([`not_applicable`]). [`Backend`] is what the server talks to, whatever the
//! engine. Adding an engine: a folder here, a variant of `Engine` and arms in the matches
//! of `capabilities.rs`, `provision.rs` and `backend.rs`.
//!
//! The nouns: a [`Location`] says where a database is; [`Provisioned`] is a location plus the
//! throwaway server or file behind it (removed when dropped); a [`Backend`] is one server
//! run's connections to it at one isolation level.

mod backend;
pub mod blocking;
mod capabilities;
mod database;
pub mod errors;
pub mod ha;
pub mod mariadb;
mod options;
pub mod patroni;
pub mod pgbouncer;
mod pooler;
pub mod postgres;
mod provision;
mod reads;
mod shared;
pub mod sqlite;
pub mod supervise;
pub mod wire;

pub use backend::{Backend, Database, Description, Facts, WithDatabase};
pub use capabilities::{can_start, not_applicable};
pub use options::{Durability, EngineOption, OpenOptions, WaitLimits};
pub use pooler::{Pooler, PoolerRequest};
pub use provision::{
    DEFAULT_DATABASE, Location, Provisioned, Throwaway, bind_and_provision, provision,
};
pub use shared::DbError;
pub use supervise::ThrowawayError;
