-- Slower than the chaos suite's short call timeout: runs on after the call gives up.
CREATE TABLE slow AS SELECT SLEEP(1.2) AS x;
INSERT INTO audit (tag) VALUES ('v13');
UPDATE counter SET n = n + 100000 WHERE id = 1;
