//! A schedule in forms a reader can replay without counter: a PostgreSQL isolation-tester spec
//! (`src/test/isolation` in PostgreSQL's sources: `setup`, `teardown`, a `session` per instance
//! with its `step`s, one `permutation` per schedule), and terminal scripts to paste into two
//! psql (or mariadb) windows, each statement numbered in the order to run it.

use crate::model::schedule::StartState;
use crate::model::schedule_results::{ScheduleCell, ScheduleRecord};
use crate::model::{Engine, Isolation, IsolationScope};

use crate::model::migrations::MIGRATIONS;

/// What a replay needs to know about the cell.
pub struct Replay<'a> {
    pub engine: Engine,
    pub cell: &'a ScheduleCell,
    pub scope: IsolationScope,
    pub sessions: u32,
    pub origin: Origin<'a>,
}

/// Whose statements the schedules are.
pub enum Origin<'a> {
    /// counter's own methods, on counter's tables.
    Methods,
    /// An application's (`counter app`): on its own tables, put in their starting state by
    /// `before`; `level` is what every connection started at (None: the application's own).
    Application {
        before: Option<&'a str>,
        level: Option<Isolation>,
    },
}

impl Replay<'_> {
    /// The statements that put the row in the cell's starting state.
    fn starting_state(&self) -> Vec<String> {
        if let Origin::Application { before, .. } = self.origin {
            return before
                .map(|sql| vec![sql.trim().trim_end_matches(';').to_string()])
                .unwrap_or_default();
        }
        let id = self.cell.method;
        let mut statements = vec![
            format!("DELETE FROM counter WHERE id = {id}"),
            format!("DELETE FROM counter_shard WHERE id = {id}"),
            format!("DELETE FROM counter_ledger WHERE id = {id}"),
        ];
        if self.cell.start == StartState::Exists {
            statements.push(format!("INSERT INTO counter (id, count) VALUES ({id}, 0)"));
        }
        statements
    }

    /// What each session runs first, in its engine's words: the level for every statement,
    /// in the session scope. SQLite has nothing to set: it runs every transaction
    /// serializable.
    fn session_setup(&self) -> Option<String> {
        if self.scope == IsolationScope::Transaction {
            return None;
        }
        let level = match self.origin {
            Origin::Methods => self.cell.isolation.sql_name(),
            Origin::Application { level, .. } => level?.sql_name(),
        };
        match self.engine {
            Engine::Mariadb => Some(format!(
                "SET SESSION TRANSACTION ISOLATION LEVEL {}",
                level.to_uppercase()
            )),
            Engine::Sqlite => None,
            Engine::Postgres | Engine::Cockroach | Engine::Yugabyte => {
                Some(format!("SET default_transaction_isolation = '{level}'"))
            }
        }
    }

    /// The schedules as one isolation-tester spec: steps named `s<session>_<schedule>_<n>`,
    /// one permutation line per schedule.
    pub fn isolation_spec(&self, schedules: &[&ScheduleRecord]) -> String {
        let cell = self.cell;
        let mut out = match self.origin {
            Origin::Methods => format!(
                "# counter explain: method {} ({}) at {}, row {} before each schedule.\n\
                 # Run with PostgreSQL's isolation tester (src/test/isolation): one permutation per\n\
                 # schedule, one step per statement as counter sent it, values written in.\n\n",
                cell.method,
                cell.method_name,
                level_words(cell.isolation),
                cell.start.as_str()
            ),
            Origin::Application { level, .. } => format!(
                "# counter app: an application's requests at {}, each step a statement as the\n\
                 # application sent it through counter's proxy (values written in; the proxy's own\n\
                 # BEGIN and COMMIT around an autocommit write marked so).\n\
                 # Run with PostgreSQL's isolation tester (src/test/isolation) on a database with\n\
                 # the application's tables (its migrations): setup is counter app's --before.\n\n",
                level.map_or("the application's own level", |l| l.sql_name()),
            ),
        };
        out.push_str("setup\n{\n");
        let migrations = match self.origin {
            Origin::Methods => &MIGRATIONS[..],
            Origin::Application { .. } => &[],
        };
        for (_, _, migration) in migrations {
            for line in migration
                .lines()
                .filter(|l| !l.trim_start().starts_with("--"))
            {
                if !line.trim().is_empty() {
                    out.push_str(&format!("  {line}\n"));
                }
            }
        }
        for statement in self.starting_state() {
            out.push_str(&format!("  {statement};\n"));
        }
        match self.origin {
            Origin::Methods => out.push_str(
                "}\n\nteardown\n{\n  DROP TABLE counter, counter_shard, counter_ledger;\n}\n",
            ),
            Origin::Application { .. } => out.push_str("}\n"),
        }
        for session in 1..=self.sessions {
            out.push_str(&format!("\nsession s{session}\n"));
            if let Some(setup) = self.session_setup() {
                out.push_str(&format!("setup {{ {setup}; }}\n"));
            }
            for (number, schedule) in schedules.iter().enumerate() {
                let steps = schedule.steps.iter().filter(|s| s.session == session);
                for (n, step) in steps.enumerate() {
                    out.push_str(&format!(
                        "step s{session}_{}_{} {{ {}; }}\n",
                        number + 1,
                        n + 1,
                        step.sql
                    ));
                }
            }
        }
        out.push('\n');
        for (number, schedule) in schedules.iter().enumerate() {
            out.push_str(&format!(
                "# {}: {}\npermutation",
                schedule.class, schedule.summary
            ));
            let mut counters = vec![0usize; self.sessions as usize];
            for step in &schedule.steps {
                let n = &mut counters[step.session as usize - 1];
                *n += 1;
                out.push_str(&format!(" s{}_{}_{}", step.session, number + 1, n));
            }
            out.push('\n');
        }
        out
    }

    /// One script per session, to paste into a terminal of its own: the statements numbered
    /// in the order to run them, the ones that block marked (the next number is in another
    /// window: run it while this one waits).
    pub fn terminal_scripts(&self, schedule: &ScheduleRecord) -> String {
        let client = match self.engine {
            Engine::Mariadb => "mariadb",
            Engine::Sqlite => "sqlite3",
            Engine::Postgres | Engine::Cockroach | Engine::Yugabyte => "psql",
        };
        let mut out = format!(
            "-- First, in any window: put the row in its starting state.\n{}\n",
            self.starting_state()
                .iter()
                .map(|s| format!("{s};"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        for session in 1..=self.sessions {
            out.push_str(&format!(
                "\n-- T{session}: paste into {client} window {session}, each step when its number \
                 comes.\n"
            ));
            if let Some(setup) = self.session_setup() {
                out.push_str(&format!("{setup};\n"));
            }
            for (index, step) in schedule.steps.iter().enumerate() {
                if step.session != session {
                    continue;
                }
                let mut marker = format!("-- step {}", index + 1);
                if let (Some(what), Some(after)) = (&step.waited_for, step.resumed_after) {
                    marker.push_str(&format!(
                        " (waits for {what}; answers after step {})",
                        after + 1
                    ));
                }
                out.push_str(&format!("{marker}\n{};\n", step.sql));
            }
        }
        out.push_str(&format!("\n-- expected: {}\n", schedule.summary));
        out
    }
}

fn level_words(level: Isolation) -> &'static str {
    level.sql_name()
}
