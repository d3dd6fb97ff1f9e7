/* What each customer has paid, for the support dashboard. */
CREATE VIEW customer_totals AS
  SELECT c.id, c.email, COUNT(o.id) AS orders, COALESCE(SUM(o.total_cents), 0) AS paid_cents
  FROM customers c
  LEFT JOIN orders o ON o.customer_id = c.id AND o.status IN ('paid', 'shipped')
  GROUP BY c.id, c.email;
