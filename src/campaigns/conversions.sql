-- Who of a campaign's reached and held-out customers converted, and the revenue they brought, by
-- outcome and by the channel they were messaged on (see report.rs for the attribution rules).
WITH p AS (
    SELECT CAST(? AS uuid) AS campaign, CAST(? AS int) AS days, CAST(? AS text[]) AS judged,
           CAST(? AS text) AS source
),
decided AS (
    SELECT r.customer_id, r.outcome, min(r.decided_at) AS at
    FROM campaign_recipients r, p
    WHERE r.campaign_id = p.campaign AND r.outcome = ANY(p.judged)
    GROUP BY 1, 2
),
channel AS (
    SELECT DISTINCT ON (m.customer_id) m.customer_id, m.channel
    FROM campaign_messages m, p
    WHERE m.campaign_id = p.campaign
    ORDER BY m.customer_id, m.created_at
),
in_window AS (
    SELECT d.customer_id, o.id::text AS sale, o.paid_amount - o.refunded_amount AS net
    FROM decided d CROSS JOIN p
    JOIN orders o ON o.customer_id = d.customer_id
     AND o.occurred_at >= d.at AND o.occurred_at < d.at + make_interval(days => p.days)
),
with_coupon AS (
    SELECT cr.customer_id, coalesce(cr.order_id::text, cr.id::text) AS sale,
           coalesce(o.paid_amount - o.refunded_amount, cr.amount) AS net
    FROM coupons cp CROSS JOIN p
    JOIN coupon_redemptions cr ON cr.code = cp.code AND cr.undone_at IS NULL
    LEFT JOIN orders o ON o.id = cr.order_id
    WHERE cp.source = p.source AND cp.source_ref = p.campaign::text
),
attributed AS (
    SELECT customer_id, sum(net) AS revenue
    FROM (SELECT * FROM in_window UNION SELECT * FROM with_coupon) sales
    GROUP BY customer_id
)
SELECT d.outcome, c.channel, count(*) AS customers, count(a.customer_id) AS converted,
       coalesce(sum(a.revenue), 0)::numeric AS revenue
FROM decided d
LEFT JOIN channel c ON c.customer_id = d.customer_id
LEFT JOIN attributed a ON a.customer_id = d.customer_id
GROUP BY 1, 2
