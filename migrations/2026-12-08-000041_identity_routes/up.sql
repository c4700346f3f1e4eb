-- Scale-out on Citus (SPEC §16), second part: an identity is looked up by (kind, value) before the
-- customer is known, and shown with its customer afterwards. On a cluster those are two different
-- distributions, so they are two tables:
-- - identity_routes, keyed by the identity (distributed by value): who holds it. The claim is
--   decided here, so an identity stays globally unique;
-- - customer_identities, keyed by the customer (co-located with the customer's other rows): what a
--   profile and the till's card list.
-- Every write changes both in one transaction; on one PostgreSQL nothing else changes.
CREATE TABLE identity_routes (
    kind text NOT NULL,
    value text NOT NULL,
    customer_id uuid NOT NULL,
    PRIMARY KEY (kind, value)
);
INSERT INTO identity_routes (kind, value, customer_id) SELECT kind, value, customer_id FROM customer_identities;

ALTER TABLE customer_identities DROP CONSTRAINT customer_identities_pkey, ADD PRIMARY KEY (customer_id, kind, value);
DROP INDEX customer_identities_customer_idx;
