//! The one statement path: every statement a method sends reaches the session's observer with
//! its text and values, on every engine; and the faults the seam made testable.

use std::sync::{Arc, Mutex};

use counter::engines::{
    Backend, Database, Durability, Location, OpenOptions, Provisioned, WithDatabase, provision,
};
use counter::methods::{self, MethodContext, Session, Span};
use counter::model::statement::{Answer, Observer, Pending, Statement, Then};
use counter::model::{DbFailure, Engine, IncrementError, Isolation, MethodId};

/// Writes down every statement it is shown, with its values, and lets each one go at once.
#[derive(Default)]
pub struct Recorder {
    pub seen: Mutex<Vec<String>>,
    /// The same statements as sent, placeholders and all.
    pub sent: Mutex<Vec<String>>,
}

impl Observer for Recorder {
    fn before<'a>(&'a self, statement: &'a Statement) -> Pending<'a> {
        self.seen.lock().unwrap().push(statement.shown());
        self.sent.lock().unwrap().push(statement.sql.to_string());
        Box::pin(async {})
    }

    fn after(&self, _: &Statement, _: &Result<Answer, DbFailure>) -> Then {
        Then::Deliver
    }
}

/// One increment of `method` on a session of the backend's database, watched by `observer`
/// when there is one.
pub struct Increment {
    pub method: MethodId,
    pub observer: Option<Arc<dyn Observer>>,
    pub ctx: MethodContext,
}

impl WithDatabase for Increment {
    type Output = Result<Option<i64>, IncrementError>;

    async fn run<D: Database>(self, db: &D) -> Self::Output {
        let mut session = db.session().await?;
        if let Some(observer) = self.observer {
            session.observe(observer);
        }
        methods::increment(self.method, &mut session, &self.ctx, &Span::default()).await
    }
}

/// A throwaway database of `engine` (durability off: nothing here races), opened as `serve`
/// opens one.
pub async fn throwaway(engine: Engine, level: Isolation) -> (Provisioned, Backend) {
    let provisioned = provision(engine, None, Durability::NoFsync, None, None)
        .await
        .unwrap();
    let backend = Backend::open(&provisioned.location, &OpenOptions::new(level, 4))
        .await
        .unwrap();
    (provisioned, backend)
}

/// The statements of `method`'s second increment (its row exists with count 1), with their
/// values; and the key statements the server shows for it are among those sent.
async fn statements_of(backend: &Backend, method: MethodId) -> Vec<String> {
    let ctx = backend.method_context().clone();
    let first = Increment {
        method,
        observer: None,
        ctx: ctx.clone(),
    };
    backend.with_database(first).await.unwrap();
    let recorder = Arc::new(Recorder::default());
    let observer: Arc<dyn Observer> = recorder.clone();
    let second = Increment {
        method,
        observer: Some(observer),
        ctx,
    };
    let written = backend.with_database(second).await.unwrap();
    if method.count_is().is_none() {
        assert_eq!(
            written,
            Some(2),
            "method {method}: the second increment wrote 2"
        );
    }
    assert_eq!(
        backend.get_count(method.row_id()).await.unwrap(),
        Some((method.row_id(), 2))
    );
    let sent = recorder.sent.lock().unwrap().clone();
    for key in backend.key_statements(method) {
        assert!(
            sent.iter().any(|s| s == key),
            "{:?} method {method}: the page shows {key:?}, the session sent {sent:#?}",
            backend.engine()
        );
    }
    recorder.seen.lock().unwrap().clone()
}

