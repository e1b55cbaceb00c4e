//! Supervision of the throwaway servers counter starts (PostgreSQL, MariaDB): the account they
//! run as, their private directory, start-up with a deadline, and removal on every exit path.
//!
//! Removal has two layers. The normal one is [`Supervised::stop`] (also run by `Drop`, so
//! errors and panics that unwind are covered): a graceful shutdown with escalation, then the
//! directory goes. The second layer covers what `Drop` cannot: `kill -9`, an abort, a signal we
//! did not handle. A tiny `sh` "reaper" is started beside each server with its stdin connected
//! to a pipe that only this process holds; when this process ends in any way, the kernel closes
//! the pipe, the reaper reads end-of-file, stops the server and deletes the directory.

mod error;
mod process;

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use error::{ThrowawayError, io_err};
pub use process::{
    RunAs, children_of, command, free_port, last_lines, make_private, private_path, process_alive,
    run_as, run_setup, signal, write_private,
};

/// How long a server may take to accept connections.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// The reaper: waits until its stdin closes (counter is gone, however it died), stops the
/// server, then removes the directory, again until it is gone (a set-up step dying at the
/// same moment may still be writing into it).
const REAPER_SCRIPT: &str = r#"
trap '' INT TERM HUP
while read -r _; do :; done
if [ "$1" -gt 0 ]; then
kill -"$3" "$1" 2>/dev/null
i=0
while kill -0 "$1" 2>/dev/null && [ "$i" -lt 150 ]; do sleep 0.1; i=$((i+1)); done
kill -"$4" "$1" 2>/dev/null
fi
if [ -n "$5" ] && [ -f "$5" ]; then
    p=$(head -n 1 "$5")
    kill -KILL "$p" 2>/dev/null
    i=0
    while kill -0 "$p" 2>/dev/null && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i+1)); done
fi
i=0
while [ -e "$2" ] && [ "$i" -lt 50 ]; do rm -rf "$2" 2>/dev/null; [ -e "$2" ] && sleep 0.1; i=$((i+1)); done
"#;

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
    /// A pid file naming a process the server starts that outlives it (Patroni's
    /// postmaster, which runs in a session of its own): stopped after the server.
    orphan_pid_file: Option<PathBuf>,
}

impl Supervised {
    /// A new private directory (named by `prefix`, owned by `run_as`) for a server named
    /// `program`: removed on drop, and by a reaper if this process dies before the server
    /// even starts (`kill -9` while `initdb` runs once left 39 MB and the password file
    /// behind). The reaper is watching before the directory exists: a kill between the two
    /// once left an empty directory (a test killing serve at 300 ms, on a busy machine).
    pub fn new_private(
        program: &'static str,
        run_as: RunAs,
        prefix: &str,
        plan: StopPlan,
    ) -> Result<Supervised, ThrowawayError> {
        let mut supervised = Supervised {
            program,
            dir: private_path(prefix),
            plan,
            child: None,
            reapers: Vec::new(),
            orphan_pid_file: None,
        };
        // No server yet (pid 0): on our death it only removes the directory.
        let guard = supervised.spawn_reaper(0)?;
        supervised.reapers.push(guard);
        make_private(&supervised.dir, run_as)?;
        Ok(supervised)
    }

    /// Also stops the process named by the first line of `pid_file` once the server is
    /// stopped (by [`Supervised::stop`] and by the reaper).
    pub fn with_orphan_pid_file(mut self, pid_file: PathBuf) -> Supervised {
        self.orphan_pid_file = Some(pid_file);
        self
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
        cmd: Command,
        log: &Path,
        ready: impl FnMut() -> bool,
    ) -> Result<(), ThrowawayError> {
        self.launch_within(cmd, log, ready, START_DEADLINE)
    }

    /// [`Supervised::launch`] with a deadline of the caller's (a Galera node joining by
    /// state transfer takes as long as the transfer).
    pub fn launch_within(
        &mut self,
        mut cmd: Command,
        log: &Path,
        mut ready: impl FnMut() -> bool,
        deadline: Duration,
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
            if started.elapsed() > deadline {
                return Err(ThrowawayError::StartTimeout {
                    program: self.program,
                    secs: deadline.as_secs(),
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
        self.stop_orphan();
        if self.dir.exists()
            && let Err(err) = fs::remove_dir_all(&self.dir)
        {
            // Say so rather than stay silent: the directory is left behind.
            tracing::warn!(
                dir = %self.dir.display(),
                %err,
                "could not remove the throwaway {}'s directory",
                self.program
            );
        }
        // The reapers are killed rather than told (by closing their stdin) so that none
        // signals a pid that may already belong to another process.
        for mut reaper in self.reapers.drain(..) {
            let _ = reaper.kill();
            let _ = reaper.wait();
        }
    }

    /// Kills the process the orphan pid file names, if it still runs, and waits for it.
    fn stop_orphan(&self) {
        let Some(pid_file) = &self.orphan_pid_file else {
            return;
        };
        let pid = fs::read_to_string(pid_file)
            .ok()
            .and_then(|text| text.lines().next()?.trim().parse::<u32>().ok());
        if let Some(pid) = pid {
            signal(pid, libc::SIGKILL);
            let started = Instant::now();
            while process_alive(pid) && started.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(20));
            }
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
            .arg(self.orphan_pid_file.as_deref().unwrap_or(Path::new("")))
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
