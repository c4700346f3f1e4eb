-- SPEC §3.1: the access model's state.

-- A change to a staff member's roles, store or active flag ends the tokens issued before it.
ALTER TABLE staff ADD COLUMN tokens_valid_after timestamptz;

-- An API client's own request rate (NULL: CRM_RATE_LIMIT_RPS; 0: unlimited).
ALTER TABLE api_clients ADD COLUMN rate_limit_rps integer CHECK (rate_limit_rps >= 0);

-- Receipt numbers repeat across stores: the natural key includes the store (a missing store is
-- one value of its own, hence NULLS NOT DISTINCT).
ALTER TABLE orders DROP CONSTRAINT orders_channel_external_id_key;
ALTER TABLE orders ADD CONSTRAINT orders_natural_key UNIQUE NULLS NOT DISTINCT (channel, store_id, external_id);

-- A points adjustment moves at most this many points per call.
ALTER TABLE loyalty_program ADD COLUMN max_adjustment_points bigint NOT NULL DEFAULT 10000
    CHECK (max_adjustment_points > 0);
