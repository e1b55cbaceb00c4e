-- One row per increment method: method N increments the row with id N.
CREATE TABLE IF NOT EXISTS counter (
    id    BIGINT PRIMARY KEY,
    count BIGINT NOT NULL DEFAULT 0
);
