ALTER TABLE customer_notes DROP CONSTRAINT customer_notes_pkey, ADD PRIMARY KEY (id);
ALTER TABLE tier_changes DROP CONSTRAINT tier_changes_pkey, ADD PRIMARY KEY (id);
ALTER TABLE reward_redemptions DROP CONSTRAINT reward_redemptions_pkey, ADD PRIMARY KEY (id);
ALTER TABLE points_lots DROP CONSTRAINT points_lots_pkey, ADD PRIMARY KEY (id);
CREATE INDEX points_entries_customer_idx ON points_entries (customer_id, id);
ALTER TABLE points_entries DROP CONSTRAINT points_entries_pkey, ADD PRIMARY KEY (id);
ALTER TABLE customers ADD CONSTRAINT customers_merged_into_fkey FOREIGN KEY (merged_into) REFERENCES customers (id);
CREATE FUNCTION tiers_bump_catalogue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE loyalty_program SET catalogue_version = catalogue_version + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER tiers_catalogue AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tiers
    FOR EACH STATEMENT EXECUTE FUNCTION tiers_bump_catalogue();
CREATE FUNCTION loyalty_program_bump_catalogue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.catalogue_version = OLD.catalogue_version THEN
        NEW.catalogue_version := OLD.catalogue_version + 1;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER loyalty_program_catalogue BEFORE UPDATE ON loyalty_program
    FOR EACH ROW EXECUTE FUNCTION loyalty_program_bump_catalogue();
