//! A relay between counter's script connections and PostgreSQL that listens to what the
//! server says about each connection's transaction.
//!
//! A user's script may end, open or chain a transaction where counter's text checks cannot
//! see it (the question is never what the text says but what the server did). PostgreSQL says
//! it on the wire: every `ReadyForQuery` carries the connection's transaction status (`I`
//! idle, `T` in a transaction, `E` in a failed one), and every `CommandComplete` the command's
//! tag (`COMMIT` for a `COMMIT AND CHAIN` too, whose status stays `T`). sqlx reads both and
//! exposes neither, so the script connections go through this relay on loopback: bytes from
//! the client pass untouched, bytes from the server are cut at message boundaries and the
//! status and the transaction tags are recorded per backend (keyed by the pid in
//! `BackendKeyData`) *before* the message is forwarded, so by the time sqlx has a statement's
//! answer, the relay knows the state it left.
//!
//! The relay refuses `SSLRequest` and `GSSENCRequest` with `N` (it is a loopback hop; the
//! client connects to it without TLS) and relays everything else, authentication included.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use sqlx::postgres::{PgConnectOptions, PgSslMode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::task::JoinSet;

/// What the server last said about one backend's transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendState {
    /// The cancel key from `BackendKeyData` (after the pid), for a CancelRequest.
    secret: Vec<u8>,
    /// The status byte of the last `ReadyForQuery`: `I`, `T` or `E` (0 before the first).
    pub status: u8,
    /// The transaction commands completed since the last [`TxRelay::take`] (`BEGIN`,
    /// `COMMIT`, `ROLLBACK`, `PREPARE TRANSACTION`, ...), by their tags.
    pub control: Vec<String>,
}

type States = Arc<Mutex<HashMap<i32, BackendState>>>;

/// A running relay; stopped (every relayed connection closed) when dropped.
#[derive(Debug)]
pub struct TxRelay {
    addr: SocketAddr,
    target: Target,
    states: States,
    tasks: Arc<Mutex<JoinSet<()>>>,
}

/// Where the relay forwards to.
#[derive(Debug, Clone)]
enum Target {
    Tcp(String, u16),
    Unix(PathBuf),
}

impl TxRelay {
    /// Listens on a loopback port and relays each connection to the server `options` name.
    pub async fn start(options: &PgConnectOptions) -> io::Result<TxRelay> {
        let target = match options.get_socket() {
            Some(dir) => Target::Unix(dir.join(format!(".s.PGSQL.{}", options.get_port()))),
            None if options.get_host().starts_with('/') => Target::Unix(
                PathBuf::from(options.get_host()).join(format!(".s.PGSQL.{}", options.get_port())),
            ),
            None => Target::Tcp(options.get_host().to_string(), options.get_port()),
        };
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let states = States::default();
        let tasks = Arc::new(Mutex::new(JoinSet::new()));
        let accepting = {
            let (states, tasks) = (Arc::clone(&states), Arc::clone(&tasks));
            let target = target.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let (target, states) = (target.clone(), Arc::clone(&states));
                    if let Ok(mut tasks) = tasks.lock() {
                        tasks.spawn(async move {
                            let _ = relay(client, &target, &states).await;
                        });
                    }
                }
            }
        };
        if let Ok(mut set) = tasks.lock() {
            set.spawn(accepting);
        }
        Ok(TxRelay {
            addr,
            target,
            states,
            tasks,
        })
    }

    /// `options` pointed at the relay instead of the server (credentials and settings
    /// kept). None for a server reached through a Unix socket directory, which sqlx would
    /// keep using whatever the host says: such connections go without a relay.
    pub fn route(&self, options: &PgConnectOptions) -> Option<PgConnectOptions> {
        if options.get_socket().is_some() {
            return None;
        }
        let through = options
            .clone()
            .host("127.0.0.1")
            .port(self.addr.port())
            .ssl_mode(PgSslMode::Disable);
        Some(through)
    }

    /// Backend `pid`'s state as the server last reported it; the transaction commands
    /// reported since the last call are handed over (and forgotten here).
    pub fn take(&self, pid: i32) -> Option<BackendState> {
        let mut states = self.states.lock().ok()?;
        let state = states.get_mut(&pid)?;
        Some(BackendState {
            secret: Vec::new(),
            status: state.status,
            control: std::mem::take(&mut state.control),
        })
    }

    /// Asks the server to cancel what backend `pid` is running: a CancelRequest on a
    /// connection of its own, as libpq's `PQcancel` sends it (no privilege needed, and the
    /// script's own settings cannot stop it).
    pub async fn cancel(&self, pid: i32) -> io::Result<()> {
        let secret = {
            let states = self
                .states
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?;
            let state = states
                .get(&pid)
                .ok_or_else(|| io::Error::other("no such backend"))?;
            state.secret.clone()
        };
        let mut request = Vec::with_capacity(12 + secret.len());
        request.extend_from_slice(&(12 + secret.len() as u32).to_be_bytes());
        request.extend_from_slice(&80_877_102_i32.to_be_bytes());
        request.extend_from_slice(&pid.to_be_bytes());
        request.extend_from_slice(&secret);
        match &self.target {
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

impl Drop for TxRelay {
    fn drop(&mut self) {
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.abort_all();
        }
    }
}

/// One client connection: its first packet (refusing encryption requests), then both ways.
async fn relay(mut client: TcpStream, target: &Target, states: &States) -> io::Result<()> {
    client.set_nodelay(true)?;
    let first = loop {
        let packet = read_startup_packet(&mut client).await?;
        match packet
            .get(4..8)
            .map(|code| i32::from_be_bytes(code.try_into().unwrap_or([0; 4])))
        {
            // SSLRequest, GSSENCRequest: no encryption on this hop.
            Some(80_877_103 | 80_877_104) => client.write_all(b"N").await?,
            _ => break packet,
        }
    };
    match target {
        Target::Tcp(host, port) => {
            let server = TcpStream::connect((host.as_str(), *port)).await?;
            server.set_nodelay(true)?;
            pump(client, server, first, states).await
        }
        Target::Unix(path) => {
            let server = UnixStream::connect(path).await?;
            pump(client, server, first, states).await
        }
    }
}

async fn read_startup_packet(client: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut length = [0u8; 4];
    client.read_exact(&mut length).await?;
    let length = u32::from_be_bytes(length) as usize;
    if !(8..=10_000).contains(&length) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a startup packet",
        ));
    }
    let mut packet = vec![0u8; length];
    packet[..4].copy_from_slice(&(length as u32).to_be_bytes());
    client.read_exact(&mut packet[4..]).await?;
    Ok(packet)
}

