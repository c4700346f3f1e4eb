CREATE INDEX customer_identities_customer_idx ON customer_identities (customer_id);
ALTER TABLE customer_identities DROP CONSTRAINT customer_identities_pkey, ADD PRIMARY KEY (kind, value);
DROP TABLE identity_routes;
