//! The flags turned into each verb's typed configuration: defaults filled in, repeats dropped,
//! the database located. Clap has already checked every number's range.

use std::time::Duration;

use super::{EngineChoice, HammerArgs, MatrixArgs, ServeArgs, env};
use crate::engines::{self, Location};
use crate::hammer::command::HammerCommand;
use crate::hammer::{HammerConfig, HammerError, Target};
use crate::matrix::MatrixConfig;
use crate::matrix::command::{MatrixCommand, Outputs};
use crate::model::method::ORIGINAL;
use crate::model::{Engine, Isolation};
use crate::server::command::ServeConfig;

impl ServeArgs {
    pub fn into_config(self) -> anyhow::Result<ServeConfig> {
        let url = self.database.database_url.as_deref();
        Ok(ServeConfig {
            bind: self.bind,
            engine: self.engine,
            location: env::location(self.engine, url)?,
            isolation: self.isolation,
            pool_size: self.pool_size,
            max_in_flight: self.max_in_flight,
            retry: self.behaviour.retry,
            think: Duration::from_millis(self.behaviour.think_ms),
        })
    }
}

impl HammerArgs {
    pub fn into_command(self) -> Result<HammerCommand, HammerError> {
        let targets = self
            .domain
            .iter()
            .map(|d| Target::parse(d))
            .collect::<Result<Vec<_>, _>>()?;
        let mut config = HammerConfig::new(targets, self.method, self.load.requests);
        config.concurrency = self.load.concurrency();
        config.reset = self.reset;
        config.verb = self.http_method;
        config.path = self.path;
        config.timeout = self.timeout;
        Ok(HammerCommand {
            config,
            format: self.format,
            output: self.output,
            quiet: self.quiet,
        })
    }
}

impl MatrixArgs {
    pub fn into_command(self) -> anyhow::Result<MatrixCommand> {
        let mut levels = Vec::new();
        let chosen = if self.levels.is_empty() {
            Isolation::ALL.to_vec()
        } else {
            self.levels.clone()
        };
        for level in chosen {
            if !levels.contains(&level) {
                levels.push(level);
            }
        }
        let mut methods = Vec::new();
        let chosen = if self.methods.is_empty() {
            ORIGINAL.to_vec()
        } else {
            self.methods.clone()
        };
        for method in chosen {
            if !methods.contains(&method) {
                methods.push(method);
            }
        }
        let config = MatrixConfig {
            levels,
            methods,
            requests: self.load.requests,
            concurrency: self.load.concurrency(),
            pool_size: self.pool_size,
            trials: self.trials,
            replicas: self.replicas,
            retry: self.behaviour.retry,
            think_ms: self.behaviour.think_ms,
            engine: Engine::Postgres,
        };
        Ok(MatrixCommand {
            config,
            engines: self.engines()?,
            outputs: Outputs {
                csv: self.csv,
                json: self.json,
                html: self.html,
                svg: self.svg,
                markdown: self.markdown,
            },
            quiet: self.quiet,
        })
    }

    /// The engines to run, in order, without repeats, each with its configured database;
    /// `all` means every engine this machine can start (or has a URL for).
    fn engines(&self) -> anyhow::Result<Vec<(Engine, Option<Location>)>> {
        let url = self.database.database_url.as_deref();
        let mut chosen = Vec::new();
        for choice in &self.engines {
            let (wanted, all): (&[Engine], bool) = match choice {
                EngineChoice::One(engine) => (std::slice::from_ref(engine), false),
                EngineChoice::All => (&Engine::STARTABLE, true),
            };
            for &engine in wanted {
                if chosen.iter().any(|(e, _)| *e == engine) {
                    continue;
                }
                let url = if all {
                    url.filter(|u| env::url_fits(engine, u))
                } else {
                    url
                };
                let location = env::location(engine, url)?;
                if all && location.is_none() && !engines::can_start(engine) {
                    eprintln!(
                        "note: {} is not available here (no server binaries); skipped",
                        engine.name()
                    );
                    continue;
                }
                chosen.push((engine, location));
            }
        }
        Ok(chosen)
    }
}
