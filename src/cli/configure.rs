//! The flags turned into each verb's typed configuration: defaults filled in, repeats dropped,
//! the database located. Clap has already checked every number's range.

use std::sync::Arc;
use std::time::Duration;

use super::{BehaviourArgs, EngineChoice, HammerArgs, MatrixArgs, MethodChoice, ServeArgs, env};
use crate::engines::{self, Durability, Location, OpenOptions};
use crate::hammer::command::HammerCommand;
use crate::hammer::{HammerConfig, HammerError, Target};
use crate::matrix::MatrixConfig;
use crate::matrix::command::{MatrixCommand, Outputs};
use crate::methods::script::Script;
use crate::model::method::{ORIGINAL, REGISTRY};
use crate::model::{Cluster, Engine, Fault, Isolation, MethodId};
use crate::server::command::ServeConfig;

impl ServeArgs {
    pub fn into_config(self) -> anyhow::Result<ServeConfig> {
        let url = self.database.database_url.as_deref();
        let mut location = env::location(self.engine, url)?;
        self.database
            .galera
            .existing(&[self.engine], &mut location)?;
        let pooler = self
            .database
            .pooler(&[self.engine], &mut location, self.pool_size)?;
        let cluster = self.database.cluster(&[self.engine], location.is_some())?;
        self.database.follow(&mut location)?;
        self.database.scripts(&mut location)?;
        let behaviour = &self.behaviour;
        behaviour.check(&[(self.engine, location.is_some())])?;
        Ok(ServeConfig {
            bind: self.bind,
            engine: self.engine,
            location,
            open: OpenOptions {
                isolation: self.isolation,
                scope: behaviour.isolation_scope,
                pool_size: self.pool_size,
                think: Duration::from_millis(behaviour.think_ms),
                durability: behaviour.durability(),
                engine_options: behaviour.engine_options.clone(),
                shards: behaviour.shards,
                script: behaviour.script()?,
                waits: None,
                statement_timeout: behaviour.statement_timeout(),
            },
            max_in_flight: self.max_in_flight,
            retry: behaviour.retry,
            pooler,
            cluster,
        })
    }
}

impl BehaviourArgs {
    /// The custom method's script, read and parsed: a bad one stops the run here, before any
    /// database is started (one line: file, line, why).
    fn script(&self) -> anyhow::Result<Option<Arc<Script>>> {
        let Some(path) = &self.method_file else {
            return Ok(None);
        };
        Ok(Some(Arc::new(Script::load(path)?)))
    }

    fn durability(&self) -> Durability {
        if self.no_fsync {
            Durability::NoFsync
        } else {
            Durability::Durable
        }
    }

    /// What cannot be combined: `--no-fsync` with a database counter did not start, and an
    /// engine option with a run that has none of its engine. `engines` are the run's engines,
    /// each with whether its database is configured.
    fn check(&self, engines: &[(Engine, bool)]) -> anyhow::Result<()> {
        if self.no_fsync && engines.iter().any(|&(_, configured)| configured) {
            anyhow::bail!(
                "--no-fsync applies to the throwaway database counter starts, not to a configured one"
            );
        }
        for option in &self.engine_options {
            if !engines.iter().any(|&(engine, _)| engine == option.engine()) {
                anyhow::bail!(
                    "--engine-option {} applies to --engine {}",
                    option.name(),
                    option.engine().name()
                );
            }
        }
        Ok(())
    }
}

/// `--levels` as given (without repeats), or every level.
pub(super) fn chosen_levels(levels: &[Isolation]) -> Vec<Isolation> {
    match levels.is_empty() {
        true => Isolation::ALL.to_vec(),
        false => distinct(levels.iter().copied()),
    }
}

/// `--methods` as given (without repeats, `all` expanded, with the script's method 12 when
/// there is a script), or the original's three; alone, a script runs its own row only.
pub(super) fn chosen_methods(
    choices: &[MethodChoice],
    has_script: bool,
) -> anyhow::Result<Vec<MethodId>> {
    let mut methods = match (choices.is_empty(), has_script) {
        (true, true) => vec![MethodId::Custom],
        (true, false) => ORIGINAL.to_vec(),
        (false, _) => distinct(choices.iter().flat_map(|choice| match choice {
            MethodChoice::One(method) => vec![*method],
            MethodChoice::All => REGISTRY.to_vec(),
        })),
    };
    let all = choices.contains(&MethodChoice::All);
    if all && has_script && !methods.contains(&MethodId::Custom) {
        methods.push(MethodId::Custom);
    }
    if methods.contains(&MethodId::Custom) && !has_script {
        anyhow::bail!("method 12 (custom) runs the script given with --method-file FILE");
    }
    Ok(methods)
}

/// `items` without repeats, in first-seen order (`--methods 1,2,1` runs 1 and 2).
pub(super) fn distinct<T: PartialEq + Copy>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut seen = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

