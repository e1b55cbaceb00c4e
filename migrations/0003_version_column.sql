-- A version column, as optimistic locking keeps one (Rails' lock_version, Hibernate's
-- @Version): the example method script examples/optimistic-version.sql reads and checks it.
-- No built-in method uses it. The SQL is the same on every engine.
ALTER TABLE counter ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
