-- Django's F expression, outside any transaction (autocommit):
--     Counter.objects.filter(id=...).update(count=F('count') + 1)
-- One statement: the database reads and writes the row itself. The original's method 3.
-- MariaDB has no UPDATE ... RETURNING, so the count written stays unknown; the verdict comes
-- from the final count.
UPDATE counter SET count = count + 1 WHERE id = :id;
