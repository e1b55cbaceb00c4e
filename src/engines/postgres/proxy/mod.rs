//! A PostgreSQL wire proxy: it listens on a loopback port and relays each connection to the
//! real server, cutting both streams at message boundaries so that it sees every step a
//! client sends (a `Query`, or an `Execute` with the SQL of its `Parse`) and every answer
//! (rows, command tags, errors with their SQLSTATE, `ReadyForQuery`'s transaction status),
//! and can hold a step before it reaches the server.
//!
//! What it does with them is its [`Hooks`]': the script relay records each backend's
//! transaction state (`relay.rs`), `counter proxy` prints every step as it passes, the
//! application explorer will gate them as the explorer gates its own sessions. It refuses
//! `SSLRequest` and `GSSENCRequest` with `N` (a loopback hop; a client that insists on TLS
//! leaves, and the hooks hear of it), relays authentication untouched (SCRAM included),
//! relays `CancelRequest`s (backend pids are the server's own), and can add a setting to
//! every connection's start-up `options` (`-c default_transaction_isolation=...`).

mod binds;
mod frame;
mod pump;
mod rows;
mod scan;
mod split;
mod startup;
mod steps;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sqlx::postgres::PgConnectOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::task::JoinSet;

use crate::model::Isolation;
use pump::pump;
pub use split::{SPLIT_BEGIN, SPLIT_COMMIT, SPLIT_ROLLBACK};
use startup::{CANCEL_REQUEST, GSSENC_REQUEST, PROTOCOL_3, SSL_REQUEST, read_packet};
pub use steps::{Protocol, Step, StepAnswer};

/// A held step: forwarded when this resolves.
pub type Hold = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>;

/// What a proxy does with what it sees; every method has a do-nothing default. `conn`
/// numbers the client connections in the order they were accepted.
pub trait Hooks: Send + Sync + 'static {
    /// The server named the connection's backend (`BackendKeyData`).
    fn backend(&self, _conn: u64, _pid: i32, _secret: &[u8]) {}
    /// A step is about to be forwarded; a returned future holds it (and what the client sent
    /// after it) until it resolves.
    fn before(&self, _conn: u64, _step: &Step) -> Option<Hold> {
        None
    }
    /// A step's answer, heard before the client gets it.
    fn answered(&self, _conn: u64, _step: &Step, _answer: &StepAnswer) {}
    /// `ReadyForQuery`: `I` idle, `T` in a transaction, `E` in a failed one.
    fn ready(&self, _conn: u64, _status: u8) {}
    /// The connection ended.
    fn closed(&self, _conn: u64) {}
    /// Whether answers carry their first row's values (`StepAnswer::first_row`): it costs a
    /// copy of every row's bytes, which a proxy that only relays does not pay.
    fn wants_rows(&self) -> bool {
        false
    }
    /// Whether steps carry the values bound to them (`Step::values`): decoding each `Bind`
    /// costs a string per value, which a proxy that only relays does not pay.
    fn wants_values(&self) -> bool {
        false
    }
    /// Whether `step`, sent on a connection with no transaction open, runs in a transaction
    /// of its own: `BEGIN` before it, and its commit a step of its own (`split.rs`). Asked
    /// only of hooks that say [`Hooks::may_split`].
    fn splits(&self, _conn: u64, _step: &Step) -> bool {
        false
    }
    /// Whether [`Hooks::splits`] may say yes: the server's stream is then copied message by
    /// message (to drop the answers of the proxy's own statements), which a proxy that only
    /// relays does not pay.
    fn may_split(&self) -> bool {
        false
    }
    /// A client asked for TLS, was refused, and left without going on in plain text (its
    /// `sslmode` is `require` or stricter).
    fn refused_tls(&self, _conn: u64) {}
}

/// Where the proxy forwards to.
#[derive(Debug, Clone)]
pub enum Target {
    Tcp(String, u16),
    Unix(PathBuf),
}

impl Target {
    /// The server `options` name (its Unix socket when it has one).
    pub fn of(options: &PgConnectOptions) -> Target {
        match options.get_socket() {
            Some(dir) => Target::Unix(dir.join(format!(".s.PGSQL.{}", options.get_port()))),
            None if options.get_host().starts_with('/') => Target::Unix(
                PathBuf::from(options.get_host()).join(format!(".s.PGSQL.{}", options.get_port())),
            ),
            None => Target::Tcp(options.get_host().to_string(), options.get_port()),
        }
    }

