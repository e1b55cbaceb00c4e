//! The API's reads and resets on a backend: one call per engine's pool, the SQL written once
//! in `engines/reads.rs`.

use super::{Backend, Db};
use crate::engines::reads;
use crate::engines::{mariadb, postgres, sqlite};
use crate::model::DbFailure;

impl Backend {
    /// Every counter row, as (id, count).
    pub async fn list_counts(&self) -> Result<Vec<(i64, i64)>, DbFailure> {
        match &self.db {
            Db::Postgres(db) => {
                reads::list(&db.pool, &postgres::errors::TABLE, &postgres::READS).await
            }
            Db::Mariadb(db) => {
                reads::list(&db.pool, &mariadb::errors::TABLE, &mariadb::READS).await
            }
            Db::Sqlite(db) => reads::list(&db.pool, &sqlite::errors::TABLE, &sqlite::READS).await,
        }
    }

    pub async fn get_count(&self, id: i64) -> Result<Option<(i64, i64)>, DbFailure> {
        match &self.db {
            Db::Postgres(db) => {
                reads::get(&db.pool, &postgres::errors::TABLE, &postgres::READS, id).await
            }
            Db::Mariadb(db) => {
                reads::get(&db.pool, &mariadb::errors::TABLE, &mariadb::READS, id).await
            }
            Db::Sqlite(db) => {
                reads::get(&db.pool, &sqlite::errors::TABLE, &sqlite::READS, id).await
            }
        }
    }

    /// Deletes one row, or all of them; returns how many went.
    pub async fn delete(&self, id: Option<i64>) -> Result<u64, DbFailure> {
        match &self.db {
            Db::Postgres(db) => {
                reads::delete(&db.pool, &postgres::errors::TABLE, &postgres::READS, id).await
            }
            Db::Mariadb(db) => {
                reads::delete(&db.pool, &mariadb::errors::TABLE, &mariadb::READS, id).await
            }
            Db::Sqlite(db) => {
                reads::delete(&db.pool, &sqlite::errors::TABLE, &sqlite::READS, id).await
            }
        }
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), DbFailure> {
        match &self.db {
            Db::Postgres(db) => reads::ping(&db.pool, &postgres::errors::TABLE).await,
            Db::Mariadb(db) => reads::ping(&db.pool, &mariadb::errors::TABLE).await,
            Db::Sqlite(db) => reads::ping(&db.pool, &sqlite::errors::TABLE).await,
        }
    }
}
