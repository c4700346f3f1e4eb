-- Generators for bench/segments-campaigns: the stores, and views in a `bench` schema that yield the
-- customers, their identities, orders and order lines as rows, for the script to stream with
-- COPY (SELECT * FROM bench.<view>) TO STDOUT into \copy ... FROM STDIN. Everything is a pure
-- function of the row number (hashint8extended), so the orders view and the order-lines view agree
-- on every order without joining, and a rerun seeds the same data (timestamps relative to now()).
-- bench/seed-segments-finish.sql drops the schema.
--
-- Usage: psql "$URL" -v ON_ERROR_STOP=1 -v customers=N -v orders=M -v phones=P -v buyers=B -v prime=Q \
--             -v stores=S -v line_pct=L -v second_line_pct=T -f bench/seed-segments.sql
--   customers  customers to seed, n = 1..N
--   phones     customers 1..P have a phone (+861380nnnnnnn, as a till types 1380nnnnnnn) and its identity
--   buyers     customers who order: the order's customer is j -> 1 + (j * prime) % N for j < B, a
--              permutation of the ids (prime coprime to N), skewed (j = B * u^1.5) so a few buy often
--   stores     stores, S ≥ 10: store s is in city (s - 1) % 10
--   line_pct   share of orders (0-100) that get their order lines
--   second_line_pct  share of orders (0-100) with a second line, in another category (what co-purchase and
--              recommendations count; 0 keeps the one-line history bench/segments-campaigns measured)
--
-- Store s: a daily sales target of CNY 40,000-80,000 (the dashboard's attainment).
-- Customer n: id 00000000-0000-7000-8000-<n in hex>; name from common surnames and given names;
-- gender 47% female / 45% male / 8% unknown; birthday for 85% (ages 18-70); email for 30%; city one of
-- ten (上海 18%, 北京 15%, 杭州 12%, 苏州 10%, 南京 9%, 广州 9%, 深圳 9%, 成都 7%, 武汉 6%, 西安 5%), none
-- for 3%; source channel pos 60% (home store: one of the five stores of the city), wechat mini program
-- 20%, tmall 10%, app 10%; consents: marketing_sms granted 60% (of those half also marketing_email),
-- marketing_sms revoked 5%, none 35%; status active; registered before the first order it may have.
-- Each customer has a span of activity within the last 730 days: the last day ago e = 730 u^3 (so about a
-- third have ordered in the last 30 days if they order at all), the first day ago in [e, 730).
-- Order k (1..M): id 00000000-0001-7000-8000-<k in hex>, external_id BSEG<k, 10 digits>; channel pos 75%
-- (the customer's home store, or any store for 20% of them and for customers without one), wechat mini
-- program 13%, tmall 12% (no store); a day in its customer's span; pricing external; one line: 1-3
-- units (70/20/10%) of CNY 9.90-599.90, in one of three neighbouring categories of eight that the
-- customer prefers; for second_line_pct of the orders a second line of the same kind in the next or the
-- one after; paid = total = the lines' amount, nothing refunded.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;

DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;

-- Uniform in [0, 1) and in 0..m-1, from (k, seed). Inlined by the planner (one SQL expression).
CREATE FUNCTION bench.u(k bigint, seed bigint) RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT (hashint8extended(k, seed) & 4503599627370495)::float8 / 4503599627370496.0 $$;
CREATE FUNCTION bench.h(k bigint, seed bigint, m bigint) RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT (hashint8extended(k, seed) & 9223372036854775807) % m $$;
CREATE FUNCTION bench.customer_id(n bigint) RETURNS uuid LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(n), 12, '0'))::uuid $$;
CREATE FUNCTION bench.store_id(s bigint) RETURNS uuid LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT ('00000000-0002-7000-8000-' || lpad(to_hex(s), 12, '0'))::uuid $$;
-- A customer's span of activity, in days before today: last and first order.
CREATE FUNCTION bench.last_ago(n bigint) RETURNS int LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT floor(730 * bench.u(n, 21) ^ 3)::int $$;
CREATE FUNCTION bench.first_ago(n bigint) RETURNS int LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT bench.last_ago(n) + floor((730 - bench.last_ago(n)) * bench.u(n, 22))::int $$;
-- The city (0-9, or -1: none) and the home store (0: none).
CREATE FUNCTION bench.city_index(n bigint) RETURNS int LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT CASE WHEN bench.h(n, 4, 100) < 3 THEN -1
               ELSE width_bucket(bench.h(n, 3, 100)::int, ARRAY[18, 33, 45, 55, 64, 73, 82, 89, 95]) END $$;
CREATE FUNCTION bench.cities() RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT ARRAY['上海', '北京', '杭州', '苏州', '南京', '广州', '深圳', '成都', '武汉', '西安'] $$;
CREATE FUNCTION bench.categories() RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT ARRAY['女装', '男装', '童装', '鞋靴', '美妆', '食品', '家居', '数码'] $$;

