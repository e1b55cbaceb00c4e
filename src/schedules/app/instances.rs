//! An application's requests as the explorer's instances: each sends the request, its
//! statements arrive through the proxy and wait at its gate (`hooks.rs`), and its HTTP answer
//! is how it ended. Requests start one at a time, each once the one before is seen on its
//! connection (or has been answered), so that every connection's owner is known.

use std::sync::Arc;
use std::time::Duration;

use hyper::Method;
use sqlx::postgres::PgConnection;
use tokio::sync::{mpsc, oneshot};

use super::super::gate::{Event, Gate};
use super::super::record::record;
use super::super::run::{Ran, Runner};
use super::super::tree::Instances;
use super::hooks::AppHooks;
use super::launch::Application;
use crate::engines::postgres::blocking::PgProbe;
use crate::engines::postgres::errors;
use crate::hammer::http::{Connection, Endpoint, HttpError, Reply};
use crate::model::schedule_results::ScheduleRecord;
use crate::model::{DbFailure, ErrorClass, IncrementError, MethodId};
use hyper::body::Bytes;

/// The request every instance sends.
#[derive(Debug, Clone)]
pub struct AppRequest {
    pub method: Method,
    pub endpoint: Endpoint,
    pub path: String,
    /// Headers sent besides Host and Content-Length (`Authorization`, `Content-Type`).
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl AppRequest {
    /// Sends it on `connection` and reads the whole answer.
    pub async fn send_on(
        &self,
        connection: &mut Connection,
        deadline: Duration,
    ) -> Result<Reply, HttpError> {
        connection
            .send_with(
                self.method.clone(),
                &self.path,
                &self.headers,
                self.body.clone(),
                deadline,
            )
            .await
    }
}

/// One cell of an application: its request, how a schedule starts, what it must achieve.
pub(super) struct OnApplication {
    pub hooks: Arc<AppHooks>,
    pub probe: PgProbe,
    /// A direct connection (not through the proxy) for the set-up and the value.
    pub direct: PgConnection,
    pub request: AppRequest,
    pub before: Option<String>,
    pub value: String,
    pub sessions: usize,
    pub lock_timeout: Duration,
    /// The value read after the set-up of the schedule running.
    pub start: i64,
    /// A write some schedule sent in autocommit (see `mod.rs`: no proof then).
    pub autocommit_write: Option<String>,
    /// The application, when counter started it: a schedule during which it exited stops
    /// the exploration.
    pub application: Option<Arc<std::sync::Mutex<Application>>>,
    /// Whether any request of the exploration got an HTTP answer: one that cannot connect
    /// before that never listened, after it stopped.
    pub answered_once: bool,
}

impl OnApplication {
    /// The value `--value` reads: its first column, an integer of any width (`SELECT 1` is
    /// an int4, `count(*)` an int8), NULL or no row read as 0 (an absent row).
    async fn read_value(&mut self) -> Result<i64, DbFailure> {
        use sqlx::Row;
        let sql = sqlx::AssertSqlSafe(self.value.clone());
        let row = sqlx::query(sql)
            .fetch_optional(&mut self.direct)
            .await
            .map_err(|err| errors::classify(&err))?;
        let Some(row) = row else {
            return Ok(0);
        };
        let value = row
            .try_get::<Option<i64>, _>(0)
            .or_else(|_| row.try_get::<Option<i32>, _>(0).map(|v| v.map(i64::from)))
            .or_else(|_| row.try_get::<Option<i16>, _>(0).map(|v| v.map(i64::from)))
            .map_err(|_| {
                DbFailure::ours(
                    ErrorClass::Internal,
                    format!(
                        "--value must answer an integer (int2, int4 or int8): {}",
                        self.value
                    ),
                )
            })?;
        Ok(value.unwrap_or(0))
    }
}

impl OnApplication {
    /// An error when the application died during the schedule (it exited, or stopped
    /// accepting connections): what follows could not be explored, and a request it dropped
    /// is no verdict on its code.
    async fn still_serving(&self, ran: &Ran) -> Result<(), DbFailure> {
        let authority = &self.request.endpoint.authority;
        // A request whose connection broke or was refused may mean the application is
        // dying: its sockets close before its exit can be seen, so give it a moment.
        let broken = ran.results.iter().any(|result| {
            matches!(result, Err(IncrementError::Database(f))
                if matches!(f.class, ErrorClass::NotSent | ErrorClass::Unavailable))
        });
        let exited = || {
            self.application.as_ref().and_then(|application| {
                application
                    .lock()
                    .ok()
                    .and_then(|mut application| application.exited())
            })
        };
        let mut waited = Duration::ZERO;
        while broken && exited().is_none() && waited < Duration::from_secs(2) {
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += Duration::from_millis(50);
        }
        let exited = exited();
        if let Some(status) = exited {
            return Err(DbFailure::ours(
                ErrorClass::Internal,
                format!(
                    "the application exited ({status}) during a schedule: nothing after it was \
                     explored"
                ),
            ));
        }
        let unsent = ran.results.iter().position(|result| {
            matches!(result, Err(IncrementError::Database(f)) if f.class == ErrorClass::NotSent)
        });
        match unsent {
            Some(_) if !self.answered_once => Err(DbFailure::ours(
                ErrorClass::Internal,
                format!(
                    "nothing accepts connections at {authority}: start the application there \
                     (pointed at --listen), or give --command to have counter start it"
                ),
            )),
            Some(i) => Err(DbFailure::ours(
                ErrorClass::Internal,
                format!(
                    "the application stopped accepting requests at {authority} during the \
                     exploration (T{}'s was not sent): it exited or is overloaded",
                    i + 1
                ),
            )),
            None => Ok(()),
        }
    }
}

impl Instances for OnApplication {
    async fn reset(&mut self) -> Result<(), DbFailure> {
        if let Some(before) = &self.before {
            let sql = sqlx::AssertSqlSafe(before.clone());
            sqlx::raw_sql(sql)
                .execute(&mut self.direct)
                .await
                .map_err(|err| errors::classify(&err))?;
        }
        self.start = self.read_value().await?;
        Ok(())
    }

