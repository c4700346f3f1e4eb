-- The till's hot path (issue 10).

-- One number that changes whenever the program or any tier changes: each sale reads it with its
-- locks and keeps the program and tiers in memory while it stays the same.
ALTER TABLE loyalty_program ADD COLUMN catalogue_version bigint NOT NULL DEFAULT 1;

CREATE FUNCTION loyalty_program_bump_catalogue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.catalogue_version = OLD.catalogue_version THEN
        NEW.catalogue_version := OLD.catalogue_version + 1;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER loyalty_program_catalogue BEFORE UPDATE ON loyalty_program
    FOR EACH ROW EXECUTE FUNCTION loyalty_program_bump_catalogue();

CREATE FUNCTION tiers_bump_catalogue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE loyalty_program SET catalogue_version = catalogue_version + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER tiers_catalogue AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tiers
    FOR EACH STATEMENT EXECUTE FUNCTION tiers_bump_catalogue();

-- Every sale of a store key-share-locked that store's one row to check this reference: with many
-- tills selling at once that is a multixact per sale on one hot row. Stores are deactivated, never
-- deleted, and the sale checks its store in the statement that reads what it needs.
ALTER TABLE orders DROP CONSTRAINT orders_store_id_fkey;
