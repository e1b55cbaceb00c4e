//! The shared vocabulary: the plain types every layer speaks (isolation level, engine, method,
//! outcome, failure classes, the results model). Nothing here imports any other module of
//! ours, so every layer can depend on it and it depends on none.

pub mod codes;
pub mod engine;
pub mod failure;
pub mod isolation;
pub mod machine;
pub mod method;
pub mod migrations;
pub mod outcome;
pub mod pooler;
pub mod replication;
pub mod results;
pub mod schedule;
pub mod schedule_results;
pub mod statement;

pub use engine::Engine;
pub use failure::{DbFailure, ErrorClass, IncrementError, Refusal};
pub use isolation::{Isolation, IsolationScope};
pub use machine::machine_description;
pub use method::{MethodId, UnknownMethod};
pub use outcome::{Contention, DbInterval, Ends, Outcome, Verdict};
pub use pooler::PoolMode;
pub use replication::{Cluster, Fault, GaleraSetup, Placement, Replication};
