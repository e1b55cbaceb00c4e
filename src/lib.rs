//! `counter`: which locking method survives which isolation level when many requests hit the
//! same row at once. README.md says how to use it, ARCHITECTURE.md how it is built.
//!
//! The layers, top to bottom (each imports only from layers below it; `tests/it/house.rs`
//! checks it): `cli` -> `proxy` -> `matrix` -> `schedules` -> `server` -> `hammer` -> `report` ->
//! `engines` -> `methods` -> `api` -> (`signals`, `model`). `model` is the shared vocabulary
//! and imports nothing of ours.

pub mod api;
pub mod cli;
pub mod engines;
pub mod hammer;
pub mod matrix;
pub mod methods;
pub mod model;
pub mod proxy;
pub mod report;
pub mod schedules;
pub mod server;
pub mod signals;

use cli::{Cli, Command};

/// Logs go to stderr, `RUST_LOG` overrides the default (info; sqlx's per-statement and
/// slow-statement lines are left out: under deliberate lock contention they are noise).
pub fn init_logging() {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx::query=error,sqlx::postgres::notice=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // A closed stderr must not take the server down (the default reports write errors
        // with eprintln!, which panics when stderr is gone).
        .log_internal_errors(false)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .try_init();
}

/// Thousands of concurrent requests need thousands of sockets: lifts the soft limit on open
/// files to the hard limit (what the administrator allows), as servers and load tools do, and
/// returns the limit now in force.
pub fn raise_open_file_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
    }
    limit.rlim_cur
}

/// Runs one command and returns the process exit code. Errors are printed here, once, as one
/// line (plus the server log's tail where there is one).
pub async fn run(cli: Cli) -> u8 {
    let result = match cli.command {
        Command::Serve(args) => match args.into_config() {
            Ok(config) => server::command::run(config).await,
            Err(err) => Err(err),
        },
        Command::Hammer(args) => match args.into_command() {
            Ok(command) => hammer::command::run(command).await,
            Err(err) => Err(err.into()),
        },
        Command::Matrix(args) => match args.into_command() {
            Ok(command) => matrix::command::run(command).await,
            Err(err) => Err(err),
        },
        Command::Explain(args) => match args.into_command() {
            Ok(command) => schedules::explain::run(command).await,
            Err(err) => Err(err),
        },
        Command::Schedules(args) => match args.into_command() {
            Ok(command) => schedules::command::run(command).await,
            Err(err) => Err(err),
        },
        Command::Proxy(args) => match args.into_config() {
            Ok(config) => proxy::run(config).await,
            Err(err) => Err(err),
        },
        Command::App(args) => match args.into_config() {
            Ok(config) => schedules::app::run(config).await,
            Err(err) => Err(err),
        },
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            2
        }
    }
}
