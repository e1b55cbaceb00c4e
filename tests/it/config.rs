//! Bad configuration: one clear line, exit code 2, and never the password.

use std::process::Output;

use sqlx::Executor;

use crate::support::{fresh_database, own_cluster};

async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    crate::support::run_counter(args, env).await
}

fn assert_one_line_exit_2(out: &Output, secret: &str, expect: &str, case: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{case}: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "{case}: one line: {stderr}"
    );
    assert!(
        stderr.contains(expect),
        "{case}: {stderr:?} should mention {expect:?}"
    );
    assert!(
        !stderr.contains(secret) && !stdout.contains(secret),
        "{case}: password echoed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_database_settings_are_one_line_without_the_password() {
    let _cpu = crate::support::busy().await;
    let options = fresh_database().await;
    let port = options.get_port();
    let secret = "Sup3rSecretPw";
    let cases = [
        ("not-a-url".to_string(), "not a valid postgres:// URL"),
        (
            format!("postgres://postgres:{secret}@127.0.0.1:notaport/x"),
            "not a valid",
        ),
        (
            format!("mysql://postgres:{secret}@127.0.0.1:{port}/x"),
            "it is a mysql:// URL, add --engine mariadb",
        ),
        (
            // The right password (the cluster's), the wrong database.
            format!(
                "postgres://postgres:{}@127.0.0.1:{port}/no_such_db",
                crate::support::cluster_password()
            ),
            "does not exist",
        ),
        (
            format!("postgres://postgres:{secret}@127.0.0.1:1/counter"),
            "could not connect",
        ),
    ];
    for (url, expect) in cases {
        for verb in ["serve", "matrix"] {
            let out = run(&[verb, "--database-url", &url], &[]).await;
            assert_one_line_exit_2(&out, secret, expect, &format!("{verb} {expect}"));
            let out = run(&[verb], &[("DATABASE_URL", &url)]).await;
            assert_one_line_exit_2(&out, secret, expect, &format!("{verb} env {expect}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_without_being_echoed() {
    let _cpu = crate::support::busy().await;
    let (cluster, options) = own_cluster().await;
    // Require passwords over TCP from now on.
    let mut admin = sqlx::ConnectOptions::connect(&options).await.unwrap();
    admin
        .execute("ALTER ROLE postgres PASSWORD 'the-right-one'")
        .await
        .unwrap();
    let hba = cluster.dir().join("data/pg_hba.conf");
    std::fs::write(
        &hba,
        "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n",
    )
    .unwrap();
    admin.execute("SELECT pg_reload_conf()").await.unwrap();
    drop(admin);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let secret = "Wr0ngPassw0rd";
    let url = format!(
        "postgres://postgres:{secret}@127.0.0.1:{}/counter",
        cluster.port()
    );
    let out = run(&["serve", "--database-url", &url], &[]).await;
    assert_one_line_exit_2(
        &out,
        secret,
        "password authentication failed",
        "wrong password",
    );
    // The original's keys, with the same wrong password.
    let port = cluster.port().to_string();
    let env = [
        ("POSTGRES_HOST", "127.0.0.1"),
        ("POSTGRES_PORT", port.as_str()),
        ("POSTGRES_USER", "postgres"),
        ("POSTGRES_PASSWORD", secret),
        ("POSTGRES_DB", "counter"),
    ];
    let out = run(&["matrix"], &env).await;
    assert_one_line_exit_2(&out, secret, "password authentication failed", "POSTGRES_*");
    let out = run(&["serve"], &[("POSTGRES_PORT", "eighty")]).await;
    assert_one_line_exit_2(&out, secret, "POSTGRES_PORT", "bad port");
    drop(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_postgres_binaries_give_the_install_hint() {
    let _cpu = crate::support::busy().await;
    for verb in ["serve", "matrix"] {
        let out = run(&[verb], &[("COUNTER_PG_BIN", "/nonexistent/bin")]).await;
        assert_one_line_exit_2(&out, "\u{0}", "apt-get install -y postgresql", verb);
        assert!(String::from_utf8_lossy(&out.stderr).contains("DATABASE_URL"));
    }
}
