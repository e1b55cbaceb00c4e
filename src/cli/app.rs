//! `counter app`'s command line.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use hyper::Method;
use hyper::body::Bytes;

use super::env;
use super::outputs::{ReplayOutputs, TableOutputs};
use super::proxy::{LevelChoice, parse_level_or_app};
use crate::hammer::http::Endpoint;
use crate::model::{Engine, Isolation};
use crate::schedules::app::{AppConfig, AppOutputs, AppRequest};

#[derive(Debug, Clone, Args)]
pub struct AppArgs {
    /// The request each instance sends: `POST http://127.0.0.1:8000/api/v1/endpoint/counter/2/`
    /// (the method may be left out: GET).
    #[arg(long)]
    pub request: String,

    /// A header the request carries, `Name: value` (repeat for more).
    #[arg(long = "header", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,

    /// The request's body, as given (with --header "Content-Type: ..." as it needs).
    #[arg(long)]
    pub body: Option<String>,

    /// SQL answering one integer: the value every successful request must raise by exactly
    /// one (read on the database, not through the proxy, before and after each schedule).
    #[arg(long)]
    pub value: String,

    /// SQL run on the database before each schedule (the starting state), e.g.
    /// `DELETE FROM counter_counter WHERE id = 2`.
    #[arg(long)]
    pub before: Option<String>,

    /// How to start the application (a shell command); it is told the proxy's address in
    /// DATABASE_URL, PGHOST/PGPORT (and PGUSER, PGPASSWORD, PGDATABASE) and POSTGRES_HOST/
    /// POSTGRES_PORT, is ready once the request's host accepts connections, and is stopped at
    /// the end. Without it, start the application yourself, pointed at --listen.
    #[arg(long)]
    pub command: Option<String>,

    /// A shell command run once before the application is first started, told the proxy's
    /// address as the application is (its migrations: `python manage.py migrate`).
    #[arg(long)]
    pub setup: Option<String>,

    /// A path of the application that answers 2xx once it can serve (`/health`): with
    /// --command, the exploration waits for it (otherwise for the port, then for 2 s without
    /// a statement through the proxy).
    #[arg(long)]
    pub ready: Option<String>,

    /// The levels to explore (comma-separated, or `all`): every connection starts at the
    /// level (put into its start-up options); `app` leaves the application's own. With
    /// several, counter restarts the application (--command) at each.
    #[arg(long, value_delimiter = ',', default_value = "app", value_parser = parse_level_or_app)]
    pub isolation: Vec<LevelChoice>,

    /// The database: postgres://user:password@host:port/db (default: a throwaway cluster).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Where the proxy listens (the application's database host and port).
    #[arg(long, default_value = "127.0.0.1:6433")]
    pub listen: SocketAddr,

    /// Requests in each schedule: 2, or 3 (bounded by --max-switches, 2 by default then).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(2..=3))]
    pub sessions: u32,

    /// The most switches away from a request that could have gone on.
    #[arg(long)]
    pub max_switches: Option<u32>,

    /// The most schedules.
    #[arg(long, default_value_t = 2_000)]
    pub max_schedules: u64,

    /// How long a statement may wait for a lock before the schedule is called stuck (ms).
    #[arg(long, default_value_t = 5_000)]
    pub lock_timeout_ms: u64,

    /// After each level's schedules, race this many requests at once against the application
    /// through the proxy (no gates: the original study's experiment; 100 when no number is
    /// given), and print both verdicts side by side.
    #[arg(long, num_args = 0..=1, default_missing_value = "100", value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub race: Option<u32>,

    #[command(flatten)]
    pub tables: TableOutputs,

    #[command(flatten)]
    pub replays: ReplayOutputs,
}

impl AppArgs {
    pub fn into_config(self) -> anyhow::Result<AppConfig> {
        self.tables.check()?;
        self.replays.check()?;
        let location = env::location(Engine::Postgres, self.database_url.as_deref())?;
        let max_switches = match (self.max_switches, self.sessions) {
            (None, 3) => Some(2),
            (given, _) => given,
        };
        Ok(AppConfig {
            request: AppRequest {
                headers: self.headers,
                body: Bytes::from(self.body.unwrap_or_default()),
                ..parse_request(&self.request)?
            },
            command: self.command,
            setup: self.setup,
            ready: self.ready,
            before: self.before,
            value: self.value,
            database_url: self.database_url,
            location,
            levels: levels(&self.isolation),
            listen: self.listen,
            sessions: self.sessions as usize,
            max_switches,
            max_schedules: self.max_schedules,
            lock_timeout: Duration::from_millis(self.lock_timeout_ms),
            race: self.race.map(|n| n as usize),
            outputs: AppOutputs {
                json: self.tables.json,
                csv: self.tables.csv,
                spec: self.replays.spec,
                svg: self.replays.svg,
                psql: self.replays.psql,
                markdown: self.tables.markdown,
            },
        })
    }
}

/// The levels asked, `all` (parsed as every level at once) spread, repeats dropped.
fn levels(choices: &[LevelChoice]) -> Vec<Option<Isolation>> {
    let mut levels = Vec::new();
    for choice in choices {
        let spread = match choice {
            LevelChoice::All => Isolation::ALL.map(Some).to_vec(),
            LevelChoice::One(level) => vec![*level],
        };
        for level in spread {
            if !levels.contains(&level) {
                levels.push(level);
            }
        }
    }
    levels
}

/// `[METHOD] http://host:port/path`.
fn parse_request(text: &str) -> anyhow::Result<AppRequest> {
    let (method, url) = match text.trim().split_once(' ') {
        Some((method, url)) => (method.trim(), url.trim()),
        None => ("GET", text.trim()),
    };
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| anyhow::anyhow!("--request: {method:?} is not an HTTP method"))?;
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        anyhow::anyhow!("--request: {url:?} is not an http:// URL (https is not supported)")
    })?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || !authority.contains(':') {
        anyhow::bail!("--request: give the host with its port ({url:?})");
    }
    Ok(AppRequest {
        method,
        endpoint: Endpoint {
            authority: authority.to_string(),
        },
        path: path.to_string(),
        headers: Vec::new(),
        body: Bytes::new(),
    })
}

/// `Name: value`, a header the request carries.
fn parse_header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not `Name: value`"))?;
    let (name, value) = (name.trim(), value.trim());
    let valid_name = hyper::header::HeaderName::from_bytes(name.as_bytes()).is_ok();
    let valid_value = hyper::header::HeaderValue::from_str(value).is_ok();
    if !valid_name || !valid_value {
        return Err(format!("{text:?} is not a valid HTTP header"));
    }
    if name.eq_ignore_ascii_case("host") || name.eq_ignore_ascii_case("content-length") {
        return Err(format!("{name} is counter's to send"));
    }
    Ok((name.to_string(), value.to_string()))
}