/// The hammer's per-request timeout unless `--timeout` says otherwise.
const DEFAULT_HAMMER_TIMEOUT: Duration = Duration::from_secs(10);

impl HammerArgs {
    pub fn into_command(self) -> Result<HammerCommand, HammerError> {
        let output = [("--output", self.output.as_deref())];
        crate::report::files::check_all(output).map_err(HammerError::Usage)?;
        let mut targets = self
            .domain
            .iter()
            .map(|d| Target::parse(d))
            .collect::<Result<Vec<_>, _>>()?;
        // --timeout bounds every call, the hammer's own included.
        let timeout = self.timeout.unwrap_or(DEFAULT_HAMMER_TIMEOUT);
        for target in &mut targets {
            target.deadline = timeout;
        }
        let mut config = HammerConfig::new(targets, self.method, self.load.requests(false));
        config.concurrency = self.load.concurrency(false);
        config.reset = self.reset;
        config.verb = self.http_method;
        config.path = self.path;
        config.timeout = timeout;
        config.follow_server_deadline = self.timeout.is_none();
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
        crate::report::files::check_all([
            ("--csv", self.csv.as_deref()),
            ("--json", self.json.as_deref()),
            ("--html", self.html.as_deref()),
            ("--svg", self.svg.as_deref()),
        ])
        .map_err(anyhow::Error::msg)?;
        let levels = chosen_levels(&self.levels);
        let script = self.behaviour.script()?;
        let methods = chosen_methods(&self.methods, script.is_some())?;
        let mut engines = self.engines()?;
        let engine_list: Vec<Engine> = engines.iter().map(|(engine, _)| *engine).collect();
        match engines.as_mut_slice() {
            [(_, location)] => self.database.galera.existing(&engine_list, location)?,
            _ => self.database.galera.existing(&engine_list, &mut None)?,
        }
        let pool_size = self.pool_size * self.replicas;
        let pooler = match engines.as_mut_slice() {
            [(_, location)] => self.database.pooler(&engine_list, location, pool_size)?,
            _ => self.database.pooler(&engine_list, &mut None, pool_size)?,
        };
        let configured = engines.iter().any(|(_, location)| location.is_some());
        let cluster = self.database.cluster(&engine_list, configured)?;
        match engines.as_mut_slice() {
            [(_, location)] => {
                self.database.follow(location)?;
                self.database.scripts(location)?;
            }
            _ => {
                self.database.follow(&mut None)?;
                self.database.scripts(&mut None)?;
            }
        }
        match (self.fault, cluster) {
            (None, _) | (Some(_), Some(Cluster::Ha(_))) => {}
            (Some(Fault::NodeCrash), Some(Cluster::Galera(_))) => {}
            (Some(fault), Some(Cluster::Galera(_))) => anyhow::bail!(
                "--fault {fault} is a fault of Patroni's cluster; on --topology galera the fault is node-crash"
            ),
            (Some(_), None) => anyhow::bail!(
                "--fault is injected into a cluster: add --topology ha (or galera, for node-crash)"
            ),
        }
        let configured: Vec<(Engine, bool)> = engines
            .iter()
            .map(|(engine, location)| (*engine, location.is_some()))
            .collect();
        self.behaviour.check(&configured)?;
        let config = MatrixConfig {
            levels,
            methods,
            requests: self.load.requests(self.fault.is_some()),
            concurrency: self.load.concurrency(self.fault.is_some()),
            fault: self.fault,
            pool_size: self.pool_size,
            trials: self.trials,
            replicas: self.replicas,
            retry: self.behaviour.retry,
            think_ms: self.behaviour.think_ms,
            scope: self.behaviour.isolation_scope,
            durability: self.behaviour.durability(),
            engine_options: self.behaviour.engine_options.clone(),
            shards: self.behaviour.shards,
            statement_timeout: self.behaviour.statement_timeout(),
            script,
            script_may_be_refused: engines.len() > 1,
            engine: Engine::Postgres,
        };
        Ok(MatrixCommand {
            config,
            engines,
            outputs: Outputs {
                csv: self.csv,
                json: self.json,
                html: self.html,
                svg: self.svg,
                markdown: self.markdown,
            },
            quiet: self.quiet,
            pooler,
            cluster,
            schedules: self.schedules,
        })
    }

    fn engines(&self) -> anyhow::Result<Vec<(Engine, Option<Location>)>> {
        chosen_engines(&self.engines, self.database.database_url.as_deref())
    }
}

/// The engines to run, in order, without repeats, each with its configured database; `all`
/// means every engine this machine can start (or has a URL for).
pub(super) fn chosen_engines(
    choices: &[EngineChoice],
    url: Option<&str>,
) -> anyhow::Result<Vec<(Engine, Option<Location>)>> {
    let mut chosen = Vec::new();
    for choice in choices {
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
