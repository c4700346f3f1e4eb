-- Historical orders, thousands at a time (see bulk_store.rs `insert_new`): each order only if its
-- natural key is new, and the lines and `order.created` events of the orders stored.
WITH p AS (
    SELECT CAST(? AS uuid[]) AS ids, CAST(? AS text[]) AS external_ids, CAST(? AS text[]) AS channels,
           CAST(? AS uuid[]) AS store_ids, CAST(? AS uuid[]) AS customer_ids,
           CAST(? AS timestamptz[]) AS occurred_ats, CAST(? AS numeric[]) AS total_amounts,
           CAST(? AS numeric[]) AS paid_amounts, CAST(? AS text) AS pricing,
           -- the lines of every order, one array per column
           CAST(? AS uuid[]) AS line_order_ids, CAST(? AS int[]) AS line_nos, CAST(? AS text[]) AS line_skus,
           CAST(? AS text[]) AS line_names, CAST(? AS text[]) AS line_categories,
           CAST(? AS int[]) AS line_quantities, CAST(? AS numeric[]) AS line_unit_prices,
           CAST(? AS numeric[]) AS line_amounts,
           -- one event per order, in the order of `ids`
           CAST(? AS uuid[]) AS event_ids, CAST(? AS text[]) AS event_types, CAST(? AS uuid[]) AS event_subjects,
           CAST(? AS jsonb[]) AS event_data
),
o AS (
    INSERT INTO orders (id, owner_id, external_id, channel, store_id, customer_id, occurred_at, pricing,
        total_amount, paid_amount)
    SELECT n.id, coalesce(n.customer_id, n.id), n.external_id, n.channel, n.store_id, n.customer_id,
        n.occurred_at, p.pricing, n.total_amount, n.paid_amount
      FROM p, unnest(p.ids, p.external_ids, p.channels, p.store_ids, p.customer_ids, p.occurred_ats,
                     p.total_amounts, p.paid_amounts)
           AS n(id, external_id, channel, store_id, customer_id, occurred_at, total_amount, paid_amount)
    ON CONFLICT ON CONSTRAINT orders_natural_key DO NOTHING RETURNING id, owner_id
),
lines AS (
    INSERT INTO order_lines (order_id, owner_id, line_no, sku, name, category, quantity, unit_price, amount,
        discounted_amount)
    SELECT l.order_id, o.owner_id, l.line_no, l.sku, l.name, l.category, l.quantity, l.unit_price, l.amount,
        l.amount
      FROM p, unnest(p.line_order_ids, p.line_nos, p.line_skus, p.line_names, p.line_categories,
                     p.line_quantities, p.line_unit_prices, p.line_amounts)
           AS l(order_id, line_no, sku, name, category, quantity, unit_price, amount)
      JOIN o ON o.id = l.order_id
),
events AS (
    INSERT INTO events (id, type, occurred_at, subject_id, data)
    SELECT e.id, e.type, CURRENT_TIMESTAMP, e.subject_id, e.data
      FROM p, unnest(p.event_ids, p.event_types, p.event_subjects, p.event_data, p.ids)
           AS e(id, type, subject_id, data, order_id)
     WHERE e.order_id IN (SELECT id FROM o)
)
SELECT id FROM o