INSERT INTO stores (id, code, name, city, kind, daily_sales_target)
SELECT bench.store_id(s), 'SEG-' || lpad(s::text, 3, '0'), (bench.cities())[1 + (s - 1) % 10] || '店 ' || s,
       (bench.cities())[1 + (s - 1) % 10], 'store', 40000 + 1000 * bench.h(s, 50, 41)
FROM generate_series(1, :stores) s;

-- Each stage below is a subquery kept apart with OFFSET 0, so every value is computed once per row
-- however often the views above it name it (a flattened view would repeat its expressions).
CREATE VIEW bench.customer_gen AS
SELECT n, id, city_index, city, source_channel, home_store_id, created_at, has_phone, member, consent_bucket
FROM (SELECT n, bench.customer_id(n) AS id, city_index,
             CASE WHEN city_index >= 0 THEN (bench.cities())[city_index + 1] END AS city,
             source_channel,
             CASE WHEN source_channel = 'pos' AND city_index >= 0
                  THEN bench.store_id(city_index + 1 + 10 * bench.h(n, 5, (:stores / 10)::bigint)) END AS home_store_id,
             -- a day or more before the first day of its span of activity (seconds: no calendar arithmetic)
             now() - ((bench.first_ago(n) + 1 + bench.h(n, 23, 60) + bench.u(n, 24)) * 86400) * interval '1 second' AS created_at,
             n <= :phones AS has_phone,
             n <= :phones AND bench.h(n, 7, 10) < 7 AS member,
             bench.h(n, 8, 100) AS consent_bucket
      FROM (SELECT n, bench.city_index(n) AS city_index,
                   CASE WHEN bench.h(n, 6, 10) < 6 THEN 'pos' WHEN bench.h(n, 6, 10) < 8 THEN 'wechat_mini_program'
                        WHEN bench.h(n, 6, 10) < 9 THEN 'tmall' ELSE 'app' END AS source_channel
            FROM generate_series(1::bigint, (:customers)::bigint) n
            OFFSET 0) a
      OFFSET 0) b;

-- Columns: id, name, gender, birthday, phone, email, city, source_channel, home_store_id, consents,
-- status, created_at, updated_at
CREATE VIEW bench.customers_copy AS
SELECT g.id,
       (ARRAY['王', '李', '张', '刘', '陈', '杨', '黄', '赵', '吴', '周', '徐', '孙', '马', '朱', '胡', '郭', '何', '高', '林', '罗'])[1 + bench.h(g.n, 1, 20)]
       || (ARRAY['伟', '芳', '娜', '敏', '静', '丽', '强', '磊', '军', '洋', '勇', '艳', '杰', '娟', '涛', '明', '超', '秀英', '霞', '平', '刚', '桂英', '华', '玲'])[1 + bench.h(g.n, 2, 24)]
       || CASE WHEN bench.h(g.n, 9, 3) = 0 THEN (ARRAY['一', '文', '子', '嘉', '思', '雨'])[1 + bench.h(g.n, 10, 6)] ELSE '' END AS name,
       CASE WHEN bench.h(g.n, 11, 100) < 47 THEN 'female' WHEN bench.h(g.n, 11, 100) < 92 THEN 'male' ELSE 'unknown' END AS gender,
       CASE WHEN bench.h(g.n, 12, 100) < 85
            THEN (current_date - make_interval(years => 18) - make_interval(days => bench.h(g.n, 13, 52 * 365)::int))::date END AS birthday,
       CASE WHEN g.has_phone THEN '+861380' || lpad(g.n::text, 7, '0') END AS phone,
       CASE WHEN bench.h(g.n, 14, 10) < 3 THEN 'c' || g.n || '@example.com' END AS email,
       g.city, g.source_channel, g.home_store_id,
       CASE WHEN g.consent_bucket < 60 THEN
                jsonb_build_object('marketing_sms', jsonb_build_object('granted', true, 'granted_at', stamp.at, 'revoked_at', null))
                || CASE WHEN g.consent_bucket < 30 THEN
                       jsonb_build_object('marketing_email', jsonb_build_object('granted', true, 'granted_at', stamp.at, 'revoked_at', null))
                   ELSE '{}'::jsonb END
            WHEN g.consent_bucket < 65 THEN
                jsonb_build_object('marketing_sms', jsonb_build_object('granted', false, 'granted_at', stamp.at, 'revoked_at', stamp.later))
            ELSE '{}'::jsonb END AS consents,
       'active' AS status, g.created_at, g.created_at AS updated_at
