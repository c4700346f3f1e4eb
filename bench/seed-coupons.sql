-- Seeds :coupons coupons for the checkout workload of bench/orders-lookup (run after seed.sql, which made
-- :members members), set-based, in one transaction.
-- Usage: psql "$URL" -v ON_ERROR_STOP=1 -v members=100000 -v coupons=200000 -f bench/seed-coupons.sql
--
-- One template 'Bench 满100减10' (amount_off, threshold 100.00, discount 10.00, active, every store and channel,
-- valid until 2099), and coupon n (0..:coupons-1):
--   code      'BNCH' || n in base 8 on 8 digits, digit d written as the character d+2 ('2'..'9'), e.g. n = 9 →
--             'BNCH22222232'; 12 characters of the code alphabet, unique (n < 8^8). bench/wrk/checkout.lua
--             computes the same codes.
--   owner     member (n % :members) + 1 (customer '+861380' || lpad(member, 7, '0'))
--   state     available, source manual, issued now(), valid since yesterday, expiring in 30 days
\set ON_ERROR_STOP 1
BEGIN;

INSERT INTO coupon_templates (id, name, description, kind, threshold, discount, valid_from, valid_to, status,
                              issued_count, created_at, updated_at)
VALUES (gen_random_uuid(), 'Bench 满100减10', 'bench/orders-lookup checkout workload', 'amount_off', 100.00, 10.00,
        now() - interval '1 day', '2099-12-31T00:00:00Z', 'active', :coupons, now(), now());

INSERT INTO coupons (code, template_id, customer_id, source, source_ref, issued_at, valid_from, expires_at, status,
                     updated_at)
SELECT 'BNCH' || chr(50 + ((c.n >> 21) & 7)) || chr(50 + ((c.n >> 18) & 7)) || chr(50 + ((c.n >> 15) & 7))
              || chr(50 + ((c.n >> 12) & 7)) || chr(50 + ((c.n >> 9) & 7)) || chr(50 + ((c.n >> 6) & 7))
              || chr(50 + ((c.n >> 3) & 7)) || chr(50 + (c.n & 7)),
       t.id, ci.customer_id, 'manual', 'bench', now(), now() - interval '1 day', now() + interval '30 days',
       'available', now()
FROM generate_series(0, :coupons - 1) AS c(n)
CROSS JOIN (SELECT id FROM coupon_templates WHERE name = 'Bench 满100减10') t
JOIN identity_routes ci
  ON ci.kind = 'phone' AND ci.value = '+861380' || lpad(((c.n % :members) + 1)::text, 7, '0');

COMMIT;

ANALYZE coupon_templates, coupons;
