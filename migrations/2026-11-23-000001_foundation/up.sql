-- Foundation: access control, outbox, audit, idempotency.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE stores (
    id uuid PRIMARY KEY,
    code text NOT NULL UNIQUE,
    name text NOT NULL,
    city text,
    district text,
    kind text NOT NULL DEFAULT 'store' CHECK (kind IN ('store', 'online')),
    daily_sales_target numeric(14, 2),
    active boolean NOT NULL DEFAULT true,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE staff (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    phone text,
    store_id uuid REFERENCES stores (id),
    roles text[] NOT NULL DEFAULT '{}',
    skills text[] NOT NULL DEFAULT '{}',
    capacity integer NOT NULL DEFAULT 20,
    team text,
    active boolean NOT NULL DEFAULT true,
    username text UNIQUE,
    password_hash text,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX staff_store_idx ON staff (store_id, id);

CREATE TABLE api_clients (
    id uuid PRIMARY KEY,
    client_id text NOT NULL UNIQUE,
    name text NOT NULL,
    secret_hash text NOT NULL,
    scopes text[] NOT NULL,
    store_id uuid REFERENCES stores (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE TABLE audit_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,
    action text NOT NULL,
    resource text NOT NULL,
    resource_id text,
    request_id text,
    detail jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_resource_idx ON audit_log (resource, resource_id, id);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, id);
CREATE RULE audit_log_no_update AS ON UPDATE TO audit_log DO INSTEAD NOTHING;
CREATE RULE audit_log_no_delete AS ON DELETE TO audit_log DO INSTEAD NOTHING;

-- The outbox. `seq` is assigned after commit by a single sequencer (see src/events.rs), so the
-- feed's order is the order in which events became visible and a reader never skips one.
CREATE TABLE events (
    id uuid PRIMARY KEY,
    seq bigint UNIQUE,
    type text NOT NULL,
    occurred_at timestamptz NOT NULL,
    subject_id uuid,
    data jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX events_unsequenced_idx ON events (id) WHERE seq IS NULL;
CREATE INDEX events_subject_idx ON events (subject_id, occurred_at DESC);
CREATE TABLE event_sequencer (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_seq bigint NOT NULL
);
INSERT INTO event_sequencer (last_seq) VALUES (0);

CREATE TABLE idempotency_keys (
    principal text NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    status smallint,
    response_headers jsonb,
    response_body bytea,
    PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
