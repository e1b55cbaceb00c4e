//! Is a PostgreSQL backend blocked, and by whom: `pg_blocking_pids`, as PostgreSQL's own
//! isolation tester asks (`pg_isolation_test_session_is_blocked` is that function intersected
//! with the test's own backends). Autovacuum and other strangers are told apart from the
//! schedule's sessions, and a stranger is described. Only heavyweight-lock waits show.

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};

use super::errors;
use crate::engines::blocking::{BlockingProbe, Wait};
use crate::model::DbFailure;

pub struct PgProbe {
    conn: PgConnection,
}

impl PgProbe {
    pub async fn connect(options: &PgConnectOptions) -> Result<PgProbe, DbFailure> {
        let conn = options.connect().await.map_err(|e| errors::classify(&e))?;
        Ok(PgProbe { conn })
    }

    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}

/// What a backend waits for, from `pg_stat_activity`'s wait event, in words.
fn lock_words(event: Option<&str>) -> String {
    match event {
        Some("transactionid") => "row lock (waits for the other transaction to end)",
        Some("tuple") => "row lock",
        Some("relation") => "table lock",
        Some("advisory") => "advisory lock",
        Some(other) => return format!("{other} lock"),
        None => "lock",
    }
    .to_string()
}

impl BlockingProbe for PgProbe {
    async fn waits(&mut self, who: i64, ours: &[i64]) -> Result<Wait, DbFailure> {
        let pid = i32::try_from(who).unwrap_or(0);
        let row: Option<(Vec<i32>, Option<String>)> = sqlx::query_as(
            "SELECT pg_blocking_pids(pid), wait_event FROM pg_stat_activity WHERE pid = $1",
        )
        .bind(pid)
        .fetch_optional(&mut self.conn)
        .await
        .map_err(|e| errors::classify(&e))?;
        let Some((blockers, event)) = row else {
            return Ok(Wait::Running);
        };
        if blockers.is_empty() {
            return Ok(Wait::Running);
        }
        let lock = lock_words(event.as_deref());
        let holders: Vec<i64> = blockers
            .iter()
            .map(|&pid| i64::from(pid))
            .filter(|pid| ours.contains(pid))
            .collect();
        if !holders.is_empty() {
            return Ok(Wait::OnOurs { holders, lock });
        }
        let stranger: Option<(i32, String, String)> = sqlx::query_as(
            "SELECT pid, coalesce(application_name, ''), coalesce(left(query, 120), '') \
             FROM pg_stat_activity WHERE pid = $1",
        )
        .bind(blockers[0])
        .fetch_optional(&mut self.conn)
        .await
        .map_err(|e| errors::classify(&e))?;
        let holder = match stranger {
            Some((pid, app, query)) => {
                format!("backend {pid} (application {app:?}, last statement {query:?})")
            }
            None => format!("backend {}", blockers[0]),
        };
        Ok(Wait::OnStranger { holder, lock })
    }

    async fn cancel(&mut self, who: i64) -> Result<(), DbFailure> {
        let pid = i32::try_from(who).unwrap_or(0);
        sqlx::query("SELECT pg_cancel_backend($1)")
            .bind(pid)
            .execute(&mut self.conn)
            .await
            .map(drop)
            .map_err(|e| errors::classify(&e))
    }
}
