-- Coupon templates, coupons, their redemptions (核销) and checkout reservations.

CREATE TABLE coupon_templates (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    description text,
    kind text NOT NULL CHECK (kind IN ('amount_off', 'percent_off', 'cash', 'gift')),
    threshold numeric(14, 2) CHECK (threshold >= 0),
    discount numeric(14, 2) CHECK (discount > 0),
    discount_rate numeric(5, 4) CHECK (discount_rate > 0 AND discount_rate < 1),
    max_discount numeric(14, 2) CHECK (max_discount > 0),
    gift_sku text,
    valid_from timestamptz,
    valid_to timestamptz,
    valid_days_after_issue integer CHECK (valid_days_after_issue > 0),
    total_quantity integer CHECK (total_quantity >= 0),
    per_customer_limit integer CHECK (per_customer_limit > 0),
    store_ids uuid[] NOT NULL DEFAULT '{}',
    channels text[] NOT NULL DEFAULT '{}',
    categories text[] NOT NULL DEFAULT '{}',
    skus text[] NOT NULL DEFAULT '{}',
    stackable boolean NOT NULL DEFAULT false,
    unit_cost numeric(14, 2) NOT NULL DEFAULT 0 CHECK (unit_cost >= 0),
    status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'active', 'paused', 'ended')),
    -- coupons issued so far (voided ones included): the quantity limit is checked against it under the row lock
    issued_count integer NOT NULL DEFAULT 0 CHECK (issued_count >= 0),
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (total_quantity IS NULL OR issued_count <= total_quantity),
    CHECK (valid_to IS NOT NULL OR valid_days_after_issue IS NOT NULL)
);
CREATE INDEX coupon_templates_status_idx ON coupon_templates (status, id);

CREATE TABLE coupons (
    code text PRIMARY KEY,
    template_id uuid NOT NULL REFERENCES coupon_templates (id),
    customer_id uuid NOT NULL REFERENCES customers (id),
    source text NOT NULL CHECK (source IN ('campaign', 'claim', 'manual')),
    source_ref text,
    issued_at timestamptz NOT NULL,
    valid_from timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    status text NOT NULL DEFAULT 'available' CHECK (status IN ('available', 'redeemed', 'voided')),
    redeemed_at timestamptz,
    voided_at timestamptz,
    void_reason text,
    -- a checkout reservation holding the coupon until reserved_until
    reserved_by uuid,
    reserved_until timestamptz,
    version integer NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX coupons_customer_idx ON coupons (customer_id, status, expires_at);
CREATE INDEX coupons_template_idx ON coupons (template_id, customer_id);

-- One row per use of a coupon. At most one live (not rolled back, not returned) row per code:
-- the database itself refuses a second 核销.
CREATE TABLE coupon_redemptions (
    id uuid PRIMARY KEY,
    code text NOT NULL REFERENCES coupons (code),
    template_id uuid NOT NULL REFERENCES coupon_templates (id),
    customer_id uuid NOT NULL REFERENCES customers (id),
    order_id uuid REFERENCES orders (id),
    order_reference text,
    store_id uuid REFERENCES stores (id),
    channel text,
    -- the order's amount (GMV) and the discount the coupon gave
    amount numeric(14, 2) NOT NULL DEFAULT 0,
    discount numeric(14, 2) NOT NULL DEFAULT 0,
    actor text NOT NULL,
    redeemed_at timestamptz NOT NULL,
    undone_at timestamptz,
    undone_reason text CHECK (undone_reason IN ('rollback', 'refund'))
);
CREATE UNIQUE INDEX coupon_redemptions_live_idx ON coupon_redemptions (code) WHERE undone_at IS NULL;
CREATE INDEX coupon_redemptions_template_idx ON coupon_redemptions (template_id);
CREATE INDEX coupon_redemptions_order_idx ON coupon_redemptions (order_id) WHERE order_id IS NOT NULL;

CREATE TABLE checkout_reservations (
    id uuid PRIMARY KEY,
    customer_id uuid NOT NULL REFERENCES customers (id),
    store_id uuid REFERENCES stores (id),
    channel text NOT NULL,
    points bigint NOT NULL DEFAULT 0 CHECK (points >= 0),
    coupon_codes text[] NOT NULL DEFAULT '{}',
    quote jsonb NOT NULL,
    status text NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'consumed', 'released')),
    expires_at timestamptz NOT NULL,
    order_id uuid REFERENCES orders (id),
    actor text NOT NULL,
    created_at timestamptz NOT NULL,
    closed_at timestamptz
);
CREATE INDEX checkout_reservations_held_idx ON checkout_reservations (customer_id, expires_at) WHERE status = 'held';

ALTER TABLE orders ADD COLUMN coupon_codes text[] NOT NULL DEFAULT '{}';
ALTER TABLE orders ADD COLUMN reservation_id uuid REFERENCES checkout_reservations (id);
ALTER TABLE order_lines ADD COLUMN tier_discount numeric(14, 2) NOT NULL DEFAULT 0;
ALTER TABLE order_lines ADD COLUMN coupon_discount numeric(14, 2) NOT NULL DEFAULT 0;
