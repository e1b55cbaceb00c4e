//! The pages in a real browser: Debian's Chromium, driven through its chromedriver over
//! WebDriver with `fantoccini`. Why that crate: it speaks the W3C protocol every browser's
//! driver implements and builds on the hyper this project already has (no TLS with its
//! default features off); `chromiumoxide` speaks Chrome's DevTools protocol, whose generated
//! types take minutes to compile on two cores. Each test starts its own chromedriver and
//! Chromium (a fresh profile, no network beyond loopback; start-up is about a second) and stops
//! both, its whole process group, however it ends. Screenshots of what the tests saw go to
//! `target/browser-*.png`.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use counter::engines::{Backend, Durability, OpenOptions, provision};
use counter::model::{Engine, Isolation};
use counter::server::AppState;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::support::{HttpServer, TempDir};

/// A headless Chromium under its chromedriver, in a process group of their own.
struct Browser {
    client: Client,
    driver: Child,
    _profile: TempDir,
}

/// chromedriver's log endpoint (not in the W3C protocol; chromedriver keeps it): the browser
/// console (`browser`) and the DevTools events, requests included (`performance`).
#[derive(Debug)]
struct ReadLog(&'static str);

impl fantoccini::wd::WebDriverCompatibleCommand for ReadLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or("")))
    }

    fn method_and_body(&self, _url: &url::Url) -> (axum::http::Method, Option<String>) {
        let body = json!({ "type": self.0 }).to_string();
        (axum::http::Method::POST, Some(body))
    }
}

