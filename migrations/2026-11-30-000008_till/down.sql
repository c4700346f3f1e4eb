ALTER TABLE orders ADD CONSTRAINT orders_store_id_fkey FOREIGN KEY (store_id) REFERENCES stores (id);
DROP TRIGGER tiers_catalogue ON tiers;
DROP FUNCTION tiers_bump_catalogue();
DROP TRIGGER loyalty_program_catalogue ON loyalty_program;
DROP FUNCTION loyalty_program_bump_catalogue();
ALTER TABLE loyalty_program DROP COLUMN catalogue_version;