    /// Sends a `CancelRequest` for backend `pid` (with its cancel key) on a connection of its
    /// own, as libpq's `PQcancel` does: no privilege needed.
    pub async fn cancel(&self, pid: i32, secret: &[u8]) -> io::Result<()> {
        let mut request = Vec::with_capacity(12 + secret.len());
        request.extend_from_slice(&(12 + secret.len() as u32).to_be_bytes());
        request.extend_from_slice(&CANCEL_REQUEST.to_be_bytes());
        request.extend_from_slice(&pid.to_be_bytes());
        request.extend_from_slice(secret);
        match self {
            Target::Tcp(host, port) => {
                let mut server = TcpStream::connect((host.as_str(), *port)).await?;
                server.write_all(&request).await?;
                // The server closes the connection once it has the request.
                let _ = server.read(&mut [0u8; 1]).await;
            }
            Target::Unix(path) => {
                let mut server = UnixStream::connect(path).await?;
                server.write_all(&request).await?;
                let _ = server.read(&mut [0u8; 1]).await;
            }
        }
        Ok(())
    }
}

/// A running proxy; stopped (every relayed connection closed) when dropped.
pub struct Proxy {
    addr: SocketAddr,
    target: Target,
    tasks: Arc<Mutex<JoinSet<()>>>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("addr", &self.addr).finish()
    }
}

/// How a proxy runs: where it listens, a setting for every connection, what it tells.
pub struct ProxyOptions {
    /// Bound by the caller first (a port in use is found before anything is started).
    pub listener: TcpListener,
    /// A `(name, value)` put into every connection's start-up `options`.
    pub setting: Option<(String, String)>,
    pub hooks: Arc<dyn Hooks>,
}

impl ProxyOptions {
    /// The setting that starts every connection at `level` (None: the application's own).
    pub fn level_setting(level: Option<Isolation>) -> Option<(String, String)> {
        let level = level?;
        Some((
            "default_transaction_isolation".to_string(),
            level.sql_name().to_string(),
        ))
    }
}

impl Proxy {
    pub async fn start(target: Target, options: ProxyOptions) -> io::Result<Proxy> {
        let listener = options.listener;
        let addr = listener.local_addr()?;
        let tasks = Arc::new(Mutex::new(JoinSet::new()));
        let accepting = {
            let tasks = Arc::clone(&tasks);
            let target = target.clone();
            let setting = Arc::new(options.setting);
            let hooks = options.hooks;
            let numbers = AtomicU64::new(0);
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let conn = numbers.fetch_add(1, Ordering::Relaxed) + 1;
                    let (target, setting, hooks) =
                        (target.clone(), Arc::clone(&setting), Arc::clone(&hooks));
                    if let Ok(mut tasks) = tasks.lock() {
                        tasks.spawn(async move {
                            let setting = setting.as_ref().as_ref();
                            let _ = serve(client, conn, &target, setting, hooks.as_ref()).await;
                            hooks.closed(conn);
                        });
                    }
                }
            }
        };
        if let Ok(mut set) = tasks.lock() {
            set.spawn(accepting);
        }
        Ok(Proxy {
            addr,
            target,
            tasks,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Stops it and waits until its port is free and every relayed connection closed.
    pub async fn stop(self) {
        let mut tasks = match self.tasks.lock() {
            Ok(mut tasks) => std::mem::take(&mut *tasks),
            Err(_) => return,
        };
        tasks.shutdown().await;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.abort_all();
        }
    }
}

/// One client connection: its first packet (encryption refused, a cancel forwarded, the
/// start-up given the setting), then both directions.
async fn serve(
    mut client: TcpStream,
    conn: u64,
    target: &Target,
    setting: Option<&(String, String)>,
    hooks: &dyn Hooks,
) -> io::Result<()> {
    client.set_nodelay(true)?;
    let mut refused_tls = false;
    let first = loop {
        // A client refused TLS closes the connection (or resets it) without another word.
        let packet = match read_packet(&mut client).await {
            Err(_) if refused_tls => None,
            read => read?,
        };
        let Some(packet) = packet else {
            if refused_tls {
                hooks.refused_tls(conn);
            }
            return Ok(());
        };
        match packet.code() {
            SSL_REQUEST => {
                refused_tls = true;
                client.write_all(b"N").await?;
            }
            GSSENC_REQUEST => client.write_all(b"N").await?,
            PROTOCOL_3 => match setting {
                Some((name, value)) => break packet.with_setting(name, value),
                None => break packet,
            },
            _ => break packet,
        }
    };
    match target {
        Target::Tcp(host, port) => {
            let server = TcpStream::connect((host.as_str(), *port)).await?;
            server.set_nodelay(true)?;
            pump(client, server, first, conn, hooks).await
        }
        Target::Unix(path) => {
            let server = UnixStream::connect(path).await?;
            pump(client, server, first, conn, hooks).await
        }
    }
}
