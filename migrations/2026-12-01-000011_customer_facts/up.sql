-- What segments read of each live customer, in one narrow row: the profile fields a definition
-- can test (consents as booleans) and the order activity of customer_activity. A segment over a
-- million customers is then one scan of one table — no join of a million activity rows to a
-- million profiles, no consent JSON taken apart per customer.
--
-- Kept by the outbox follower of src/customers/activity.rs: every customer.* and order.* event
-- recomputes its customers' rows from `customers` and `customer_activity`, so a row always equals
-- that join. Merged and erased customers have no row: they are never in a segment.
CREATE TABLE customer_facts (
    id uuid PRIMARY KEY,
    city text,
    district text,
    gender text NOT NULL,
    source_channel text,
    home_store_id uuid,
    birthday date,
    created_at timestamptz NOT NULL,
    consent_marketing_sms boolean NOT NULL,
    consent_marketing_email boolean NOT NULL,
    consent_marketing_wechat boolean NOT NULL,
    first_order_on date,
    last_order_on date,
    orders integer,
    spend numeric(14, 2),
    order_days date[],
    spend_running numeric(14, 2)[]
);

INSERT INTO customer_facts
SELECT c.id, c.city, c.district, c.gender, c.source_channel, c.home_store_id, c.birthday, c.created_at,
       coalesce((c.consents -> 'marketing_sms' ->> 'granted')::boolean, false),
       coalesce((c.consents -> 'marketing_email' ->> 'granted')::boolean, false),
       coalesce((c.consents -> 'marketing_wechat' ->> 'granted')::boolean, false),
       act.first_order_on, act.last_order_on, act.orders, act.spend, act.order_days, act.spend_running
FROM customers c LEFT JOIN customer_activity act ON act.customer_id = c.id
WHERE c.status = 'active';
