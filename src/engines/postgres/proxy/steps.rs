//! Steps and their answers. A step is one statement execution as the client sent it: a
//! simple-protocol `Query`, or an extended-protocol statement from its first `Parse` or
//! `Bind` to its `Execute` (its SQL from the `Parse`: named statements are remembered, as
//! drivers reuse them). The step begins where PostgreSQL may take a snapshot, not at
//! `Execute`: a portal's snapshot is taken at `Bind`, and the first `Parse` of a repeatable
//! read transaction fixes the transaction's snapshot (its analysis takes one). Held at
//! `Execute`, a read committed `SELECT` released after another request committed still read
//! what was there before (found by the application explorer: two requests of
//! read-modify-write, both read 0); held at `Bind`, a driver that parses in a round trip of
//! its own (sqlx) still had its repeatable read snapshot fixed too early. Answers come back in order: a step's is its `CommandComplete` or `ErrorResponse`
//! (with the rows it sent before), a simple query's all of them up to `ReadyForQuery`; after
//! an error the server skips the pipelined steps until `Sync`, which are then answered as
//! skipped.

use std::collections::{HashMap, VecDeque};

use super::binds;
use super::frame::Message;
use super::rows::{Column, columns, values};

/// Which protocol a step came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// A `Query` message (it may hold several statements).
    Simple,
    /// `Parse`/`Bind`/`Execute`.
    Extended,
}

/// One statement execution as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub sql: String,
    pub protocol: Protocol,
    /// Sent by the proxy itself (the `BEGIN` and `COMMIT` around a split autocommit write).
    pub by_proxy: bool,
    /// The values bound to its parameters, as SQL literals (`binds.rs`), when known.
    pub values: Vec<String>,
}

impl Step {
    /// The SQL with its values written in, for people.
    pub fn shown(&self) -> String {
        binds::written_in(&self.sql, &self.values)
    }
}

/// What a step answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepAnswer {
    /// The command tags, in order (`SELECT 1`, `UPDATE 1`, `COMMIT`).
    pub tags: Vec<String>,
    /// The error: its SQLSTATE and message.
    pub error: Option<(String, String)>,
    /// Data rows sent back.
    pub rows: u64,
    /// The first row's columns, each with its value as an integer or why it is not one (kept
    /// only when the hooks want rows).
    pub first_row: Vec<(String, Result<Option<i64>, String>)>,
    /// Not run: an earlier error in the same pipeline made the server skip it.
    pub skipped: bool,
}

/// What the client side of one connection has defined (its prepared statements), and
/// whether an extended-protocol step is begun and not yet executed.
#[derive(Debug, Default)]
pub struct ClientSide {
    /// Each prepared statement's SQL and declared parameter types.
    statements: HashMap<String, (String, Vec<u32>)>,
    /// Whether to decode the values each `Bind` binds.
    decode_values: bool,
    begun: bool,
}

/// What a client message is to the steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// It begins a step (a `Query`, or the first `Parse` or `Bind` of a statement).
    Begins(Step),
    /// `Execute`: the step begun is now run.
    Executes,
    Other,
}

impl ClientSide {
    /// A connection's client side; `decode_values`: steps carry their bound values.
    pub fn new(decode_values: bool) -> ClientSide {
        ClientSide {
            decode_values,
            ..ClientSide::default()
        }
    }

    /// The values a `Bind` message binds, as SQL literals (none when `message` is not a
    /// readable `Bind`).
    pub fn values_of(&self, message: &Message) -> Vec<String> {
        if message.kind != b'B' || !self.decode_values {
            return Vec::new();
        }
        let (statement, rest) = binds::bound_statement(message.body());
        let types = self
            .statements
            .get(&statement)
            .map(|(_, types)| types.as_slice())
            .unwrap_or_default();
        binds::bind_values(rest, types).unwrap_or_default()
    }

    /// What `message` is to the steps; remembers the statements `Parse` defines.
    pub fn step(&mut self, message: &Message) -> Sent {
        let body = message.body();
        let extended = |sql, values| {
            Sent::Begins(Step {
                sql,
                protocol: Protocol::Extended,
                by_proxy: false,
                values,
            })
        };
        match message.kind {
            b'Q' => Sent::Begins(Step {
                sql: Message::cstr(body).0,
                protocol: Protocol::Simple,
                by_proxy: false,
                values: Vec::new(),
            }),
            b'P' => {
                let (name, rest) = Message::cstr(body);
                let (sql, rest) = Message::cstr(rest);
                self.statements
                    .insert(name, (sql.clone(), binds::parse_types(rest)));
                match std::mem::replace(&mut self.begun, true) {
                    true => Sent::Other,
                    false => extended(sql, Vec::new()),
                }
            }
            b'B' => {
                let sql = self
                    .statements
                    .get(&binds::bound_statement(body).0)
                    .map(|(sql, _)| sql.clone())
                    .unwrap_or_default();
                match std::mem::replace(&mut self.begun, true) {
                    true => Sent::Other,
                    false => extended(sql, self.values_of(message)),
                }
            }
            b'E' => {
                self.begun = false;
                Sent::Executes
            }
            b'C' => {
                // Close: 'S' a statement (or 'P' a portal), by name.
                if body.first() == Some(&b'S') {
                    self.statements.remove(&Message::cstr(&body[1..]).0);
                }
                Sent::Other
            }
            _ => Sent::Other,
        }
    }
}

/// What the server said, as it matters to the proxy's hooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// `BackendKeyData`: the backend's pid and its cancel key.
    Backend {
        pid: i32,
        secret: Vec<u8>,
    },
    Answered(Step, StepAnswer),
    /// `ReadyForQuery`'s transaction status: `I`, `T` or `E`.
    Ready(u8),
}

