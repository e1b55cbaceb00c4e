//! The throwaway MariaDB: mariadb-install-db and mariadbd in a private temporary directory,
//! supervised and removed like the PostgreSQL cluster (see [`crate::engines::supervise`]).
//! It listens only on a Unix socket inside that directory (`--skip-networking`), which no
//! other account can enter: its root account has no password, so no TCP port is opened.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sqlx::mysql::MySqlConnectOptions;

use crate::engines::options::Durability;
use crate::engines::supervise::{
    self, RunAs, StopPlan, Supervised, ThrowawayError, command, io_err, run_as,
};

/// The database the throwaway server creates.
pub const DATABASE: &str = "counter";

/// Shutdown (SIGTERM), then SIGKILL.
const STOP: StopPlan = StopPlan {
    steps: &[
        (libc::SIGTERM, Duration::from_secs(15)),
        (libc::SIGKILL, Duration::from_secs(5)),
    ],
};

pub const BINARIES_HINT: &str = "MariaDB server binaries (mariadbd, mariadb-install-db) were not found. Install them (Debian/Ubuntu: apt-get install -y mariadb-server; macOS: brew install mariadb), or set COUNTER_MARIADB_BIN to their directory";

/// A running throwaway MariaDB. Dropping it stops the server and deletes its directory.
#[derive(Debug)]
pub struct LocalMariaDb {
    server: Supervised,
}

impl LocalMariaDb {
    /// Installs a data directory and starts mariadbd on a socket in the directory, with
    /// `durability`. Blocking: call it from `spawn_blocking`.
    pub fn start(durability: Durability) -> Result<LocalMariaDb, ThrowawayError> {
        let bin = find_binaries().ok_or(ThrowawayError::BinariesNotFound(BINARIES_HINT))?;
        let run_as = run_as(c"mysql", "MariaDB")?;

        let mut server = LocalMariaDb {
            server: Supervised::new_private("mariadbd", run_as, "counter-mariadb", STOP)?,
        };
        server.install(&bin, run_as)?;
        server.launch(&bin, run_as, durability)?;
        Ok(server)
    }

    pub fn dir(&self) -> &Path {
        self.server.dir()
    }

    /// Connection options for the `counter` database, as root over the server's socket.
    pub fn connect_options(&self) -> MySqlConnectOptions {
        MySqlConnectOptions::new()
            .socket(self.dir().join("mysqld.sock"))
            .username("root")
            .database(DATABASE)
    }

    /// Stops the server and deletes the directory; safe to call twice.
    pub fn stop(&mut self) {
        self.server.stop();
    }

    fn install(&self, bin: &Binaries, run_as: RunAs) -> Result<(), ThrowawayError> {
        install(bin, run_as, self.dir())
    }

    fn launch(
        &mut self,
        bin: &Binaries,
        run_as: RunAs,
        durability: Durability,
    ) -> Result<(), ThrowawayError> {
        let mut mariadbd = mariadbd(bin, run_as, self.dir(), durability)?;
        mariadbd.args(["--skip-networking", "--skip-log-bin"]);
        let log = error_log(self.dir());
        self.server.launch(mariadbd, &log, logged_ready(&log))
    }
}

/// mariadb-install-db: a new data directory in `dir`, root without a password (the socket
/// is inside a directory no other account can enter).
pub(super) fn install(bin: &Binaries, run_as: RunAs, dir: &Path) -> Result<(), ThrowawayError> {
    let mut install = command(&bin.install, run_as, dir);
    install
        .arg("--no-defaults")
        .arg(format!("--datadir={}", dir.join("data").display()))
        // Its own temporary files too: two set-ups at once in /tmp trip over each other's
        // temporary tables (seen: "Could not remove temporary table", then "Aborting").
        .arg(format!("--tmpdir={}", dir.display()))
        .args(["--auth-root-authentication-method=normal", "--skip-test-db"]);
    supervise::run_setup(install, "mariadb-install-db")
}

/// The server's error log in `dir`.
pub(super) fn error_log(dir: &Path) -> PathBuf {
    dir.join("error.log")
}

/// mariadbd with what every throwaway server of counter's has: its files in `dir` (data,
/// socket, pid file, temporary files, logs), its sizes, and `durability`; networking is the
/// caller's.
pub(super) fn mariadbd(
    bin: &Binaries,
    run_as: RunAs,
    dir: &Path,
    durability: Durability,
) -> Result<std::process::Command, ThrowawayError> {
    let out = File::create(dir.join("stdout.log")).map_err(io_err("could not create the log"))?;
    let shown = dir.display().to_string();
    let mut mariadbd = command(&bin.server, run_as, dir);
    mariadbd
        .arg("--no-defaults")
        .arg(format!("--datadir={shown}/data"))
        .arg(format!("--socket={shown}/mysqld.sock"))
        .arg(format!("--pid-file={shown}/mysqld.pid"))
        .arg(format!("--tmpdir={shown}"))
        .arg(format!("--log-error={}", error_log(dir).display()))
        .args(["--innodb-buffer-pool-size=64M", "--max-connections=400"])
        .stdout(out)
        .stderr(Stdio::null());
    if durability == Durability::NoFsync {
        // The log is written at each commit and flushed about once a second.
        mariadbd.arg("--innodb-flush-log-at-trx-commit=2");
    }
    Ok(mariadbd)
}

/// Ready when the log says so ("ready for connections": after its state transfer, for a
/// Galera node that joins), in what it writes from now on (a node started again appends to
/// the log of its first start).
pub(super) fn logged_ready(log: &Path) -> impl FnMut() -> bool + use<> {
    let log = log.to_path_buf();
    let seen = fs::metadata(&log).map_or(0, |meta| meta.len() as usize);
    move || {
        fs::read(&log).is_ok_and(|text| {
            let new = text.get(seen..).unwrap_or_default();
            String::from_utf8_lossy(new).contains("ready for connections")
        })
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
