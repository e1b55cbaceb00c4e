//! MariaDB: a throwaway server (mariadb-install-db and mariadbd in a temporary directory,
//! started and removed like the PostgreSQL cluster, with the same reaper), and the pool with
//! the run's isolation level set on every connection.

use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::{Executor, MySqlPool};

use super::cluster::{
    ClusterError, command, free_port, io_err, last_lines, make_private_dir, spawn_reaper,
};
use super::process::{RunAs, run_as, signal};
use super::{DbError, migrator};
use crate::cli::Isolation;
use crate::engine::Engine;

const START_DEADLINE: Duration = Duration::from_secs(60);
const STOP_DEADLINE: Duration = Duration::from_secs(15);
/// The database the throwaway server creates.
pub const DATABASE: &str = "counter";

/// A running throwaway MariaDB. Dropping it stops the server and deletes its directory.
#[derive(Debug)]
pub struct LocalMariaDb {
    dir: PathBuf,
    server: Option<Child>,
    reapers: Vec<Child>,
}

impl LocalMariaDb {
    /// Installs a data directory and starts mariadbd on a free loopback port (and a socket in
    /// the directory). Blocking: call it from `spawn_blocking`.
    pub fn start() -> Result<LocalMariaDb, ClusterError> {
        let bin = find_binaries().ok_or(ClusterError::MariaDbNotFound)?;
        let run_as = run_as(c"mysql", ClusterError::NoMysqlUser)?;
        let dir = make_private_dir(run_as, "counter-mariadb")?;
        let mut server = LocalMariaDb {
            dir,
            server: None,
            reapers: Vec::new(),
        };
        server.install(&bin, run_as)?;
        server.launch(&bin, run_as)?;
        Ok(server)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Connection options for the `counter` database, as root over the server's socket.
    pub fn connect_options(&self) -> MySqlConnectOptions {
        MySqlConnectOptions::new()
            .socket(self.dir.join("mysqld.sock"))
            .username("root")
            .database(DATABASE)
    }

    fn install(&self, bin: &Binaries, run_as: RunAs) -> Result<(), ClusterError> {
        let output = command(&bin.install, run_as, &self.dir)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", self.dir.join("data").display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .stdin(Stdio::null())
            .output()
            .map_err(io_err("could not run mariadb-install-db"))?;
        if output.status.success() {
            Ok(())
        } else {
            let text = String::from_utf8_lossy(&output.stderr);
            Err(ClusterError::InstallDb(last_lines(&text, 10)))
        }
    }

    fn launch(&mut self, bin: &Binaries, run_as: RunAs) -> Result<(), ClusterError> {
        let log = self.dir.join("error.log");
        let out = File::create(self.dir.join("stdout.log"))
            .map_err(io_err("could not create the log"))?;
        let dir = self.dir.display().to_string();
        let child = command(&bin.server, run_as, &self.dir)
            .arg("--no-defaults")
            .arg(format!("--datadir={dir}/data"))
            .arg(format!("--socket={dir}/mysqld.sock"))
            .arg(format!("--pid-file={dir}/mysqld.pid"))
            .arg(format!("--log-error={}", log.display()))
            .arg(format!("--port={}", free_port()?))
            .args(["--bind-address=127.0.0.1", "--skip-log-bin"])
            .args(["--innodb-buffer-pool-size=64M", "--max-connections=400"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(io_err("could not start mariadbd"))?;
        let pid = child.id();
        self.server = Some(child);
        self.reapers
            .push(spawn_reaper(pid, &self.dir, "TERM", "KILL")?);
        let started = Instant::now();
        loop {
            let text = fs::read_to_string(&log).unwrap_or_default();
            if text.contains("ready for connections") {
                return Ok(());
            }
            let exited = self
                .server
                .as_mut()
                .is_some_and(|child| !matches!(child.try_wait(), Ok(None)));
            if exited {
                self.server = None;
                return Err(ClusterError::Exited {
                    tail: last_lines(&text, 15),
                });
            }
            if started.elapsed() > START_DEADLINE {
                return Err(ClusterError::StartTimeout {
                    secs: START_DEADLINE.as_secs(),
                    tail: last_lines(&text, 15),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Shutdown (SIGTERM), bounded; then SIGKILL; then the directory. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.server.take() {
            signal(child.id(), libc::SIGCONT);
            signal(child.id(), libc::SIGTERM);
            let started = Instant::now();
            while started.elapsed() < STOP_DEADLINE && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if self.dir.exists() {
            let _ = fs::remove_dir_all(&self.dir);
        }
        for mut reaper in self.reapers.drain(..) {
            let _ = reaper.kill();
            let _ = reaper.wait();
        }
    }
}

impl Drop for LocalMariaDb {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The two programs a throwaway MariaDB needs.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub server: PathBuf,
    pub install: PathBuf,
}

/// Where mariadbd and mariadb-install-db are: COUNTER_MARIADB_BIN, then the usual places
/// (Debian puts the server in /usr/sbin and the installer in /usr/bin).
pub fn find_binaries() -> Option<Binaries> {
    let pair = |server: PathBuf, install: PathBuf| {
        (server.is_file() && install.is_file()).then_some(Binaries { server, install })
    };
    if let Some(dir) = std::env::var_os("COUNTER_MARIADB_BIN") {
        let dir = PathBuf::from(dir);
        return pair(dir.join("mariadbd"), dir.join("mariadb-install-db"));
    }
    let install_dirs = ["/usr/bin", "/usr/local/bin", "/opt/homebrew/bin"];
    let server_dirs = [
        "/usr/sbin",
        "/usr/bin",
        "/usr/local/bin",
        "/opt/homebrew/bin",
    ];
    server_dirs.iter().find_map(|server| {
        install_dirs.iter().find_map(|install| {
            pair(
                Path::new(server).join("mariadbd"),
                Path::new(install).join("mariadb-install-db"),
            )
        })
    })
}

/// A pool on MariaDB at one isolation level, and what the server says about it.
#[derive(Debug, Clone)]
pub struct MariaDatabase {
    pub pool: MySqlPool,
    pub isolation: Isolation,
    pub effective_isolation: String,
    pub version: String,
    pub pool_size: u32,
}

/// The statement that sets a connection's level (fixed text per level).
fn set_level(level: Isolation) -> &'static str {
    match level {
        Isolation::ReadUncommitted => "SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED",
        Isolation::ReadCommitted => "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        Isolation::RepeatableRead => "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        Isolation::Serializable => "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE",
    }
}

/// Sessions on this database sleeping inside an open InnoDB transaction, other than the
/// asking one: MariaDB's "idle in transaction". After a run there must be none. InnoDB
/// refreshes these tables at most every 100 ms, so ask through [`super::settle`].
pub async fn idle_in_transaction(pool: &MySqlPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.INNODB_TRX t \
         JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id \
         WHERE p.COMMAND = 'Sleep' AND p.ID <> CONNECTION_ID() AND p.DB = DATABASE()",
    )
    .fetch_one(pool)
    .await
}

pub async fn connect(
    options: &MySqlConnectOptions,
    level: Isolation,
    pool_size: u32,
) -> Result<MariaDatabase, DbError> {
    let sql = set_level(level);
    let pool = MySqlPoolOptions::new()
        .max_connections(pool_size)
        .acquire_timeout(super::ACQUIRE_TIMEOUT)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                conn.execute(sqlx::raw_sql(sql)).await?;
                Ok(())
            })
        })
        .connect_with(options.clone())
        .await?;
    migrator(Engine::Mariadb).run(&pool).await?;
    let effective: String = sqlx::query_scalar("SELECT @@tx_isolation")
        .fetch_one(&pool)
        .await?;
    let version: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(&pool)
        .await?;
    Ok(MariaDatabase {
        pool,
        isolation: level,
        // "REPEATABLE-READ" -> "repeatable read", to compare with the requested level.
        effective_isolation: effective.to_lowercase().replace('-', " "),
        version,
        pool_size,
    })
}
