-- Seeds :members members for bench/orders-lookup, set-based (generate_series), in one transaction.
-- Usage: psql "$URL" -v ON_ERROR_STOP=1 -v members=100000 -v history=1 -f bench/seed.sql
--
-- Member n (1..:members):
--   customer      active, name 'Bench Member n', phone '+861380' || lpad(n, 7, '0')  (till form: 1380nnnnnnn)
--   identities    phone = that phone, member_card = the card
--   membership    tier normal, card '88' || lpad(n, 14, '0'), enrolled now()
--   points        account balance 2000 / debt 0, one 'adjust' entry (+2000, balance_after 2000, actor 'bench')
--                 and its lot (2000 remaining, available since yesterday, expiring in 300 days)
--   history       :history past orders (CNY 300.00, one line, 1-300 days ago, store BENCH-01) that earned no
--                 points, so orders and its indexes are not empty and have statistics, as in a live system
-- so the ledger invariants (balance = Σ delta = Σ remaining − debt, chain of balance_after) hold.
-- Also one store, code BENCH-01, the orders are posted for.
\set ON_ERROR_STOP 1
BEGIN;

INSERT INTO stores (id, code, name, city, kind) VALUES (gen_random_uuid(), 'BENCH-01', 'Bench store', 'Beijing', 'store');

CREATE TEMP TABLE bench_members ON COMMIT DROP AS
SELECT n,
       gen_random_uuid() AS customer_id,
       gen_random_uuid() AS lot_id,
       '+861380' || lpad(n::text, 7, '0') AS phone,
       '88' || lpad(n::text, 14, '0') AS card
FROM generate_series(1, :members) AS n;

INSERT INTO customers (id, name, gender, phone, source_channel, status, consents, attributes, created_at, updated_at)
SELECT customer_id, 'Bench Member ' || n, 'unknown', phone, 'pos', 'active', '{}', '{}', now(), now()
FROM bench_members;

INSERT INTO identity_routes (kind, value, customer_id)
SELECT 'phone', phone, customer_id FROM bench_members
UNION ALL
SELECT 'member_card', card, customer_id FROM bench_members;
INSERT INTO customer_identities (kind, value, customer_id) SELECT kind, value, customer_id FROM identity_routes;

INSERT INTO memberships (customer_id, member_card, tier_code, enrolled_at, channel, tier_since, tier_valid_until)
SELECT customer_id, card, 'normal', now(), 'pos', now(), NULL FROM bench_members;

INSERT INTO points_accounts (customer_id, balance, debt, updated_at)
SELECT customer_id, 2000, 0, now() FROM bench_members;

WITH entries AS (
    INSERT INTO points_entries (customer_id, kind, delta, balance_after, reason, actor, lots, occurred_at)
    SELECT customer_id, 'adjust', 2000, 2000, 'bench seed', 'bench',
           jsonb_build_array(jsonb_build_object('lot_id', lot_id, 'points', 2000)), now() - interval '1 day'
    FROM bench_members
    ORDER BY n
    RETURNING id, customer_id
)
INSERT INTO points_lots (id, customer_id, entry_id, order_id, amount, remaining, available_at, expires_at)
SELECT m.lot_id, e.customer_id, e.id, NULL, 2000, 2000, now() - interval '1 day', now() + interval '300 days'
FROM entries e JOIN bench_members m USING (customer_id);

CREATE TEMP TABLE bench_history ON COMMIT DROP AS
SELECT gen_random_uuid() AS id, m.n, h, m.customer_id,
       now() - make_interval(days => ((m.n * 7 + h * 31) % 300) + 1) AS occurred_at
FROM bench_members m CROSS JOIN generate_series(1, :history) AS h;

INSERT INTO orders (id, owner_id, external_id, channel, store_id, customer_id, occurred_at, pricing, total_amount,
                    paid_amount, earn_rate, points_multiplier, tier_code, tier_after, created_at)
SELECT h.id, h.customer_id, 'bench-history-' || h.n || '-' || h.h, 'pos', s.id, h.customer_id, h.occurred_at, 'crm', 300, 300,
       1, 1, 'normal', 'normal', h.occurred_at
FROM bench_history h CROSS JOIN (SELECT id FROM stores WHERE code = 'BENCH-01') s;

INSERT INTO order_lines (order_id, owner_id, line_no, sku, name, category, quantity, unit_price, amount, discounted_amount)
SELECT id, customer_id, 1, 'BENCH-HIST', 'Bench item', 'bench', 1, 300, 300, 300 FROM bench_history;

COMMIT;

ANALYZE stores, customers, customer_identities, identity_routes, memberships, points_accounts, points_entries, points_lots,
        orders, order_lines, events;