async fn pump<S>(client: TcpStream, server: S, first: Vec<u8>, states: &States) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = tokio::io::split(server);
    server_write.write_all(&first).await?;
    let upstream = async {
        let copied = tokio::io::copy(&mut client_read, &mut server_write).await;
        let _ = server_write.shutdown().await;
        copied.map(drop)
    };
    let mut reader = Messages::default();
    let downstream = async {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = server_read.read(&mut buffer).await?;
            if read == 0 {
                break;
            }
            reader.feed(&buffer[..read], states);
            client_write.write_all(&buffer[..read]).await?;
        }
        let _ = client_write.shutdown().await;
        Ok::<(), io::Error>(())
    };
    let result = tokio::try_join!(upstream, downstream).map(drop);
    // The backend is gone with its connection: its state too.
    if let (Some(pid), Ok(mut states)) = (reader.pid, states.lock()) {
        states.remove(&pid);
    }
    result
}

/// The server's messages, cut at their boundaries as bytes arrive: only the few it needs are
/// kept whole (`K`, `Z`, `C`); the rest are skipped by length.
#[derive(Default)]
struct Messages {
    header: Vec<u8>,
    kind: u8,
    remaining: usize,
    body: Vec<u8>,
    pid: Option<i32>,
}

/// The transaction commands, by the tags PostgreSQL completes them with.
const CONTROL_TAGS: [&str; 7] = [
    "BEGIN",
    "START TRANSACTION",
    "COMMIT",
    "ROLLBACK",
    "PREPARE TRANSACTION",
    "COMMIT PREPARED",
    "ROLLBACK PREPARED",
];

impl Messages {
    fn feed(&mut self, mut bytes: &[u8], states: &States) {
        while !bytes.is_empty() {
            if self.header.len() < 5 {
                let wanted = 5 - self.header.len();
                let taken = wanted.min(bytes.len());
                self.header.extend_from_slice(&bytes[..taken]);
                bytes = &bytes[taken..];
                if self.header.len() < 5 {
                    return;
                }
                self.kind = self.header[0];
                let length = u32::from_be_bytes([
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ]) as usize;
                self.remaining = length.saturating_sub(4);
                self.body.clear();
            }
            let taken = self.remaining.min(bytes.len());
            if matches!(self.kind, b'K' | b'Z' | b'C') {
                self.body.extend_from_slice(&bytes[..taken]);
            }
            bytes = &bytes[taken..];
            self.remaining -= taken;
            if self.remaining == 0 {
                self.message(states);
                self.header.clear();
            }
        }
    }

    /// A whole message of a kind it keeps.
    fn message(&mut self, states: &States) {
        let Ok(mut states) = states.lock() else {
            return;
        };
        match self.kind {
            b'K' if self.body.len() >= 4 => {
                let pid =
                    i32::from_be_bytes([self.body[0], self.body[1], self.body[2], self.body[3]]);
                self.pid = Some(pid);
                let state = BackendState {
                    secret: self.body[4..].to_vec(),
                    ..BackendState::default()
                };
                states.insert(pid, state);
            }
            b'Z' => {
                if let (Some(pid), Some(&status)) = (self.pid, self.body.first()) {
                    states.entry(pid).or_default().status = status;
                }
            }
            b'C' => {
                let tag = self.body.split(|&b| b == 0).next().unwrap_or_default();
                let tag = String::from_utf8_lossy(tag);
                let control = CONTROL_TAGS.iter().find(|known| tag == **known);
                if let (Some(pid), Some(control)) = (self.pid, control) {
                    states
                        .entry(pid)
                        .or_default()
                        .control
                        .push(control.to_string());
                }
            }
            _ => {}
        }
    }
}
