//! Method 10, sharded: the counter is `--shards` slot rows (default 16); an increment adds 1
//! to one slot chosen at random, in one statement (`count = count + 1`, creating the slot);
//! the counter is the sum of its slots. Writers of different slots never wait for each other,
//! so k slots let k commits flush at once; at repeatable read two writers of the same slot
//! still conflict (40001), k times more rarely. The price is paid by reads, which sum k rows.
//! The answer's count is its slot's, and says so (`count_is: slot`).

use std::hash::{BuildHasher, RandomState};

use super::session::{MethodContext, Session};
use crate::model::IncrementError;

pub const SUMMARY: &str =
    "one statement: add 1 to a random one of --shards slot rows; the counter is their sum";

pub async fn increment<S: Session>(
    session: &mut S,
    ctx: &MethodContext,
    id: i64,
) -> Result<i64, IncrementError> {
    Ok(session.add_to_slot(id, random_slot(ctx.shards)).await?)
}

/// A slot in `0..shards`, from the standard library's per-process random hash keys (fresh
/// keys per call): uniform enough to spread writers, no dependency for it.
fn random_slot(shards: u32) -> i64 {
    let random = RandomState::new().hash_one(std::time::Instant::now());
    i64::from((random % u64::from(shards.max(1))) as u32)
}

#[cfg(test)]
mod tests {
    use super::random_slot;

    #[test]
    fn slots_stay_in_range_and_spread() {
        let mut seen = [0u32; 16];
        for _ in 0..4_000 {
            let slot = random_slot(16);
            assert!((0..16).contains(&slot));
            seen[slot as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 100), "{seen:?}");
        assert_eq!(random_slot(1), 0);
    }
}
