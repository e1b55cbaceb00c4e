-- Optimistic locking with a version column (Rails' lock_version, Hibernate's @Version, in
-- autocommit): read the row and its version, write only where the version is still the one
-- read. 0 rows means another request won: the attempt is refused (HTTP 409), and with
-- --retry counter runs the whole script again.
-- written: next
SELECT count + 1 AS next, version AS v FROM counter WHERE id = :id \gset
\sleep :think_ms ms
UPDATE counter SET count = :next, version = version + 1 WHERE id = :id AND version = :v;
\refuse-if-zero-rows
