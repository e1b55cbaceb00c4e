//! Which database engine a run uses.

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// PostgreSQL: a throwaway cluster, or DATABASE_URL.
    Postgres,
    /// SQLite, embedded: a throwaway database file.
    Sqlite,
    /// MariaDB (InnoDB): a throwaway server, or a mysql:// DATABASE_URL.
    Mariadb,
    /// CockroachDB, through PostgreSQL's protocol and driver: only at a configured URL.
    Cockroach,
    /// YugabyteDB's YSQL, through PostgreSQL's protocol and driver: only at a configured URL.
    Yugabyte,
}

impl Engine {
    /// The engines this machine may be able to start for itself, in report order.
    pub const STARTABLE: [Engine; 3] = [Engine::Postgres, Engine::Mariadb, Engine::Sqlite];

    /// The name in results (the CSV's `engine` column).
    pub fn name(self) -> &'static str {
        match self {
            Engine::Postgres => "postgresql",
            Engine::Sqlite => "sqlite",
            Engine::Mariadb => "mariadb",
            Engine::Cockroach => "cockroachdb",
            Engine::Yugabyte => "yugabytedb",
        }
    }

    /// The product's own spelling, for messages.
    pub fn product(self) -> &'static str {
        match self {
            Engine::Postgres => "PostgreSQL",
            Engine::Sqlite => "SQLite",
            Engine::Mariadb => "MariaDB",
            Engine::Cockroach => "CockroachDB",
            Engine::Yugabyte => "YugabyteDB",
        }
    }

    /// For engines this machine cannot start: an example of the URL to give instead.
    pub fn url_example(self) -> Option<&'static str> {
        match self {
            Engine::Cockroach => Some("postgresql://root@127.0.0.1:26257/defaultdb"),
            Engine::Yugabyte => Some("postgresql://yugabyte@127.0.0.1:5433/yugabyte"),
            Engine::Postgres | Engine::Sqlite | Engine::Mariadb => None,
        }
    }

    /// Whether the engine speaks PostgreSQL's protocol (and so uses its driver and SQL).
    pub fn speaks_postgres(self) -> bool {
        matches!(
            self,
            Engine::Postgres | Engine::Cockroach | Engine::Yugabyte
        )
    }
}
