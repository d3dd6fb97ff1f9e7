-- Longer than the chaos suite's short call timeout (a backfill): there it times out in its
-- transaction and is applied through a temporary stored procedure, in this file's session.
SET @step = 1000000;
UPDATE counter SET n = n + @step WHERE id = 1 AND SLEEP(1.2) = 0;
INSERT INTO audit (tag) VALUES ('v14');
