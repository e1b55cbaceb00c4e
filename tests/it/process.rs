//! The `counter` binary as a child process: a command with no database configured, and a
//! `counter serve` whose log tells us its address and throwaway cluster.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A `counter serve` child process on a throwaway cluster, with what its log told us.
pub struct ServeProcess {
    pub child: Child,
    pub base_url: String,
    /// The throwaway cluster's directory and postmaster, when serve started one.
    pub cluster: Option<(PathBuf, i32)>,
    /// How serve says a second terminal connects (its `connect:` line), when it says.
    pub connect: Option<String>,
    /// Everything serve printed, on both streams (collected in the background).
    printed: Arc<Mutex<String>>,
}

/// A serve a test did not stop (it failed first) is stopped here, so that it and its
/// throwaway databases do not outlive the test.
impl Drop for ServeProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.stop();
        }
    }
}

impl ServeProcess {
    /// SIGTERM, then wait for the exit.
    pub fn stop(&mut self) {
        // SAFETY: kill has no memory-safety preconditions; the pid is our child's.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }

    /// What serve printed so far, stdout and stderr.
    pub fn output(&self) -> String {
        // Give the collecting threads a moment to read what the exit flushed.
        std::thread::sleep(Duration::from_millis(200));
        self.printed.lock().unwrap().clone()
    }
}

/// Appends everything `stream` says to `printed`, in the background.
pub fn collect(mut stream: impl Read + Send + 'static, printed: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = stream.read(&mut buffer) {
            if n == 0 {
                break;
            }
            printed
                .lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
    });
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
    let mut args = vec!["serve", "--bind", "127.0.0.1:0", "--pool-size", "4"];
    args.extend_from_slice(extra);
    let mut child = spawn_counter(&args);
    let printed = Arc::new(Mutex::new(String::new()));
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut cluster_dir = None;
    let mut base_url = None;
    read_until(&mut stderr, &printed, |line| {
        if let Some(rest) = line
            .split(" in ")
            .nth(1)
            .filter(|_| line.contains("throwaway"))
        {
            cluster_dir = rest.split(" (removed").next().map(PathBuf::from);
        }
        if let Some(rest) = line.split("listening on ").nth(1) {
            base_url = rest.split_whitespace().next().map(str::to_string);
            return true;
        }
        false
    });
    // stdout says `database:`, maybe `connect:`, then `listening:`.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut connect = None;
    read_until(&mut stdout, &printed, |line| {
        if let Some(rest) = line.strip_prefix("connect: ") {
            connect = Some(rest.to_string());
        }
        line.starts_with("listening:")
    });
    collect(stderr, printed.clone());
    collect(stdout, printed.clone());
    let cluster = cluster_dir.map(|dir: PathBuf| {
        let pid_file = std::fs::read_to_string(dir.join("data/postmaster.pid")).unwrap();
        let pid = pid_file.lines().next().unwrap().trim().parse().unwrap();
        (dir, pid)
    });
    ServeProcess {
        child,
        base_url: base_url.expect("the log names the address"),
        cluster,
        connect,
        printed,
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

/// The counter binary (see [`counter_command`]) started with `args`, both streams piped.
pub fn spawn_counter(args: &[&str]) -> Child {
    counter_command()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Reads `from` a line at a time, each added to `printed` and shown to `last` (without its
/// line end), until `last` says it was the last or the stream ends.
pub fn read_until(
    from: &mut impl BufRead,
    printed: &Mutex<String>,
    mut last: impl FnMut(&str) -> bool,
) {
    loop {
        let mut line = String::new();
        if from.read_line(&mut line).unwrap() == 0 {
            return;
        }
        printed.lock().unwrap().push_str(&line);
        if last(line.trim_end()) {
            return;
        }
    }
}

/// Reads `from` line by line until a line contains `marker` (or the stream ends): the lines
/// read, that one included. Blocking: call it from `spawn_blocking`.
pub fn lines_until(from: impl std::io::Read, marker: &str) -> Vec<String> {
    use std::io::BufRead;
    let mut seen = Vec::new();
    for line in std::io::BufReader::new(from).lines() {
        let line = line.unwrap_or_default();
        let done = line.contains(marker);
        seen.push(line);
        if done {
            break;
        }
    }
    seen
}