FROM bench.customer_gen g
CROSS JOIN LATERAL (SELECT to_char(g.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS at,
                           to_char((g.created_at + interval '30 days') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS later) stamp;

-- Columns: kind, value, customer_id, created_at
CREATE VIEW bench.identities_copy AS
SELECT 'member_card' AS kind, '88' || lpad(n::text, 14, '0') AS value, id AS customer_id, created_at
FROM bench.customer_gen WHERE member
UNION ALL
SELECT 'phone', '+861380' || lpad(n::text, 7, '0'), id, created_at
FROM bench.customer_gen WHERE has_phone;

-- Columns: kind, value, customer_id (who holds each identity: the lookup's route)
CREATE VIEW bench.routes_copy AS SELECT kind, value, customer_id FROM bench.identities_copy;

CREATE VIEW bench.order_gen AS
SELECT k, ('00000000-0001-7000-8000-' || lpad(to_hex(k), 12, '0'))::uuid AS id,
       'BSEG' || lpad(k::text, 10, '0') AS external_id,
       n, bench.customer_id(n) AS customer_id, channel,
       CASE WHEN channel <> 'pos' THEN NULL
            WHEN home_store > 0 AND bench.h(k, 17, 5) > 0 THEN bench.store_id(home_store)
            ELSE bench.store_id(1 + bench.h(k, 18, :stores)) END AS store_id,
       -- a day of the customer's span, in seconds before now (no calendar arithmetic)
       now() - ((last_ago + floor((first_ago - last_ago + 1) * bench.u(k, 12)) + bench.u(k, 13)) * 86400) * interval '1 second'
           AS occurred_at,
       unit_price, quantity, unit_price * quantity AS amount,
       ((preferred_category + bench.h(k, 32, 3)) % 8)::int AS category_index,
       unit_price2, quantity2, unit_price2 * quantity2 AS amount2,
       ((preferred_category + bench.h(k, 32, 3) + 1 + bench.h(k, 36, 2)) % 8)::int AS category_index2
FROM (SELECT k, n, last_ago, last_ago + floor((730 - last_ago) * bench.u(n, 22))::int AS first_ago,
             CASE WHEN city_index >= 0 AND bench.h(n, 6, 10) < 6
                  THEN city_index + 1 + 10 * bench.h(n, 5, (:stores / 10)::bigint) ELSE 0 END AS home_store,
             bench.h(n, 31, 8) AS preferred_category,
             CASE WHEN bench.h(k, 16, 100) < 75 THEN 'pos' WHEN bench.h(k, 16, 100) < 88 THEN 'wechat_mini_program'
                  ELSE 'tmall' END AS channel,
             round((9.9 + 590 * bench.u(k, 14) ^ 2)::numeric, 1) AS unit_price,
             CASE WHEN bench.h(k, 15, 10) < 7 THEN 1 WHEN bench.h(k, 15, 10) < 9 THEN 2 ELSE 3 END AS quantity,
             CASE WHEN bench.h(k, 35, 100) < :second_line_pct THEN round((9.9 + 590 * bench.u(k, 37) ^ 2)::numeric, 1)
                  ELSE 0 END AS unit_price2,
             CASE WHEN bench.h(k, 38, 10) < 7 THEN 1 WHEN bench.h(k, 38, 10) < 9 THEN 2 ELSE 3 END AS quantity2
      FROM (SELECT k, n, bench.last_ago(n) AS last_ago, bench.city_index(n) AS city_index
            FROM (SELECT k, 1 + (floor((:buyers)::bigint * bench.u(k, 11) ^ 1.5)::bigint * (:prime)::bigint) % (:customers)::bigint AS n
                  FROM generate_series(1::bigint, (:orders)::bigint) k
                  OFFSET 0) a
            OFFSET 0) b
      OFFSET 0) c
OFFSET 0;

-- Columns: id, owner_id, external_id, channel, store_id, customer_id, occurred_at, pricing, total_amount,
-- paid_amount, created_at (the rest: their defaults — nothing discounted, redeemed, earned or refunded)
CREATE VIEW bench.orders_copy AS
SELECT id, coalesce(customer_id, id) AS owner_id, external_id, channel, store_id, customer_id, occurred_at, 'external' AS pricing, amount + amount2 AS total_amount,
       amount + amount2 AS paid_amount, occurred_at AS created_at
FROM bench.order_gen;

-- Columns: order_id, owner_id, line_no, sku, name, category, quantity, unit_price, amount, discounted_amount
-- One pass over the orders yields both lines (a second scan of the generator would cost the seed as much
-- again when no order has a second line).
CREATE VIEW bench.order_lines_copy AS
SELECT g.id AS order_id, coalesce(g.customer_id, g.id) AS owner_id, l.line_no, 'SKU-' || l.category_index || '-' || lpad(bench.h(g.k, l.sku_seed, 200)::text, 3, '0') AS sku,
       (bench.categories())[l.category_index + 1] || '单品' AS name, (bench.categories())[l.category_index + 1] AS category,
       l.quantity, l.unit_price, l.amount, l.amount AS discounted_amount
FROM bench.order_gen g
CROSS JOIN LATERAL (VALUES (1, g.category_index, 33::bigint, g.quantity, g.unit_price, g.amount),
                           (2, g.category_index2, 39::bigint, g.quantity2, g.unit_price2, g.amount2))
    AS l(line_no, category_index, sku_seed, quantity, unit_price, amount)
WHERE bench.h(g.k, 34, 100) < :line_pct AND l.amount > 0;

COMMIT;
