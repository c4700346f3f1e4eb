-- Scale-out on Citus (SPEC §16), fourth part: an order, its lines and its refunds carry the value a
-- cluster distributes them by, `owner_id`: the customer for a member's order (so the sale writes
-- the order beside the customer's ledger), the order's own id for a guest's (a guest's order has
-- nothing to sit beside, and one pseudo-customer per store or channel would be one hot shard on
-- Double 11). It is fixed when the order is written: a merge changes `customer_id` (a plain column)
-- and never `owner_id`.
ALTER TABLE orders ADD COLUMN owner_id uuid;
UPDATE orders SET owner_id = coalesce(customer_id, id);
ALTER TABLE orders ALTER COLUMN owner_id SET NOT NULL;

ALTER TABLE order_lines ADD COLUMN owner_id uuid;
UPDATE order_lines l SET owner_id = o.owner_id FROM orders o WHERE o.id = l.order_id;
ALTER TABLE order_lines ALTER COLUMN owner_id SET NOT NULL;

ALTER TABLE refunds ADD COLUMN owner_id uuid;
UPDATE refunds r SET owner_id = o.owner_id FROM orders o WHERE o.id = r.order_id;
ALTER TABLE refunds ALTER COLUMN owner_id SET NOT NULL;

-- Nothing can reference an order by its id alone any more (the key is the pair): the rows that name
-- an order (a redemption, a reservation, a lead, a ticket) keep its id and the code checks it.
ALTER TABLE order_lines DROP CONSTRAINT order_lines_order_id_fkey;
ALTER TABLE refunds DROP CONSTRAINT refunds_order_id_fkey;
ALTER TABLE coupon_redemptions DROP CONSTRAINT coupon_redemptions_order_id_fkey;
ALTER TABLE checkout_reservations DROP CONSTRAINT checkout_reservations_order_id_fkey;
ALTER TABLE leads DROP CONSTRAINT leads_order_id_fkey;
ALTER TABLE tickets DROP CONSTRAINT tickets_order_id_fkey;

-- The keys lead with the id (every lookup by id stays one index probe) and hold the owner (a
-- cluster's unique constraints must).
ALTER TABLE orders DROP CONSTRAINT orders_pkey, ADD PRIMARY KEY (id, owner_id);
ALTER TABLE order_lines DROP CONSTRAINT order_lines_pkey, ADD PRIMARY KEY (order_id, line_no, owner_id);
ALTER TABLE order_lines ADD CONSTRAINT order_lines_order_fkey FOREIGN KEY (order_id, owner_id) REFERENCES orders (id, owner_id);
ALTER TABLE refunds DROP CONSTRAINT refunds_pkey, ADD PRIMARY KEY (id, owner_id);
ALTER TABLE refunds DROP CONSTRAINT refunds_order_id_external_id_key, ADD CONSTRAINT refunds_natural_key UNIQUE (order_id, external_id, owner_id);
ALTER TABLE refunds ADD CONSTRAINT refunds_order_fkey FOREIGN KEY (order_id, owner_id) REFERENCES orders (id, owner_id);
