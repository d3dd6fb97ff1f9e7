# Order lists filter by status and sort by date.
CREATE INDEX orders_status_placed ON orders (status, placed_at);
