//! The throwaway PgBouncer (`--pooler pgbouncer-session|pgbouncer-transaction`): the
//! distribution's `pgbouncer` in front of the throwaway cluster, in a private directory,
//! supervised and removed like the cluster (see [`crate::engines::supervise`]).
//!
//! It admits no local account but the one that started counter: it listens on loopback only
//! (no Unix socket), and clients authenticate with SCRAM against the cluster's random
//! password, which it keeps in an auth file inside its private directory.
//!
//! How a run's isolation level gets through it: a session-level `SET` would stay on the server
//! connection and leak to the next client in transaction pooling, and PgBouncer 1.18 refuses
//! the startup parameter `options` in every mode. So each level has a database entry of its
//! own (`counter_serializable`, ...) whose `connect_query` sets the level on every server
//! connection of that entry: a server connection only ever serves one level.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;

use super::supervise::{self, RunAs, StopPlan, Supervised, ThrowawayError, command};
use crate::model::{Isolation, PoolMode};

/// Shutdown (SIGINT: wait for clients to finish; SIGTERM: at once), then SIGKILL.
const STOP: StopPlan = StopPlan {
    steps: &[
        (libc::SIGTERM, Duration::from_secs(5)),
        (libc::SIGKILL, Duration::from_secs(5)),
    ],
};

pub const BINARY_HINT: &str = "pgbouncer was not found. Install it (Debian/Ubuntu: apt-get install -y pgbouncer), or set COUNTER_PGBOUNCER to its path";

/// The database entry whose server connections run at `level`.
pub fn level_database(database: &str, level: Isolation) -> String {
    format!("{database}_{}", level.sql_name().replace(' ', "_"))
}

/// A running throwaway PgBouncer. Dropping it stops it and deletes its directory.
#[derive(Debug)]
pub struct LocalPgBouncer {
    server: Supervised,
    port: u16,
    mode: PoolMode,
    version: String,
}

impl LocalPgBouncer {
    /// Starts PgBouncer in `mode` on a free loopback port, in front of `database` at
    /// `upstream` (whose user and password it uses), with `pool_size` server connections per
    /// database entry. Blocking: call it from `spawn_blocking`.
    pub fn start(
        upstream: &PgConnectOptions,
        password: &str,
        database: &str,
        mode: PoolMode,
        pool_size: u32,
        ignore_options: bool,
    ) -> Result<LocalPgBouncer, ThrowawayError> {
        let binary = find_binary().ok_or(ThrowawayError::BinariesNotFound(BINARY_HINT))?;
        // PgBouncer refuses to run as root: as the PostgreSQL account, like the cluster.
        let run_as = supervise::run_as(c"postgres", "PgBouncer")?;

        let mut pooler = LocalPgBouncer {
            server: Supervised::new_private("pgbouncer", run_as, "counter-pgbouncer", STOP)?,
            port: 0,
            mode,
            version: version(&binary),
        };
        let user = upstream.get_username().to_string();
        pooler.write_file("users.txt", &format!("\"{user}\" \"{password}\"\n"), run_as)?;
        let mut last_error = None;
        for _ in 0..3 {
            pooler.port = supervise::free_port()?;
            let config = pooler.config(upstream, database, pool_size, ignore_options);
            pooler.write_file("pgbouncer.ini", &config, run_as)?;
            match pooler.launch(&binary, run_as) {
                Ok(()) => return Ok(pooler),
                Err(err) => last_error = Some(err),
            }
        }
        Err(last_error.unwrap_or(ThrowawayError::BinariesNotFound(BINARY_HINT)))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn mode(&self) -> PoolMode {
        self.mode
    }

    pub fn dir(&self) -> &Path {
        self.server.dir()
    }

    /// "PgBouncer 1.18.0, transaction pooling", for the results.
    pub fn describe(&self) -> String {
        format!("{}, {}", self.version, self.mode)
    }

    /// Stops it and deletes the directory; safe to call twice.
    pub fn stop(&mut self) {
        self.server.stop();
    }

    /// The configuration; with `ignore_options`, the startup parameter `options` is accepted
    /// and dropped instead of refused.
    fn config(
        &self,
        upstream: &PgConnectOptions,
        database: &str,
        pool_size: u32,
        ignore_options: bool,
    ) -> String {
        let ignored = match ignore_options {
            true => "extra_float_digits, options",
            false => "extra_float_digits",
        };
        let server = format!(
            "host=127.0.0.1 port={} dbname={database}",
            upstream.get_port()
        );
        let mut databases = format!("{database} = {server}\n");
        for level in Isolation::ALL {
            let set = format!(
                "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL {}",
                level.sql_name().to_uppercase()
            );
            let entry = level_database(database, level);
            databases.push_str(&format!("{entry} = {server} connect_query='{set}'\n"));
        }
        let dir = self.dir().display();
        format!(
            "[databases]\n{databases}\n[pgbouncer]\n\
             listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
             auth_type = scram-sha-256\nauth_file = {dir}/users.txt\n\
             pool_mode = {mode}\ndefault_pool_size = {pool}\nmax_client_conn = 4000\n\
             ignore_startup_parameters = {ignored}\n\
             server_reset_query = DISCARD ALL\n\
             logfile = {dir}/pgbouncer.log\npidfile = {dir}/pgbouncer.pid\n",
            port = self.port,
            mode = self.mode.name(),
            // Room for the increments' connections and the side pool's, per entry.
            pool = pool_size + 4,
        )
    }

    /// Writes `name` in the private directory, readable by the pooler's account only.
    fn write_file(&self, name: &str, text: &str, run_as: RunAs) -> Result<(), ThrowawayError> {
        supervise::write_private(&self.dir().join(name), text, run_as)
    }

    fn launch(&mut self, binary: &Path, run_as: RunAs) -> Result<(), ThrowawayError> {
        let log = self.dir().join("pgbouncer.log");
        let mut pgbouncer = command(binary, run_as, self.dir());
        pgbouncer
            .arg(self.dir().join("pgbouncer.ini"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let port = self.port;
        let ready = move || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        self.server.forget_dead();
        self.server.launch(pgbouncer, &log, ready)
    }
}

/// COUNTER_PGBOUNCER, then the usual places.
fn find_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("COUNTER_PGBOUNCER") {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    [
        "/usr/sbin/pgbouncer",
        "/usr/bin/pgbouncer",
        "/usr/local/bin/pgbouncer",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|path| path.is_file())
}

/// Whether a throwaway PgBouncer can be started here.
pub fn can_start() -> bool {
    find_binary().is_some()
}

/// "PgBouncer 1.18.0", from `pgbouncer --version`.
fn version(binary: &Path) -> String {
    let output = std::process::Command::new(binary).arg("--version").output();
    let text = output
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    text.lines()
        .next()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .unwrap_or("PgBouncer")
        .to_string()
}
