//! `counter app`: every interleaving of an unmodified application's requests, statement by
//! statement, on the real database. counter sits between the application and PostgreSQL as
//! its wire proxy (`engines/postgres/proxy/`), holds each statement a request sends at that
//! request's gate, and runs the same explorer as `counter schedules` (`tree.rs`, `run.rs`):
//! only the kind of instance differs (`instances.rs`: an HTTP request instead of the method's
//! own code). Its own verb because its inputs are its own: a request, an application, the SQL
//! that starts a schedule and the SQL that reads what it must achieve.

mod effect;
mod export;
mod hooks;
mod instances;
mod launch;
mod print;
mod race;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;
use sqlx::{ConnectOptions, Connection, postgres::PgConnectOptions};
use tokio::net::TcpListener;

use super::tree::{Bounds, explore};
use crate::engines::postgres::blocking::PgProbe;
use crate::engines::postgres::proxy::{Hooks, Proxy, ProxyOptions, Target};
use crate::engines::{self, Durability, Location, Throwaway};
use crate::model::schedule::{StartState, cell_verdict};
use crate::model::schedule_results::ScheduleCell;
use crate::model::{Isolation, Verdict};
use crate::signals::shutdown_signal;
pub use export::AppOutputs;
pub use instances::AppRequest;

/// What a driver that insists on TLS is told.
const TLS_REFUSED: &str = "the application's database driver insists on TLS (sslmode require or \
     stricter), which counter's proxy on loopback does not speak: set its sslmode to disable \
     or prefer";

/// An application exploration, as the command line configured it.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub request: AppRequest,
    /// How to start the application (a shell command), if counter starts it.
    pub command: Option<String>,
    /// A shell command run once, told the proxy's address, before the application is first
    /// started (its migrations).
    pub setup: Option<String>,
    /// A path that answers 2xx once the application can serve (`/health`).
    pub ready: Option<String>,
    /// SQL run on the database (not through the proxy) before each schedule.
    pub before: Option<String>,
    /// SQL answering one integer: the value each request that succeeds adds one to.
    pub value: String,
    /// The database's URL as given (None: a throwaway cluster).
    pub database_url: Option<String>,
    pub location: Option<Location>,
    /// The levels to explore, one after the other: every connection starts at the level
    /// (None leaves the application's own).
    pub levels: Vec<Option<Isolation>>,
    pub listen: SocketAddr,
    pub sessions: usize,
    pub max_switches: Option<u32>,
    pub max_schedules: u64,
    pub lock_timeout: Duration,
    /// The forms to write the cells in, besides the transcripts printed.
    pub outputs: AppOutputs,
    /// Requests of a race at each level, after its schedules (None: no race).
    pub race: Option<usize>,
}

pub async fn run(config: AppConfig) -> anyhow::Result<u8> {
    if config.levels.len() > 1 && config.command.is_none() {
        anyhow::bail!(
            "several levels need --command: counter restarts the application at each level, so \
             that every connection it opens starts at that level"
        );
    }
    // Watched from the start: Ctrl-C stops the application (its own process group does not
    // hear the terminal's signal), the proxy and a throwaway database on its way out.
    let mut shutdown = Box::pin(shutdown_signal());
    let started = engines::bind_and_provision(
        config.listen,
        config.location.clone(),
        Durability::NoFsync,
        &mut shutdown,
    );
    let Some((listener, mut provisioned)) = started.await? else {
        return Ok(130);
    };
    let result = tokio::select! {
        result = explore_levels(&config, listener, &provisioned) => result,
        () = &mut shutdown => {
            eprintln!("interrupted: the application, the proxy and the database are stopped");
            Ok(130)
        }
    };
    provisioned.shutdown();
    result
}

/// Each level in turn, with a proxy and an application of its own; a summary when there are
/// several.
async fn explore_levels(
    config: &AppConfig,
    listener: TcpListener,
    provisioned: &engines::Provisioned,
) -> anyhow::Result<u8> {
    let Location::Postgres { options, .. } = &provisioned.location else {
        anyhow::bail!("counter app speaks PostgreSQL's protocol: give a postgres:// URL");
    };
    let password = match (&provisioned.throwaway, &config.database_url) {
        (Some(Throwaway::Postgres(cluster)), _) => Some(cluster.password().to_string()),
        (_, Some(url)) => launch::password_in(url),
        _ => None,
    };
    // The address bound first is the one every level binds again (a port 0 given is chosen
    // once) and the one the application is told.
    let listen = listener.local_addr()?;
    let env = launch::environment(options, listen.port(), password.as_deref());
    let started = std::time::Instant::now();
    let server_version = server_version(options).await;
    let mut listener = Some(listener);
    let mut cells = Vec::new();
    let mut races = Vec::new();
    for (n, &level) in config.levels.iter().enumerate() {
        let listener = match listener.take() {
            Some(listener) => listener,
            None => TcpListener::bind(listen)
                .await
                .with_context(|| format!("could not listen on {listen} again"))?,
        };
        // The set-up runs once, through the first level's proxy.
        let setup = config.setup.as_deref().filter(|_| n == 0);
        let app = explore_app(config, level, listener, options, &env, setup).await?;
        print!("{}", print::report(config, level, &app));
        if config.levels.len() > 1 {
            println!();
        }
        races.push(app.race);
        cells.push(app.cell);
    }
    if cells.len() > 1 || races.iter().any(Option::is_some) {
        print!("{}", print::summary(config, &config.levels, &cells, &races));
    }
    if config.outputs.markdown {
        print!("\n{}", export::markdown(&config.levels, &cells));
    }
    let all_exact = cells.iter().all(|cell| cell.verdict.symbol() == "+")
        && races
            .iter()
            .flatten()
            .all(|race| race.verdict().symbol() == "+");
    let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    let result = export::result_of(config, cells, server_version, wall_ms);
    print!("{}", export::write(config, &config.levels, &result)?);
    Ok(if all_exact { 0 } else { 1 })
}

