-- Read, then write what was read plus one, in one transaction, without any lock: what
--     c = Counter.objects.get(id=...); c.count += 1; c.save()
-- sends inside transaction.atomic(). The same statements as built-in method 4.
-- written: next
BEGIN;
SELECT count AS c, count + 1 AS next FROM counter WHERE id = :id \gset
\sleep :think_ms ms
UPDATE counter SET count = :next WHERE id = :id;
COMMIT;
