//! The throwaway PostgreSQL cluster: started from the server binaries installed on the machine
//! when no database is configured, and removed on every exit path.
//!
//! Cleanup has two layers. The normal one is [`LocalCluster::stop`] (also run by `Drop`, so
//! errors and panics that unwind are covered): fast shutdown, wait, delete the directory. The
//! second layer covers what `Drop` cannot: `kill -9`, an abort, a signal we did not handle. A
//! tiny `sh` "reaper" is started beside the cluster with its stdin connected to a pipe that only
//! this process holds; when this process ends in any way, the kernel closes the pipe, the reaper
//! reads end-of-file, stops the postmaster and deletes the directory.

use std::fs::{self, File};
use std::os::unix::fs::{DirBuilderExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;

pub use super::binaries::find_server_binaries;
use super::process::{RunAs, children_of, run_as, signal};

/// How long the postmaster may take to accept connections.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// How long a fast shutdown may take before we escalate.
const STOP_DEADLINE: Duration = Duration::from_secs(15);
/// The superuser initdb creates; local connections are trusted (loopback only, throwaway data).
pub const SUPERUSER: &str = "postgres";

const REAPER_SCRIPT: &str = r#"
trap '' INT TERM HUP
while read -r _; do :; done
kill -"$3" "$1" 2>/dev/null
i=0
while kill -0 "$1" 2>/dev/null && [ "$i" -lt 150 ]; do sleep 0.1; i=$((i+1)); done
kill -"$4" "$1" 2>/dev/null
rm -rf "$2"
"#;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "PostgreSQL server binaries (initdb, postgres) were not found. Install them \
         (Debian/Ubuntu: apt-get install -y postgresql; macOS: brew install postgresql@16), \
         set COUNTER_PG_BIN to the directory that holds them, or set DATABASE_URL to use an \
         existing database"
    )]
    BinariesNotFound,
    #[error(
        "running as root, PostgreSQL must run as the `postgres` system user, which does not exist (create it, or run counter as an ordinary user)"
    )]
    NoPostgresUser,
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "MariaDB server binaries (mariadbd, mariadb-install-db) were not found. Install them (Debian/Ubuntu: apt-get install -y mariadb-server; macOS: brew install mariadb), or set COUNTER_MARIADB_BIN to their directory"
    )]
    MariaDbNotFound,
    #[error("running as root, MariaDB must run as the `mysql` system user, which does not exist")]
    NoMysqlUser,
    #[error("mariadb-install-db failed: {0}")]
    InstallDb(String),
    #[error("initdb failed: {0}")]
    Initdb(String),
    #[error("postgres did not accept connections within {secs}s; last lines of its log:\n{tail}")]
    StartTimeout { secs: u64, tail: String },
    #[error("postgres exited during startup; last lines of its log:\n{tail}")]
    Exited { tail: String },
}

pub(super) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let context = context.into();
    move |source| ClusterError::Io { context, source }
}

/// A running throwaway cluster. Dropping it stops the server and deletes its directory.
#[derive(Debug)]
pub struct LocalCluster {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    run_as: RunAs,
    postmaster: Option<Child>,
    /// One per postmaster started (a restart adds one); each guards the directory.
    reapers: Vec<Child>,
}

impl LocalCluster {
    /// Finds the binaries, runs initdb in a fresh temporary directory and starts the postmaster
    /// on a free loopback port. Blocking: call it from `spawn_blocking`.
    pub fn start() -> Result<LocalCluster, ClusterError> {
        let bin = find_server_binaries().ok_or(ClusterError::BinariesNotFound)?;
        let run_as = run_as(c"postgres", ClusterError::NoPostgresUser)?;
        let dir = make_private_dir(run_as, "counter-pg")?;
        // From here on, the directory is ours to remove whatever happens.
        let mut cluster = LocalCluster {
            dir,
            port: 0,
            bin,
            run_as,
            postmaster: None,
            reapers: Vec::new(),
        };
        cluster.initdb()?;
        // A free port can be taken by someone else between our probe and the postmaster's
        // bind; a few attempts make that race harmless.
        let mut last_error = None;
        for _ in 0..3 {
            cluster.port = free_port()?;
            match cluster.spawn_postmaster() {
                Ok(()) => return Ok(cluster),
                Err(err) => last_error = Some(err),
            }
        }
        Err(last_error.unwrap_or(ClusterError::BinariesNotFound))
    }

    /// Sends `signal` to the postmaster and all its backends (fault injection: SIGKILL for a
    /// crash, SIGSTOP/SIGCONT for a pause). PostgreSQL puts every backend in a session of its
    /// own, so the process group does not reach them: they are found as the postmaster's
    /// children in /proc.
    pub fn signal_all(&self, signal_number: i32) {
        let Some(pid) = self.pid() else {
            return;
        };
        for child in children_of(pid) {
            signal(child, signal_number);
        }
        signal(pid, signal_number);
    }

