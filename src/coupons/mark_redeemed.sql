-- One coupon redeemed and its use recorded (see redeem.rs `mark_redeemed`): the status guard and
-- the insert, whose unique index on a code's live redemption is the last word, succeed or fail
-- together. No row inserted: the coupon was not available.
WITH p AS (
    SELECT CAST(? AS text) AS code, CAST(? AS timestamptz) AS at, CAST(? AS uuid) AS id,
           CAST(? AS uuid) AS customer, CAST(? AS uuid) AS order_id, CAST(? AS text) AS order_reference,
           CAST(? AS uuid) AS store_id, CAST(? AS text) AS channel, CAST(? AS numeric) AS amount,
           CAST(? AS numeric) AS discount, CAST(? AS text) AS actor,
           CAST(? AS text) AS available, CAST(? AS text) AS redeemed
),
used AS (
    UPDATE coupons c SET status = p.redeemed, redeemed_at = p.at, reserved_by = NULL, reserved_until = NULL,
        version = c.version + 1, updated_at = p.at
    FROM p WHERE c.code = p.code AND c.status = p.available RETURNING c.code, c.template_id
)
INSERT INTO coupon_redemptions (id, code, template_id, customer_id, order_id, order_reference, store_id,
    channel, amount, discount, actor, redeemed_at)
SELECT p.id, used.code, used.template_id, p.customer, p.order_id, p.order_reference, p.store_id, p.channel,
    p.amount, p.discount, p.actor, p.at FROM p, used
