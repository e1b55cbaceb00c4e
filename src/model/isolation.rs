//! The four SQL transaction isolation levels.

use std::fmt;

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ValueEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    ReadUncommitted,
    ReadCommitted,
    RepeatableRead,
    Serializable,
}

impl Isolation {
    pub const ALL: [Isolation; 4] = [
        Isolation::ReadUncommitted,
        Isolation::ReadCommitted,
        Isolation::RepeatableRead,
        Isolation::Serializable,
    ];

    /// The level's name in SQL (and in PostgreSQL's `default_transaction_isolation`).
    pub fn sql_name(self) -> &'static str {
        match self {
            Isolation::ReadUncommitted => "read uncommitted",
            Isolation::ReadCommitted => "read committed",
            Isolation::RepeatableRead => "repeatable read",
            Isolation::Serializable => "serializable",
        }
    }

    /// The level named by its SQL name, in any case (`REPEATABLE READ`).
    pub fn from_sql_name(name: &str) -> Option<Isolation> {
        Isolation::ALL
            .into_iter()
            .find(|level| level.sql_name().eq_ignore_ascii_case(name.trim()))
    }
}

impl fmt::Display for Isolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sql_name())
    }
}

/// Which statements a server run's isolation level reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IsolationScope {
    /// Every statement, autocommit included: the level is the connection's default (as the
    /// original's table requires, and as `default_transaction_isolation` gives).
    #[default]
    Session,
    /// Only explicit transactions (`BEGIN ISOLATION LEVEL ...`); autocommit statements run at
    /// the database's default. What a Django application's `OPTIONS["isolation_level"]` gives.
    Transaction,
}

impl IsolationScope {
    pub fn name(self) -> &'static str {
        match self {
            IsolationScope::Session => "session",
            IsolationScope::Transaction => "transaction",
        }
    }

    pub fn from_name(name: &str) -> Option<IsolationScope> {
        [IsolationScope::Session, IsolationScope::Transaction]
            .into_iter()
            .find(|scope| scope.name() == name)
    }
}

impl fmt::Display for IsolationScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Serde for a level written by its SQL name (`"repeatable read"`).
pub mod sql_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Isolation;

    pub fn serialize<S: Serializer>(level: &Isolation, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(level.sql_name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Isolation, D::Error> {
        let name = String::deserialize(d)?;
        Isolation::from_sql_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown isolation level {name:?}")))
    }
}
