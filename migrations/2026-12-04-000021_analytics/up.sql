-- Reports (issue 13): summary tables that follow the outbox, never the sale's transaction (a row per
-- store per day written by every sale would make a store's tills wait on one row lock). Each is
-- kept by recomputing, whole, every key an event names, so it always equals a recomputation from
-- scratch (src/analytics/summary.rs, src/orders/co_purchase.rs). Days are business days in
-- CRM_TIMEZONE and belong to the order: a refund lowers the day its order was placed.

-- What the orders placed on a day came to, per store and channel. A counted order is one not fully
-- refunded (as in customer_activity); gross is what every order paid, net is gross less refunds.
CREATE TABLE sales_daily (
    day date NOT NULL,
    -- null: an order of a chain channel that names no store
    store_id uuid,
    channel text NOT NULL,
    orders integer NOT NULL,
    member_orders integer NOT NULL,
    gross numeric(14, 2) NOT NULL,
    refunded numeric(14, 2) NOT NULL,
    net numeric(14, 2) NOT NULL
);
CREATE INDEX sales_daily_day_idx ON sales_daily (day, store_id);

-- The same per category of the order lines (lines without a category are not in it): quantity and
-- net of what was not returned, in counted orders.
CREATE TABLE category_sales_daily (
    day date NOT NULL,
    store_id uuid,
    channel text NOT NULL,
    category text NOT NULL,
    orders integer NOT NULL,
    quantity bigint NOT NULL,
    net numeric(14, 2) NOT NULL
);
CREATE INDEX category_sales_daily_day_idx ON category_sales_daily (day, store_id);
CREATE INDEX category_sales_daily_category_idx ON category_sales_daily (category, day);

-- Item-to-item co-purchase: for each pair of categories (and of SKUs) bought in one counted order,
-- in how many orders. `order_baskets` holds what each order currently contributes, so an event
-- about an order takes its old pairs away and adds its new ones.
CREATE TABLE order_baskets (
    order_id uuid PRIMARY KEY,
    categories text[] NOT NULL,
    skus text[] NOT NULL
);
CREATE TABLE co_purchases (
    kind text NOT NULL CHECK (kind IN ('category', 'sku')),
    item text NOT NULL,
    other text NOT NULL,
    -- zero only inside the follower's transaction, between taking pairs away and deleting spent rows
    orders integer NOT NULL CHECK (orders >= 0),
    PRIMARY KEY (kind, item, other)
);

-- A customer's own rhythm: the median days between their distinct order days (two orders or
-- more), for churn by the customer's own rhythm; and each category's buying days, for the
-- repurchase interval.
ALTER TABLE customer_activity ADD COLUMN usual_interval_days numeric(7, 1);
ALTER TABLE customer_categories ADD COLUMN bought_days date[] NOT NULL DEFAULT '{}';
-- Existing rows are recomputed by the follower from the start of the feed.
UPDATE outbox_followers SET last_seq = 0 WHERE name = 'customer_activity';

-- RFM scores over the 365 days before `as_of`, computed whole once per business day
-- (quintiles are relative to everyone else, so no single order can move them alone).
CREATE TABLE customer_rfm (
    customer_id uuid PRIMARY KEY,
    recency_days integer NOT NULL,
    frequency integer NOT NULL,
    monetary numeric(14, 2) NOT NULL,
    r smallint NOT NULL CHECK (r BETWEEN 1 AND 5),
    f smallint NOT NULL CHECK (f BETWEEN 1 AND 5),
    m smallint NOT NULL CHECK (m BETWEEN 1 AND 5),
    segment text NOT NULL
);
CREATE INDEX customer_rfm_segment_idx ON customer_rfm (segment);
CREATE TABLE rfm_snapshot (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    as_of date NOT NULL,
    map text NOT NULL,
    customers integer NOT NULL,
    computed_at timestamptz NOT NULL
);

INSERT INTO outbox_followers (name) VALUES ('sales_summary'), ('co_purchase');
