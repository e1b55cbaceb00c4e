//! What each engine can run, before connecting to it: the one static answer to "can engine e
//! run method m (or have level l), and if not, why". Engines that only show their gaps once
//! connected add them in [`super::Backend::not_applicable`].

use super::{mariadb, postgres, sqlite};
use crate::model::{Engine, Isolation, MethodId};

/// Why `engine` cannot run `method` at `level` (with `None`, why it has no such level), if it
/// cannot. Engines that only show it once connected (CockroachDB, YugabyteDB) add their probed
/// gaps in [`Backend::not_applicable`].
pub fn not_applicable(
    engine: Engine,
    level: Isolation,
    method: Option<MethodId>,
) -> Option<&'static str> {
    match engine {
        Engine::Sqlite => sqlite::not_applicable(level, method),
        // The PostgreSQL-protocol engines accept every level and may run it as another: the
        // effective level read back says which.
        Engine::Postgres | Engine::Mariadb | Engine::Cockroach | Engine::Yugabyte => None,
    }
}

/// Whether this machine can start a throwaway database of `engine`.
pub fn can_start(engine: Engine) -> bool {
    match engine {
        Engine::Postgres => postgres::binaries::find_server_binaries().is_some(),
        Engine::Mariadb => mariadb::find_binaries().is_some(),
        Engine::Sqlite => true,
        Engine::Cockroach | Engine::Yugabyte => false,
    }
}
