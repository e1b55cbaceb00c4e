//! Steps and their answers. A step is one statement execution as the client sent it: a
//! simple-protocol `Query`, or an extended-protocol `Execute` (its SQL from the `Parse` of
//! the statement its portal was bound to: named statements are remembered, as drivers reuse
//! them). Answers come back in order: a step's is its `CommandComplete` or `ErrorResponse`
//! (with the rows it sent before), a simple query's all of them up to `ReadyForQuery`; after
//! an error the server skips the pipelined steps until `Sync`, which are then answered as
//! skipped.

use std::collections::{HashMap, VecDeque};

use super::frame::Message;

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
    /// Not run: an earlier error in the same pipeline made the server skip it.
    pub skipped: bool,
}

/// What the client side of one connection has defined: prepared statements and portals.
#[derive(Debug, Default)]
pub struct ClientSide {
    statements: HashMap<String, String>,
    portals: HashMap<String, String>,
}

impl ClientSide {
    /// The step `message` is (a `Query` or an `Execute`), if it is one; remembers what
    /// `Parse` and `Bind` define.
    pub fn step(&mut self, message: &Message) -> Option<Step> {
        let body = message.body();
        match message.kind {
            b'Q' => Some(Step {
                sql: Message::cstr(body).0,
                protocol: Protocol::Simple,
            }),
            b'P' => {
                let (name, rest) = Message::cstr(body);
                let (sql, _) = Message::cstr(rest);
                self.statements.insert(name, sql);
                None
            }
            b'B' => {
                let (portal, rest) = Message::cstr(body);
                let (statement, _) = Message::cstr(rest);
                let sql = self.statements.get(&statement).cloned().unwrap_or_default();
                self.portals.insert(portal, sql);
                None
            }
            b'E' => {
                let (portal, _) = Message::cstr(body);
                Some(Step {
                    sql: self.portals.get(&portal).cloned().unwrap_or_default(),
                    protocol: Protocol::Extended,
                })
            }
            b'C' => {
                // Close: 'S' a statement or 'P' a portal, by name.
                let (kind, name) = (
                    body.first().copied(),
                    Message::cstr(&body[1.min(body.len())..]).0,
                );
                match kind {
                    Some(b'S') => self.statements.remove(&name),
                    _ => self.portals.remove(&name),
                };
                None
            }
            _ => None,
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
    steps: VecDeque<Step>,
    answer: StepAnswer,
}

impl Outstanding {
    /// `step` was forwarded to the server (called before its bytes are written).
    pub fn sent(&mut self, step: Step) {
        self.steps.push_back(step);
    }

    /// What a whole server message of `kind` with `body` means; bodies are only needed for
    /// `K`, `C`, `E` and `Z`.
    pub fn heard(&mut self, kind: u8, body: &[u8]) -> Vec<Heard> {
        let front_is_simple = self.steps.front().map(|s| s.protocol) == Some(Protocol::Simple);
        match kind {
            b'K' if body.len() >= 4 => {
                let pid = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                vec![Heard::Backend {
                    pid,
                    secret: body[4..].to_vec(),
                }]
            }
            b'D' => {
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
                // Pipelined steps the server skipped after an error.
                while let Some(step) = self.steps.pop_front() {
                    let skipped = StepAnswer {
                        skipped: true,
                        ..StepAnswer::default()
                    };
                    heard.push(Heard::Answered(step, skipped));
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
            Some(step) => vec![Heard::Answered(step, answer)],
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
