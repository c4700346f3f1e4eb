-- A time-ordered id made in SQL (UUID v7: milliseconds since the epoch, then random bits), for rows
-- a statement creates in bulk, so they list in creation order as the ids the service makes do.
CREATE FUNCTION uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
        PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
        FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$;

-- Webhook subscriptions (SPEC §10). Each follows the outbox from `cursor_seq`: the dispatcher turns
-- the events it wants into deliveries, and a delivery worker sends them (Standard Webhooks).
CREATE TABLE webhook_subscriptions (
    id uuid PRIMARY KEY,
    url text NOT NULL,
    event_types text[] NOT NULL,
    active boolean NOT NULL DEFAULT true,
    description text,
    secret text NOT NULL,
    -- Still signed with, beside the new one, until `previous_secret_until` (rotation).
    previous_secret text,
    previous_secret_until timestamptz,
    -- Why the service disabled it (`gone`: a 410; `failing`: 5 days of failures); null when it did not.
    disabled_reason text,
    disabled_at timestamptz,
    -- Since when every delivery has failed (null after any success).
    failing_since timestamptz,
    -- The last feed position the dispatcher has looked at for this subscription.
    cursor_seq bigint NOT NULL DEFAULT 0,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One per (subscription, event): the `webhook-id` is the event's id on every attempt.
CREATE TABLE webhook_deliveries (
    id uuid PRIMARY KEY,
    subscription_id uuid NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_id uuid NOT NULL,
    event_seq bigint NOT NULL,
    event_type text NOT NULL,
    -- pending → sending → succeeded | failed; back to pending for a retry.
    status text NOT NULL DEFAULT 'pending',
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    first_failed_at timestamptz,
    -- A claim's lease: a `sending` delivery whose lease ran out belonged to an instance that died.
    lease_until timestamptz,
    last_response_code integer,
    last_error text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (subscription_id, next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_sending ON webhook_deliveries (subscription_id, lease_until) WHERE status = 'sending';
CREATE INDEX webhook_deliveries_by_subscription ON webhook_deliveries (subscription_id, id);

-- Every attempt, for the deliveries log.
CREATE TABLE webhook_attempts (
    id uuid PRIMARY KEY,
    delivery_id uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at timestamptz NOT NULL,
    succeeded boolean NOT NULL,
    response_code integer,
    duration_ms integer NOT NULL,
    error text
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, attempted_at);