/// The steps sent and not yet answered, in order, with the answer of the first so far.
#[derive(Debug, Default)]
pub struct Outstanding {
    /// Each with whether it was executed (a step begun at `Parse` waits through the parse's
    /// own `Sync` for its `Bind` and `Execute`) and the number of the `ReadyForQuery` that
    /// ends its pipeline.
    steps: VecDeque<(Step, bool, u64)>,
    answer: StepAnswer,
    /// The last `RowDescription`: each column's name, type and format.
    columns: Vec<Column>,
    /// How many `ReadyForQuery`s the client asked for (`Sync`, `Query`, `FunctionCall`) and
    /// how many came: a `ReadyForQuery` ends only the steps sent before its own request (a
    /// client may already have sent the next pipeline, and the proxy its own `BEGIN`).
    syncs_sent: u64,
    syncs_answered: u64,
}

impl StepAnswer {
    /// The rows a write wrote, from its tag (`UPDATE 1`, `INSERT 0 1`, `DELETE 3`).
    pub fn written(&self) -> u64 {
        let last = self.tags.last().and_then(|tag| tag.rsplit(' ').next());
        last.and_then(|n| n.parse().ok()).unwrap_or(0)
    }
}

impl Outstanding {
    /// No step is waiting for its answer.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// `step` was forwarded to the server (called before its bytes are written).
    pub fn sent(&mut self, step: Step) {
        let simple = step.protocol == Protocol::Simple;
        self.steps.push_back((step, simple, self.syncs_sent));
    }

    /// A message that asks for a `ReadyForQuery` was forwarded (after its own step, if it
    /// is one).
    pub fn synced(&mut self) {
        self.syncs_sent += 1;
    }

    /// A `Bind` of the last step begun (at its `Parse`) came: its values.
    pub fn bound(&mut self, values: Vec<String>) {
        if let Some(last) = self.steps.iter_mut().rev().find(|(_, run, _)| !run)
            && last.0.values.is_empty()
        {
            last.0.values = values;
        }
    }

    /// An `Execute` was forwarded: the last step begun is run.
    pub fn executed(&mut self) {
        if let Some(last) = self.steps.iter_mut().rev().find(|(_, run, _)| !run) {
            last.1 = true;
        }
    }

    /// What a whole server message of `kind` with `body` means; bodies are only needed for
    /// `K`, `C`, `E` and `Z`.
    pub fn heard(&mut self, kind: u8, body: &[u8]) -> Vec<Heard> {
        let front_is_simple =
            self.steps.front().map(|(s, _, _)| s.protocol) == Some(Protocol::Simple);
        match kind {
            b'K' if body.len() >= 4 => {
                let pid = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                vec![Heard::Backend {
                    pid,
                    secret: body[4..].to_vec(),
                }]
            }
            b'T' => {
                self.columns = columns(body);
                Vec::new()
            }
            b'D' => {
                if self.answer.rows == 0 && !body.is_empty() {
                    self.answer.first_row = values(&self.columns, body);
                }
                self.answer.rows += 1;
                Vec::new()
            }
            b'C' => {
                self.answer.tags.push(Message::cstr(body).0);
                match front_is_simple {
                    true => Vec::new(),
                    false => self.complete(),
                }
            }
            b'E' => {
                self.answer.error = Some(error_fields(body));
                match front_is_simple {
                    true => Vec::new(),
                    false => self.complete(),
                }
            }
            // EmptyQueryResponse, PortalSuspended: an extended step's end without a tag.
            b'I' | b's' if !front_is_simple => self.complete(),
            b'Z' => {
                let mut heard = Vec::new();
                if front_is_simple {
                    heard.extend(self.complete());
                }
                // Pipelined steps the server skipped after an error; a step begun and not yet
                // executed (its `Parse` had a `Sync` of its own), or sent after this
                // `ReadyForQuery`'s request, goes on waiting. One no request asked for (the
                // start-up's) ends nothing.
                let this_sync = self.syncs_answered;
                let asked = self.syncs_answered < self.syncs_sent;
                while let Some((step, true, sync)) = self.steps.front().cloned()
                    && asked
                    && sync <= this_sync
                {
                    self.steps.pop_front();
                    let skipped = StepAnswer {
                        skipped: true,
                        ..StepAnswer::default()
                    };
                    heard.push(Heard::Answered(step, skipped));
                }
                if asked {
                    self.syncs_answered += 1;
                }
                self.answer = StepAnswer::default();
                heard.push(Heard::Ready(body.first().copied().unwrap_or(b'I')));
                heard
            }
            _ => Vec::new(),
        }
    }

    fn complete(&mut self) -> Vec<Heard> {
        let answer = std::mem::take(&mut self.answer);
        match self.steps.pop_front() {
            Some((step, _, _)) => vec![Heard::Answered(step, answer)],
            None => Vec::new(),
        }
    }
}

/// An `ErrorResponse`'s SQLSTATE (`C`) and message (`M`).
fn error_fields(body: &[u8]) -> (String, String) {
    let (mut code, mut message) = (String::new(), String::new());
    let mut rest = body;
    while let Some((&field, after)) = rest.split_first() {
        if field == 0 {
            break;
        }
        let (value, next) = Message::cstr(after);
        match field {
            b'C' => code = value,
            b'M' => message = value,
            _ => {}
        }
        rest = next;
    }
    (code, message)
}

#[cfg(test)]
#[path = "steps_tests.rs"]
mod tests;
