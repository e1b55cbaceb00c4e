//! Throwaway databases admit no local account but the one that started counter: another
//! account (`nobody`) can neither connect to the cluster over TCP nor reach its socket or
//! files; counter, and the invoking user through serve's connection file, can.

use std::os::unix::process::CommandExt;
use std::process::{Command, Output};

use counter::engines::Durability;
use counter::engines::postgres::LocalCluster;

/// The other account, or None (said, see [`crate::support::skipped`]) when this process
/// cannot act as it: only root can.
fn other_account() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions; getpwnam's record is read at once.
    let account = unsafe {
        if libc::geteuid() != 0 {
            None
        } else {
            let entry = libc::getpwnam(c"nobody".as_ptr());
            (!entry.is_null()).then(|| ((*entry).pw_uid, (*entry).pw_gid))
        }
    };
    if account.is_none() {
        crate::support::skipped(
            "the other-account checks",
            "not root, or no `nobody` account: cannot act as another local user",
        );
    }
    account
}

/// `program args` run as the other account, with a clean environment.
fn as_other(account: (u32, u32), program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir("/")
        .uid(account.0)
        .gid(account.1)
        .output()
        .unwrap_or_else(|err| panic!("{program}: {err}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_account_can_neither_connect_nor_read_the_cluster() {
    let Some(nobody) = other_account() else {
        return;
    };
    let _cpu = crate::support::busy().await;
    let cluster = tokio::task::spawn_blocking(|| LocalCluster::start(Durability::Durable))
        .await
        .unwrap()
        .expect("cluster starts");
    let port = cluster.port().to_string();
    let dir = cluster.dir().display().to_string();

    // Over TCP: a password is required, and nobody has it.
    let tcp = as_other(
        nobody,
        "psql",
        &[
            "-w",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-c",
            "select 1",
        ],
    );
    assert!(
        !tcp.status.success(),
        "TCP without the password: {}",
        text(&tcp)
    );
    assert!(text(&tcp).contains("password"), "{}", text(&tcp));
    // Guessing does not help either.
    let guessed = Command::new("psql")
        .args([
            "-w",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "postgres",
            "-d",
            "postgres",
        ])
        .args(["-c", "select 1"])
        .env("PGPASSWORD", "postgres")
        .uid(nobody.0)
        .gid(nobody.1)
        .current_dir("/")
        .output()
        .unwrap();
    assert!(!guessed.status.success(), "{}", text(&guessed));

    // Through the socket directory: nobody cannot even enter it.
    let socket = as_other(
        nobody,
        "psql",
        &[
            "-w", "-h", &dir, "-p", &port, "-U", "postgres", "-d", "postgres", "-c", "select 1",
        ],
    );
    assert!(!socket.status.success(), "socket: {}", text(&socket));
    let listing = as_other(nobody, "ls", &[&dir]);
    assert!(
        !listing.status.success(),
        "the directory: {}",
        text(&listing)
    );
    let log = as_other(nobody, "cat", &[&format!("{dir}/postgres.log")]);
    assert!(!log.status.success(), "the log: {}", text(&log));

    // Counter itself connects, with the password it made.
    let mut conn = sqlx::ConnectOptions::connect(&cluster.connect_options("postgres"))
        .await
        .expect("counter connects");
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(one, 1);
    drop(conn);
    drop(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_tells_the_invoking_user_how_to_connect_without_printing_the_password() {
    let _cpu = crate::support::busy().await;
    let mut serve = crate::process::start_serve_process(&[]);
    let connect = serve.connect.clone().expect("serve prints how to connect");
    // `PGPASSFILE=<file> psql -h 127.0.0.1 -p <port> -U postgres counter`
    let (assignment, command) = connect.split_once(' ').unwrap();
    let pgpass = assignment
        .strip_prefix("PGPASSFILE=")
        .expect("a password file");
    let args: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(args[0], "psql");
    let out = Command::new("psql")
        .args(&args[1..])
        .args(["-w", "-A", "-t", "-c", "select current_database()"])
        .env("PGPASSFILE", pgpass)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "counter");

    // The file is the invoking user's alone, and its password is printed nowhere.
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(pgpass).unwrap();
    assert_eq!(meta.mode() & 0o077, 0, "no one else may read it");
    // SAFETY: geteuid has no preconditions.
    assert_eq!(meta.uid(), unsafe { libc::geteuid() });
    let line = std::fs::read_to_string(pgpass).unwrap();
    let password = line.trim().rsplit(':').next().unwrap().to_string();
    assert!(password.len() >= 32, "a random password");
    serve.stop();
    let printed = serve.output();
    assert!(printed.contains("connect: PGPASSFILE="), "{printed}");
    assert!(!printed.contains(&password), "the password was printed");
    assert!(
        !std::path::Path::new(pgpass).exists(),
        "removed with the cluster"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throwaway_mariadb_and_sqlite_file_are_private_too() {
    let Some(nobody) = other_account() else {
        return;
    };
    let _cpu = crate::support::busy().await;
    let file = counter::engines::sqlite::SqliteFile::create().unwrap();
    let dir = file.path().parent().unwrap().display().to_string();
    let listing = as_other(nobody, "ls", &[&dir]);
    assert!(
        !listing.status.success(),
        "SQLite's directory: {}",
        text(&listing)
    );
    drop(file);

    if !crate::mariadb::mariadb_installed() {
        return;
    }
    let server = tokio::task::spawn_blocking(|| {
        counter::engines::mariadb::LocalMariaDb::start(Durability::Durable)
    })
    .await
    .unwrap()
    .expect("mariadbd starts");
    let socket = server.dir().join("mysqld.sock").display().to_string();
    let out = as_other(
        nobody,
        "mariadb",
        &[
            "--no-defaults",
            "--socket",
            &socket,
            "-u",
            "root",
            "-e",
            "select 1",
        ],
    );
    assert!(!out.status.success(), "socket: {}", text(&out));
    // No TCP port at all: the root account has no password.
    let tcp = as_other(
        nobody,
        "mariadb",
        &[
            "--no-defaults",
            "-h",
            "127.0.0.1",
            "-u",
            "root",
            "-e",
            "select 1",
        ],
    );
    assert!(!tcp.status.success(), "TCP: {}", text(&tcp));
    drop(server);
}