const POSTGRES: &[(MethodId, &[&str])] = &[
    (
        MethodId::TableLock,
        &[
            "BEGIN",
            "LOCK TABLE counter IN EXCLUSIVE MODE",
            "SELECT count FROM counter WHERE id = 1",
            "UPDATE counter SET count = 2 WHERE id = 1",
            "COMMIT",
        ],
    ),
    (
        MethodId::RowLock,
        &[
            "BEGIN",
            "SELECT count FROM counter WHERE id = 2 FOR UPDATE",
            "UPDATE counter SET count = 2 WHERE id = 2",
            "COMMIT",
        ],
    ),
    (
        // Autocommit: the read stays one statement, the write gets a transaction of its own.
        MethodId::AtomicUpdate,
        &[
            "SELECT count FROM counter WHERE id = 3",
            "BEGIN",
            "UPDATE counter SET count = count + 1 WHERE id = 3 RETURNING count",
            "COMMIT",
        ],
    ),
    (
        MethodId::Upsert,
        &[
            "BEGIN",
            "INSERT INTO counter (id, count) VALUES (5, 1) ON CONFLICT (id) DO UPDATE SET count = counter.count + 1 RETURNING count",
            "COMMIT",
        ],
    ),
    (
        MethodId::AdvisoryLock,
        &[
            "BEGIN",
            "SELECT pg_advisory_xact_lock(6)",
            "SELECT count FROM counter WHERE id = 6",
            "UPDATE counter SET count = 2 WHERE id = 6",
            "COMMIT",
        ],
    ),
    (
        MethodId::CompareAndSwap,
        &[
            "SELECT count FROM counter WHERE id = 7",
            "SELECT count FROM counter WHERE id = 7",
            "BEGIN",
            "UPDATE counter SET count = 2 WHERE id = 7 AND count = 1",
            "COMMIT",
        ],
    ),
];

const MARIADB: &[(MethodId, &[&str])] = &[
    (
        MethodId::TableLock,
        &[
            "SET autocommit = 0",
            "LOCK TABLES counter WRITE",
            "SELECT count FROM counter WHERE id = 1",
            "UPDATE counter SET count = 2 WHERE id = 1",
            "COMMIT",
            "UNLOCK TABLES",
            "SET autocommit = 1",
        ],
    ),
    (
        MethodId::AtomicUpdate,
        &[
            "SELECT count FROM counter WHERE id = 3",
            "START TRANSACTION",
            "UPDATE counter SET count = LAST_INSERT_ID(count + 1) WHERE id = 3",
            "COMMIT",
            "SELECT CAST(LAST_INSERT_ID() AS SIGNED)",
        ],
    ),
    (
        MethodId::AdvisoryLock,
        &[
            "SELECT GET_LOCK(CONCAT('counter:', 6), 10)",
            "START TRANSACTION",
            "SELECT count FROM counter WHERE id = 6",
            "UPDATE counter SET count = 2 WHERE id = 6",
            "COMMIT",
            "SELECT RELEASE_LOCK(CONCAT('counter:', 6))",
        ],
    ),
];

const SQLITE: &[(MethodId, &[&str])] = &[
    (
        MethodId::TableLock,
        &[
            "BEGIN IMMEDIATE",
            "SELECT count FROM counter WHERE id = 1",
            "UPDATE counter SET count = 2 WHERE id = 1",
            "COMMIT",
        ],
    ),
    (
        MethodId::ReadModifyWrite,
        &[
            "BEGIN",
            "SELECT count FROM counter WHERE id = 4",
            "UPDATE counter SET count = 2 WHERE id = 4",
            "COMMIT",
        ],
    ),
    (
        MethodId::Upsert,
        &[
            "BEGIN",
            "INSERT INTO counter (id, count) VALUES (5, 1) ON CONFLICT (id) DO UPDATE SET count = count + 1 RETURNING count",
            "COMMIT",
        ],
    ),
];

