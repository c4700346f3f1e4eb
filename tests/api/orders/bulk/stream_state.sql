-- What arrival order cannot change (see stream.rs), keyed by what both instances share: an order by
-- channel/store code/number, a member by phone. $1: now.
WITH p AS (SELECT $1::timestamptz AS now),
o AS (
    SELECT o.*, o.channel || '/' || coalesce(s.code, '-') || '/' || o.external_id AS key, c.phone
    FROM orders o LEFT JOIN stores s ON s.id = o.store_id LEFT JOIN customers c ON c.id = o.customer_id),
entries AS (
    SELECT e.customer_id, e.kind || ' ' || coalesce(o.key, '-') AS about, sum(e.delta) AS delta
    FROM points_entries e LEFT JOIN o ON o.id = e.order_id
    GROUP BY 1, 2)
SELECT jsonb_build_object(
    'orders', (SELECT jsonb_object_agg(o.key, jsonb_build_object(
        'customer', o.phone, 'occurred_at', o.occurred_at, 'pricing', o.pricing,
        'total_amount', o.total_amount::text, 'tier_discount', o.tier_discount::text,
        'coupon_discount', o.coupon_discount::text, 'points_redeemed', o.points_redeemed,
        'points_offset', o.points_offset::text, 'paid_amount', o.paid_amount::text,
        'refunded_amount', o.refunded_amount::text, 'points_earned', o.points_earned,
        'earn_rate', o.earn_rate::text, 'points_clawed_back', o.points_clawed_back,
        'points_returned', o.points_returned,
        'lines', (SELECT jsonb_agg(jsonb_build_array(l.line_no, l.sku, l.quantity, l.unit_price::text, l.amount::text,
                                                     l.tier_discount::text, l.discounted_amount::text, l.refunded_quantity)
                                   ORDER BY l.line_no)
                  FROM order_lines l WHERE l.order_id = o.id),
        'refunds', (SELECT jsonb_object_agg(r.external_id, jsonb_build_array(r.amount::text, r.lines))
                    FROM refunds r WHERE r.order_id = o.id)))
        FROM o),
    'accounts', (SELECT jsonb_object_agg(c.phone, jsonb_build_object(
        'balance', a.balance, 'debt', a.debt,
        'sum_of_deltas', (SELECT sum(e.delta) FROM points_entries e WHERE e.customer_id = a.customer_id),
        'available', (SELECT coalesce(sum(l.remaining) FILTER (WHERE l.available_at <= p.now AND l.expires_at > p.now), 0)
                      FROM points_lots l WHERE l.customer_id = a.customer_id) - a.debt,
        'lots_by_expiry', (SELECT jsonb_object_agg(x.expires_at, x.remaining)
                           FROM (SELECT l.expires_at, sum(l.remaining) AS remaining FROM points_lots l
                                 WHERE l.customer_id = a.customer_id AND l.remaining > 0 GROUP BY 1) x),
        'entries', (SELECT jsonb_object_agg(en.about, en.delta) FROM entries en WHERE en.customer_id = a.customer_id)))
        FROM points_accounts a JOIN customers c ON c.id = a.customer_id, p),
    'tiers', (SELECT jsonb_object_agg(c.phone, m.tier_code) FROM memberships m JOIN customers c ON c.id = m.customer_id),
    'events', (SELECT jsonb_object_agg(ev.type, ev.n)
               FROM (SELECT type, count(*) AS n FROM events WHERE type <> 'membership.tier_changed' GROUP BY 1) ev)
) AS state
