CREATE VIEW rich_accounts AS SELECT id, name FROM accounts WHERE balance > 5;
INSERT INTO audit (tag) VALUES ('v9');
