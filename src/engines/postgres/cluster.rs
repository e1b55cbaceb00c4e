//! The throwaway PostgreSQL cluster: started from the server binaries installed on the machine
//! when no database is configured, and removed on every exit path (see
//! [`crate::engines::supervise`]).
//!
//! It admits no local account but the one that started counter: the superuser has a random
//! password made for this run (scram-sha-256 for every connection, no trust entries), the
//! data directory, the log and the Unix socket are inside a directory only the server's
//! account can enter, and counter connects with the password. A second terminal uses the
//! connection file [`LocalCluster::write_pgpass`] leaves for the invoking user.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;

use super::binaries::find_server_binaries;
use crate::engines::options::Durability;
use crate::engines::supervise::{
    self, RunAs, StopPlan, Supervised, ThrowawayError, command, io_err, run_as,
};

/// The superuser initdb creates; it has a random password per run.
pub const SUPERUSER: &str = "postgres";

/// Fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL.
const STOP: StopPlan = StopPlan {
    steps: &[
        (libc::SIGINT, Duration::from_secs(15)),
        (libc::SIGQUIT, Duration::from_secs(5)),
        (libc::SIGKILL, Duration::from_secs(5)),
    ],
};

/// How long a restart may wait for the old backends to let go of the data directory.
const RESTART_DEADLINE: Duration = Duration::from_secs(15);

pub const BINARIES_HINT: &str = "PostgreSQL server binaries (initdb, postgres) were not found. \
     Install them (Debian/Ubuntu: apt-get install -y postgresql; macOS: brew install postgresql@16), \
     set COUNTER_PG_BIN to the directory that holds them, or set DATABASE_URL to use an \
     existing database";

/// A running throwaway cluster. Dropping it stops the server and deletes its directory.
#[derive(Debug)]
pub struct LocalCluster {
    server: Supervised,
    port: u16,
    bin: PathBuf,
    run_as: RunAs,
    durability: Durability,
    /// The superuser's password, made for this run; never printed.
    password: String,
}

impl LocalCluster {
    /// Finds the binaries, runs initdb in a fresh private directory and starts the postmaster
    /// on a free loopback port, with `durability`. Blocking: call it from `spawn_blocking`.
    pub fn start(durability: Durability) -> Result<LocalCluster, ThrowawayError> {
        let bin = find_server_binaries().ok_or(ThrowawayError::BinariesNotFound(BINARIES_HINT))?;
        let run_as = run_as(c"postgres", "PostgreSQL")?;

        // From here on, the directory is ours to remove whatever happens.
        let mut cluster = LocalCluster {
            server: Supervised::new_private("postgres", run_as, "counter-pg", STOP)?,
            port: 0,
            bin,
            run_as,
            durability,
            password: random_password()?,
        };
        cluster.initdb()?;
        // A free port can be taken by someone else between our probe and the postmaster's
        // bind; a few attempts make that race harmless.
        let mut last_error = None;
        for _ in 0..3 {
            cluster.port = supervise::free_port()?;
            match cluster.spawn_postmaster() {
                Ok(()) => return Ok(cluster),
                Err(err) => last_error = Some(err),
            }
        }
        Err(last_error.unwrap_or(ThrowawayError::BinariesNotFound(BINARIES_HINT)))
    }

    /// Sends `signal_number` to the postmaster and all its backends (fault injection).
    pub fn signal_all(&self, signal_number: i32) {
        self.server.signal_all(signal_number);
    }

