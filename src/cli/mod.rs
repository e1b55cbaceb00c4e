//! The command line, at the top of the stack: the three verbs and their flags, turned once
//! into the typed configuration of each verb (validated here, and only here).
//!
//! Flags come first; each has an environment variable (read after `.env` files are loaded, see
//! [`env`]) so that the original project's `.env` keeps working.

mod app;
mod configure;
mod database;
pub mod env;
mod explain;
mod outputs;
mod parse;
mod proxy;
mod schedules;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::engines::EngineOption;
use crate::hammer::command::Format;
use crate::hammer::{HttpVerb, MAX_DEFAULT_CONCURRENCY};
use crate::model::{Engine, Fault, Isolation, IsolationScope, MethodId};
use crate::server::DEFAULT_MAX_IN_FLIGHT;
pub use app::AppArgs;
pub use database::{DatabaseArgs, PoolerChoice, Topology};
pub use env::load_dotenv_files;
pub use explain::{ExplainArgs, RowState};
pub use parse::{EngineChoice, MethodChoice};
use parse::{
    parse_engine_option, parse_engines, parse_isolation, parse_method, parse_method_choice,
    parse_seconds,
};
pub use proxy::ProxyArgs;
pub use schedules::{RowChoice, SchedulesArgs};

/// Default number of connections increments run on: enough for real contention on one row,
/// few enough that PostgreSQL is not drowned in backends fighting for the same lock.
pub const DEFAULT_POOL_SIZE: u32 = 10;

#[derive(Debug, Parser)]
#[command(
    name = "counter",
    version,
    about = "Which locking method survives which isolation level when many requests hit one row?",
    long_about = None,
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the counter HTTP API over PostgreSQL (a throwaway cluster unless one is configured).
    Serve(ServeArgs),
    /// Fire concurrent increments at a running server and classify what happened.
    Hammer(HammerArgs),
    /// Run every isolation level x every method and print the +/- table.
    Matrix(MatrixArgs),
    /// Run every interleaving of two increments' statements, one statement at a time, and
    /// classify each schedule: the +/- table as a proof.
    Schedules(SchedulesArgs),
    /// Explore one cell and show the shortest schedule of each class step by step (and as an
    /// isolation-tester spec, terminal scripts, a swimlane SVG).
    Explain(ExplainArgs),
    /// Relay an application's PostgreSQL connections and print every statement it sends, with
    /// its answer and transaction status (optionally starting each at an isolation level).
    Proxy(ProxyArgs),
    /// Run every interleaving of an unmodified application's requests, statement by
    /// statement, through counter's PostgreSQL proxy, and classify each schedule.
    App(AppArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "COUNTER_BIND", default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,

    /// Transaction isolation level of the run: read-uncommitted, read-committed,
    /// repeatable-read or serializable (also written "repeatable read", REPEATABLE_READ, ...).
    #[arg(long, env = "COUNTER_ISOLATION", default_value = "read-committed",
          value_parser = parse_isolation)]
    pub isolation: Isolation,

    /// Maximum number of database connections.
    #[arg(long, env = "COUNTER_POOL_SIZE", default_value_t = DEFAULT_POOL_SIZE,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub pool_size: u32,

    /// Database engine: postgres (a throwaway cluster, or the configured database), mariadb
    /// (a throwaway server, or a mysql:// DATABASE_URL), sqlite (embedded, a throwaway file),
    /// cockroach or yugabyte (PostgreSQL's protocol; only at a configured DATABASE_URL).
    #[arg(long, env = "COUNTER_ENGINE", value_enum, default_value_t = Engine::Postgres)]
    pub engine: Engine,

    /// Increments in progress at most; past it the server answers 503 at once (load shedding).
    #[arg(long, env = "COUNTER_MAX_IN_FLIGHT", default_value_t = DEFAULT_MAX_IN_FLIGHT,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub max_in_flight: usize,

    #[command(flatten)]
    pub behaviour: BehaviourArgs,

    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// How the server runs increments (shared by serve and matrix).
