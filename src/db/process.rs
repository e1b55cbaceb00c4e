//! The few process-level calls the throwaway cluster needs: signals, the children of a
//! process, and the account to run PostgreSQL as.

use std::fs;

use super::cluster::ClusterError;

/// The account PostgreSQL runs under: ours, or `postgres` when we are root.
#[derive(Debug, Clone, Copy)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
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

/// Root may not run the database servers: use their `account` then (`missing` when it does
/// not exist), ourselves otherwise.
pub fn run_as(account: &std::ffi::CStr, missing: ClusterError) -> Result<RunAs, ClusterError> {
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
            return Err(missing);
        }
        Ok(RunAs {
            uid: (*entry).pw_uid,
            gid: (*entry).pw_gid,
        })
    }
}