impl Browser {
    /// A browser for `test`, or None (SKIPPED; a failure on CI) when there is none here.
    async fn start(test: &str) -> Option<Browser> {
        let found = ["/usr/bin/chromium", "/usr/bin/chromedriver"]
            .iter()
            .all(|path| std::path::Path::new(path).exists());
        if !found {
            crate::support::skipped(
                test,
                "Chromium is not installed (apt-get install -y chromium chromium-driver; .ci/run does)",
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = TempDir::new(&format!("chromium-{test}"));
        let mut args = vec![
            "--headless",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,900",
        ];
        // As root (CI), Chromium refuses to start with its sandbox.
        if unsafe { libc::geteuid() } == 0 {
            args.push("--no-sandbox");
        }
        let profile_arg = format!("--user-data-dir={}", profile.join("").display());
        args.push(&profile_arg);
        let capabilities = json!({
            "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": args },
            "goog:loggingPrefs": { "browser": "ALL", "performance": "ALL" },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await;
        let browser = |client| Browser {
            client,
            driver,
            _profile: profile,
        };
        Some(browser(client.expect("a Chromium session")))
    }

    /// The console's errors since the last read (level SEVERE).
    async fn console_errors(&self) -> Vec<String> {
        let entries = self.client.issue_cmd(ReadLog("browser")).await.unwrap();
        let entries = entries.as_array().cloned().unwrap_or_default();
        entries
            .iter()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or("").to_string())
            .collect()
    }

    /// Every network URL (HTTP, WebSocket) the browser requested since the last read that is
    /// not loopback. (Files, `data:` and the browser's own `chrome://` pages are no network.)
    async fn foreign_requests(&self) -> Vec<String> {
        let entries = self.client.issue_cmd(ReadLog("performance")).await.unwrap();
        let entries = entries.as_array().cloned().unwrap_or_default();
        let network = ["http://", "https://", "ws://", "wss://"];
        let loopback = ["http://127.0.0.1:", "ws://127.0.0.1:"];
        entries
            .iter()
            .filter_map(|entry| {
                let event: Value = serde_json::from_str(entry["message"].as_str()?).ok()?;
                let event = &event["message"];
                (event["method"] == "Network.requestWillBeSent").then(|| {
                    event["params"]["request"]["url"]
                        .as_str()
                        .map(str::to_string)
                })?
            })
            .filter(|url| network.iter().any(|prefix| url.starts_with(prefix)))
            .filter(|url| !loopback.iter().any(|prefix| url.starts_with(prefix)))
            .collect()
    }

    /// Saves what the browser shows to `target/browser-NAME.png`.
    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
        std::fs::write(dir.join(format!("browser-{name}.png")), png).unwrap();
    }

    /// The text of the element with `id`, once it is there.
    async fn text_of(&self, id: &str) -> String {
        let element = self.client.wait().for_element(Locator::Id(id)).await;
        element.unwrap().text().await.unwrap()
    }

    /// Waits until the element with `id` reads `want` (up to `patience`); what it read last.
    async fn wait_for_text(&self, id: &str, want: &str, patience: Duration) -> String {
        let started = Instant::now();
        loop {
            let text = self.text_of(id).await;
            if text == want || started.elapsed() > patience {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(mut self) {
        let _ = self.client.clone().close().await;
        self.kill();
    }

    fn kill(&mut self) {
        // The driver's group holds Chromium and its helpers too.
        unsafe { libc::kill(-(self.driver.id() as i32), libc::SIGKILL) };
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if self.driver.try_wait().ok().flatten().is_none() {
            self.kill();
        }
    }
}

/// A server of `engine` (a throwaway MariaDB or SQLite, or a fresh database of the shared
/// PostgreSQL cluster) at `level`, and what keeps its database alive.
async fn serve(engine: Engine, open: OpenOptions) -> (HttpServer, counter::engines::Provisioned) {
    let location = match engine {
        Engine::Postgres => Some(crate::support::location_of(
            &crate::support::fresh_database().await,
        )),
        _ => None,
    };
    let provisioned = provision(engine, location, Durability::NoFsync, None, None)
        .await
        .unwrap();
    let backend = Backend::open(&provisioned.location, &open).await.unwrap();
    let server = HttpServer::spawn(AppState::with_backend(backend, 0)).await;
    (server, provisioned)
}

/// The live page shows the server's own engine, version, level and methods, and `+1` on
/// method 3 changes the count shown.
async fn the_live_page_is_the_servers(browser: &Browser, server: &HttpServer, name: &str) {
    let info = crate::support::get_json(&server.url("/api/v1/info")).await;
    // What the previous page logged once its server had gone is not this page's.
    browser.client.goto("about:blank").await.unwrap();
    browser.console_errors().await;
    browser.foreign_requests().await;
    browser.client.goto(&server.url("/")).await.unwrap();
    let version = browser.text_of("version").await;
    let product = info["engine_product"].as_str().unwrap();
    let server_version = info["server_version"].as_str().unwrap();
    assert!(
        version.starts_with(&format!("{product} {server_version}")),
        "{name}: the page says {version:?}; the server is {product} {server_version}"
    );
    let level = browser.text_of("isolation").await;
    assert_eq!(level, info["effective_isolation"], "{name}");
    for method in info["methods"].as_array().unwrap() {
        let number = &method["number"];
        let row = browser.text_of(&format!("method-{number}")).await;
        let summary = method["summary"].as_str().unwrap();
        assert!(row.contains(summary), "{name}: row {number} is {row:?}");
        for sql in method["statements"].as_array().unwrap() {
            let sql = sql.as_str().unwrap();
            assert!(
                row.contains(sql),
                "{name}: row {number} lacks {sql:?}: {row:?}"
            );
        }
    }
    // Each engine's own upsert, not PostgreSQL's everywhere.
    let upsert = browser.text_of("method-5").await;
    let own = match name {
        "mariadb" => "ON DUPLICATE KEY UPDATE",
        _ => "ON CONFLICT (id) DO UPDATE",
    };
    assert!(upsert.contains(own), "{name}: {upsert:?}");
    browser
        .client
        .find(Locator::Id("plus-3"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let shown = browser
        .wait_for_text("count-3", "1", Duration::from_secs(3))
        .await;
    assert_eq!(shown, "1", "{name}: the count shown after +1");
    let stored = crate::support::get_json(&server.url("/api/v1/endpoint/count/3/")).await;
    assert_eq!(stored["count"], 1, "{name}");
    browser.screenshot(&format!("live-{name}")).await;
    let errors = browser.console_errors().await;
    assert!(errors.is_empty(), "{name}: console errors {errors:?}");
    let foreign = browser.foreign_requests().await;
    assert!(
        foreign.is_empty(),
        "{name}: requests outside loopback {foreign:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_page_shows_each_engine_its_own_and_follows_the_counts() {
    let Some(browser) = Browser::start("live-page").await else {
        return;
    };
    let _cpu = crate::support::busy().await;
    // PostgreSQL at repeatable read, reads and writes 400 ms apart: a second increment of
    // method 2 behind a first one is refused with 40001, certainly.
    let mut open = OpenOptions::new(Isolation::RepeatableRead, 4);
    open.think = Duration::from_millis(400);
    let (server, mut provisioned) = serve(Engine::Postgres, open).await;
    the_live_page_is_the_servers(&browser, &server, "postgresql").await;
    // A hammer run from outside shows on the page within two seconds.
    let addr = server.handle.addr.to_string();
    // One at a time: at repeatable read, concurrent upserts of one row are refused.
    let hammer = [
        "hammer",
        "-d",
        &addr,
        "-n",
        "5",
        "--requests",
        "20",
        "--concurrency",
        "1",
        "-q",
    ];
    let out = crate::support::run_counter(hammer, &[]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let started = Instant::now();
    let shown = browser
        .wait_for_text("count-5", "20", Duration::from_secs(2))
        .await;
    assert_eq!(shown, "20", "after {:?}", started.elapsed());
    // A refusal is shown with its SQLSTATE: the row exists (no creation race), one increment
    // holds its lock through the think time, and the page's waits behind it.
    let (status, body) = server.increment(2).await;
    assert!(status.is_success(), "{body}");
    let first = tokio::spawn(
        server
            .client
            .post(server.url("/api/v1/endpoint/counter/2/"))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    browser
        .client
        .find(Locator::Id("plus-2"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let status = browser
        .wait_for_text(
            "status",
            "method 2: serialization_failure (40001)",
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(status, "method 2: serialization_failure (40001)");
    assert!(first.await.unwrap().unwrap().status().is_success());
    browser.screenshot("live-postgresql-refused").await;
    // Chromium logs every non-2xx answer to a fetch; the refusal's is the only one allowed.
    let errors = browser.console_errors().await;
    let others: Vec<&String> = errors
        .iter()
        .filter(|e| !(e.contains("/api/v1/endpoint/counter/2/") && e.contains("409")))
        .collect();
    assert!(others.is_empty(), "console errors {others:?}");
    server.shutdown().await;
    provisioned.shutdown();
    for engine in [Engine::Sqlite, Engine::Mariadb] {
        if engine == Engine::Mariadb && !crate::mariadb::mariadb_installed() {
            continue;
        }
        let level = match engine {
            Engine::Sqlite => Isolation::Serializable,
            _ => Isolation::ReadCommitted,
        };
        let (server, mut provisioned) = serve(engine, OpenOptions::new(level, 4)).await;
        the_live_page_is_the_servers(&browser, &server, engine.name()).await;
        server.shutdown().await;
        provisioned.shutdown();
    }
    browser.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_loads_without_the_network_and_tries_the_info_call() {
    let Some(browser) = Browser::start("swagger").await else {
        return;
    };
    let _cpu = crate::support::busy().await;
    let server = crate::support::start_server(Isolation::ReadCommitted, 2).await;
    browser
        .client
        .goto(&server.url("/api/v1/swagger/"))
        .await
        .unwrap();
    let wait = browser.client.wait().at_most(Duration::from_secs(15));
    let info = wait
        .for_element(Locator::Css("#operations-meta-info .opblock-summary"))
        .await
        .expect("the GET /api/v1/info operation is listed");
    info.click().await.unwrap();
    let wait = browser.client.wait().at_most(Duration::from_secs(10));
    let try_it = wait
        .for_element(Locator::Css(".try-out__btn"))
        .await
        .unwrap();
    try_it.click().await.unwrap();
    let wait = browser.client.wait().at_most(Duration::from_secs(10));
    let execute = wait.for_element(Locator::Css(".execute")).await.unwrap();
    execute.click().await.unwrap();
    let wait = browser.client.wait().at_most(Duration::from_secs(10));
    let status = wait
        .for_element(Locator::Css(
            ".live-responses-table tbody .response-col_status",
        ))
        .await
        .unwrap();
    assert_eq!(status.text().await.unwrap().trim(), "200");
    browser.screenshot("swagger").await;
    let errors = browser.console_errors().await;
    assert!(errors.is_empty(), "console errors {errors:?}");
    let foreign = browser.foreign_requests().await;
    assert!(foreign.is_empty(), "requests outside loopback {foreign:?}");
    server.stop().await;
    browser.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_opens_with_its_charts_and_asks_nothing_of_the_network() {
    let Some(browser) = Browser::start("report").await else {
        return;
    };
    let _cpu = crate::support::busy().await;
    let dir = TempDir::new("browser-report");
    let html = dir.join("report.html");
    let url = crate::support::url_of(&crate::support::fresh_database().await);
    let out = crate::support::run_counter(
        [
            "matrix",
            "-q",
            "--database-url",
            &url,
            "--methods",
            "3,4",
            "--levels",
            "read-committed",
            "--requests",
            "20",
            "--html",
            html.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    browser
        .client
        .goto(&format!("file://{}", html.display()))
        .await
        .unwrap();
    let charts = browser.client.find_all(Locator::Css("svg")).await.unwrap();
    assert!(charts.len() >= 2, "{} charts", charts.len());
    let table = browser.client.find(Locator::Css("table")).await.unwrap();
    assert!(table.text().await.unwrap().contains("read committed"));
    browser.screenshot("report").await;
    let errors = browser.console_errors().await;
    assert!(errors.is_empty(), "console errors {errors:?}");
    let foreign = browser.foreign_requests().await;
    assert!(
        foreign.is_empty(),
        "requests outside loopback and file: {foreign:?}"
    );
    browser.stop().await;
}
