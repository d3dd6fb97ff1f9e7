INSERT INTO accounts (id, name) VALUES (10, 'r10');
INSERT INTO accounts (id, name) VALUES (11, 'r11');
INSERT INTO accounts (id, name) VALUES (12, 'r12');
INSERT INTO accounts (id, name) VALUES (13, 'r13');
INSERT INTO accounts (id, name) VALUES (14, 'r14');
UPDATE counter SET n = n + 10000 WHERE id = 1;
INSERT INTO audit (tag) VALUES ('v11');
