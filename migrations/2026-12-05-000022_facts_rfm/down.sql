ALTER TABLE customer_facts DROP COLUMN rfm_r, DROP COLUMN rfm_f, DROP COLUMN rfm_m, DROP COLUMN rfm_segment;
