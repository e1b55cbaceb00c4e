//! The API's reads and resets on a backend: the SQL written once in `engines/reads.rs`, on
//! whichever engine's pool the backend has.

use super::{Backend, Database, each_db};
use crate::engines::reads;
use crate::model::DbFailure;

impl Backend {
    /// Every counter row, as (id, count).
    pub async fn list_counts(&self) -> Result<Vec<(i64, i64)>, DbFailure> {
        each_db!(&self.db, db => reads::list(db.pool(), errors_of(db), reads_of(db)).await)
    }

    pub async fn get_count(&self, id: i64) -> Result<Option<(i64, i64)>, DbFailure> {
        each_db!(&self.db, db => reads::get(db.pool(), errors_of(db), reads_of(db), id).await)
    }

    /// Deletes one row, or all of them, and waits until the storage has forgotten them;
    /// returns how many went. A reset is where both instruments start: the race (the
    /// server's DELETE before a hammer run) and the explorer (before each schedule). On
    /// InnoDB a row deleted a moment ago leaves a delete-marked record that is locked
    /// differently from the gap of a purged one; `matrix --schedules --engine mariadb` gave
    /// two verdicts for method 2 (the race from a delete-marked record, the explorer from a
    /// purged gap) until both waited here.
    pub async fn delete(&self, id: Option<i64>) -> Result<u64, DbFailure> {
        let deleted = each_db!(&self.db, db => {
            reads::delete(db.pool(), errors_of(db), reads_of(db), id).await
        })?;
        if !self.forget_deleted().await? {
            warn_once_unpurged();
        }
        Ok(deleted)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), DbFailure> {
        each_db!(&self.db, db => reads::ping(db.pool(), errors_of(db)).await)
    }

    /// Whether the counter tables can be read.
    pub async fn tables_readable(&self) -> Result<(), DbFailure> {
        each_db!(&self.db, db => reads::tables_readable(db.pool(), errors_of(db)).await)
    }
}

/// Said once per process: without the purge wait, whether an absent row's gap or its
/// delete-marked record is locked depends on how long ago it was deleted.
fn warn_once_unpurged() {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        eprintln!(
            "counter: warning: InnoDB's purge did not finish after a reset (another client's \
             open transaction holds it back, or the account lacks SUPER): increments from an \
             absent row may depend on the table's history"
        );
    });
}

fn errors_of<D: Database>(_db: &D) -> &'static crate::engines::errors::ErrorTable {
    D::ERRORS
}

fn reads_of<D: Database>(_db: &D) -> &'static reads::ReadSql {
    D::READS
}
