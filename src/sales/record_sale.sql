-- A sale in one statement (see store.rs `record_sale`): the order, once per natural key, with its
-- lines, its events and the member's ledger entries (the redemption's draws, the entries, the
-- earned lot, the account). Every later part reads `o`, so a key posted before writes nothing.
-- The events' time is events::event_time_sql!() (a unit test keeps the two the same).
WITH p AS (
    SELECT CAST(? AS uuid) AS id, CAST(? AS text) AS external_id, CAST(? AS text) AS channel,
           CAST(? AS uuid) AS store_id, CAST(? AS uuid) AS customer_id, CAST(? AS timestamptz) AS occurred_at,
           CAST(? AS text) AS pricing, CAST(? AS numeric) AS total_amount, CAST(? AS numeric) AS tier_discount,
           CAST(? AS numeric) AS coupon_discount, CAST(? AS int8) AS points_redeemed,
           CAST(? AS numeric) AS points_offset, CAST(? AS numeric) AS paid_amount,
           CAST(? AS int8) AS points_earned, CAST(? AS numeric) AS earn_rate,
           CAST(? AS numeric) AS points_multiplier, CAST(? AS text) AS tier_code, CAST(? AS text) AS tier_after,
           CAST(? AS bool) AS tier_changed, CAST(? AS int8) AS points_balance_after,
           CAST(? AS text[]) AS coupon_codes, CAST(? AS uuid) AS reservation_id,
           -- the lines, one array per column
           CAST(? AS int[]) AS line_nos, CAST(? AS text[]) AS line_skus, CAST(? AS text[]) AS line_names,
           CAST(? AS text[]) AS line_categories, CAST(? AS int[]) AS line_quantities,
           CAST(? AS numeric[]) AS line_unit_prices, CAST(? AS numeric[]) AS line_amounts,
           CAST(? AS numeric[]) AS line_discounted_amounts, CAST(? AS int[]) AS line_refunded_quantities,
           CAST(? AS numeric[]) AS line_tier_discounts, CAST(? AS numeric[]) AS line_coupon_discounts,
           -- the events
           CAST(? AS uuid[]) AS event_ids, CAST(? AS text[]) AS event_types, CAST(? AS uuid[]) AS event_subjects,
           CAST(? AS jsonb[]) AS event_data,
           -- the member's points (all null or empty for anybody else)
           CAST(? AS uuid) AS points_customer, CAST(? AS text) AS actor, CAST(? AS timestamptz) AS at,
           CAST(? AS bigint) AS balance, CAST(? AS bigint) AS debt, CAST(? AS uuid) AS lot_id,
           CAST(? AS bigint) AS lot_points, CAST(? AS timestamptz) AS available_at,
           CAST(? AS timestamptz) AS expires_at,
           CAST(? AS uuid[]) AS draw_ids, CAST(? AS bigint[]) AS draw_points,
           CAST(? AS text[]) AS entry_kinds, CAST(? AS bigint[]) AS entry_deltas,
           CAST(? AS bigint[]) AS entry_balances, CAST(? AS jsonb[]) AS entry_lots,
           CAST(? AS text) AS earn_kind
),
o AS (
    INSERT INTO orders (id, owner_id, external_id, channel, store_id, customer_id, occurred_at, pricing,
        total_amount, tier_discount, coupon_discount, points_redeemed, points_offset, paid_amount,
        points_earned, earn_rate, points_multiplier, tier_code, tier_after, tier_changed,
        points_balance_after, coupon_codes, reservation_id)
    SELECT p.id, coalesce(p.customer_id, p.id), p.external_id, p.channel, p.store_id, p.customer_id,
        p.occurred_at, p.pricing,
        p.total_amount, p.tier_discount, p.coupon_discount, p.points_redeemed, p.points_offset, p.paid_amount,
        p.points_earned, p.earn_rate, p.points_multiplier, p.tier_code, p.tier_after, p.tier_changed,
        p.points_balance_after, p.coupon_codes, p.reservation_id
      FROM p
    ON CONFLICT ON CONSTRAINT orders_natural_key DO NOTHING RETURNING *
),
lines AS (
    INSERT INTO order_lines (order_id, owner_id, line_no, sku, name, category, quantity, unit_price, amount,
        discounted_amount, refunded_quantity, tier_discount, coupon_discount)
    SELECT o.id, o.owner_id, l.*
      FROM o, p, unnest(p.line_nos, p.line_skus, p.line_names, p.line_categories, p.line_quantities,
                        p.line_unit_prices, p.line_amounts, p.line_discounted_amounts,
                        p.line_refunded_quantities, p.line_tier_discounts, p.line_coupon_discounts) AS l
),
events AS (
    INSERT INTO events (id, type, occurred_at, subject_id, data)
    SELECT e.id, e.type,
           coalesce(nullif(current_setting('retail_crm.occurred_at', true), '')::timestamptz, now()),
           e.subject_id, e.data
      FROM o, p, unnest(p.event_ids, p.event_types, p.event_subjects, p.event_data) AS e(id, type, subject_id, data)
),
drawn AS (
    UPDATE points_lots l SET remaining = l.remaining - d.take
      FROM o, p, unnest(p.draw_ids, p.draw_points) AS d(id, take)
     WHERE l.customer_id = p.points_customer AND l.id = d.id
    RETURNING l.id
),
entries AS (
    INSERT INTO points_entries (customer_id, kind, delta, balance_after, order_id, actor, lots, occurred_at)
    SELECT p.points_customer, e.kind, e.delta, e.balance_after, o.id, p.actor, e.lots, p.at
      FROM o, p, unnest(p.entry_kinds, p.entry_deltas, p.entry_balances, p.entry_lots) WITH ORDINALITY
           AS e(kind, delta, balance_after, lots, n)
     ORDER BY e.n
    RETURNING id, kind
),
lot AS (
    INSERT INTO points_lots (id, customer_id, entry_id, order_id, amount, remaining, available_at, expires_at)
    SELECT p.lot_id, p.points_customer, entries.id, o.id, p.lot_points, p.lot_points, p.available_at, p.expires_at
      FROM o, p, entries
     WHERE entries.kind = p.earn_kind AND p.lot_points > 0
),
account AS (
    UPDATE points_accounts a SET balance = p.balance, debt = p.debt, updated_at = now()
      FROM o, p
     WHERE a.customer_id = p.points_customer AND EXISTS (SELECT 1 FROM entries)
)
SELECT * FROM o