/// The server's version, as a result records it ("unknown" if it cannot be read).
async fn server_version(options: &PgConnectOptions) -> String {
    let Ok(mut direct) = options.connect().await else {
        return "unknown".to_string();
    };
    let version = sqlx::query_scalar::<_, String>("SHOW server_version")
        .fetch_one(&mut direct)
        .await;
    let _ = direct.close().await;
    version.unwrap_or_else(|_| "unknown".to_string())
}

/// One level: the proxy, the application started behind it (if counter starts it), the
/// exploration, and the cell it proves.
async fn explore_app(
    config: &AppConfig,
    level: Option<Isolation>,
    listener: TcpListener,
    options: &PgConnectOptions,
    env: &[(String, String)],
    setup: Option<&str>,
) -> anyhow::Result<AppCell> {
    let hooks = Arc::new(hooks::AppHooks::default());
    let proxy_options = ProxyOptions {
        listener,
        setting: ProxyOptions::level_setting(level),
        hooks: Arc::clone(&hooks) as Arc<dyn Hooks>,
    };
    let proxy = Proxy::start(Target::of(options), proxy_options).await?;
    if let Some(setup) = setup {
        // A set-up whose driver insists on TLS: say so, not only its traceback.
        launch::run_setup(setup, env)
            .await
            .map_err(|err| match hooks.refused_tls_seen() {
                true => anyhow::anyhow!("{TLS_REFUSED}"),
                false => err,
            })?;
    }
    let application = match &config.command {
        Some(command) => {
            let authority = config.request.endpoint.authority.clone();
            let (command, ready, env) = (command.clone(), config.ready.clone(), env.to_vec());
            let started = tokio::task::spawn_blocking(move || {
                launch::Application::start(&command, &env, &authority, ready.as_deref())
            });
            // An application that could not start because its driver insists on TLS: say so.
            let started = started
                .await?
                .map_err(|err| match hooks.refused_tls_seen() {
                    true => anyhow::anyhow!("{TLS_REFUSED}"),
                    false => err,
                })?;
            Some(Arc::new(std::sync::Mutex::new(started)))
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
        application: application.clone(),
        answered_once: false,
    };
    let stop = AtomicBool::new(false);
    let bounds = Bounds {
        max_switches: config.max_switches,
        max_schedules: config.max_schedules,
        stop: &stop,
        keep_all: false,
    };
    let started = std::time::Instant::now();
    let explored = explore(&mut instances, &bounds)
        .await
        .map_err(|failure| anyhow::anyhow!("{}", failure.detail))?;
    // A schedule whose replay did not follow its choices is left out: no proof then.
    let cut = explored.cut_by_switches
        + explored.cut_by_cap
        + explored.cut_by_stall
        + explored.diverged.len() as u64;
    let Some((mut verdict, worst)) = cell_verdict(&explored.classes, cut) else {
        anyhow::bail!("no schedule ran");
    };
    // A write in autocommit that the proxy cannot run as BEGIN, the write, COMMIT (`CALL`,
    // `VACUUM`, anything unknown: `effect::splits_in_autocommit`) is one step here: its
    // commit cannot interleave with another request's statements, so schedules where it
    // would are not run. Every schedule exact is then no proof; a schedule that broke the
    // invariant is still a counterexample.
    let unsplit = instances.autocommit_write.clone();
    if unsplit.is_some() && verdict == Verdict::Exact {
        verdict = Verdict::NotProven;
    }
    // The race, with the application and the proxy as the schedules had them (no gates).
    let race = match config.race {
        Some(requests) => Some(race::race(&mut instances, requests).await?),
        None => None,
    };
    // The last hold on the application: dropping it stops it.
    instances.application = None;
    drop(application);
    proxy.stop().await;
    let cell = ScheduleCell {
        race: race.as_ref().map(race::Race::cell_race),
        isolation: level.unwrap_or(Isolation::ReadCommitted),
        method: 0,
        method_name: "application".to_string(),
        start: StartState::Exists,
        sessions: config.sessions as u32,
        verdict,
        worst,
        classes: explored.classes.clone(),
        cut_by_switches: explored.cut_by_switches,
        cut_by_cap: explored.cut_by_cap,
        cut_by_stall: explored.cut_by_stall,
        diverged: explored.diverged.clone(),
        schedules: explored.schedules.clone(),
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
    };
    Ok(AppCell {
        cell,
        unsplit,
        race,
    })
}

/// A level's cell, and the autocommit write the proxy could not split, if one was sent.
struct AppCell {
    cell: ScheduleCell,
    unsplit: Option<String>,
    /// The race at the level, when one was asked for (`--race`).
    race: Option<race::Race>,
}
