-- A ledger that numbers its entries: read how many entries the counter has, then append one
-- as entry n + 1 (the "next invoice number" pattern). Every entry counts, so the final count
-- is exact; the numbers handed out are what races: duplicate counts in hammer's summary are
-- requests that were given the same number.
-- written: next
BEGIN;
SELECT COUNT(*) + 1 AS next FROM counter_ledger WHERE id = :id \gset
\sleep :think_ms ms
INSERT INTO counter_ledger (id) VALUES (:id);
COMMIT;
