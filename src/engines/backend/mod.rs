//! [`Backend`]: one server run's side of a database, whatever the engine: increments with
//! retries, the API's reads and resets, what the database says about itself, and what it
//! cannot run.

use std::collections::BTreeMap;
use std::time::Duration;

mod increment;
mod reads;

use super::capabilities;
pub use super::database::{Database, Facts, ScriptAccount, WithDatabase};
use super::mariadb::{self, MariaDatabase};
use super::options::OpenOptions;
use super::postgres::{self, PgDatabase};
use super::provision::Location;
use super::shared::DbError;
use super::sqlite::{self, SqliteDatabase};
use crate::methods::coalesced::Coalescer;
use crate::methods::script::{self, ScriptError};
use crate::methods::{self, MethodContext};
use crate::model::method::ALL;
use crate::model::{DbFailure, Engine, Isolation, IsolationScope, MethodId};

/// How much longer than the statement timeout a script's whole increment may take: a
/// statement that runs too long is the database's to cancel (its own error, 57014 or 1969);
/// what the database does not see (a script's sleeps, a statement timeout the script lifted)
/// is cancelled by counter this much later.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(1);

/// The longest a server takes to answer an increment when statements are bounded by
/// `statement_timeout`: the statement's timeout, the margin of a script's deadline, the grace
/// a cancelled statement gets to come back, and the wait for a connection. A client that gives
/// up sooner turns a refusal the server was about to send into "unknown". None: no bound.
pub fn answer_within(statement_timeout: Option<Duration>) -> Option<Duration> {
    statement_timeout.map(|limit| {
        limit + DEADLINE_MARGIN + methods::custom::CANCEL_GRACE + super::shared::ACQUIRE_TIMEOUT
    })
}

/// One server run's connections to its database at one isolation level.
#[derive(Debug)]
pub struct Backend {
    db: Db,
    /// The level the run asked for, and which statements it reaches.
    isolation: Isolation,
    scope: IsolationScope,
    /// How this server runs its methods (its own in-process lock, as a separate process would
    /// have, and the think time).
    methods: MethodContext,
    /// The queues of method 9's batches (this server's own, as a separate process's would be).
    coalescer: Coalescer,
    /// Why this database cannot run the custom method's script, when it cannot.
    script_refused: Option<ScriptError>,
    /// The statement timeout the run's connections have.
    statement_timeout: Option<Duration>,
}

#[derive(Debug)]
enum Db {
    Postgres(PgDatabase),
    Mariadb(MariaDatabase),
    Sqlite(SqliteDatabase),
}

/// `$body` with `$db` bound to the backend's database, whatever its engine: the one match over
/// the engines (each arm is the same code, compiled for that engine's [`Database`]).
macro_rules! each_db {
    ($value:expr, $db:ident => $body:expr) => {
        match $value {
            $crate::engines::backend::Db::Postgres($db) => $body,
            $crate::engines::backend::Db::Mariadb($db) => $body,
            $crate::engines::backend::Db::Sqlite($db) => $body,
        }
    };
}
use each_db;

/// What a backend says about its database, for `/api/v1/info` and the logs.
#[derive(Debug, Clone)]
pub struct Description {
    pub engine: Engine,
    pub isolation: Isolation,
    pub scope: IsolationScope,
    /// The level the database says its transactions run at, in its words.
    pub effective_isolation: String,
    pub server_version: String,
    pub pool_size: u32,
    /// The settings that change outcomes (`fsync`, `synchronous_commit`, ...).
    pub settings: BTreeMap<String, String>,
    /// Who users' scripts run as, when the run has a script.
    pub scripts: Option<ScriptAccount>,
}

impl Backend {
    /// Connects to `location` as `open` says (PostgreSQL and MariaDB: the level on every
    /// connection or every transaction; SQLite: always serializable, the request is only
    /// recorded).
    pub async fn open(location: &Location, open: &OpenOptions) -> Result<Backend, DbError> {
        let db = match location {
            Location::Postgres {
                options,
                engine,
                pooler,
                follow,
                scripts,
            } => Db::Postgres(
                postgres::connect_as(
                    *engine,
                    options,
                    pooler.as_deref(),
                    follow.as_ref(),
                    scripts.as_deref(),
                    open,
                )
                .await?,
            ),
            Location::Mariadb {
                options,
                scripts,
                galera,
            } => Db::Mariadb(
                mariadb::connect(options, scripts.as_deref(), galera.as_ref(), open).await?,
            ),
            Location::Sqlite(path) => Db::Sqlite(sqlite::connect(path, open).await?),
        };
        let mut methods = MethodContext::new(open.think);
        methods.shards = open.shards;
        methods.script = open.script.clone();
        methods.isolation = open.isolation;
        methods.scope = open.scope;
        methods.deadline = open.statement_timeout.map(|limit| limit + DEADLINE_MARGIN);
        let mut backend = Backend {
            db,
            isolation: open.isolation,
            scope: open.scope,
            methods,
            coalescer: Coalescer::default(),
            script_refused: None,
            statement_timeout: open.statement_timeout,
        };
        backend.script_refused = backend.check_script().await?.err();
        Ok(backend)
    }

