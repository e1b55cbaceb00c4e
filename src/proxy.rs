//! `counter proxy`: the PostgreSQL wire proxy on its own, between an application and its
//! database. Every step the application sends (a simple query, or an `Execute` with the SQL
//! of its `Parse`) is printed with its answer and the transaction status it ran in, so that
//! the statements an ORM sends (savepoints, extra reads, set-up) are seen, not guessed; and
//! `--isolation` starts every connection at a level the application does not set itself
//! (`-c default_transaction_isolation=...` in its start-up options).

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;

use crate::engines::postgres::proxy::{Hooks, Proxy, ProxyOptions, Step, StepAnswer, Target};
use crate::engines::{self, Durability, Location, Throwaway};
use crate::model::Isolation;
use crate::signals::shutdown_signal;

/// A proxy run, as the command line configured it.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub listen: SocketAddr,
    /// The database; None for a throwaway cluster.
    pub location: Option<Location>,
    /// The level every connection starts at; None leaves the application's own.
    pub isolation: Option<Isolation>,
    /// Print nothing per step.
    pub quiet: bool,
}

pub async fn run(config: ProxyConfig) -> anyhow::Result<u8> {
    let mut shutdown = Box::pin(shutdown_signal());
    let started = engines::bind_and_provision(
        config.listen,
        config.location.clone(),
        Durability::Durable,
        &mut shutdown,
    );
    let Some((listener, mut provisioned)) = started.await? else {
        return Ok(130);
    };
    let result = serve(&config, listener, &provisioned, shutdown).await;
    provisioned.shutdown();
    result.map(|()| 0)
}

async fn serve(
    config: &ProxyConfig,
    listener: TcpListener,
    provisioned: &engines::Provisioned,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let Location::Postgres { options, .. } = &provisioned.location else {
        anyhow::bail!("counter proxy speaks PostgreSQL's protocol: give a postgres:// URL");
    };
    if !config.listen.ip().is_loopback() {
        eprintln!(
            "warning: the proxy listens on {}: anyone who can reach it reaches the database \
             (with its credentials)",
            config.listen
        );
    }
    let printer = Arc::new(Printer {
        quiet: config.quiet,
        connections: Mutex::default(),
    });
    let proxy_options = ProxyOptions {
        listener,
        setting: ProxyOptions::level_setting(config.isolation),
        hooks: printer,
    };
    let proxy = Proxy::start(Target::of(options), proxy_options).await?;
    let through = options
        .as_ref()
        .clone()
        .host("127.0.0.1")
        .port(proxy.addr().port());
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "database: {}", provisioned.display_url());
    let _ = writeln!(
        stdout,
        "proxy: {} (the database's credentials; sslmode disable or prefer)",
        engines::postgres::redact_url(&through)
    );
    if let Some(Throwaway::Postgres(cluster)) = &provisioned.throwaway
        && let Ok(path) = cluster.write_pgpass_for(&[cluster.port(), proxy.addr().port()])
    {
        let _ = writeln!(
            stdout,
            "connect: PGPASSFILE={} psql -h 127.0.0.1 -p {} -U postgres {}",
            path.display(),
            proxy.addr().port(),
            engines::DEFAULT_DATABASE
        );
    }
    let level = config
        .isolation
        .map_or("the application's own", |l| l.sql_name());
    let _ = writeln!(stdout, "level: {level}");
    let _ = stdout.flush();
    shutdown.await;
    drop(proxy);
    Ok(())
}

/// Prints each step with its answer: `pid 4711 T  UPDATE ... -> UPDATE 1`. The letter is the
/// transaction status the step was sent in (`I` idle, `T` in a transaction, `E` failed), as
/// the last `ReadyForQuery` said it.
struct Printer {
    quiet: bool,
    /// Per connection: the backend pid and the last status.
    connections: Mutex<HashMap<u64, (i32, u8)>>,
}

impl Hooks for Printer {
    fn wants_values(&self) -> bool {
        !self.quiet
    }

    fn backend(&self, conn: u64, pid: i32, _secret: &[u8]) {
        if let Ok(mut connections) = self.connections.lock() {
            connections.insert(conn, (pid, b'I'));
        }
    }

    fn answered(&self, conn: u64, step: &Step, answer: &StepAnswer) {
        if self.quiet {
            return;
        }
        let (pid, status) = match self.connections.lock() {
            Ok(connections) => connections.get(&conn).copied().unwrap_or((0, b'?')),
            Err(_) => (0, b'?'),
        };
        let _ = writeln!(
            std::io::stdout(),
            "pid {pid} {}  {}  -> {}",
            status as char,
            one_line(&step.shown()),
            answer_text(answer)
        );
    }

    fn ready(&self, conn: u64, status: u8) {
        if let Ok(mut connections) = self.connections.lock()
            && let Some(entry) = connections.get_mut(&conn)
        {
            entry.1 = status;
        }
    }

    fn closed(&self, conn: u64) {
        if let Ok(mut connections) = self.connections.lock() {
            connections.remove(&conn);
        }
    }

    fn refused_tls(&self, _conn: u64) {
        eprintln!(
            "counter proxy: a client asked for TLS and left when it was refused (its sslmode is \
             require or stricter): the proxy is a plain loopback hop; connect with sslmode=disable \
             or prefer"
        );
    }
}

/// A statement on one line, its whitespace runs made one space.
fn one_line(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `UPDATE 1`, `SELECT 1 (1 row)`, `ERROR 40001: could not serialize ...`, `skipped`.
fn answer_text(answer: &StepAnswer) -> String {
    if answer.skipped {
        return "skipped (an earlier error in the pipeline)".to_string();
    }
    let mut text = answer.tags.join("; ");
    if let Some((code, message)) = &answer.error {
        if !text.is_empty() {
            text.push_str("; ");
        }
        text.push_str(&format!("ERROR {code}: {message}"));
    }
    if answer.rows > 0 {
        let rows = match answer.rows {
            1 => "1 row".to_string(),
            n => format!("{n} rows"),
        };
        text.push_str(&format!(" ({rows})"));
    }
    text
}
