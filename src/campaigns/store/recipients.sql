-- A batch's decisions, one row per customer and occurrence (see runs.rs `record_decisions`). The
-- primary key is the exactly-once guard: a row another run wrote first is not inserted, and the
-- count tells the caller so.
WITH p AS (
    SELECT CAST(? AS uuid) AS campaign, CAST(? AS uuid[]) AS customers, CAST(? AS text[]) AS occurrences,
           CAST(? AS text[]) AS outcomes, CAST(? AS text[]) AS reasons, CAST(? AS text[]) AS coupon_codes,
           CAST(? AS int8[]) AS points, CAST(? AS numeric[]) AS costs, CAST(? AS timestamptz) AS decided_at
),
rows AS (
    INSERT INTO campaign_recipients
        (campaign_id, customer_id, occurrence, outcome, reason, coupon_code, points, cost, decided_at)
    SELECT p.campaign, d.customer_id, d.occurrence, d.outcome, d.reason, d.coupon_code, d.points, d.cost,
           p.decided_at
    FROM p, unnest(p.customers, p.occurrences, p.outcomes, p.reasons, p.coupon_codes, p.points, p.costs)
            AS d(customer_id, occurrence, outcome, reason, coupon_code, points, cost)
    ON CONFLICT DO NOTHING RETURNING 1
)
SELECT count(*) AS n FROM rows
