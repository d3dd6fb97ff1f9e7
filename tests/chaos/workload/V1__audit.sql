-- Exactly-once evidence: every migration writes audit rows (no key, so a repeat shows as a second
-- row) and bumps a counter that no rerun can restore (n = n + k).
CREATE TABLE audit (tag VARCHAR(60) NOT NULL, note VARCHAR(100) NULL);
CREATE TABLE counter (id INT PRIMARY KEY, n INT NOT NULL);
INSERT INTO counter VALUES (1, 0);
INSERT INTO audit (tag) VALUES ('v1');
