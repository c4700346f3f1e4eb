-- Segments test RFM on the row they scan: a condition on customer_rfm was a hash probed once per
-- customer, as long as a full scan of the orders at a million customers. The daily RFM refresh
-- writes the rows whose scores changed; the activity follower copies them when it rewrites a row.
ALTER TABLE customer_facts
    ADD COLUMN rfm_r smallint,
    ADD COLUMN rfm_f smallint,
    ADD COLUMN rfm_m smallint,
    ADD COLUMN rfm_segment text;
UPDATE customer_facts f
SET rfm_r = r.r, rfm_f = r.f, rfm_m = r.m, rfm_segment = r.segment
FROM customer_rfm r
WHERE r.customer_id = f.id;
