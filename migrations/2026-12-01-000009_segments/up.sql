-- Segments (issue 11) and the per-customer order activity they read.

-- Who bought what and when, per customer, derived from orders and kept current by a follower of
-- the outbox (src/customers/activity.rs) — never inside a sale's transaction. A counted order is
-- one not fully refunded; spend is what was paid net of refunds; days are business days in
-- CRM_TIMEZONE. Each customer's rows are recomputed whole from their orders, so they always equal
-- a from-scratch recomputation.
--
-- `order_days` holds the day of every counted order in ascending order and `spend_running` the
-- spend up to and including each: the orders in any window are a difference of two
-- `width_bucket` binary searches, so a segment over a million customers reads one row each.
CREATE TABLE customer_activity (
    customer_id uuid PRIMARY KEY,
    first_order_on date NOT NULL,
    last_order_on date NOT NULL,
    orders integer NOT NULL,
    spend numeric(14, 2) NOT NULL,
    order_days date[] NOT NULL,
    spend_running numeric(14, 2)[] NOT NULL
);
CREATE INDEX customer_activity_last_idx ON customer_activity (last_order_on);

CREATE TABLE customer_categories (
    customer_id uuid NOT NULL,
    category text NOT NULL,
    orders integer NOT NULL,
    quantity integer NOT NULL,
    spend numeric(14, 2) NOT NULL,
    last_bought_on date NOT NULL,
    PRIMARY KEY (customer_id, category)
);
CREATE INDEX customer_categories_category_idx ON customer_categories (category, last_bought_on);

-- How far each follower of the outbox has read (the feed's `seq`).
CREATE TABLE outbox_followers (
    name text PRIMARY KEY,
    last_seq bigint NOT NULL DEFAULT 0
);
INSERT INTO outbox_followers (name) VALUES ('customer_activity');

CREATE TABLE segments (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    definition jsonb NOT NULL,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX segments_name_idx ON segments (lower(name));