#[derive(Debug, Clone, Args)]
pub struct BehaviourArgs {
    /// Retry the whole transaction up to N times on 40001, 40P01 (and get-or-create's 23505),
    /// with jittered exponential backoff.
    #[arg(long, env = "COUNTER_RETRY", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub retry: u32,

    /// Pause in milliseconds between the read and the write of read-then-write methods, so
    /// races show up reliably on small machines.
    #[arg(long, env = "COUNTER_THINK_MS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub think_ms: u64,

    /// Which statements the isolation level reaches: session (every statement, autocommit
    /// included, as the original's table requires) or transaction (only explicit
    /// transactions, as a Django application's OPTIONS isolation_level).
    #[arg(long, env = "COUNTER_ISOLATION_SCOPE", value_enum, default_value_t = IsolationScope::Session)]
    pub isolation_scope: IsolationScope,

    /// Start the throwaway database without durable commits (PostgreSQL fsync=off, InnoDB
    /// innodb_flush_log_at_trx_commit=2, SQLite synchronous=OFF): faster, for throughput
    /// benchmarks; concurrent updates of a row then barely overlap.
    #[arg(long)]
    pub no_fsync: bool,

    /// Slots of a sharded counter (method 10): more slots, fewer writers per slot, dearer
    /// reads.
    #[arg(long, env = "COUNTER_SHARDS", default_value_t = crate::methods::DEFAULT_SHARDS,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub shards: u32,

    /// A script of your own as method 12 (custom): SQL statements ending with `;`, :id for the
    /// counter's id, \gset, \sleep N ms, \refuse-if-zero-rows (see docs/method-scripts.md).
    #[arg(long, env = "COUNTER_METHOD_FILE")]
    pub method_file: Option<PathBuf>,

    /// An engine setting for every session, as name=value (repeatable):
    /// innodb_snapshot_isolation=on|off (mariadb).
    #[arg(long = "engine-option", value_parser = parse_engine_option)]
    pub engine_options: Vec<EngineOption>,

    /// Seconds any statement may run before the database cancels it and the transaction
    /// rolls back (PostgreSQL statement_timeout, MariaDB max_statement_time); 0: no limit.
    /// Not applied through a transaction pooler, which drops session settings.
    #[arg(long, env = "COUNTER_STATEMENT_TIMEOUT", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub statement_timeout: u64,
}

impl BehaviourArgs {
    /// `--statement-timeout` as the engines take it.
    pub fn statement_timeout(&self) -> Option<Duration> {
        (self.statement_timeout > 0).then(|| Duration::from_secs(self.statement_timeout))
    }
}

/// How many requests and how many at once (shared by hammer and matrix).
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Number of increments to send (per cell, for the matrix) [default: 100; with --fault a
    /// cap of 1,000,000: such runs end three seconds after the failover].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,

    /// Maximum number of requests in flight (default: all of them, up to 1024).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub concurrency: Option<u64>,
}

/// Requests per run while a fault is injected: a cap; the run ends after the failover.
const FAULT_REQUESTS: u64 = 1_000_000;
/// Requests in flight while a fault is injected: a steady stream rather than one burst.
const FAULT_CONCURRENCY: u64 = 20;

impl LoadArgs {
    /// Requests per run: as given, else 100 (3,000 when a fault is injected mid-run).
    fn requests(&self, fault: bool) -> u64 {
        let default = if fault { FAULT_REQUESTS } else { 100 };
        self.requests.unwrap_or(default)
    }

    /// Requests in flight: as given, else all of them up to 1,024 (20 with a fault).
    fn concurrency(&self, fault: bool) -> u64 {
        let all = self.requests(fault).min(MAX_DEFAULT_CONCURRENCY);
        let default = if fault {
            FAULT_CONCURRENCY.min(all)
        } else {
            all
        };
        self.concurrency.unwrap_or(default)
    }
}

