//! Supervision of the throwaway servers counter starts (PostgreSQL, MariaDB): the account they
//! run as, their private directory, start-up with a deadline, and removal on every exit path.
//!
//! Removal has two layers. The normal one is [`Supervised::stop`] (also run by `Drop`, so
//! errors and panics that unwind are covered): a graceful shutdown with escalation, then the
//! directory goes. The second layer covers what `Drop` cannot: `kill -9`, an abort, a signal we
//! did not handle. A tiny `sh` "reaper" is started beside each server with its stdin connected
//! to a pipe that only this process holds; when this process ends in any way, the kernel closes
//! the pipe, the reaper reads end-of-file, stops the server and deletes the directory.

use std::ffi::CStr;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to accept connections.
const START_DEADLINE: Duration = Duration::from_secs(60);

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
pub enum ThrowawayError {
    /// The server's binaries are not installed; the text says how to install them.
    #[error("{0}")]
    BinariesNotFound(&'static str),
    #[error(
        "running as root, {product} must run as the `{account}` system user, which does not exist (create it, or run counter as an ordinary user)"
    )]
    NoAccount {
        product: &'static str,
        account: &'static str,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A set-up step (initdb, mariadb-install-db) failed.
    #[error("{program} failed: {tail}")]
    Setup { program: &'static str, tail: String },
    #[error("{program} did not accept connections within {secs}s; last lines of its log:\n{tail}")]
    StartTimeout {
        program: &'static str,
        secs: u64,
        tail: String,
    },
    #[error("{program} exited during startup; last lines of its log:\n{tail}")]
    Exited { program: &'static str, tail: String },
}

pub fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ThrowawayError {
    let context = context.into();
    move |source| ThrowawayError::Io { context, source }
}

/// The account a server runs under: ours, or its own system account when we are root.
#[derive(Debug, Clone, Copy)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

/// Root may not run the database servers: use their `account` then, ourselves otherwise.
pub fn run_as(account: &'static CStr, product: &'static str) -> Result<RunAs, ThrowawayError> {
    // SAFETY: geteuid/getegid have no preconditions.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if uid != 0 {
        return Ok(RunAs { uid, gid });
    }
    // SAFETY: the name is a valid C string; the returned record is read at once, before any
    // other call that could overwrite getpwnam's static buffer.
    unsafe {
        let entry = libc::getpwnam(account.as_ptr());
        if entry.is_null() {
            return Err(ThrowawayError::NoAccount {
                product,
                account: account.to_str().unwrap_or("?"),
            });
        }
        Ok(RunAs {
            uid: (*entry).pw_uid,
            gid: (*entry).pw_gid,
        })
    }
}

pub fn signal(pid: u32, signal: i32) {
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// Pids whose parent is `parent`, from /proc (Linux).
pub fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(entry.path().join("stat")).ok()?;
            // "pid (comm) state ppid ...": comm may contain spaces, so split after the ')'.
            let ppid: u32 = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            (ppid == parent).then_some(pid)
        })
        .collect()
}

/// A command that runs as `run_as` in `dir`, with a clean locale.
pub fn command(program: &Path, run_as: RunAs, dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir).env("LC_ALL", "C").env_remove("PGDATA");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != run_as.uid {
        // std also drops root's supplementary groups when it changes the uid.
        cmd.uid(run_as.uid).gid(run_as.gid);
    }
    cmd
}

/// Runs a set-up step to completion; its stderr's last lines are the error.
pub fn run_setup(mut cmd: Command, program: &'static str) -> Result<(), ThrowawayError> {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(io_err(format!("could not run {program}")))?;
    if output.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&output.stderr);
    Err(ThrowawayError::Setup {
        program,
        tail: last_lines(&text, 10),
    })
}

/// A new directory under the system temp dir, private to (and owned by) `run_as`: no other
/// account can enter it, so neither the data, the logs nor a Unix socket inside are theirs.
pub fn private_dir(run_as: RunAs, prefix: &str) -> Result<PathBuf, ThrowawayError> {
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

pub fn free_port() -> Result<u16, ThrowawayError> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(io_err("could not find a free port"))?;
    let port = listener
        .local_addr()
        .map_err(io_err("could not find a free port"))?
        .port();
    Ok(port)
}

pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The signals that stop a server, gentlest first, each with its patience.
#[derive(Debug, Clone, Copy)]
pub struct StopPlan {
    pub steps: &'static [(i32, Duration)],
}

/// A server process in a private directory, stopped (and the directory removed) when dropped.
#[derive(Debug)]
pub struct Supervised {
    program: &'static str,
    dir: PathBuf,
    plan: StopPlan,
    child: Option<Child>,
    /// One per server started (a restart adds one); each guards the directory.
    reapers: Vec<Child>,
}

impl Supervised {
    /// Takes charge of `dir` (removed on drop from now on) for a server named `program`.
    pub fn new(program: &'static str, dir: PathBuf, plan: StopPlan) -> Supervised {
        Supervised {
            program,
            dir,
            plan,
            child: None,
            reapers: Vec::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Starts `cmd` in its own process group (a Ctrl-C in the terminal reaches us, not the
    /// database, so in-flight requests can still finish), with a reaper beside it, and waits
    /// until `ready` says so. `log` is read for the error when it does not start.
    pub fn launch(
        &mut self,
        mut cmd: Command,
        log: &Path,
        mut ready: impl FnMut() -> bool,
    ) -> Result<(), ThrowawayError> {
        let child = cmd
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(io_err(format!("could not start {}", self.program)))?;
        let pid = child.id();
        self.child = Some(child);
        self.reapers.push(self.spawn_reaper(pid)?);
        let started = Instant::now();
        let tail = || last_lines(&fs::read_to_string(log).unwrap_or_default(), 15);
        loop {
            if let Some(child) = self.child.as_mut()
                && !matches!(child.try_wait(), Ok(None))
            {
                self.child = None;
                return Err(ThrowawayError::Exited {
                    program: self.program,
                    tail: tail(),
                });
            }
            if ready() {
                return Ok(());
            }
            if started.elapsed() > START_DEADLINE {
                return Err(ThrowawayError::StartTimeout {
                    program: self.program,
                    secs: START_DEADLINE.as_secs(),
                    tail: tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal_number` to the server and all its children (fault injection: SIGKILL
    /// for a crash, SIGSTOP/SIGCONT for a pause). PostgreSQL puts every backend in a session
    /// of its own, so the process group does not reach them: they are found in /proc.
    pub fn signal_all(&self, signal_number: i32) {
        let Some(pid) = self.pid() else {
            return;
        };
        for child in children_of(pid) {
            signal(child, signal_number);
        }
        signal(pid, signal_number);
    }

    /// Reaps a server that died (before it is started again in the same directory).
    pub fn forget_dead(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }

    /// Graceful shutdown, escalating through the plan. Idempotent.
    pub fn stop_server(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SIGCONT first: a paused server cannot act on any other signal.
        signal(child.id(), libc::SIGCONT);
        for &(signal_number, patience) in self.plan.steps {
            signal(child.id(), signal_number);
            let started = Instant::now();
            while started.elapsed() < patience {
                if !matches!(child.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Stops the server and deletes the directory. Called by `Drop` too; safe to call twice.
    pub fn stop(&mut self) {
        self.stop_server();
        if self.dir.exists() {
            let _ = fs::remove_dir_all(&self.dir);
        }
        // The reapers are killed rather than told (by closing their stdin) so that none
        // signals a pid that may already belong to another process.
        for mut reaper in self.reapers.drain(..) {
            let _ = reaper.kill();
            let _ = reaper.wait();
        }
    }

    /// The watcher that stops the server at `pid` (the plan's first signal, then its last
    /// after 15 s) and deletes the directory once our end of its stdin pipe closes.
    fn spawn_reaper(&self, pid: u32) -> Result<Child, ThrowawayError> {
        let name = |step: Option<&(i32, Duration)>| match step.map(|s| s.0) {
            Some(libc::SIGINT) => "INT",
            Some(libc::SIGTERM) => "TERM",
            Some(libc::SIGQUIT) => "QUIT",
            _ => "KILL",
        };
        Command::new("/bin/sh")
            .arg("-c")
            .arg(REAPER_SCRIPT)
            .arg("counter-reaper")
            .arg(pid.to_string())
            .arg(&self.dir)
            .arg(name(self.plan.steps.first()))
            .arg(name(self.plan.steps.last()))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(io_err("could not start the cleanup watcher (/bin/sh)"))
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop();
    }
}