    /// Has the database prepare the custom method's script, if there is one, before any
    /// request runs (see `methods/custom/check.rs`); the outer error is the connection's.
    async fn check_script(&self) -> Result<Result<(), ScriptError>, DbError> {
        let Some(script) = &self.methods.script else {
            return Ok(Ok(()));
        };
        Ok(
            each_db!(&self.db, db => methods::custom::check(&mut db.script_session().await?, script).await),
        )
    }

    /// Why this database cannot run the custom method's script (a statement it refuses to
    /// prepare, a variable used before it is set), if it cannot. `serve` stops on it; the
    /// matrix stops on it too unless other engines may run the script.
    pub fn script_refused(&self) -> Option<&ScriptError> {
        self.script_refused.as_ref()
    }

    /// The methods this server knows: the built-in ones, and the custom one when it has a
    /// script.
    pub fn methods(&self) -> impl Iterator<Item = MethodId> + '_ {
        let custom = self.methods.script.is_some();
        ALL.into_iter()
            .filter(move |&method| method != MethodId::Custom || custom)
    }

    pub fn engine(&self) -> Engine {
        each_db!(&self.db, db => db.facts().engine)
    }

    /// The methods' context this backend runs them with (its in-process lock, think time,
    /// shards, script).
    pub fn method_context(&self) -> &MethodContext {
        &self.methods
    }

    /// The increments' connections: how many are free to lend, of how many there may be.
    pub fn free_connections(&self) -> (usize, u32) {
        each_db!(&self.db, db => db.free_connections())
    }

    /// Runs `work` on this backend's database, whatever its engine.
    pub async fn with_database<W: WithDatabase>(&self, work: W) -> W::Output {
        each_db!(&self.db, db => work.run(db).await)
    }

    /// Marks `method` as one this database cannot run, for `reason` (what a connect-time
    /// probe finds on the PostgreSQL-protocol engines; tests set it by hand).
    pub fn rule_out(&mut self, method: MethodId, reason: &str) {
        if let Db::Postgres(db) = &mut self.db {
            db.unsupported.push(postgres::probes::Unsupported {
                method,
                reason: reason.to_string(),
            });
        }
    }

    pub fn think(&self) -> Duration {
        self.methods.think
    }

    /// The longest this server takes to answer an increment (see [`answer_within`]).
    pub fn answer_within(&self) -> Option<Duration> {
        answer_within(self.statement_timeout)
    }

    /// Why this database cannot run `method` at this run's level, if it cannot: the engine's
    /// known gaps, and on the PostgreSQL-protocol engines what the connect-time probes found.
    /// The one answer the server, its info page and the matrix all use.
    pub fn not_applicable(&self, method: MethodId) -> Option<String> {
        let race = each_db!(&self.db, db => db.race_gap(method));
        race.or_else(|| self.not_applicable_to_schedules(method))
    }

    /// The same for the schedule explorer, which runs two or three increments statement by
    /// statement: what cannot be raced safely may still be explored (a Galera cluster's
    /// `LOCK TABLES` across nodes, whose stall the explorer finds and repairs).
    pub fn not_applicable_to_schedules(&self, method: MethodId) -> Option<String> {
        if method == MethodId::Custom {
            if self.methods.script.is_none() {
                return Some(methods::NO_SCRIPT.to_string());
            }
            if let Some(refused) = &self.script_refused {
                return Some(format!("{}{refused}", script::REFUSED));
            }
        }
        if let Some(reason) =
            capabilities::not_applicable(self.engine(), self.isolation, Some(method))
        {
            return Some(reason.to_string());
        }
        each_db!(&self.db, db => db.probed_gap(method))
    }

    /// What `method` does on this engine, in words.
    pub fn summary(&self, method: MethodId) -> &'static str {
        each_db!(&self.db, db => db.summary(method))
    }

    /// The statements that make `method` what it is, as this engine's session sends them.
    pub fn key_statements(&self, method: MethodId) -> &'static [&'static str] {
        each_db!(&self.db, db => db.key_statements(method))
    }

    pub async fn close(&self) {
        each_db!(&self.db, db => db.close().await)
    }

    /// Sessions left idle in transaction after a run, once `patience` is over (PostgreSQL's
    /// `pg_stat_activity`, MariaDB's InnoDB transactions of sleeping sessions; SQLite has no
    /// server sessions, and its transactions live in our own pooled connections).
    pub async fn settle_idle_in_transaction(&self, patience: Duration) -> Result<i64, DbFailure> {
        each_db!(&self.db, db => db.settle_idle_in_transaction(patience).await)
    }

    /// Waits until deleted rows are purged from the storage (see [`Database::forget_deleted`]);
    /// `false` when the database's account may not wait for it.
    pub async fn forget_deleted(&self) -> Result<bool, DbFailure> {
        each_db!(&self.db, db => db.forget_deleted().await)
    }

    pub fn describe(&self) -> Description {
        let facts = each_db!(&self.db, db => db.facts());
        Description {
            engine: facts.engine,
            isolation: self.isolation,
            scope: self.scope,
            effective_isolation: facts.effective_isolation,
            server_version: facts.server_version,
            pool_size: facts.pool_size,
            settings: facts.settings,
            scripts: match self.methods.script {
                Some(_) => facts.scripts,
                None => None,
            },
        }
    }
}
