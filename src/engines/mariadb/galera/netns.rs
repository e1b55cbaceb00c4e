//! A network namespace of the cluster's own. A Galera node's group communication (gcomm), its
//! incremental state transfer and its rsync state transfer listen on TCP and ask nobody for a
//! password: on a shared host's loopback any local account could join the throwaway cluster
//! or receive a copy of its data. Inside a namespace of its own the cluster's loopback is
//! reachable by its own processes only; counter reaches each node through the Unix socket in
//! the node's private directory, as it reaches a single throwaway MariaDB. Ports inside the
//! namespace are the cluster's alone, so they are fixed and never taken by anyone else.
//!
//! A namespace belongs to a thread: the one that makes it enters it, and every process it
//! starts is born inside. The namespace lives as long as a process in it or the handle kept
//! here: the nodes are started, and restarted, from a short-lived thread that enters it first.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

use crate::engines::supervise::{ThrowawayError, io_err};

/// The cluster's private network, with its loopback up.
#[derive(Debug)]
pub struct NetNamespace {
    /// `/proc/thread-self/ns/net` of the thread that made it: keeps it alive, lets others in.
    handle: File,
}

/// Why a namespace could not be made: the rule it serves, and what to do.
const NEEDS_ROOT: &str = "a throwaway Galera cluster runs in a network namespace of its own (its group communication and state transfer ask no password, so no other local account may reach them), which needs root (CAP_SYS_ADMIN); run counter as root";

impl NetNamespace {
    pub fn new() -> Result<NetNamespace, ThrowawayError> {
        let made = std::thread::scope(|scope| {
            scope
                .spawn(|| -> io::Result<File> {
                    // SAFETY: unshare has no memory-safety preconditions; a new network
                    // namespace is this thread's only, and the thread ends with the closure.
                    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    loopback_up()?;
                    File::open("/proc/thread-self/ns/net")
                })
                .join()
        });
        match made {
            Ok(Ok(handle)) => Ok(NetNamespace { handle }),
            Ok(Err(err)) if err.raw_os_error() == Some(libc::EPERM) => Err(io_err(NEEDS_ROOT)(err)),
            Ok(Err(err)) => Err(io_err("could not make the cluster's network namespace")(
                err,
            )),
            Err(_) => Err(io_err("could not make the cluster's network namespace")(
                io::Error::other("its thread panicked"),
            )),
        }
    }

    /// Runs `work` on a thread inside the namespace: every process it starts is born there.
    pub fn run<T: Send>(&self, work: impl FnOnce() -> T + Send) -> Result<T, ThrowawayError> {
        let fd = self.handle.as_raw_fd();
        let ran = std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    // SAFETY: setns has no memory-safety preconditions; `fd` is open for the
                    // scope's length (it is `self.handle`'s) and only this thread moves.
                    if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    Ok(work())
                })
                .join()
        });
        match ran {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(io_err("could not enter the cluster's network namespace")(
                err,
            )),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// A new namespace's loopback is down: `ip link set lo up`, without needing `ip`.
fn loopback_up() -> io::Result<()> {
    // SAFETY: a socket of our own, closed below; `request` is a zeroed ifreq whose name is
    // "lo" (NUL-terminated), as SIOCGIFFLAGS / SIOCSIFFLAGS expect.
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut request: libc::ifreq = std::mem::zeroed();
        for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
            *slot = *byte as libc::c_char;
        }
        let mut result = libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut request);
        if result == 0 {
            request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            result = libc::ioctl(sock, libc::SIOCSIFFLAGS, &mut request);
        }
        let err = io::Error::last_os_error();
        libc::close(sock);
        match result {
            0 => Ok(()),
            _ => Err(err),
        }
    }
}