    /// Starts the postmaster again on the same port and directory, after it died. Waits for
    /// the old backends to let go of the data directory. Blocking.
    pub fn restart(&mut self) -> Result<(), ThrowawayError> {
        self.server.forget_dead();
        let started = Instant::now();
        loop {
            match self.spawn_postmaster() {
                Ok(()) => return Ok(()),
                Err(err) if started.elapsed() > RESTART_DEADLINE => return Err(err),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        self.server.dir()
    }

    /// Process id of the postmaster (for tests and fault injection).
    pub fn pid(&self) -> Option<u32> {
        self.server.pid()
    }

    /// Connection options for `database` on this cluster (TCP on loopback, the superuser and
    /// its password).
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new_without_pgpass()
            .host("127.0.0.1")
            .port(self.port)
            .username(SUPERUSER)
            .password(&self.password)
            .database(database)
    }

    /// The superuser's password (for tests that build a URL; never print it).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// Writes a libpq password file (`host:port:*:user:password`) readable only by the
    /// invoking user, inside the cluster's private directory (so it goes with the cluster,
    /// even after `kill -9`), and returns its path: `PGPASSFILE=<path> psql -h 127.0.0.1
    /// -p <port> -U postgres counter` connects from a second terminal without the password
    /// ever being shown.
    pub fn write_pgpass(&self) -> Result<PathBuf, ThrowawayError> {
        self.write_pgpass_for(&[self.port])
    }

    /// A password file (mode 0600, in the cluster's directory) for the cluster reached at each
    /// of `ports` on 127.0.0.1 (the cluster's own, a proxy's in front of it).
    pub fn write_pgpass_for(&self, ports: &[u16]) -> Result<PathBuf, ThrowawayError> {
        let path = self.dir().join("pgpass");
        let mut file = File::options()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_err("could not write the connection file"))?;
        for port in ports {
            writeln!(file, "127.0.0.1:{port}:*:{SUPERUSER}:{}", self.password)
                .map_err(io_err("could not write the connection file"))?;
        }
        Ok(path)
    }

    /// Stops the server and deletes the directory; safe to call twice.
    pub fn stop(&mut self) {
        self.server.stop();
    }

    fn data_dir(&self) -> PathBuf {
        self.dir().join("data")
    }

    /// Creates the data directory with the superuser's password and password authentication
    /// for every connection, local or TCP. The password reaches initdb in a file readable by
    /// the server's account only, removed at once.
    fn initdb(&self) -> Result<(), ThrowawayError> {
        let password_file = self.dir().join("initdb-password");
        let mut file = File::options()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&password_file)
            .map_err(io_err("could not hand initdb the password"))?;
        let written = writeln!(file, "{}", self.password)
            .and_then(|()| std::os::unix::fs::chown(&password_file, Some(self.run_as.uid), None));
        drop(file);
        let mut initdb = command(&self.bin.join("initdb"), self.run_as, self.dir());
        initdb
            .arg("-D")
            .arg(self.data_dir())
            .arg(format!("--pwfile={}", password_file.display()))
            .args([
                "-U",
                SUPERUSER,
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "-N",
            ]);
        let result = written
            .map_err(io_err("could not hand initdb the password"))
            .and_then(|()| supervise::run_setup(initdb, "initdb"));
        let _ = fs::remove_file(&password_file);
        result
    }

    fn spawn_postmaster(&mut self) -> Result<(), ThrowawayError> {
        let log_path = self.dir().join("postgres.log");
        let log = File::options()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&log_path)
            .map_err(io_err("could not create the log"))?;
        let log_err = log
            .try_clone()
            .map_err(io_err("could not create the log"))?;
        let mut postgres = command(&self.bin.join("postgres"), self.run_as, self.dir());
        postgres
            .arg("-D")
            .arg(self.data_dir())
            .arg("-k")
            .arg(self.dir())
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "unix_socket_permissions=0700"])
            .args(["-c", "max_connections=400"])
            .stdout(log)
            .stderr(log_err);
        if self.durability == Durability::NoFsync {
            // Commits stay synchronous, so a killed postmaster never forgets an acknowledged
            // commit (the OS page cache survives it); a crash of the machine could.
            postgres.args(["-c", "fsync=off"]);
        }
        // `postmaster.pid`'s eighth line reads `ready` once connections are accepted.
        let pid_file = self.data_dir().join("postmaster.pid");
        let ready = move || {
            fs::read_to_string(&pid_file)
                .is_ok_and(|text| text.lines().nth(7).is_some_and(|s| s.trim() == "ready"))
        };
        self.server.launch(postgres, &log_path, ready)
    }
}

/// 32 random bytes from the kernel, as 64 hexadecimal digits.
pub(crate) fn random_password() -> Result<String, ThrowawayError> {
    let mut bytes = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .map_err(io_err("could not read /dev/urandom for the password"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
