UPDATE counter SET n = n + 10 WHERE id = 1;
INSERT INTO audit (tag) VALUES ('v4');
UPDATE accounts SET balance = balance + 1;
