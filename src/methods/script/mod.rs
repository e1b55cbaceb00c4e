//! The custom method (`--method-file`): the user's own transaction as a script, run as
//! method 12 through the same lab as the built-in methods. `parse.rs` reads the script
//! language, `check.rs` has the database prepare every statement before a request runs, and
//! `run.rs` runs it for one increment.

mod build;
pub mod check;
mod dialect;
pub mod lex;
pub mod parse;
pub mod run;
pub mod statement;

pub use check::check;
pub use parse::{Script, ScriptError};
pub use run::increment;

pub const SUMMARY: &str = "the statements of the --method-file script, as written";

/// How the reason begins when a database cannot run the script (a matrix cell's n/a).
pub const REFUSED: &str = "the script cannot run here: ";
