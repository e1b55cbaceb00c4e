//! Shared test fixtures: the throwaway cluster, a fresh database per test, an in-process
//! server, and a small HTTP client.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use std::sync::Arc;

use counter::engines::postgres::{self, LocalCluster, PgDatabase};
use counter::engines::{Backend, Durability, Location, OpenOptions};
use counter::model::Isolation;
use counter::server::{self, AppState, ServerHandle};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::postgres::PgConnectOptions;

/// One cluster for the whole test process. It lives in a static, so it is never dropped: the
/// cluster's reaper removes it when the test process exits.
fn cluster() -> &'static LocalCluster {
    static CLUSTER: OnceLock<LocalCluster> = OnceLock::new();
    CLUSTER
        .get_or_init(|| LocalCluster::start(Durability::Durable).expect("throwaway cluster starts"))
}

/// The shared cluster's superuser password (for URLs that must get past authentication).
pub fn cluster_password() -> &'static str {
    cluster().password()
}

/// A cluster of the test's own (for fault injection), with its `counter` database.
pub async fn own_cluster() -> (LocalCluster, PgConnectOptions) {
    let cluster = tokio::task::spawn_blocking(|| LocalCluster::start(Durability::Durable))
        .await
        .unwrap()
        .expect("own cluster starts");
    postgres::create_database(&cluster.connect_options("postgres"), "counter")
        .await
        .unwrap();
    let options = cluster.connect_options("counter");
    (cluster, options)
}

/// Connection options of a new, empty database on the shared cluster.
pub async fn fresh_database() -> PgConnectOptions {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let cluster = tokio::task::spawn_blocking(cluster).await.unwrap();
    let name = format!(
        "t{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    postgres::create_database(&cluster.connect_options("postgres"), &name)
        .await
        .expect("create test database");
    cluster.connect_options(&name)
}

/// The URL of a database on the shared cluster, with the cluster's password.
pub fn url_of(options: &PgConnectOptions) -> String {
    format!(
        "postgres://{}:{}@127.0.0.1:{}/{}",
        options.get_username(),
        cluster().password(),
        options.get_port(),
        options.get_database().unwrap_or("postgres")
    )
}

/// A server running in this process on an ephemeral port, and a client for it.
pub struct HttpServer {
    pub handle: ServerHandle,
    pub client: reqwest::Client,
}

/// A `counter serve` running in this process over a fresh PostgreSQL database (which the test
/// can read directly, through connections of its own).
pub struct TestServer {
    pub http: HttpServer,
    /// The test's own view of the database.
    pub db: PgDatabase,
    /// The server's backend, opened as `serve` opens it.
    pub backend: Arc<Backend>,
}

impl std::ops::Deref for TestServer {
    type Target = HttpServer;

    fn deref(&self) -> &HttpServer {
        &self.http
    }
}

pub async fn start_server(isolation: Isolation, pool_size: u32) -> TestServer {
    let options = fresh_database().await;
    start_server_on(&options, isolation, pool_size, 0).await
}

/// A server over an existing database (replicas share one), with `retries`.
pub async fn start_server_on(
    options: &PgConnectOptions,
    isolation: Isolation,
    pool_size: u32,
    retries: u32,
) -> TestServer {
    let open = OpenOptions::new(isolation, pool_size);
    start_server_with(options, open, |backend| {
        AppState::with_backend(backend, retries)
    })
    .await
}

/// A PostgreSQL database reached directly.
pub fn location_of(options: &PgConnectOptions) -> Location {
    Location::Postgres {
        options: Box::new(options.clone()),
        engine: counter::model::Engine::Postgres,
        pooler: None,
        follow: None,
        scripts: None,
    }
}

/// `level` on `pool_size` connections, pausing `think_ms` between read and write.
pub fn thinking(level: Isolation, pool_size: u32, think_ms: u64) -> OpenOptions {
    let mut open = OpenOptions::new(level, pool_size);
    open.think = Duration::from_millis(think_ms);
    open
}

/// A server opened as `serve` opens one (`Backend::open`), whose state `make_state` builds
/// from the backend (retries, limits, ...).
pub async fn start_server_with(
    options: &PgConnectOptions,
    open: OpenOptions,
    make_state: impl FnOnce(Backend) -> AppState,
) -> TestServer {
    start_server_at(&location_of(options), options, open, make_state).await
}

/// A PostgreSQL database reached directly whose users' scripts run as a role of their own,
/// made as `counter serve` makes it on its throwaway cluster (named after the database: the
/// tests share one cluster, and roles are the cluster's).
pub async fn confined_location(options: &PgConnectOptions) -> Location {
    // One at a time: the grant on deadlock_timeout updates a catalog the cluster shares, and
    // two at once fail with "tuple concurrently updated".
    static MAKING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one = MAKING.lock().await;
    let database = options.get_database().unwrap().to_string();
    let role = format!("script_{database}");
    let login = postgres::script_role::create_named(options, &database, &role)
        .await
        .unwrap();
    Location::Postgres {
        options: Box::new(options.clone()),
        engine: counter::model::Engine::Postgres,
        pooler: None,
        follow: None,
        scripts: Some(Box::new(login)),
    }
}

/// A server over `location` (the database at `options`, the test's own view of it).
pub async fn start_server_at(
    location: &Location,
    options: &PgConnectOptions,
    open: OpenOptions,
    make_state: impl FnOnce(Backend) -> AppState,
) -> TestServer {
    let backend = Backend::open(location, &open).await.unwrap();
    let state = make_state(backend);
    let backend = Arc::clone(&state.backend);
    let http = HttpServer::spawn(state).await;
    let db = postgres::connect(options, open.isolation, 2).await.unwrap();
    TestServer { http, db, backend }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(256)
        .build()
        .unwrap()
}

/// The JSON body of a GET of `url` (a transport or JSON error fails the test).
pub async fn get_json(url: &str) -> Value {
    client()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

impl HttpServer {
    /// Serves `state` on an ephemeral loopback port.
    pub async fn spawn(state: AppState) -> HttpServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        HttpServer {
            handle: server::spawn(listener, state).unwrap(),
            client: client(),
        }
    }

    pub async fn shutdown(self) {
        self.handle.shutdown(Duration::from_secs(10)).await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.handle.base_url(), path)
    }

    /// Sends a request and returns the status and the JSON body (Null when not JSON).
    pub async fn call(&self, verb: reqwest::Method, path: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .request(verb, self.url(path))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    pub async fn increment(&self, method: u32) -> (StatusCode, Value) {
        self.call(
            reqwest::Method::POST,
            &format!("/api/v1/endpoint/counter/{method}/"),
        )
        .await
    }

    /// Fires `n` increments at once and returns each answer's status and body.
    pub async fn concurrent_increments(&self, method: u32, n: usize) -> Vec<(StatusCode, Value)> {
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..n {
            let client = self.client.clone();
            let url = self.url(&format!("/api/v1/endpoint/counter/{method}/"));
            let barrier = barrier.clone();
            tasks.spawn(async move {
                barrier.wait().await;
                let response = client.post(url).send().await.unwrap();
                let status = response.status();
                (status, response.json().await.unwrap_or(Value::Null))
            });
        }
        tasks.join_all().await
    }
}

impl TestServer {
    /// The counter's value straight from the database, wherever its method keeps it (a row,
    /// slots, ledger entries); None when there is no such counter.
    pub async fn count(&self, id: i64) -> Option<i64> {
        let row: Option<(i64, i64)> = sqlx::query_as(postgres::READS.get)
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await
            .unwrap();
        row.map(|(_, count)| count)
    }

    pub async fn stop(self) {
        self.http.shutdown().await;
        self.db.pool.close().await;
    }
}

/// The two cores are shared by every test running at once. A test whose verdict depends on
/// requests really overlapping (a race that must happen) runs alone: a starved database
/// serializes by accident. Tests that merely load the CPU share the lock with each other.
static CPU: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// For tests whose assertions need real contention, and for the overload test.
pub async fn racing() -> tokio::sync::RwLockWriteGuard<'static, ()> {
    CPU.write().await
}

