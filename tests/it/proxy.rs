//! `counter proxy`: an application's statements seen through the wire proxy, as it sends them
//! (simple queries, named statements reused, errors with their SQLSTATE, the transaction
//! status each ran in), a level put into every connection's start-up options, and the
//! clients and inputs it refuses with one line.

use std::io::BufReader;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{ConnectOptions, Connection, Row};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::process::{collect, read_until, spawn_counter, wait_until};
use crate::support::{fresh_database, url_of};

/// A running `counter proxy` and what it printed.
struct ProxyProcess {
    child: Child,
    port: u16,
    printed: Arc<Mutex<String>>,
}

impl ProxyProcess {
    fn start(url: &str, extra: &[&str]) -> ProxyProcess {
        let mut args = vec!["proxy", "--listen", "127.0.0.1:0", "--database-url", url];
        args.extend_from_slice(extra);
        let mut child = spawn_counter(&args);
        let printed = Arc::new(Mutex::new(String::new()));
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut port = None;
        read_until(&mut stdout, &printed, |line| {
            if let Some(rest) = line.strip_prefix("proxy: ") {
                let address = rest.split('@').nth(1).unwrap().split('/').next().unwrap();
                port = address.rsplit(':').next().unwrap().parse().ok();
            }
            line.starts_with("level: ")
        });
        collect(stdout, Arc::clone(&printed));
        collect(child.stderr.take().unwrap(), Arc::clone(&printed));
        let port = port.unwrap_or_else(|| panic!("no proxy line: {}", printed.lock().unwrap()));
        ProxyProcess {
            child,
            port,
            printed,
        }
    }

    fn through(&self, options: &PgConnectOptions) -> PgConnectOptions {
        options
            .clone()
            .host("127.0.0.1")
            .port(self.port)
            .ssl_mode(PgSslMode::Disable)
    }

    /// Waits until it printed `text` (5 s at most); everything printed.
    fn printed_once(&self, text: &str) -> String {
        wait_until(Duration::from_secs(5), || {
            self.printed.lock().unwrap().contains(text)
        });
        self.printed.lock().unwrap().clone()
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        // SAFETY: kill has no memory-safety preconditions; the pid is our child's.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_is_printed_with_its_answer_and_the_level_is_put_in_the_start_up() {
    let _cpu = crate::support::busy().await;
    let options = fresh_database().await;
    let proxy = ProxyProcess::start(&url_of(&options), &["--isolation", "repeatable-read"]);
    let mut conn = proxy.through(&options).connect().await.unwrap();
    // The level the proxy put into the start-up options (an extended-protocol step).
    let level: String = sqlx::query_scalar("SHOW transaction_isolation")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(level, "repeatable read");
    sqlx::raw_sql("BEGIN").execute(&mut conn).await.unwrap();
    // A named statement, prepared once and executed twice (Bind and Execute only, the second
    // time): the proxy knows its SQL from the first Parse, and its value from each Bind
    // (binary, its type declared by sqlx's Parse).
    for _ in 0..2 {
        let row = sqlx::query("SELECT $1::int + 1 AS answer")
            .bind(41)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(row.get::<i32, _>("answer"), 42);
    }
    let refused = sqlx::raw_sql("SELECT 1/0").execute(&mut conn).await;
    assert!(refused.is_err());
    sqlx::raw_sql("ROLLBACK").execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    let printed = proxy.printed_once("ROLLBACK  -> ROLLBACK");
    assert!(
        printed.contains("I  SHOW transaction_isolation  -> SHOW (1 row)"),
        "{printed}"
    );
    assert!(printed.contains("I  BEGIN  -> BEGIN"), "{printed}");
    let twice = printed
        .matches("T  SELECT 41::int + 1 AS answer  -> SELECT 1 (1 row)")
        .count();
    assert_eq!(twice, 2, "{printed}");
    assert!(
        printed.contains("T  SELECT 1/0  -> ERROR 22012: division by zero"),
        "{printed}"
    );
    // After the error the transaction is failed: the status the ROLLBACK was sent in.
    assert!(printed.contains("E  ROLLBACK  -> ROLLBACK"), "{printed}");
    // The password never appears.
    assert!(
        !printed.contains(crate::support::cluster_password()),
        "{printed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_insists_on_tls_is_refused_and_told_why() {
    let _cpu = crate::support::busy().await;
    let options = fresh_database().await;
    let proxy = ProxyProcess::start(&url_of(&options), &[]);
    // What libpq with sslmode=require does: SSLRequest, and on `N` it gives up. (sqlx is built
    // here without TLS and would not even ask.)
    let mut insisting = tokio::net::TcpStream::connect(("127.0.0.1", proxy.port))
        .await
        .unwrap();
    let mut request = 8u32.to_be_bytes().to_vec();
    request.extend_from_slice(&80_877_103u32.to_be_bytes());
    insisting.write_all(&request).await.unwrap();
    let mut answer = [0u8; 1];
    insisting.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"N");
    drop(insisting);
    let printed = proxy.printed_once("asked for TLS");
    assert!(
        printed.contains("connect with sslmode=disable or prefer"),
        "{printed}"
    );
    // The same client in plain text goes through.
    let mut plain = proxy.through(&options).connect().await.unwrap();
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut plain)
        .await
        .unwrap();
    assert_eq!(one, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_or_a_mysql_url_is_one_line_and_starts_nothing() {
    let _cpu = crate::support::busy().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let cases: [(&[&str], &str); 3] = [
        (&["proxy", "--listen", &listen], "could not listen on"),
        (
            &["proxy", "--database-url", "mysql://root@localhost/x"],
            "postgres",
        ),
        (&["proxy", "--isolation", "sometimes"], "sometimes"),
    ];
    for (args, said) in cases {
        let started = std::time::Instant::now();
        let out = crate::support::run_counter(args, &[]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(said), "{args:?}: {stderr}");
        // Refused before any database was started.
        assert!(started.elapsed() < Duration::from_secs(3), "{args:?}");
        assert!(!stderr.contains("throwaway"), "{args:?}: {stderr}");
    }
}
