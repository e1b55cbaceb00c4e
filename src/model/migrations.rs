//! The counter tables' SQL, as the migrations in `migrations/` create them: one source for the
//! migrator (`engines/shared.rs`) and for the replays that set the tables up by hand
//! (`report/replay.rs`). The same SQL runs on every engine.

/// Each migration: its version, its description, its SQL (the file `migrations/<version>_
/// <description with underscores>.sql`).
pub const MIGRATIONS: [(i64, &str, &str); 3] = [
    (
        1,
        "counter",
        include_str!("../../migrations/0001_counter.sql"),
    ),
    (
        2,
        "hot counters",
        include_str!("../../migrations/0002_hot_counters.sql"),
    ),
    (
        3,
        "version column",
        include_str!("../../migrations/0003_version_column.sql"),
    ),
];
