-- The hot-counter designs (methods 10 and 11) keep their counts in tables of their own; the
-- API's reads add them up. The SQL is the same on every engine.

-- Method 10, sharded: the counter of row `id` is the sum of its slots.
CREATE TABLE IF NOT EXISTS counter_shard (
    id    BIGINT NOT NULL,
    slot  INTEGER NOT NULL,
    count BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (id, slot)
);

-- Method 11, ledger: one row per increment, never updated; the counter of row `id` is the
-- number of its rows. The index makes counting one counter's rows an index-only scan.
CREATE TABLE IF NOT EXISTS counter_ledger (
    id BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS counter_ledger_id ON counter_ledger (id);
