//! What a script is read into: its steps (each with its line), the parse error's shape, and
//! a script's words cut to a length a message can carry.

use std::fmt;

use super::statement::{Pause, Statement};

/// One step of a script, in order.
#[derive(Debug, Clone)]
pub enum Step {
    /// `BEGIN`: a transaction at the run's isolation level.
    Begin {
        line: usize,
    },
    Commit {
        line: usize,
    },
    Rollback {
        line: usize,
    },
    Sql(Statement),
    Sleep {
        line: usize,
        pause: Pause,
    },
}

impl Step {
    pub fn line(&self) -> usize {
        match self {
            Step::Begin { line }
            | Step::Commit { line }
            | Step::Rollback { line }
            | Step::Sleep { line, .. } => *line,
            Step::Sql(statement) => statement.line,
        }
    }
}

/// A parse error: the line and the message.
pub type Failure = (usize, String);

/// A name or word from the script, cut to a length a message can carry (a 70,000-character
/// name was once echoed whole).
pub struct Shortened<'a>(pub &'a str);

impl fmt::Display for Shortened<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const LONGEST: usize = 64;
        match self.0.char_indices().nth(LONGEST) {
            Some((cut, _)) => write!(f, "{}...", &self.0[..cut]),
            None => f.write_str(self.0),
        }
    }
}
