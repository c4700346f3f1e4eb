ALTER TABLE loyalty_program DROP COLUMN max_adjustment_points;
ALTER TABLE orders DROP CONSTRAINT orders_natural_key;
ALTER TABLE orders ADD CONSTRAINT orders_channel_external_id_key UNIQUE (channel, external_id);
ALTER TABLE api_clients DROP COLUMN rate_limit_rps;
ALTER TABLE staff DROP COLUMN tokens_valid_after;
