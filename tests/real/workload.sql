CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, score REAL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
INSERT INTO t(name, grp, score) SELECT printf('name-%05d', i), i % 97, (i * 7919) % 1000 / 10.0 FROM n;
CREATE INDEX t_grp ON t(grp, score);
SELECT grp, count(*), round(avg(score), 3), max(name) FROM t GROUP BY grp ORDER BY grp LIMIT 5;
UPDATE t SET score = score + 1 WHERE grp % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
SELECT count(*), round(sum(score), 1) FROM t;
SELECT name FROM t WHERE grp = 42 ORDER BY score DESC, name LIMIT 3;