#[derive(Debug, Clone, Args)]
pub struct HammerArgs {
    /// Server to hammer: host:port or an http:// base URL. Repeat it to spread the requests
    /// round-robin over several servers (replicas on the same database).
    #[arg(short = 'd', long = "domain", default_value = "127.0.0.1:8000")]
    pub domain: Vec<String>,

    /// Method to use: a number (1, 2, 3, ...) or a slug (table-lock, row-lock, ...).
    #[arg(short = 'n', long = "method", value_parser = parse_method)]
    pub method: MethodId,

    #[command(flatten)]
    pub load: LoadArgs,

    /// Delete the method's row first, so that the creation race is part of the run.
    #[arg(long)]
    pub reset: bool,

    /// HTTP verb of the increments (GET for servers that only accept GET, like the original).
    #[arg(long, value_enum, default_value_t = HttpVerb::Post)]
    pub http_method: HttpVerb,

    /// Per-request timeout in seconds. Without it: 10 s, or as long as a counter server says
    /// it may take to answer (its statement timeout and more), if that is longer.
    #[arg(long, value_parser = parse_seconds)]
    pub timeout: Option<Duration>,

    /// Send the load to this path instead of the increment endpoint (to benchmark the client
    /// itself against a cheap endpoint, e.g. /api/v1/info with --http-method get).
    #[arg(long)]
    pub path: Option<String>,

    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Write the summary to this file instead of stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,

    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Args)]
pub struct MatrixArgs {
    /// Isolation levels to run (comma-separated; default: all four).
    #[arg(long, value_delimiter = ',', value_parser = parse_isolation)]
    pub levels: Vec<Isolation>,

    /// Methods to run (comma-separated numbers or slugs, or all; default: 1,2,3).
    #[arg(long, value_delimiter = ',', value_parser = parse_method_choice)]
    pub methods: Vec<MethodChoice>,

    #[command(flatten)]
    pub load: LoadArgs,

    /// Database connections of each server.
    #[arg(long, default_value_t = DEFAULT_POOL_SIZE,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub pool_size: u32,

    /// Repeat each cell K times; a cell is "+" only when every trial is exact.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub trials: u32,

    /// Engines to run (comma-separated): postgres, mariadb, sqlite, cockroach, yugabyte (the
    /// last two at --database-url), or all (every engine this machine can start); one table
    /// each, and a comparison when there are several.
    #[arg(
        long = "engine",
        value_delimiter = ',',
        default_value = "postgres",
        value_parser = parse_engines
    )]
    pub engines: Vec<EngineChoice>,

    /// Servers per isolation level, all on the same database; requests go round-robin.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub replicas: u32,

    #[command(flatten)]
    pub behaviour: BehaviourArgs,

    /// With --topology ha: inject this fault into the primary two seconds into every run
    /// (postmaster-crash, node-crash, manager-crash); the run goes on until three seconds
    /// after a writable primary is named again, 20 requests at a time; the node is brought
    /// back before the next run.
    #[arg(long, value_enum)]
    pub fault: Option<Fault>,

    /// Write one CSV row per cell and trial to this file.
    #[arg(long)]
    pub csv: Option<PathBuf>,

    /// Write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// Write a self-contained HTML report (coloured table, charts, errors, metadata).
    #[arg(long)]
    pub html: Option<PathBuf>,

    /// Write the coloured +/- table alone as SVG (for embedding in a README).
    #[arg(long)]
    pub svg: Option<PathBuf>,

    /// Print the +/- table as GitHub Markdown instead of a terminal table.
    #[arg(long)]
    pub markdown: bool,

    /// Also explore every schedule of two sessions of each cell (both starting states) and
    /// show both verdicts: the race's and the schedules' ("hollow" where a race "+" has a
    /// schedule that loses or refuses).
    #[arg(long)]
    pub schedules: bool,

    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,

    #[command(flatten)]
    pub database: DatabaseArgs,
}
