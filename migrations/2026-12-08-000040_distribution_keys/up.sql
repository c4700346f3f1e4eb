-- Scale-out on Citus (SPEC §16), first part: what kept the configuration from becoming reference
-- tables and the customer's ledger from being distributed by customer. Plain PostgreSQL keeps
-- working exactly as before; each change is also right on one node.
--
-- Citus runs no triggers on reference tables: the writes that change the loyalty catalogue (the
-- program, any tier) bump `catalogue_version` themselves, in the same statement or transaction.
DROP TRIGGER loyalty_program_catalogue ON loyalty_program;
DROP FUNCTION loyalty_program_bump_catalogue();
DROP TRIGGER tiers_catalogue ON tiers;
DROP FUNCTION tiers_bump_catalogue();

-- A merged customer points at its survivor, which may live on another shard: a foreign key between
-- two rows of a distributed table must stay on one shard. The merge itself writes the pointer.
ALTER TABLE customers DROP CONSTRAINT customers_merged_into_fkey;

-- Every customer-owned row is keyed by its customer first, so its rows hash to the customer's
-- shard and a key lookup names the shard. The old (customer_id, id) index is now the key itself.
ALTER TABLE points_entries DROP CONSTRAINT points_entries_pkey, ADD PRIMARY KEY (customer_id, id);
DROP INDEX points_entries_customer_idx;
ALTER TABLE points_lots DROP CONSTRAINT points_lots_pkey, ADD PRIMARY KEY (customer_id, id);
ALTER TABLE reward_redemptions DROP CONSTRAINT reward_redemptions_pkey, ADD PRIMARY KEY (customer_id, id);
ALTER TABLE tier_changes DROP CONSTRAINT tier_changes_pkey, ADD PRIMARY KEY (customer_id, id);
ALTER TABLE customer_notes DROP CONSTRAINT customer_notes_pkey, ADD PRIMARY KEY (customer_id, id);
