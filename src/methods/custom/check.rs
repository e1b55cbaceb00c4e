//! What only the database can say about a script, asked before any request runs: each
//! statement is prepared (not run), which finds the statements the engine rejects and the
//! columns each `\gset` sets, and so the variables used before they are set.

use std::collections::BTreeSet;

use crate::methods::script::parse::{PREDEFINED, Script, ScriptError, Shortened, Step};
use crate::methods::script::statement::Pause;
use crate::methods::session::Session;

/// Prepares every statement of `script` on `session`'s connection and follows its variables;
/// the first problem, with its line.
pub async fn check<S: Session>(session: &mut S, script: &Script) -> Result<(), ScriptError> {
    let fail = |line: usize, message: String| ScriptError {
        file: script.file.clone(),
        line,
        message,
    };
    let reading = script.reading(S::DIALECT).map_err(Clone::clone)?;
    let mut set: BTreeSet<String> = PREDEFINED.iter().map(|name| name.to_string()).collect();
    for step in &reading.steps {
        match step {
            Step::Sql(statement) => {
                if let Some(name) = statement.binds.iter().find(|name| !set.contains(*name)) {
                    return Err(fail(statement.line, unset(name)));
                }
                let prepared = session
                    .prepare_script(&statement.sql, statement.binds.len())
                    .await;
                let columns = prepared.map_err(|err| {
                    fail(
                        statement.line,
                        format!("the database refuses it: {}", err.message),
                    )
                })?;
                if let Some(prefix) = &statement.gset {
                    if columns.is_empty() {
                        let message = "\\gset needs a statement that returns columns".to_string();
                        return Err(fail(statement.line, message));
                    }
                    set.extend(
                        columns
                            .iter()
                            .map(|column| S::DIALECT.stored_name(&format!("{prefix}{column}"))),
                    );
                }
            }
            Step::Sleep {
                line,
                pause: Pause::Variable { name, .. },
            } if !set.contains(name) => return Err(fail(*line, unset(name))),
            Step::Begin { .. }
            | Step::Commit { .. }
            | Step::Rollback { .. }
            | Step::Sleep { .. } => {}
        }
    }
    if let Some((line, name)) = &reading.written
        && !set.contains(name)
    {
        let message = format!(
            "`-- written: {}` names a variable no \\gset sets",
            Shortened(name)
        );
        return Err(fail(*line, message));
    }
    Ok(())
}

fn unset(name: &str) -> String {
    let name = Shortened(name);
    format!(
        "variable :{name} is used before it is set (set by \\gset from a column of that name; \
         :id and :think_ms are given)"
    )
}
