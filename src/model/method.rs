//! The registered increment methods: numbers, slugs and names. What each one does, and how,
//! lives with its algorithm in `methods/`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::isolation::Isolation;

/// A registered method. The discriminant is its public number; method N increments row N.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MethodId {
    TableLock = 1,
    RowLock = 2,
    AtomicUpdate = 3,
    ReadModifyWrite = 4,
    Upsert = 5,
    AdvisoryLock = 6,
    CompareAndSwap = 7,
    InProcessLock = 8,
    Coalesced = 9,
    Sharded = 10,
    Ledger = 11,
    /// The user's own transaction, from `--method-file` (see `methods/script/`).
    Custom = 12,
}

/// Every built-in method, in number order (`--methods all` adds the custom one when a script
/// was given).
pub const REGISTRY: [MethodId; 11] = [
    MethodId::TableLock,
    MethodId::RowLock,
    MethodId::AtomicUpdate,
    MethodId::ReadModifyWrite,
    MethodId::Upsert,
    MethodId::AdvisoryLock,
    MethodId::CompareAndSwap,
    MethodId::InProcessLock,
    MethodId::Coalesced,
    MethodId::Sharded,
    MethodId::Ledger,
];

/// Every method a server may know: the built-in ones and the custom one.
pub const ALL: [MethodId; 12] = {
    let mut all = [MethodId::Custom; 12];
    let mut index = 0;
    while index < REGISTRY.len() {
        all[index] = REGISTRY[index];
        index += 1;
    }
    all
};

/// The methods of the original study, run by default by `counter matrix`.
pub const ORIGINAL: [MethodId; 3] = [
    MethodId::TableLock,
    MethodId::RowLock,
    MethodId::AtomicUpdate,
];

impl MethodId {
    pub fn number(self) -> u32 {
        self as u32
    }

    /// The id of the row this method increments.
    pub fn row_id(self) -> i64 {
        i64::from(self.number())
    }

    /// The name in URLs and flags (`table-lock`).
    pub fn slug(self) -> &'static str {
        match self {
            MethodId::TableLock => "table-lock",
            MethodId::RowLock => "row-lock",
            MethodId::AtomicUpdate => "atomic-update",
            MethodId::ReadModifyWrite => "read-modify-write",
            MethodId::Upsert => "upsert",
            MethodId::AdvisoryLock => "advisory-lock",
            MethodId::CompareAndSwap => "compare-and-swap",
            MethodId::InProcessLock => "in-process-lock",
            MethodId::Coalesced => "coalesced",
            MethodId::Sharded => "sharded",
            MethodId::Ledger => "ledger",
            MethodId::Custom => "custom",
        }
    }

    /// The name in tables (`table lock`; method 3 keeps the original's "database level").
    pub fn name(self) -> &'static str {
        match self {
            MethodId::TableLock => "table lock",
            MethodId::RowLock => "row lock",
            MethodId::AtomicUpdate => "database level",
            MethodId::ReadModifyWrite => "read-modify-write",
            MethodId::Upsert => "upsert",
            MethodId::AdvisoryLock => "advisory lock",
            MethodId::CompareAndSwap => "compare-and-swap",
            MethodId::InProcessLock => "in-process lock",
            MethodId::Coalesced => "coalesced",
            MethodId::Sharded => "sharded",
            MethodId::Ledger => "ledger",
            MethodId::Custom => "custom script",
        }
    }

    /// What the `count` of this method's answer is: the counter after the increment (None),
    /// or, for the methods that do not know it, what they report instead.
    pub fn count_is(self) -> Option<&'static str> {
        match self {
            // The value of the one slot it added to; the counter is the slots' sum.
            MethodId::Sharded => Some("slot"),
            // Nothing: the counter is the number of entries, and counting them per increment
            // would cost what the method saves.
            MethodId::Ledger => Some("unknown"),
            _ => None,
        }
    }

    /// "1. table lock", as table columns show it.
    pub fn title(self) -> String {
        format!("{}. {}", self.number(), self.name())
    }

    pub fn from_number(number: u64) -> Option<MethodId> {
        ALL.into_iter().find(|m| u64::from(m.number()) == number)
    }

    /// Whether losing acknowledged increments is this method's documented result with
    /// `replicas` servers: the unlocked control (4), and the in-process lock (8) once there
    /// are several processes with a lock each. For the others it would be a bug.
    pub fn may_lose_updates(self, replicas: u32) -> bool {
        match self {
            // A user's script: whether it loses updates is what the run finds out.
            MethodId::ReadModifyWrite | MethodId::Custom => true,
            MethodId::InProcessLock => replicas > 1,
            _ => false,
        }
    }
}

impl fmt::Display for MethodId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.number(), self.slug())
    }
}

/// Why a text names no method.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown method {given:?}: expected one of {}", known_methods())]
pub struct UnknownMethod {
    pub given: String,
}

/// "1 (table-lock), 2 (row-lock), ..." for error messages.
pub fn known_methods() -> String {
    ALL.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for MethodId {
    type Err = UnknownMethod;

    /// A number (`3`) or a slug (`atomic-update`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        // Digits only: `+3` is no method (Rust's parse would take it; the ids refuse it).
        let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
        let found = match text.parse::<u64>().ok().filter(|_| digits) {
            Some(number) => MethodId::from_number(number),
            None => ALL
                .into_iter()
                .find(|m| m.slug().eq_ignore_ascii_case(text)),
        };
        found.ok_or_else(|| UnknownMethod {
            given: text.chars().take(64).collect(),
        })
    }
}

/// A custom method's script as it ran: its file's name and its whole text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodScript {
    pub file: String,
    pub text: String,
}

/// A cell the engine cannot run (a whole level when `method` is None), and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotApplicable {
    pub isolation: Isolation,
    pub method: Option<u32>,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_slugs_name_the_same_method() {
        for method in ALL {
            assert_eq!(method.number().to_string().parse(), Ok(method));
            assert_eq!(method.slug().parse(), Ok(method));
        }
        assert!("0".parse::<MethodId>().is_err());
        assert!("99".parse::<MethodId>().is_err());
        assert!("-1".parse::<MethodId>().is_err());
        assert!("lock".parse::<MethodId>().is_err());
    }

    #[test]
    fn registry_is_in_number_order_without_gaps() {
        for (index, method) in ALL.iter().enumerate() {
            assert_eq!(method.number() as usize, index + 1);
        }
    }
}
