CREATE TABLE accounts (
  id INT PRIMARY KEY,
  name VARCHAR(50) NOT NULL,
  balance DECIMAL(10,2) NOT NULL DEFAULT 0
);
INSERT INTO accounts (id, name, balance) VALUES (1, 'ada', 10.50), (2, 'bob', 0);
INSERT INTO audit (tag) VALUES ('v2');
UPDATE counter SET n = n + 1 WHERE id = 1;
