-- Demo data: one statement per row group; text with a ';' and a quote inside stays intact.
INSERT INTO customers (email, full_name) VALUES
  ('ada@example.com', 'Ada Lovelace'),
  ('grace@example.com', 'Grace Hopper'),
  ('edsger@example.com', 'Edsger W. Dijkstra; "EWD"'),
  ('barbara@example.com', 'Barbara O''Neil');

INSERT INTO orders (customer_id, status, total_cents)
  SELECT id, 'paid', 4200 FROM customers WHERE email = 'ada@example.com';
