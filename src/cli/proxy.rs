//! `counter proxy`'s command line.

use std::net::SocketAddr;

use clap::Args;

use super::env;
use super::parse::parse_isolation;
use crate::model::{Engine, Isolation};
use crate::proxy::ProxyConfig;

#[derive(Debug, Clone, Args)]
pub struct ProxyArgs {
    /// Address the proxy listens on; point the application's database host and port here.
    #[arg(long, env = "COUNTER_PROXY_LISTEN", default_value = "127.0.0.1:6433")]
    pub listen: SocketAddr,

    /// The level every connection through the proxy starts at (put into its start-up
    /// options), or `app` to leave the application's own. A level the application sets
    /// itself still wins, and its statement is printed.
    #[arg(long, default_value = "app", value_parser = parse_level_or_app)]
    pub isolation: LevelChoice,

    /// The database: postgres://user:password@host:port/db (default: a throwaway cluster).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Print nothing per step (the proxy only relays).
    #[arg(long)]
    pub quiet: bool,
}

/// A level, or the application's own (None), or every level (`all`, for `counter app`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelChoice {
    One(Option<Isolation>),
    All,
}

pub(super) fn parse_level_or_app(text: &str) -> Result<LevelChoice, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "app" => Ok(LevelChoice::One(None)),
        "all" => Ok(LevelChoice::All),
        _ => parse_isolation(text).map(|level| LevelChoice::One(Some(level))),
    }
}

impl ProxyArgs {
    pub fn into_config(self) -> anyhow::Result<ProxyConfig> {
        let location = env::location(Engine::Postgres, self.database_url.as_deref())?;
        Ok(ProxyConfig {
            listen: self.listen,
            location,
            isolation: match self.isolation {
                LevelChoice::One(level) => level,
                LevelChoice::All => {
                    anyhow::bail!("--isolation all: the proxy starts connections at one level")
                }
            },
            quiet: self.quiet,
        })
    }
}
