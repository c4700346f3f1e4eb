-- Memberships, tiers, the loyalty program, orders and the points ledger.

CREATE TABLE tiers (
    code text PRIMARY KEY,
    name text NOT NULL,
    rank integer NOT NULL UNIQUE,
    min_annual_spend numeric(14, 2) NOT NULL CHECK (min_annual_spend >= 0),
    discount_rate numeric(5, 4) NOT NULL CHECK (discount_rate > 0 AND discount_rate <= 1),
    points_multiplier numeric(6, 3) NOT NULL CHECK (points_multiplier >= 0),
    benefits text[] NOT NULL DEFAULT '{}',
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO tiers (code, name, rank, min_annual_spend, discount_rate, points_multiplier, benefits) VALUES
    ('normal', '普通会员', 0, 0, 1.0, 1.0, '{}'),
    ('silver', '银卡', 1, 5000, 0.95, 1.0, '{"9.5折"}'),
    ('gold', '金卡', 2, 15000, 0.90, 1.0, '{"9折","一对一服务"}');

CREATE TABLE loyalty_program (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    earn_rate numeric(10, 4) NOT NULL DEFAULT 1 CHECK (earn_rate >= 0),
    redeem_unit_points bigint NOT NULL DEFAULT 100 CHECK (redeem_unit_points > 0),
    redeem_unit_value numeric(14, 2) NOT NULL DEFAULT 10 CHECK (redeem_unit_value > 0),
    max_points_offset_ratio numeric(5, 4) NOT NULL DEFAULT 0.5 CHECK (max_points_offset_ratio >= 0 AND max_points_offset_ratio <= 1),
    points_ttl_days integer NOT NULL DEFAULT 365 CHECK (points_ttl_days > 0),
    points_pending_days integer NOT NULL DEFAULT 0 CHECK (points_pending_days >= 0),
    tier_validity_days integer NOT NULL DEFAULT 365 CHECK (tier_validity_days > 0),
    version integer NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO loyalty_program DEFAULT VALUES;

CREATE TABLE memberships (
    customer_id uuid PRIMARY KEY REFERENCES customers (id),
    member_card text NOT NULL UNIQUE,
    tier_code text NOT NULL REFERENCES tiers (code),
    enrolled_at timestamptz NOT NULL,
    channel text,
    store_id uuid REFERENCES stores (id),
    tier_since timestamptz NOT NULL,
    tier_valid_until timestamptz,
    version integer NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX memberships_tier_idx ON memberships (tier_code, customer_id);
CREATE INDEX memberships_store_idx ON memberships (store_id, customer_id);
CREATE INDEX memberships_review_idx ON memberships (tier_valid_until) WHERE tier_valid_until IS NOT NULL;

CREATE TABLE tier_changes (
    id uuid PRIMARY KEY,
    customer_id uuid NOT NULL REFERENCES customers (id),
    from_tier text,
    to_tier text NOT NULL,
    reason text NOT NULL,
    note text,
    actor text NOT NULL,
    occurred_at timestamptz NOT NULL
);
CREATE INDEX tier_changes_customer_idx ON tier_changes (customer_id, occurred_at DESC);

CREATE TABLE orders (
    id uuid PRIMARY KEY,
    external_id text NOT NULL,
    channel text NOT NULL,
    store_id uuid REFERENCES stores (id),
    customer_id uuid REFERENCES customers (id),
    occurred_at timestamptz NOT NULL,
    pricing text NOT NULL CHECK (pricing IN ('crm', 'external')),
    total_amount numeric(14, 2) NOT NULL,
    tier_discount numeric(14, 2) NOT NULL DEFAULT 0,
    coupon_discount numeric(14, 2) NOT NULL DEFAULT 0,
    points_redeemed bigint NOT NULL DEFAULT 0,
    points_offset numeric(14, 2) NOT NULL DEFAULT 0,
    paid_amount numeric(14, 2) NOT NULL CHECK (paid_amount >= 0),
    refunded_amount numeric(14, 2) NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0 AND refunded_amount <= paid_amount),
    points_earned bigint NOT NULL DEFAULT 0,
    points_clawed_back bigint NOT NULL DEFAULT 0,
    points_returned bigint NOT NULL DEFAULT 0,
    -- the rates in force when the order was earned, so refunds claw back by the same rule
    earn_rate numeric(10, 4) NOT NULL DEFAULT 0,
    points_multiplier numeric(6, 3) NOT NULL DEFAULT 0,
    tier_code text,
    tier_after text,
    tier_changed boolean NOT NULL DEFAULT false,
    points_balance_after bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel, external_id)
);
CREATE INDEX orders_customer_idx ON orders (customer_id, occurred_at);
CREATE INDEX orders_store_idx ON orders (store_id, occurred_at);
CREATE INDEX orders_occurred_idx ON orders (occurred_at);

CREATE TABLE order_lines (
    order_id uuid NOT NULL REFERENCES orders (id),
    line_no integer NOT NULL,
    sku text NOT NULL,
    name text,
    category text,
    quantity integer NOT NULL CHECK (quantity > 0),
    unit_price numeric(14, 2) NOT NULL,
    amount numeric(14, 2) NOT NULL,
    discounted_amount numeric(14, 2) NOT NULL,
    refunded_quantity integer NOT NULL DEFAULT 0,
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE refunds (
    id uuid PRIMARY KEY,
    order_id uuid NOT NULL REFERENCES orders (id),
    external_id text NOT NULL,
    amount numeric(14, 2) NOT NULL CHECK (amount > 0),
    lines jsonb NOT NULL DEFAULT '[]',
    points_clawed_back bigint NOT NULL DEFAULT 0,
    points_returned bigint NOT NULL DEFAULT 0,
    points_balance_after bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (order_id, external_id)
);

-- One row per member with points: the row every value-moving transaction locks first.
CREATE TABLE points_accounts (
    customer_id uuid PRIMARY KEY REFERENCES customers (id),
    balance bigint NOT NULL DEFAULT 0,
    debt bigint NOT NULL DEFAULT 0 CHECK (debt >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Append-only. Never updated or deleted.
CREATE TABLE points_entries (
    id bigserial PRIMARY KEY,
    customer_id uuid NOT NULL REFERENCES customers (id),
    kind text NOT NULL CHECK (kind IN ('earn', 'redeem', 'expire', 'adjust', 'refund_clawback', 'refund_return',
                                       'merge_in', 'merge_out', 'reward')),
    delta bigint NOT NULL,
    balance_after bigint NOT NULL,
    order_id uuid,
    refund_id uuid,
    reference text,
    reason text,
    actor text NOT NULL,
    -- the lots a debit drew from: [{"lot_id": ..., "points": n}]
    lots jsonb NOT NULL DEFAULT '[]',
    occurred_at timestamptz NOT NULL
);
CREATE INDEX points_entries_customer_idx ON points_entries (customer_id, id);
CREATE RULE points_entries_no_update AS ON UPDATE TO points_entries DO INSTEAD NOTHING;
CREATE RULE points_entries_no_delete AS ON DELETE TO points_entries DO INSTEAD NOTHING;

-- Each earning is a lot; debits consume lots soonest-expiry first.
CREATE TABLE points_lots (
    id uuid PRIMARY KEY,
    customer_id uuid NOT NULL REFERENCES customers (id),
    entry_id bigint NOT NULL,
    order_id uuid,
    amount bigint NOT NULL CHECK (amount > 0),
    remaining bigint NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
    available_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX points_lots_live_idx ON points_lots (customer_id, expires_at) WHERE remaining > 0;
CREATE INDEX points_lots_expiry_idx ON points_lots (expires_at) WHERE remaining > 0;

CREATE TABLE rewards (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    description text,
    points_cost bigint NOT NULL CHECK (points_cost > 0),
    stock integer NOT NULL CHECK (stock >= 0),
    active boolean NOT NULL DEFAULT true,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE reward_redemptions (
    id uuid PRIMARY KEY,
    customer_id uuid NOT NULL REFERENCES customers (id),
    reward_id uuid NOT NULL REFERENCES rewards (id),
    quantity integer NOT NULL CHECK (quantity > 0),
    points bigint NOT NULL,
    entry_id bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reward_redemptions_customer_idx ON reward_redemptions (customer_id, created_at);

-- Daily jobs run once per business day across all instances: the insert is the claim.
CREATE TABLE job_runs (
    job text NOT NULL,
    business_date date NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    result jsonb,
    PRIMARY KEY (job, business_date)
);
