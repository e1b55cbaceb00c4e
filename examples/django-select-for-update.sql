-- Django's select_for_update() then save(), inside transaction.atomic():
--     c = Counter.objects.select_for_update().get(id=...); c.count += 1; c.save()
-- The row is locked by the read until the commit. The same statements as built-in method 2.
-- written: next
BEGIN;
SELECT count AS c, count + 1 AS next FROM counter WHERE id = :id FOR UPDATE \gset
\sleep :think_ms ms
UPDATE counter SET count = :next WHERE id = :id;
COMMIT;