    /// Starts the postmaster again on the same port and directory, after it died. Waits for
    /// the old backends to let go of the data directory. Blocking.
    pub fn restart(&mut self) -> Result<(), ClusterError> {
        if let Some(mut child) = self.postmaster.take() {
            let _ = child.wait();
        }
        let started = Instant::now();
        loop {
            match self.spawn_postmaster() {
                Ok(()) => return Ok(()),
                Err(err) if started.elapsed() > STOP_DEADLINE => return Err(err),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Process id of the postmaster (for tests and fault injection).
    pub fn pid(&self) -> Option<u32> {
        self.postmaster.as_ref().map(Child::id)
    }

    /// Connection options for `database` on this cluster (TCP on loopback, trusted superuser).
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new_without_pgpass()
            .host("127.0.0.1")
            .port(self.port)
            .username(SUPERUSER)
            .database(database)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    fn initdb(&self) -> Result<(), ClusterError> {
        let output = command(&self.bin.join("initdb"), self.run_as, &self.dir)
            .arg("-D")
            .arg(self.data_dir())
            .args([
                "-U",
                SUPERUSER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "-N",
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(io_err("could not run initdb"))?;
        if output.status.success() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&output.stderr);
        Err(ClusterError::Initdb(last_lines(&text, 10)))
    }

    fn spawn_postmaster(&mut self) -> Result<(), ClusterError> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(io_err("could not create the log"))?;
        let log_err = log
            .try_clone()
            .map_err(io_err("could not create the log"))?;
        let child = command(&self.bin.join("postgres"), self.run_as, &self.dir)
            .arg("-D")
            .arg(self.data_dir())
            .arg("-k")
            .arg(&self.dir)
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            // Throwaway data: skip fsync. Commits stay synchronous, so a killed postmaster
            // never forgets an acknowledged commit (the OS page cache survives it).
            .args(["-c", "fsync=off", "-c", "max_connections=400"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Its own process group: a Ctrl-C in the terminal reaches us, not the database,
            // so in-flight requests can still finish during a graceful shutdown.
            .process_group(0)
            .spawn()
            .map_err(io_err("could not start postgres"))?;
        let pid = child.id();
        self.postmaster = Some(child);
        self.reapers
            .push(spawn_reaper(pid, &self.dir, "INT", "QUIT")?);
        self.wait_until_ready()
    }

    /// Polls `postmaster.pid`, whose eighth line reads `ready` once connections are accepted.
    fn wait_until_ready(&mut self) -> Result<(), ClusterError> {
        let pid_file = self.data_dir().join("postmaster.pid");
        let started = Instant::now();
        loop {
            if let Some(child) = self.postmaster.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                self.postmaster = None;
                return Err(ClusterError::Exited {
                    tail: self.log_tail(),
                });
            }
            if let Ok(text) = fs::read_to_string(&pid_file)
                && text.lines().nth(7).is_some_and(|s| s.trim() == "ready")
            {
                return Ok(());
            }
            if started.elapsed() > START_DEADLINE {
                return Err(ClusterError::StartTimeout {
                    secs: START_DEADLINE.as_secs(),
                    tail: self.log_tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_tail(&self) -> String {
        let text = fs::read_to_string(self.log_path()).unwrap_or_default();
        last_lines(&text, 15)
    }

    /// Fast shutdown (SIGINT), bounded; then SIGQUIT. Idempotent.
    fn stop_postmaster(&mut self) {
        let Some(mut child) = self.postmaster.take() else {
            return;
        };
        // SIGCONT first: a paused server cannot act on any other signal.
        signal(child.id(), libc::SIGCONT);
        for (signal_number, patience) in [
            (libc::SIGINT, STOP_DEADLINE),
            (libc::SIGQUIT, Duration::from_secs(5)),
            (libc::SIGKILL, Duration::from_secs(5)),
        ] {
            signal(child.id(), signal_number);
            let started = Instant::now();
            while started.elapsed() < patience {
                if !matches!(child.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// Ends the reapers once their work is done. They are killed rather than told (by closing
    /// their stdin) so that none signals a postmaster pid that may already belong to another
    /// process.
    fn stop_reapers(&mut self) {
        for mut reaper in self.reapers.drain(..) {
            let _ = reaper.kill();
            let _ = reaper.wait();
        }
    }

    /// Stops the server and deletes the directory. Called by `Drop` too; safe to call twice.
    pub fn stop(&mut self) {
        self.stop_postmaster();
        if self.dir.exists() {
            let _ = fs::remove_dir_all(&self.dir);
        }
        self.stop_reapers();
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A command that runs as `run_as` in `dir`, with a clean locale.
pub(super) fn command(program: &Path, run_as: RunAs, dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir).env("LC_ALL", "C").env_remove("PGDATA");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != run_as.uid {
        // std also drops root's supplementary groups when it changes the uid.
        cmd.uid(run_as.uid).gid(run_as.gid);
    }
    cmd
}

/// The watcher that stops the server at `pid` (signal `first`, then `last` after 15 s) and
/// deletes `dir` once our end of its stdin pipe closes.
pub(super) fn spawn_reaper(
    pid: u32,
    dir: &Path,
    first: &str,
    last: &str,
) -> Result<Child, ClusterError> {
    Command::new("/bin/sh")
        .arg("-c")
        .arg(REAPER_SCRIPT)
        .arg("counter-reaper")
        .arg(pid.to_string())
        .arg(dir)
        .arg(first)
        .arg(last)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(io_err("could not start the cleanup watcher (/bin/sh)"))
}

/// A new directory under the system temp dir, private to (and owned by) `run_as`.
pub(super) fn make_private_dir(run_as: RunAs, prefix: &str) -> Result<PathBuf, ClusterError> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos:09}", std::process::id()));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(io_err(format!("could not create {}", dir.display())))?;
    if let Err(err) = chown(&dir, Some(run_as.uid), Some(run_as.gid)) {
        let _ = fs::remove_dir(&dir);
        return Err(io_err(
            "could not hand the server's directory to its account",
        )(err));
    }
    Ok(dir)
}

pub(super) fn free_port() -> Result<u16, ClusterError> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(io_err("could not find a free port"))?;
    let port = listener
        .local_addr()
        .map_err(io_err("could not find a free port"))?
        .port();
    Ok(port)
}

pub(super) fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
