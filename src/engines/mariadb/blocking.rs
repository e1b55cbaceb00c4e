//! Is a MariaDB session blocked, and by whom. Row-lock waits are InnoDB's
//! (`information_schema.INNODB_TRX`, `INNODB_LOCK_WAITS`); table-lock (`LOCK TABLES`: a
//! metadata lock) and named-lock (`GET_LOCK`) waits are not InnoDB's and show only as the
//! session's state in the process list, without saying who holds the lock.
//!
//! InnoDB serves those tables from a cache it refreshes only when more than 0.1 s passed since
//! it was last filled (`trx0i_s.cc`): a "LOCK WAIT" read sooner than that after a lock was
//! let go may be the old state. A wait is trusted only when read [`LAG`] after the last change
//! of the schedule; sooner, the answer is [`Wait::Unsure`] and the explorer asks again.

use std::time::{Duration, Instant};

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::{ConnectOptions, Connection};

use super::errors;
use crate::engines::blocking::{BlockingProbe, Wait};
use crate::model::DbFailure;

/// How long after a change InnoDB's lock tables can be trusted: its cache's 0.1 s, and a
/// margin.
pub const LAG: Duration = Duration::from_millis(120);

pub struct MariaProbe {
    conn: MySqlConnection,
    changed: Instant,
}

impl MariaProbe {
    pub async fn connect(options: &MySqlConnectOptions) -> Result<MariaProbe, DbFailure> {
        let conn = options.connect().await.map_err(|e| errors::classify(&e))?;
        Ok(MariaProbe {
            conn,
            changed: Instant::now(),
        })
    }

    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}

impl BlockingProbe for MariaProbe {
    async fn waits(&mut self, who: i64, ours: &[i64]) -> Result<Wait, DbFailure> {
        let asked = Instant::now();
        let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT p.STATE, t.trx_state FROM information_schema.PROCESSLIST p \
             LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID \
             WHERE p.ID = ?",
        )
        .bind(who)
        .fetch_optional(&mut self.conn)
        .await
        .map_err(|e| errors::classify(&e))?;
        let Some((state, trx_state)) = row else {
            return Ok(Wait::Running);
        };
        // The process list is live: a table or named lock wait is certain when seen.
        let state = state.unwrap_or_default();
        if state.starts_with("Waiting for table") {
            let lock = "table lock (LOCK TABLES)".to_string();
            return Ok(Wait::OnOurs {
                holders: Vec::new(),
                lock,
            });
        }
        if state == "User lock" {
            let lock = "named lock (GET_LOCK)".to_string();
            return Ok(Wait::OnOurs {
                holders: Vec::new(),
                lock,
            });
        }
        if trx_state.as_deref() != Some("LOCK WAIT") {
            return Ok(Wait::Running);
        }
        if asked.duration_since(self.changed) < LAG {
            return Ok(Wait::Unsure);
        }
        let blockers: Vec<i64> = sqlx::query_scalar(
            "SELECT CAST(b.trx_mysql_thread_id AS SIGNED) \
             FROM information_schema.INNODB_LOCK_WAITS w \
             JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id \
             JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id \
             WHERE r.trx_mysql_thread_id = ?",
        )
        .bind(who)
        .fetch_all(&mut self.conn)
        .await
        .map_err(|e| errors::classify(&e))?;
        let lock = "row lock".to_string();
        let holders: Vec<i64> = blockers
            .iter()
            .copied()
            .filter(|b| ours.contains(b))
            .collect();
        match (holders.is_empty(), blockers.first()) {
            (false, _) => Ok(Wait::OnOurs { holders, lock }),
            (true, Some(stranger)) => Ok(Wait::OnStranger {
                holder: format!("connection {stranger}"),
                lock,
            }),
            (true, None) => Ok(Wait::Unsure),
        }
    }

    async fn cancel(&mut self, who: i64) -> Result<(), DbFailure> {
        let kill = format!("KILL QUERY {who}");
        sqlx::raw_sql(sqlx::AssertSqlSafe(kill))
            .execute(&mut self.conn)
            .await
            .map(drop)
            .map_err(|e| errors::classify(&e))
    }

    fn changed(&mut self) {
        self.changed = Instant::now();
    }

    fn lag(&self) -> Duration {
        LAG
    }
}
