-- A DDL statement after session state (issue 10, reproduction 1).
SET @origin = 'v3';
ALTER TABLE accounts ADD INDEX idx_name (name);
INSERT INTO audit (tag, note) VALUES ('v3', @origin);
