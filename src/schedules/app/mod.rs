//! `counter app`: every interleaving of an unmodified application's requests, statement by
//! statement, on the real database. counter sits between the application and PostgreSQL as
//! its wire proxy (`engines/postgres/proxy/`), holds each statement a request sends at that
//! request's gate, and runs the same explorer as `counter schedules` (`tree.rs`, `run.rs`):
//! only the kind of instance differs (`instances.rs`: an HTTP request instead of the method's
//! own code). Its own verb because its inputs are its own: a request, an application, the SQL
//! that starts a schedule and the SQL that reads what it must achieve.

mod effect;
mod hooks;
mod instances;
mod launch;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;
use sqlx::{ConnectOptions, postgres::PgConnectOptions};
use tokio::net::TcpListener;

use super::tree::{Bounds, explore};
use crate::engines::postgres::blocking::PgProbe;
use crate::engines::postgres::proxy::{Hooks, Proxy, ProxyOptions, Target};
use crate::engines::{self, Durability, Location, Throwaway};
use crate::model::schedule::{StartState, cell_verdict};
use crate::model::schedule_results::ScheduleCell;
use crate::model::{Engine, Isolation, Verdict};
use crate::report::schedules::{classes_text, order_text};
use crate::report::transcript::transcript;
use crate::signals::shutdown_signal;
pub use instances::AppRequest;

/// An application exploration, as the command line configured it.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub request: AppRequest,
    /// How to start the application (a shell command), if counter starts it.
    pub command: Option<String>,
    /// A path that answers 2xx once the application can serve (`/health`).
    pub ready: Option<String>,
    /// SQL run on the database (not through the proxy) before each schedule.
    pub before: Option<String>,
    /// SQL answering one integer: the value each request that succeeds adds one to.
    pub value: String,
    /// The database's URL as given (None: a throwaway cluster).
    pub database_url: Option<String>,
    pub location: Option<Location>,
    /// The level every connection starts at; None leaves the application's own.
    pub isolation: Option<Isolation>,
    pub listen: SocketAddr,
    pub sessions: usize,
    pub max_switches: Option<u32>,
    pub max_schedules: u64,
    pub lock_timeout: Duration,
}

pub async fn run(config: AppConfig) -> anyhow::Result<u8> {
    // Watched from the start: Ctrl-C stops the application (its own process group does not
    // hear the terminal's signal), the proxy and a throwaway database on its way out.
    let mut shutdown = Box::pin(shutdown_signal());
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("could not listen on {}", config.listen))?;
    let provision = engines::provision(
        Engine::Postgres,
        config.location.clone(),
        Durability::NoFsync,
        None,
        None,
    );
    let mut provisioned = tokio::select! {
        provisioned = provision => provisioned?,
        () = &mut shutdown => return Ok(130),
    };
    let result = tokio::select! {
        result = explore_app(&config, listener, &provisioned) => result,
        () = &mut shutdown => {
            eprintln!("interrupted: the application, the proxy and the database are stopped");
            Ok(130)
        }
    };
    provisioned.shutdown();
    result
}

