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

    /// Deletes one row, or all of them; returns how many went.
    pub async fn delete(&self, id: Option<i64>) -> Result<u64, DbFailure> {
        each_db!(&self.db, db => reads::delete(db.pool(), errors_of(db), reads_of(db), id).await)
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

fn errors_of<D: Database>(_db: &D) -> &'static crate::engines::errors::ErrorTable {
    D::ERRORS
}

fn reads_of<D: Database>(_db: &D) -> &'static reads::ReadSql {
    D::READS
}
