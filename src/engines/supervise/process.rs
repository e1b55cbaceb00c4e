//! The process-level calls a throwaway server needs: the account to run it as, its private
//! directory, a free port, signals, and the children of a process.

use std::ffi::CStr;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::error::{ThrowawayError, io_err};

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

/// Whether process `pid` exists (a zombie counts until reaped).
pub fn process_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    i32::try_from(pid).is_ok_and(|pid| unsafe { libc::kill(pid, 0) } == 0)
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

/// Runs a set-up step to completion; its stderr's last lines are the error. The step dies
/// with us (Linux's parent-death signal): `kill -9` of counter during `initdb` once left
/// initdb writing into the directory the reaper was removing, and the directory stayed.
pub fn run_setup(mut cmd: Command, program: &'static str) -> Result<(), ThrowawayError> {
    // SAFETY: prctl and getppid are async-signal-safe; the closure only sets this child's
    // parent-death signal (after the uid change, which would clear it) and exits when the
    // parent is already gone.
    unsafe {
        let parent = libc::getpid();
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
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

/// Where a new server directory goes: under the system temp dir, named by `prefix`, this
/// process's pid and the clock (see [`make_private`]).
pub fn private_path(prefix: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!("{prefix}-{}-{nanos:09}", std::process::id()))
}

/// Creates `dir` private to (and owned by) `run_as`: no other account can enter it, so
/// neither the data, the logs nor a Unix socket inside are theirs.
pub fn make_private(dir: &Path, run_as: RunAs) -> Result<(), ThrowawayError> {
    fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .map_err(io_err(format!("could not create {}", dir.display())))?;
    if let Err(err) = chown(dir, Some(run_as.uid), Some(run_as.gid)) {
        let _ = fs::remove_dir(dir);
        return Err(io_err(
            "could not hand the server's directory to its account",
        )(err));
    }
    Ok(())
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

/// Writes `text` to a new file at `path` (replacing an old one), readable by `run_as` only: a
/// server's configuration, which may hold passwords.
pub fn write_private(path: &Path, text: &str, run_as: RunAs) -> Result<(), ThrowawayError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = fs::remove_file(path);
    let context = || format!("could not write {}", path.display());
    let mut file = fs::File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(context()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| chown(path, Some(run_as.uid), Some(run_as.gid)))
        .map_err(io_err(context()))
}