/// For CPU-heavy tests that do not depend on a race.
pub async fn busy() -> tokio::sync::RwLockReadGuard<'static, ()> {
    CPU.read().await
}

/// Runs the `counter` binary (no database configured, no `.env` in reach) with `args` and
/// extra environment, off the async runtime, and returns what it did.
pub async fn run_counter<S: AsRef<std::ffi::OsStr>>(
    args: impl IntoIterator<Item = S>,
    env: &[(&str, &str)],
) -> std::process::Output {
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        crate::process::counter_command()
            .args(args)
            .envs(env)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// `counter matrix -q --json <file>` with `args`, which must succeed: its results, and what it
/// printed.
pub async fn matrix_results(args: &[&str]) -> (Value, String) {
    let dir = TempDir::new("matrix-results");
    let json = dir.join("results.json");
    let mut all = vec!["matrix", "-q", "--json", json.to_str().unwrap()];
    all.extend_from_slice(args);
    let printed = stdout_of_success(&run_counter(&all, &[]).await);
    let results = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    (results, printed)
}

/// The standard output of a run that must have succeeded (its stderr in the failure message).
pub fn stdout_of_success(out: &std::process::Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Says that a test did not run, and why, where the test harness does not swallow it (a
/// direct write to the process's stderr, not `eprintln!`, which the harness captures). On CI
/// (`CI` set) a test that cannot run fails instead: a promise must not be "proved" by a test
/// that did not run.
pub fn skipped(test: &str, why: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{test} cannot run here: {why}"
    );
    note(&format!("SKIPPED {test}: {why}"));
}

/// A line in the test output that the harness does not capture.
pub fn note(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Lifts this test process's limit on open files as the binary does for itself (a server in
/// this process holds one file per connection); the limit now in force.
pub fn raise_open_file_limit() -> u64 {
    counter::raise_open_file_limit()
}

/// A directory of the test's own under the system temp dir, removed when dropped (also when
/// the test fails): tests leave nothing behind.
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("counter-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn join(&self, file: &str) -> std::path::PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