async fn every_statement_is_observed(
    engine: Engine,
    level: Isolation,
    expected: &[(MethodId, &[&str])],
) {
    let (_provisioned, backend) = throwaway(engine, level).await;
    for (method, statements) in expected {
        let seen = statements_of(&backend, *method).await;
        assert_eq!(seen, *statements, "{engine:?} method {method}");
    }
    // Every other method it can run goes through the same path: something observed, and the
    // count right.
    for method in counter::model::method::ALL {
        if backend.not_applicable(method).is_some()
            || method == MethodId::Custom
            || expected.iter().any(|(m, _)| *m == method)
        {
            continue;
        }
        let seen = statements_of(&backend, method).await;
        assert!(!seen.is_empty(), "{engine:?} method {method}");
    }
    backend.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_statement_of_each_method_reaches_the_observer_on_postgres() {
    let _cpu = crate::support::busy().await;
    every_statement_is_observed(Engine::Postgres, Isolation::ReadCommitted, POSTGRES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_statement_of_each_method_reaches_the_observer_on_mariadb() {
    if !crate::mariadb::mariadb_installed() {
        return;
    }
    let _cpu = crate::support::busy().await;
    every_statement_is_observed(Engine::Mariadb, Isolation::ReadCommitted, MARIADB).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_statement_of_each_method_reaches_the_observer_on_sqlite() {
    let _cpu = crate::support::busy().await;
    every_statement_is_observed(Engine::Sqlite, Isolation::Serializable, SQLITE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_session_knows_its_server_side_id() {
    let _cpu = crate::support::busy().await;
    struct Ids;
    impl WithDatabase for Ids {
        type Output = (Option<i64>, Option<i64>);
        async fn run<D: Database>(self, db: &D) -> Self::Output {
            let mut first = db.session().await.unwrap();
            let mut second = db.session().await.unwrap();
            (
                first.server_id().await.unwrap(),
                second.server_id().await.unwrap(),
            )
        }
    }
    let (_pg, postgres) = throwaway(Engine::Postgres, Isolation::ReadCommitted).await;
    let (a, b) = postgres.with_database(Ids).await;
    assert!(a.is_some() && b.is_some() && a != b, "{a:?} {b:?}");
    let (_lite, sqlite) = throwaway(Engine::Sqlite, Isolation::Serializable).await;
    assert_eq!(sqlite.with_database(Ids).await, (None, None));
    if crate::mariadb::mariadb_installed() {
        let (_maria, mariadb) = throwaway(Engine::Mariadb, Isolation::ReadCommitted).await;
        let (a, b) = mariadb.with_database(Ids).await;
        assert!(a.is_some() && b.is_some() && a != b, "{a:?} {b:?}");
    }
}

/// Kills its session's connection from another one just before `victim` is sent.
struct KillBefore {
    victim: &'static str,
    server_id: i64,
    killer: sqlx::MySqlPool,
}

impl Observer for KillBefore {
    fn before<'a>(&'a self, statement: &'a Statement) -> Pending<'a> {
        Box::pin(async move {
            if statement.sql.starts_with(self.victim) {
                let kill = format!("KILL CONNECTION {}", self.server_id);
                sqlx::raw_sql(sqlx::AssertSqlSafe(kill))
                    .execute(&self.killer)
                    .await
                    .unwrap();
            }
        })
    }

    fn after(&self, _: &Statement, _: &Result<Answer, DbFailure>) -> Then {
        Then::Deliver
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_applied_commit_is_never_reported_failed_when_the_lock_release_fails() {
    if !crate::mariadb::mariadb_installed() {
        return;
    }
    let _cpu = crate::support::busy().await;
    let (provisioned, backend) = throwaway(Engine::Mariadb, Isolation::ReadCommitted).await;
    let Location::Mariadb { options, .. } = &provisioned.location else {
        unreachable!("a MariaDB location");
    };
    let killer = sqlx::MySqlPool::connect_with((**options).clone())
        .await
        .unwrap();
    struct Run {
        method: MethodId,
        victim: &'static str,
        killer: sqlx::MySqlPool,
        ctx: MethodContext,
    }
    impl WithDatabase for Run {
        type Output = Result<Option<i64>, IncrementError>;
        async fn run<D: Database>(self, db: &D) -> Self::Output {
            let mut session = db.session().await?;
            let server_id = session.server_id().await?.unwrap();
            session.observe(Arc::new(KillBefore {
                victim: self.victim,
                server_id,
                killer: self.killer,
            }));
            methods::increment(self.method, &mut session, &self.ctx, &Span::default()).await
        }
    }
    // Method 6 lets go of its named lock after COMMIT, method 1 of its table lock.
    for (method, victim) in [
        (MethodId::AdvisoryLock, "SELECT RELEASE_LOCK"),
        (MethodId::TableLock, "UNLOCK TABLES"),
    ] {
        let run = Run {
            method,
            victim,
            killer: killer.clone(),
            ctx: backend.method_context().clone(),
        };
        let written = backend.with_database(run).await;
        assert_eq!(
            written.unwrap(),
            Some(1),
            "method {method}: committed, so applied"
        );
        let count = backend.get_count(method.row_id()).await.unwrap();
        assert_eq!(count, Some((method.row_id(), 1)), "method {method}");
    }
    // The killed connections were not lent again: the next increments work.
    for method in [MethodId::AdvisoryLock, MethodId::TableLock] {
        let next = Increment {
            method,
            observer: None,
            ctx: backend.method_context().clone(),
        };
        assert_eq!(backend.with_database(next).await.unwrap(), Some(2));
    }
    killer.close().await;
    backend.close().await;
}
