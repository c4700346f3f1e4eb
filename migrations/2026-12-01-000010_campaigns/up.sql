-- Campaigns (issue 11): who was reached or suppressed and why, the messages, and the settings of
-- the contact policy.

CREATE TABLE marketing_settings (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    frequency_max integer NOT NULL DEFAULT 3 CHECK (frequency_max >= 0),
    frequency_days integer NOT NULL DEFAULT 7 CHECK (frequency_days BETWEEN 1 AND 365),
    -- Both null: no quiet hours.
    quiet_start time,
    quiet_end time,
    version integer NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
);
INSERT INTO marketing_settings (quiet_start, quiet_end) VALUES ('21:00', '09:00');

CREATE TABLE campaigns (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('one_off', 'scheduled', 'triggered')),
    status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'active', 'paused', 'completed')),
    segment_id uuid REFERENCES segments (id),
    trigger jsonb,
    actions jsonb NOT NULL,
    starts_at timestamptz,
    ends_at timestamptz,
    budget numeric(14, 2),
    cost_per_message numeric(14, 4) NOT NULL DEFAULT 0,
    holdout_percent integer NOT NULL DEFAULT 0 CHECK (holdout_percent BETWEEN 0 AND 50),
    attribution_days integer NOT NULL DEFAULT 14,
    activated_at timestamptz,
    completed_at timestamptz,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaigns_status_idx ON campaigns (status);

-- A run of a campaign over its audience: a one-off or scheduled campaign's only run (`once`), one
-- business day of a daily trigger's scan (the date), or the standing scan of an event trigger
-- (`events`). Each batch claims the row with FOR UPDATE SKIP LOCKED; `cursor` is the last
-- customer done, so a run that died is taken over where it stopped.
CREATE TABLE campaign_runs (
    campaign_id uuid NOT NULL REFERENCES campaigns (id),
    run text NOT NULL,
    cursor uuid,
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    PRIMARY KEY (campaign_id, run)
);

-- Each customer is decided once per campaign and occurrence (a birthday campaign: once a year):
-- this key is what makes two instances never reach a customer twice.
CREATE TABLE campaign_recipients (
    campaign_id uuid NOT NULL REFERENCES campaigns (id),
    customer_id uuid NOT NULL,
    occurrence text NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('reached', 'suppressed', 'holdout')),
    reason text,
    coupon_code text,
    points bigint NOT NULL DEFAULT 0,
    cost numeric(14, 4) NOT NULL DEFAULT 0,
    decided_at timestamptz NOT NULL,
    PRIMARY KEY (campaign_id, customer_id, occurrence)
);
CREATE INDEX campaign_recipients_customer_idx ON campaign_recipients (customer_id);

CREATE TABLE campaign_messages (
    id uuid PRIMARY KEY,
    campaign_id uuid NOT NULL REFERENCES campaigns (id),
    customer_id uuid NOT NULL,
    occurrence text NOT NULL,
    channel text NOT NULL CHECK (channel IN ('sms', 'email', 'wechat')),
    recipient text NOT NULL,
    body text NOT NULL,
    coupon_code text,
    -- deferred: waiting for the end of quiet hours; sent: handed to the gateway (the event).
    status text NOT NULL CHECK (status IN ('deferred', 'sent', 'delivered', 'failed', 'clicked')),
    send_at timestamptz NOT NULL,
    sent_at timestamptz,
    -- Why a message failed: the gateway's word, or `consent_revoked` / `not_live` at release.
    reason text,
    status_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX campaign_messages_customer_idx ON campaign_messages (customer_id, created_at);
CREATE INDEX campaign_messages_campaign_idx ON campaign_messages (campaign_id);
CREATE INDEX campaign_messages_deferred_idx ON campaign_messages (send_at) WHERE status = 'deferred';

-- Event triggers scan tier moves and abandoned carts since a campaign's activation.
CREATE INDEX tier_changes_occurred_idx ON tier_changes (occurred_at);
CREATE INDEX leads_abandoned_cart_idx ON leads (created_at) WHERE kind = 'cart_abandoned';

-- Bonus points a campaign awards go through the ledger as their own kind of entry.
ALTER TABLE points_entries DROP CONSTRAINT points_entries_kind_check;
ALTER TABLE points_entries ADD CONSTRAINT points_entries_kind_check
    CHECK (kind IN ('earn', 'redeem', 'expire', 'adjust', 'refund_clawback', 'refund_return',
                    'merge_in', 'merge_out', 'reward', 'campaign'));
