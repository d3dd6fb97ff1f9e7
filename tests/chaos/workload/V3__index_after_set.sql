-- A DDL statement after session state: it must be recorded in flight and sent once.
SET @origin = 'v3';
ALTER TABLE accounts ADD INDEX idx_name (name);
INSERT INTO audit (tag, note) VALUES ('v3', @origin);
