DELIMITER $$
CREATE TRIGGER accounts_upper BEFORE INSERT ON accounts
FOR EACH ROW
BEGIN
  SET NEW.name = UPPER(NEW.name);
  INSERT INTO audit (tag, note) VALUES ('trigger', NEW.name);
END$$
DELIMITER ;
INSERT INTO accounts (id, name) VALUES (3, 'cy');
INSERT INTO audit (tag) VALUES ('v5');
