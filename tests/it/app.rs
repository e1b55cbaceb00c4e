//! `counter app`: an unmodified application explored through the wire proxy. Black box =
//! white box: `counter serve` itself, run as the application behind the proxy, gets the same
//! schedules (their number and every class's count) as `counter schedules` explores from the
//! inside, for methods 1-4 at the four levels and both starting states. Method 3 writes in
//! autocommit: the proxy runs it as BEGIN, the write and COMMIT, as the explorer's own
//! sessions send it, so that its commit is a step of its own (refused at repeatable read).

use counter::model::schedule::StartState;
use counter::model::{Engine, Isolation, MethodId};
use counter::report::schedules::classes_text;

use crate::schedules::{config, explore_postgres};
use crate::support::{fresh_database, run_counter, url_of};

/// `counter app` with `counter serve --isolation LEVEL` as the application, on the database
/// at `url`: what it printed.
async fn black_box(
    url: &str,
    level: Isolation,
    method: u32,
    start: StartState,
    port: u16,
) -> String {
    let serve = format!(
        "RUST_LOG=warn {} serve --bind 127.0.0.1:{port} --isolation {} --pool-size 4",
        env!("CARGO_BIN_EXE_counter"),
        level.sql_name().replace(' ', "-"),
    );
    let request = format!("POST http://127.0.0.1:{port}/api/v1/endpoint/counter/{method}/");
    let value =
        format!("SELECT COALESCE((SELECT count FROM counter WHERE id = {method}), 0)::bigint");
    let before = match start {
        StartState::Exists => format!(
            "DELETE FROM counter WHERE id = {method}; INSERT INTO counter (id, count) VALUES ({method}, 0)"
        ),
        StartState::Absent => format!("DELETE FROM counter WHERE id = {method}"),
    };
    let listen = format!("127.0.0.1:{}", port + 1);
    let args = [
        "app",
        "--request",
        &request,
        "--value",
        &value,
        "--before",
        &before,
        "--command",
        &serve,
        "--ready",
        "/health",
        "--database-url",
        url,
        "--listen",
        &listen,
    ];
    let out = run_counter(args, &[]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first = stdout.lines().next().unwrap_or_default();
    assert!(
        first.contains("schedules of 2 requests"),
        "{level} method {method} {start:?}: {stdout}\n{stderr}"
    );
    stdout.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_serve_behind_the_proxy_gets_the_schedules_of_counter_schedules() {
    let _cpu = crate::support::busy().await;
    let levels = Isolation::ALL;
    let methods = [
        MethodId::TableLock,
        MethodId::RowLock,
        MethodId::AtomicUpdate,
        MethodId::ReadModifyWrite,
    ];
    let white = config(Engine::Postgres, &levels, &methods);
    let inside = explore_postgres(&white).await;
    let options = fresh_database().await;
    let url = url_of(&options);
    let mut port = 18_610;
    let mut differ = Vec::new();
    for cell in &inside.cells {
        let printed = black_box(&url, cell.isolation, cell.method, cell.start, port).await;
        let first = printed.lines().next().unwrap_or_default();
        port += 2;
        let expected = format!(
            "{} schedules of 2 requests, {} {}",
            cell.schedules_run(),
            cell.verdict,
            classes_text(cell)
        );
        let worst = format!("{} {}", cell.verdict, cell.worst);
        if !first.contains(&format!("{} schedules of 2 requests", cell.schedules_run()))
            || !first.contains(&worst)
            || !first.contains(&format!("({})", classes_text(cell)))
        {
            differ.push(format!(
                "{} method {} {:?}: inside {expected} (worst {worst}); behind the proxy: {first}",
                cell.isolation, cell.method, cell.start
            ));
        }
    }
    assert_eq!(inside.cells.len(), 32, "{:?}", inside.not_applicable);
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_that_exits_or_a_request_without_a_port_is_one_line() {
    let _cpu = crate::support::busy().await;
    let options = fresh_database().await;
    let url = url_of(&options);
    let cases: [(&[&str], &str); 3] = [
        (
            &[
                "app",
                "--request",
                "POST http://127.0.0.1:18690/x/",
                "--value",
                "SELECT 1",
                "--command",
                "exit 3",
                "--database-url",
                &url,
                "--listen",
                "127.0.0.1:18691",
            ],
            "the application exited",
        ),
        // Nothing listens where the request goes, and counter was not asked to start it.
        (
            &[
                "app",
                "--request",
                "POST http://127.0.0.1:18692/x/",
                "--value",
                "SELECT 1",
                "--database-url",
                &url,
                "--listen",
                "127.0.0.1:18693",
            ],
            "nothing accepts connections at 127.0.0.1:18692",
        ),
        (
            &[
                "app",
                "--request",
                "POST http://localhost/x/",
                "--value",
                "SELECT 1",
            ],
            "give the host with its port",
        ),
    ];
    for (args, said) in cases {
        let out = run_counter(args, &[]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(said), "{args:?}: {stderr}");
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with("error")).count(),
            1,
            "{stderr}"
        );
    }
}

/// Ctrl-C while the application is explored: counter exits 130 and the application (in a
/// process group of its own, which the terminal's signal does not reach) is stopped with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_the_application_and_the_proxy() {
    let _cpu = crate::support::busy().await;
    let options = fresh_database().await;
    let url = url_of(&options);
    let serve = format!(
        "RUST_LOG=warn {} serve --bind 127.0.0.1:18700 --pool-size 4",
        env!("CARGO_BIN_EXE_counter")
    );
    let mut child = crate::process::counter_command()
        .args([
            "app",
            "--request",
            "POST http://127.0.0.1:18700/api/v1/endpoint/counter/4/",
            "--value",
            "SELECT 0::bigint",
            "--command",
            &serve,
            "--database-url",
            &url,
            "--listen",
            "127.0.0.1:18701",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let up = crate::process::wait_until(std::time::Duration::from_secs(30), || {
        std::net::TcpStream::connect("127.0.0.1:18700").is_ok()
    });
    assert!(up, "the application never listened");
    // SAFETY: kill has no memory-safety preconditions; the pid is our child's.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let gone = crate::process::wait_until(std::time::Duration::from_secs(15), || {
        std::net::TcpStream::connect("127.0.0.1:18700").is_err()
            && std::net::TcpStream::connect("127.0.0.1:18701").is_err()
    });
    assert!(gone, "the application or the proxy outlived counter app");
}

/// An application that reaches its database around the proxy (here: counter serve given the
/// database's own URL) would have every schedule look exact: it is refused, and told why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_that_bypasses_the_proxy_is_refused_not_proven_exact() {
    let _cpu = crate::support::busy().await;
    let options = fresh_database().await;
    let url = url_of(&options);
    let serve = format!(
        "DATABASE_URL='{url}' RUST_LOG=warn {} serve --bind 127.0.0.1:18720 --pool-size 4",
        env!("CARGO_BIN_EXE_counter")
    );
    let args = [
        "app",
        "--request",
        "POST http://127.0.0.1:18720/api/v1/endpoint/counter/3/",
        "--value",
        "SELECT COALESCE((SELECT count FROM counter WHERE id = 3), 0)::bigint",
        "--command",
        &serve,
        "--ready",
        "/health",
        "--database-url",
        &url,
        "--listen",
        "127.0.0.1:18721",
    ];
    let out = run_counter(args, &[]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("answered without a statement through the proxy"),
        "{stderr}"
    );
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
    assert!(
        !stderr.contains(crate::support::cluster_password()),
        "{stderr}"
    );
}
