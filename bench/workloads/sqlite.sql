-- sqlite: an insert and index workload for the sqlite3 shell, on an
-- in-memory database so every page and every statement's objects come from
-- malloc. Stresses a real program with no frame pointers, a live heap that
-- grows to tens of megabytes (the page cache), and index builds that sort.
-- The row count comes from the parameter :rows (.parameter set :rows N).
PRAGMA cache_size = -200000;
CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, price REAL, note TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < :rows)
INSERT INTO item(name, grp, price, note)
  SELECT printf('%08x', (x * 2654435761) % 4294967296), x % 997,
         ((x * 7919) % 100000) / 100.0, substr('lorem ipsum dolor sit amet ', 1 + x % 20)
  FROM c;
CREATE INDEX item_name ON item(name);
CREATE INDEX item_grp_price ON item(grp, price);
SELECT count(*), sum(length(name)) FROM item;
SELECT grp, count(*), printf('%.2f', avg(price)) FROM item GROUP BY grp ORDER BY 3 DESC LIMIT 3;
UPDATE item SET price = price * 1.1 WHERE grp % 7 = 0;
DELETE FROM item WHERE id % 5 = 0;
SELECT count(*), printf('%.2f', sum(price)) FROM item WHERE name > '80000000';
PRAGMA integrity_check;