    async fn once(&mut self, prefix: &[usize]) -> Result<Ran, DbFailure> {
        let (events, gate_events) = mpsc::unbounded_channel();
        let gates: Vec<Arc<Gate>> = (0..self.sessions)
            .map(|i| Gate::new(i, events.clone(), false))
            .collect();
        drop(events);
        self.hooks.begin(gates.clone());
        let deadline = self.lock_timeout + Duration::from_secs(30);
        let mut tasks = Vec::new();
        // Each request waits for the one before to be seen on its connection.
        let mut previous: Option<oneshot::Receiver<()>> = None;
        for (i, gate) in gates.iter().enumerate() {
            let (known, next) = oneshot::channel();
            let (hooks, gate, request) = (
                Arc::clone(&self.hooks),
                Arc::clone(gate),
                self.request.clone(),
            );
            let wait_for = previous.replace(next);
            tasks.push(tokio::spawn(async move {
                if let Some(wait_for) = wait_for {
                    let _ = wait_for.await;
                }
                hooks.starting(i, known);
                let reply = send(&request, deadline).await;
                hooks.finished(i);
                gate.send(Event::Finished { result: reply });
            }));
        }
        let runner = Runner::new(
            &mut self.probe,
            gate_events,
            gates,
            vec![0; self.sessions],
            self.lock_timeout,
        );
        let mut ran = runner.run(prefix).await;
        for task in tasks {
            let _ = task.await;
        }
        let heard = self.hooks.end();
        if heard.refused_tls {
            return Err(DbFailure::ours(ErrorClass::Internal, super::TLS_REFUSED));
        }
        self.still_serving(&ran).await?;
        self.answered_once |= ran
            .results
            .iter()
            .any(|result| matches!(result, Ok(_) | Err(IncrementError::ApplicationError { .. })));
        if let Some(write) = heard.autocommit_write {
            self.autocommit_write.get_or_insert(write);
        }
        // A request answered 2xx with no statement through the proxy: the application reaches
        // its database another way, and nothing of it was explored (its schedules would all
        // look exact).
        let unseen = ran.results.iter().zip(&heard.connected);
        if let Some(i) = unseen
            .into_iter()
            .position(|(result, seen)| result.is_ok() && !seen)
        {
            return Err(DbFailure::ours(
                ErrorClass::Internal,
                format!(
                    "T{}'s request was answered without a statement through the proxy: the \
                     application does not reach its database through it (it was told \
                     DATABASE_URL, PGHOST/PGPORT and POSTGRES_HOST/POSTGRES_PORT)",
                    i + 1
                ),
            ));
        }
        if let Some(problem) = heard.problems.first() {
            return Err(DbFailure::ours(
                ErrorClass::Internal,
                format!("this application cannot be explored statement by statement: {problem}"),
            ));
        }
        // A refused request is the database's refusal its connection heard, if it heard one.
        for (result, error) in ran.results.iter_mut().zip(heard.errors) {
            if let (Err(IncrementError::ApplicationError { status }), Some(error)) =
                (&*result, error)
            {
                *result = Err(IncrementError::Database(DbFailure {
                    detail: format!("{} (HTTP {status})", error.detail),
                    ..error
                }));
            }
        }
        Ok(ran)
    }

    async fn value(&mut self) -> Option<i64> {
        self.read_value().await.ok()
    }

    fn record(&self, ran: &Ran, after: Option<i64>) -> ScheduleRecord {
        record(ran, MethodId::Custom, self.start, after)
    }
}

/// Sends the request; how it ended as an increment: any 2xx acknowledged, anything else a
/// failure (its database error is added once the schedule's connections are heard).
async fn send(request: &AppRequest, deadline: Duration) -> Result<Option<i64>, IncrementError> {
    let failed =
        |class, message: String| Err(IncrementError::Database(DbFailure::ours(class, message)));
    let mut connection = match Connection::open(&request.endpoint, deadline).await {
        Ok(connection) => connection,
        Err(err) => {
            return failed(
                ErrorClass::NotSent,
                format!("the request was not sent: {err}"),
            );
        }
    };
    match request.send_on(&mut connection, deadline).await {
        Ok(reply) if reply.status.is_success() => Ok(None),
        Ok(reply) => Err(IncrementError::ApplicationError {
            status: reply.status.as_u16(),
        }),
        Err(err) => failed(
            ErrorClass::Unavailable,
            format!("no answer to the request: {err}"),
        ),
    }
}
