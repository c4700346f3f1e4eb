-- After bench/lib.sh has streamed the customers, identities, orders and order lines
-- (bench/seed-segments.sql): memberships and the campaign's audience tag. Drops the `bench` schema.
-- What the service derives from orders comes next, from `retail-crm rebuild-reports`.
--
-- Usage: psql "$URL" -v ON_ERROR_STOP=1 -v audience=A -f bench/seed-segments-finish.sql
--   audience   customers tagged `bench-campaign`: A customers with a phone and marketing_sms granted,
--              spread over all ids (a pseudo-random order); fewer when fewer qualify (bench/segments-campaigns
--              checks); 0 for none
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

DROP SCHEMA bench CASCADE;

COMMIT;
