SET foreign_key_checks = 0;
CREATE TABLE orders (
  id INT PRIMARY KEY,
  account_id INT NOT NULL,
  CONSTRAINT fk_orders_account FOREIGN KEY (account_id) REFERENCES accounts (id)
);
INSERT INTO orders VALUES (1, 1), (2, 999);
SET foreign_key_checks = 1;
INSERT INTO audit (tag) VALUES ('v6');
