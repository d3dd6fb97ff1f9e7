CREATE TABLE scratch (id INT);
INSERT INTO scratch VALUES (1);
RENAME TABLE scratch TO scratch_old;
DROP TABLE scratch_old;
ALTER TABLE accounts MODIFY COLUMN name VARCHAR(80) NOT NULL;
INSERT INTO audit (tag) VALUES ('v12');
