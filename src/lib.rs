//! `counter`: which locking method survives which isolation level when many requests hit the
//! same row at once. See DESIGN.md for the study and README.md for usage.
//!
//! Data flows one way: cli -> config -> (db, server) -> hammer -> outcome -> report.

pub mod cli;
pub mod config;
pub mod db;
pub mod engine;
pub mod hammer;
pub mod matrix;
pub mod methods;
pub mod report;
pub mod server;

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

/// Runs one command and returns the process exit code. Errors are printed here, once, as one
/// line (plus the cluster log's tail where there is one).
pub async fn run(cli: Cli) -> u8 {
    let result = match cli.command {
        Command::Serve(args) => server::command::run(args).await,
        Command::Hammer(args) => hammer::command::run(args).await,
        Command::Matrix(args) => matrix::command::run(args).await,
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            2
        }
    }
}
