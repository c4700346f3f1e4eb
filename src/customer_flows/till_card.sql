-- The till's lookup in one round trip (see lookup_store.rs): per-statement overhead, not execution,
-- was most of a lookup's database time when it took six. Zero rows: no customer holds the identity.
-- Points are read for members only, and coupons with the filter, order and limit of the coupon list
-- the till shows. Each list is one scan aggregated into typed arrays, every array of a list in the
-- same order, so element i of each belongs to the same row.
WITH p AS (
    SELECT CAST(? AS text) AS kind, CAST(? AS text) AS value,
           CAST(? AS timestamptz) AS now, CAST(? AS int8) AS coupon_limit
)
SELECT c.id, c.name, c.gender, c.birthday, c.phone, c.email, c.city, c.district, c.address,
       c.source_channel, c.home_store_id, c.consents, c.attributes, c.status, c.merged_into,
       c.version, c.created_at, c.updated_at,
       ARRAY(SELECT t.tag FROM customer_tags t WHERE t.customer_id = c.id ORDER BY t.tag) AS tags,
       ids.identity_kinds, ids.identity_values, ids.identity_created_at,
       m.member_card, m.enrolled_at, m.tier_valid_until,
       tr.code AS tier_code, tr.name AS tier_name, tr.discount_rate,
       a.balance AS points_balance, a.debt AS points_debt,
       lots.lot_ids, lots.lot_remaining, lots.lot_available_at, lots.lot_expires_at,
       cp.coupon_codes, cp.coupon_template_ids, cp.coupon_names, cp.coupon_kinds, cp.coupon_expires_at,
       ca.order_days,
       (SELECT jsonb_build_object('r', rf.r, 'f', rf.f, 'm', rf.m, 'segment', rf.segment,
                                  'recency_days', rf.recency_days, 'frequency', rf.frequency,
                                  'monetary', rf.monetary::text, 'as_of', rs.as_of, 'rfm_map', rs.map)
          FROM customer_rfm rf CROSS JOIN rfm_snapshot rs WHERE rf.customer_id = c.id) AS rfm
  FROM p
  JOIN identity_routes ci ON ci.kind = p.kind AND ci.value = p.value
  JOIN customers c ON c.id = ci.customer_id
  LEFT JOIN memberships m ON m.customer_id = c.id
  LEFT JOIN tiers tr ON tr.code = m.tier_code
  LEFT JOIN points_accounts a ON a.customer_id = m.customer_id
  LEFT JOIN customer_activity ca ON ca.customer_id = c.id
 CROSS JOIN LATERAL (
       SELECT COALESCE(array_agg(i.kind ORDER BY i.kind, i.value), '{}') AS identity_kinds,
              COALESCE(array_agg(i.value ORDER BY i.kind, i.value), '{}') AS identity_values,
              COALESCE(array_agg(i.created_at ORDER BY i.kind, i.value), '{}') AS identity_created_at
         FROM customer_identities i
        WHERE i.customer_id = c.id
       ) ids
 CROSS JOIN LATERAL (
       SELECT COALESCE(array_agg(l.id ORDER BY l.id), '{}') AS lot_ids,
              COALESCE(array_agg(l.remaining ORDER BY l.id), '{}') AS lot_remaining,
              COALESCE(array_agg(l.available_at ORDER BY l.id), '{}') AS lot_available_at,
              COALESCE(array_agg(l.expires_at ORDER BY l.id), '{}') AS lot_expires_at
         FROM points_lots l
        WHERE l.customer_id = a.customer_id AND l.remaining > 0
       ) lots
 CROSS JOIN LATERAL (
       SELECT COALESCE(array_agg(u.code ORDER BY u.expires_at, u.code), '{}') AS coupon_codes,
              COALESCE(array_agg(u.template_id ORDER BY u.expires_at, u.code), '{}') AS coupon_template_ids,
              COALESCE(array_agg(u.name ORDER BY u.expires_at, u.code), '{}') AS coupon_names,
              COALESCE(array_agg(u.kind ORDER BY u.expires_at, u.code), '{}') AS coupon_kinds,
              COALESCE(array_agg(u.expires_at ORDER BY u.expires_at, u.code), '{}') AS coupon_expires_at
         FROM (SELECT cu.code, cu.template_id, ct.name, ct.kind, cu.expires_at
                 FROM coupons cu
                 JOIN coupon_templates ct ON ct.id = cu.template_id
                WHERE cu.customer_id = c.id AND cu.status = 'available'
                  AND cu.valid_from <= p.now AND cu.expires_at > p.now
                ORDER BY cu.expires_at, cu.code
                LIMIT p.coupon_limit) u
       ) cp
