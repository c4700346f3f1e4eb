CREATE TABLE customers (
    id uuid PRIMARY KEY,
    name text,
    gender text NOT NULL DEFAULT 'unknown' CHECK (gender IN ('male', 'female', 'unknown')),
    birthday date,
    phone text,
    email text,
    city text,
    district text,
    address text,
    source_channel text,
    home_store_id uuid REFERENCES stores (id),
    consents jsonb NOT NULL DEFAULT '{}',
    attributes jsonb NOT NULL DEFAULT '{}',
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'merged', 'erased')),
    merged_into uuid REFERENCES customers (id),
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- last four digits of the phone, for the till's "last 4" search
    phone_last4 text GENERATED ALWAYS AS (right(phone, 4)) STORED
);
CREATE INDEX customers_phone_last4_idx ON customers (phone_last4, id) WHERE status = 'active';
CREATE INDEX customers_name_trgm_idx ON customers USING gin (name gin_trgm_ops);
CREATE INDEX customers_city_idx ON customers (city, id);
CREATE INDEX customers_home_store_idx ON customers (home_store_id, id);
CREATE INDEX customers_created_idx ON customers (created_at, id);

-- (kind, value) is globally unique: identities belong to live customers only (erasure deletes
-- them, merge moves them), so lookups by any identity hit exactly one row through the key.
CREATE TABLE customer_identities (
    kind text NOT NULL,
    value text NOT NULL,
    customer_id uuid NOT NULL REFERENCES customers (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, value)
);
CREATE INDEX customer_identities_customer_idx ON customer_identities (customer_id);

CREATE TABLE tags (
    name text PRIMARY KEY,
    kind text NOT NULL DEFAULT 'manual' CHECK (kind IN ('manual', 'rule')),
    description text,
    definition jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE customer_tags (
    customer_id uuid NOT NULL REFERENCES customers (id),
    tag text NOT NULL REFERENCES tags (name),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, tag)
);
CREATE INDEX customer_tags_tag_idx ON customer_tags (tag, customer_id);

CREATE TABLE customer_notes (
    id uuid PRIMARY KEY,
    customer_id uuid NOT NULL REFERENCES customers (id),
    body text NOT NULL,
    author text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_notes_customer_idx ON customer_notes (customer_id, created_at DESC);
