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
//! It is the wire proxy (`proxy/`) with hooks that keep, per backend, the last status and the
//! transaction commands completed; the proxy refuses TLS on this loopback hop and relays
//! everything else, authentication included.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};

use sqlx::postgres::{PgConnectOptions, PgSslMode};

use super::proxy::{Hooks, Proxy, ProxyOptions, Step, StepAnswer, Target};

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

/// The states by backend pid, and which backend each relayed connection is.
#[derive(Debug, Default)]
struct Recorder {
    states: Mutex<HashMap<i32, BackendState>>,
    pids: Mutex<HashMap<u64, i32>>,
}

impl Recorder {
    fn pid_of(&self, conn: u64) -> Option<i32> {
        self.pids.lock().ok()?.get(&conn).copied()
    }

    fn with_state(&self, conn: u64, change: impl FnOnce(&mut BackendState)) {
        let Some(pid) = self.pid_of(conn) else {
            return;
        };
        if let Ok(mut states) = self.states.lock() {
            change(states.entry(pid).or_default());
        }
    }
}

impl Hooks for Recorder {
    fn backend(&self, conn: u64, pid: i32, secret: &[u8]) {
        if let Ok(mut pids) = self.pids.lock() {
            pids.insert(conn, pid);
        }
        if let Ok(mut states) = self.states.lock() {
            let state = BackendState {
                secret: secret.to_vec(),
                ..BackendState::default()
            };
            states.insert(pid, state);
        }
    }

    fn answered(&self, conn: u64, _step: &Step, answer: &StepAnswer) {
        let tags = answer.tags.iter();
        let control: Vec<String> = tags
            .filter(|tag| CONTROL_TAGS.contains(&tag.as_str()))
            .cloned()
            .collect();
        if !control.is_empty() {
            self.with_state(conn, |state| state.control.extend(control));
        }
    }

    fn ready(&self, conn: u64, status: u8) {
        self.with_state(conn, |state| state.status = status);
    }

    fn closed(&self, conn: u64) {
        // The backend is gone with its connection: its state too.
        let pid = self
            .pids
            .lock()
            .ok()
            .and_then(|mut pids| pids.remove(&conn));
        if let (Some(pid), Ok(mut states)) = (pid, self.states.lock()) {
            states.remove(&pid);
        }
    }
}

/// A running relay; stopped (every relayed connection closed) when dropped.
#[derive(Debug)]
pub struct TxRelay {
    proxy: Proxy,
    recorder: Arc<Recorder>,
}

impl TxRelay {
    /// Listens on a loopback port and relays each connection to the server `options` name.
    pub async fn start(options: &PgConnectOptions) -> io::Result<TxRelay> {
        let recorder = Arc::new(Recorder::default());
        let proxy_options = ProxyOptions {
            listener: tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?,
            setting: None,
            hooks: Arc::clone(&recorder) as Arc<dyn Hooks>,
        };
        let proxy = Proxy::start(Target::of(options), proxy_options).await?;
        Ok(TxRelay { proxy, recorder })
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
            .port(self.proxy.addr().port())
            .ssl_mode(PgSslMode::Disable);
        Some(through)
    }

    /// Backend `pid`'s state as the server last reported it; the transaction commands
    /// reported since the last call are handed over (and forgotten here).
    pub fn take(&self, pid: i32) -> Option<BackendState> {
        let mut states = self.recorder.states.lock().ok()?;
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
            let states = self.recorder.states.lock();
            let states = states.map_err(|_| io::Error::other("poisoned"))?;
            let state = states
                .get(&pid)
                .ok_or_else(|| io::Error::other("no such backend"))?;
            state.secret.clone()
        };
        self.proxy.target().cancel(pid, &secret).await
    }
}