async fn explore_app(
    config: &AppConfig,
    listener: TcpListener,
    provisioned: &engines::Provisioned,
) -> anyhow::Result<u8> {
    let Location::Postgres { options, .. } = &provisioned.location else {
        anyhow::bail!("counter app speaks PostgreSQL's protocol: give a postgres:// URL");
    };
    let options: &PgConnectOptions = options;
    let hooks = Arc::new(hooks::AppHooks::default());
    let proxy_options = ProxyOptions {
        listener,
        setting: ProxyOptions::level_setting(config.isolation),
        hooks: Arc::clone(&hooks) as Arc<dyn Hooks>,
    };
    let proxy = Proxy::start(Target::of(options), proxy_options).await?;
    let port = proxy.addr().port();
    let password = match (&provisioned.throwaway, &config.database_url) {
        (Some(Throwaway::Postgres(cluster)), _) => Some(cluster.password().to_string()),
        (_, Some(url)) => password_in(url),
        _ => None,
    };
    let _application = match &config.command {
        Some(command) => {
            let env = environment(options, port, password.as_deref());
            let authority = config.request.endpoint.authority.clone();
            let (command, ready) = (command.clone(), config.ready.clone());
            let started = tokio::task::spawn_blocking(move || {
                launch::Application::start(&command, &env, &authority, ready.as_deref())
            });
            Some(started.await??)
        }
        None => None,
    };
    hooks
        .settled(Duration::from_secs(2), Duration::from_secs(60))
        .await;
    let direct = options
        .connect()
        .await
        .context("could not connect to the database")?;
    let probe = PgProbe::connect(options)
        .await
        .map_err(|failure| anyhow::anyhow!("could not connect to the database: {failure}"))?;
    let mut instances = instances::OnApplication {
        hooks,
        probe,
        direct,
        request: config.request.clone(),
        before: config.before.clone(),
        value: config.value.clone(),
        sessions: config.sessions,
        lock_timeout: config.lock_timeout,
        start: 0,
        autocommit_write: None,
    };
    let stop = AtomicBool::new(false);
    let bounds = Bounds {
        max_switches: config.max_switches,
        max_schedules: config.max_schedules,
        stop: &stop,
        keep_all: false,
    };
    let explored = explore(&mut instances, &bounds)
        .await
        .map_err(|failure| anyhow::anyhow!("{}", failure.detail))?;
    let cut = explored.cut_by_switches + explored.cut_by_cap;
    let Some((mut verdict, worst)) = cell_verdict(&explored.classes, cut) else {
        anyhow::bail!("no schedule ran");
    };
    // A write in autocommit that the proxy cannot run as BEGIN, the write, COMMIT (`CALL`,
    // `VACUUM`, anything unknown: `effect::splits_in_autocommit`) is one step here: its
    // commit cannot interleave with another request's statements, so schedules where it
    // would are not run. Every schedule exact is then no proof; a schedule that broke the
    // invariant is still a counterexample.
    let autocommit = instances.autocommit_write.clone();
    if autocommit.is_some() && verdict == Verdict::Exact {
        verdict = Verdict::NotProven;
    }
    let cell = ScheduleCell {
        isolation: config.isolation.unwrap_or(Isolation::ReadCommitted),
        method: 0,
        method_name: "application".to_string(),
        start: StartState::Exists,
        sessions: config.sessions as u32,
        verdict,
        worst,
        classes: explored.classes.clone(),
        cut_by_switches: explored.cut_by_switches,
        cut_by_cap: explored.cut_by_cap,
        diverged: explored.diverged.clone(),
        schedules: explored.schedules.clone(),
        elapsed_ms: 0.0,
    };
    print!("{}", report(config, &cell));
    if let Some(write) = autocommit {
        println!(
            "\nnot a proof: the application writes in autocommit ({}), a statement the proxy \
             cannot run in a transaction of its own, so it is explored as one step (its commit \
             cannot interleave); a schedule that breaks the invariant is still a \
             counterexample",
            write.split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }
    Ok(match verdict.symbol() {
        "+" => 0,
        _ => 1,
    })
}

/// The verdict, the classes, and the shortest schedule of each class as a transcript.
fn report(config: &AppConfig, cell: &ScheduleCell) -> String {
    let level = config
        .isolation
        .map_or("the application's own level", |l| l.sql_name());
    let mut out = format!(
        "{} {}{} through the proxy at {level}: {} schedules of {} requests, {} {} ({})\n",
        config.request.method,
        config.request.endpoint.authority,
        config.request.path,
        cell.schedules_run(),
        cell.sessions,
        cell.verdict,
        cell.worst,
        classes_text(cell)
    );
    let mut kept = cell.schedules.clone();
    kept.sort_by_key(|schedule| std::cmp::Reverse(schedule.class));
    for schedule in &kept {
        out.push_str(&format!(
            "\n== {} ({} of {} schedules); the shortest: {}\n\n{}",
            schedule.class,
            cell.classes.get(&schedule.class).copied().unwrap_or(0),
            cell.schedules_run(),
            order_text(schedule),
            transcript(schedule, cell.sessions)
        ));
    }
    out
}

/// What the application is told: the proxy's address under the common conventions.
fn environment(
    options: &PgConnectOptions,
    port: u16,
    password: Option<&str>,
) -> Vec<(String, String)> {
    let user = options.get_username().to_string();
    let database = options.get_database().unwrap_or("postgres").to_string();
    let credentials = match password {
        Some(password) => format!("{user}:{password}"),
        None => user.clone(),
    };
    let url = format!("postgres://{credentials}@127.0.0.1:{port}/{database}");
    let mut env = BTreeMap::from([
        ("DATABASE_URL", url),
        ("PGHOST", "127.0.0.1".to_string()),
        ("PGPORT", port.to_string()),
        ("PGUSER", user.clone()),
        ("PGDATABASE", database.clone()),
        ("POSTGRES_HOST", "127.0.0.1".to_string()),
        ("POSTGRES_PORT", port.to_string()),
        ("POSTGRES_USER", user),
        ("POSTGRES_DB", database),
    ]);
    if let Some(password) = password {
        env.insert("PGPASSWORD", password.to_string());
        env.insert("POSTGRES_PASSWORD", password.to_string());
    }
    env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The password in a `postgres://user:password@host/db` URL, if it has one.
fn password_in(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let userinfo = rest.split(['/', '?']).next()?.rsplit_once('@')?.0;
    let password = userinfo.split_once(':')?.1;
    Some(password.to_string())
}

#[cfg(test)]
mod tests {
    use super::password_in;

    #[test]
    fn the_password_of_a_url_and_none_without() {
        assert_eq!(
            password_in("postgres://app:s3cret@db:5432/shop").as_deref(),
            Some("s3cret")
        );
        assert_eq!(password_in("postgres://app@db/shop"), None);
        assert_eq!(password_in("postgres://db/shop"), None);
    }
}
