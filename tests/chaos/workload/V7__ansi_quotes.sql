-- Restores the mode at the end: a pooled Data API connection may keep a session's state for the
-- next call (see the chaos test session_state_of_one_migration_does_not_leak_into_the_next).
SET @saved_mode = @@sql_mode;
SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES');
CREATE TABLE "labels" ("id" INT PRIMARY KEY, "text" VARCHAR(20));
INSERT INTO "labels" VALUES (1, 'double "quoted"');
ALTER TABLE "labels" ADD COLUMN "extra" INT NULL;
SET sql_mode = @saved_mode;
INSERT INTO audit (tag) VALUES ('v7');
