//! The `counter` binary as a child process: a command with no database configured, and a
//! `counter serve` whose log tells us its address and throwaway cluster.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `counter serve` child process on a throwaway cluster, with what its log told us.
pub struct ServeProcess {
    pub child: Child,
    pub base_url: String,
    /// The throwaway cluster's directory and postmaster, when serve started one.
    pub cluster: Option<(PathBuf, i32)>,
}

/// The counter binary with no database configured and no `.env` in reach.
pub fn counter_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_counter"));
    command
        .current_dir(std::env::temp_dir())
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    for key in [
        "POSTGRES_DB",
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "POSTGRES_HOST",
        "POSTGRES_PORT",
    ] {
        command.env_remove(key);
    }
    command
}

/// `counter serve` on an ephemeral port with `extra` arguments; returns once it listens.
pub fn start_serve_process(extra: &[&str]) -> ServeProcess {
    let mut child = counter_command()
        .args(["serve", "--bind", "127.0.0.1:0", "--pool-size", "4"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut cluster_dir = None;
    let mut base_url = None;
    for line in stderr.lines() {
        let line = line.unwrap();
        if let Some(rest) = line
            .split(" in ")
            .nth(1)
            .filter(|_| line.contains("throwaway"))
        {
            cluster_dir = rest.split(" (removed").next().map(PathBuf::from);
        }
        if let Some(rest) = line.split("listening on ").nth(1) {
            base_url = rest.split_whitespace().next().map(str::to_string);
            break;
        }
    }
    let cluster = cluster_dir.map(|dir: PathBuf| {
        let pid_file = std::fs::read_to_string(dir.join("data/postmaster.pid")).unwrap();
        let pid = pid_file.lines().next().unwrap().trim().parse().unwrap();
        (dir, pid)
    });
    ServeProcess {
        child,
        base_url: base_url.expect("the log names the address"),
        cluster,
    }
}

pub fn process_exists(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

pub fn wait_until(deadline: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    condition()
}
