//! The application, when counter starts it: a shell command in a process group of its own,
//! told where the database is (the proxy) under the common conventions, ready once the
//! request's host accepts connections, and stopped on every exit path (dropped: SIGTERM to its
//! group, then SIGKILL).

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;

/// A running application.
pub(super) struct Application {
    child: Child,
}

/// How long an application may take to accept connections.
const READY_WITHIN: Duration = Duration::from_secs(60);

impl Application {
    /// Runs `command` with `env` (the proxy's address) and waits until `authority`
    /// (`host:port`) accepts a connection, and when `ready` names a path, until a GET of it
    /// answers 2xx (a server may accept connections before it can serve: counter serve binds
    /// its port before its database is open).
    pub fn start(
        command: &str,
        env: &[(String, String)],
        authority: &str,
        ready: Option<&str>,
    ) -> anyhow::Result<Application> {
        let child = shell(command, env)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|err| anyhow::anyhow!("could not start the application ({command}): {err}"))?;
        let mut application = Application { child };
        let started = Instant::now();
        loop {
            if std::net::TcpStream::connect(authority).is_ok()
                && ready.is_none_or(|path| answers_2xx(authority, path))
            {
                return Ok(application);
            }
            if let Ok(Some(status)) = application.child.try_wait() {
                anyhow::bail!(
                    "the application exited ({status}) before {authority} accepted a connection: {command}"
                );
            }
            if started.elapsed() > READY_WITHIN {
                anyhow::bail!(
                    "{authority} did not accept a connection within {} s of starting the application ({command})",
                    READY_WITHIN.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Application {
    /// How it exited, if it has.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

/// `command` run by `/bin/sh -c` with `env`, no input, in a process group of its own (so
/// that it and its children can be stopped together, and the terminal's Ctrl-C is counter's).
fn shell(command: &str, env: &[(String, String)]) -> Command {
    let mut shell = Command::new("/bin/sh");
    shell
        .arg("-c")
        .arg(command)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .process_group(0);
    shell
}

/// How long the set-up may take.
const SETUP_WITHIN: Duration = Duration::from_secs(300);

/// Runs the set-up `command` (migrations) once with `env`, to its end: its exit status must be
/// 0, or the error carries the last lines it printed. Stopped with its process group when the
/// future is dropped (Ctrl-C) or past its time.
pub(super) async fn run_setup(command: &str, env: &[(String, String)]) -> anyhow::Result<()> {
    let mut child = shell(command, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|err| anyhow::anyhow!("could not run the set-up ({command}): {err}"))?;
    let readers = [
        child.stdout.take().map(|out| drain(Box::new(out))),
        child.stderr.take().map(|err| drain(Box::new(err))),
    ];
    let mut setup = Application { child };
    let started = Instant::now();
    let status = loop {
        if let Ok(Some(status)) = setup.child.try_wait() {
            break Some(status);
        }
        if started.elapsed() > SETUP_WITHIN {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    drop(setup);
    let printed: String = readers
        .into_iter()
        .flatten()
        .map(|reader| reader.join().unwrap_or_default())
        .collect();
    let last: Vec<&str> = printed.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = match last[last.len().saturating_sub(3)..].join(" | ") {
        tail if tail.is_empty() => String::new(),
        tail => format!(": {tail}"),
    };
    match status {
        Some(status) if status.success() => Ok(()),
        Some(status) => anyhow::bail!("the set-up failed ({status}): {command}{tail}"),
        None => anyhow::bail!(
            "the set-up did not end within {} s and was stopped: {command}{tail}",
            SETUP_WITHIN.as_secs()
        ),
    }
}

/// Reads a child's output to its end on a thread of its own (a full pipe would stop it).
fn drain(mut from: Box<dyn std::io::Read + Send>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = from.read_to_end(&mut text);
        String::from_utf8_lossy(&text).into_owned()
    })
}

/// Whether `GET path` on `authority` answers 2xx (HTTP/1.0, one connection, 2 s).
fn answers_2xx(authority: &str, path: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(authority) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    let read = stream.read(&mut head).unwrap_or(0);
    let status = String::from_utf8_lossy(&head[..read]);
    status.starts_with("HTTP/1.") && status.get(9..10) == Some("2")
}

impl Drop for Application {
    fn drop(&mut self) {
        let group = -(self.child.id() as i32);
        // SAFETY: kill has no memory-safety preconditions; the group is our child's.
        unsafe { libc::kill(group, libc::SIGTERM) };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: as above.
        unsafe { libc::kill(group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// What the application is told: the proxy's address under the common conventions.
pub(super) fn environment(
    options: &PgConnectOptions,
    port: u16,
    password: Option<&str>,
) -> Vec<(String, String)> {
    let user = options.get_username().to_string();
    let database = options.get_database().unwrap_or("postgres").to_string();
    let credentials = match password {
        Some(password) => format!("{user}:{password}"),
        None => user.clone(),
    };
    let url = format!("postgres://{credentials}@127.0.0.1:{port}/{database}");
    let mut env = BTreeMap::from([
        ("DATABASE_URL", url),
        ("PGHOST", "127.0.0.1".to_string()),
        ("PGPORT", port.to_string()),
        ("PGUSER", user.clone()),
        ("PGDATABASE", database.clone()),
        ("POSTGRES_HOST", "127.0.0.1".to_string()),
        ("POSTGRES_PORT", port.to_string()),
        ("POSTGRES_USER", user),
        ("POSTGRES_DB", database),
    ]);
    if let Some(password) = password {
        env.insert("PGPASSWORD", password.to_string());
        env.insert("POSTGRES_PASSWORD", password.to_string());
    }
    env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The password in a `postgres://user:password@host/db` URL, if it has one.
pub(super) fn password_in(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let userinfo = rest.split(['/', '?']).next()?.rsplit_once('@')?.0;
    let password = userinfo.split_once(':')?.1;
    Some(password.to_string())
}

#[cfg(test)]
mod tests {
    use super::password_in;

    #[test]
    fn the_password_of_a_url_and_none_without() {
        assert_eq!(
            password_in("postgres://app:s3cret@db:5432/shop").as_deref(),
            Some("s3cret")
        );
        assert_eq!(password_in("postgres://app@db/shop"), None);
        assert_eq!(password_in("postgres://db/shop"), None);
    }
}
