ALTER TABLE counter ADD COLUMN note VARCHAR(20) NULL;
UPDATE counter SET n = n + 100, note = 'v8' WHERE id = 1;
INSERT INTO audit (tag) VALUES ('v8');
