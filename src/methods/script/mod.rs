//! The script language of the custom method (`--method-file`): the user's own transaction as
//! a script. `lex.rs` cuts it in each engine's dialect, `statement.rs` says what each command
//! is, `parse.rs` reads it into steps. Running it is the custom method's (`methods/custom/`:
//! prepared on the database before any request, run for one increment); this module knows no
//! session, so that the `Session` trait can name a script without a loop.

mod build;
mod dialect;
pub mod lex;
pub mod parse;
pub mod statement;
mod step;

pub use parse::{Script, ScriptError};

pub const SUMMARY: &str = "the statements of the --method-file script, as written";

/// How the reason begins when a database cannot run the script (a matrix cell's n/a).
pub const REFUSED: &str = "the script cannot run here: ";
