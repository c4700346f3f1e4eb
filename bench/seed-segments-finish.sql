-- After bench/segments-campaigns has streamed the customers, identities, orders and order lines
-- (bench/seed-segments.sql): memberships, the campaign's audience tag, and the per-customer activity
-- the service derives from orders — the statements of src/customers/activity.rs (REFRESH_ACTIVITY,
-- REFRESH_CATEGORIES, REFRESH_FACTS) over every customer at once instead of `customer_id = ANY($1)`,
-- business days in :tz — and the activity follower's cursor moved past every event so far (orders
-- seeded with COPY have no events: there is nothing for it to replay). Drops the `bench` schema.
--
-- Usage: psql "$URL" -v ON_ERROR_STOP=1 -v audience=A -v tz=Asia/Shanghai -f bench/seed-segments-finish.sql
--   audience   customers tagged `bench-campaign`: A customers with a phone and marketing_sms granted,
--              spread over all ids (a pseudo-random order); fewer when fewer qualify (the script checks)
--   tz         CRM_TIMEZONE of the service
--
-- Members (customers with a phone, 70%): card 88<n, 14 digits>, tier normal 80% / silver 15% / gold 5%,
-- enrolled when they registered.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;

INSERT INTO memberships (customer_id, member_card, tier_code, enrolled_at, channel, store_id, tier_since, tier_valid_until)
SELECT id, '88' || lpad(n::text, 14, '0'), t.tier, created_at, source_channel, home_store_id, created_at,
       CASE WHEN t.tier <> 'normal' THEN now() + interval '180 days' END
FROM bench.customer_gen
CROSS JOIN LATERAL (SELECT CASE WHEN bench.h(n, 15, 100) < 80 THEN 'normal' WHEN bench.h(n, 15, 100) < 95 THEN 'silver'
                                ELSE 'gold' END AS tier) t
WHERE member
ORDER BY n;

INSERT INTO tags (name, kind, description) VALUES ('bench-campaign', 'manual', 'bench/segments-campaigns: the one-off campaign''s audience');
INSERT INTO customer_tags (customer_id, tag, created_at)
SELECT id, 'bench-campaign', now()
FROM (SELECT id FROM bench.customer_gen WHERE has_phone AND consent_bucket < 60 ORDER BY bench.u(n, 41) LIMIT :audience) a
ORDER BY id;

-- REFRESH_CATEGORIES
INSERT INTO customer_categories (customer_id, category, orders, quantity, spend, last_bought_on)
SELECT o.customer_id, l.category, count(DISTINCT o.id), sum(l.quantity - l.refunded_quantity),
       sum(round(l.discounted_amount * (l.quantity - l.refunded_quantity) / l.quantity, 2)),
       max((o.occurred_at AT TIME ZONE :'tz')::date)
FROM orders o JOIN order_lines l ON l.order_id = o.id
WHERE o.customer_id IS NOT NULL AND l.category IS NOT NULL AND l.quantity > l.refunded_quantity
GROUP BY 1, 2
ORDER BY 1, 2;

-- REFRESH_ACTIVITY
INSERT INTO customer_activity (customer_id, first_order_on, last_order_on, orders, spend, order_days, spend_running)
SELECT customer_id, min(day), max(day), count(*), sum(net),
       array_agg(day ORDER BY day, id), array_agg(running ORDER BY day, id)
FROM (SELECT o.customer_id, o.id, (o.occurred_at AT TIME ZONE :'tz')::date AS day,
             o.paid_amount - o.refunded_amount AS net,
             sum(o.paid_amount - o.refunded_amount)
                 OVER (PARTITION BY o.customer_id ORDER BY (o.occurred_at AT TIME ZONE :'tz')::date, o.id) AS running
      FROM orders o
      WHERE o.customer_id IS NOT NULL AND NOT (o.paid_amount > 0 AND o.refunded_amount >= o.paid_amount)) counted
GROUP BY customer_id
ORDER BY customer_id;

-- REFRESH_FACTS: the segment row of every live customer
INSERT INTO customer_facts
SELECT c.id, c.city, c.district, c.gender, c.source_channel, c.home_store_id, c.birthday, c.created_at,
       coalesce((c.consents -> 'marketing_sms' ->> 'granted')::boolean, false),
       coalesce((c.consents -> 'marketing_email' ->> 'granted')::boolean, false),
       coalesce((c.consents -> 'marketing_wechat' ->> 'granted')::boolean, false),
       act.first_order_on, act.last_order_on, act.orders, act.spend, act.order_days, act.spend_running
FROM customers c LEFT JOIN customer_activity act ON act.customer_id = c.id
WHERE c.status = 'active'
ORDER BY c.id;

-- The follower has nothing to replay: every event so far (none is about a seeded order) is behind it.
UPDATE outbox_followers
SET last_seq = greatest(last_seq, (SELECT coalesce(max(seq), 0) FROM events), (SELECT last_seq FROM event_sequencer))
WHERE name = 'customer_activity';

DROP SCHEMA bench CASCADE;

COMMIT;
