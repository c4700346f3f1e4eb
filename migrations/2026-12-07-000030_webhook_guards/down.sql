DROP INDEX webhook_deliveries_replay_in_flight;
ALTER TABLE webhook_deliveries DROP COLUMN replayed;
DROP INDEX webhook_subscriptions_by_creator;
ALTER TABLE webhook_subscriptions DROP COLUMN created_by;
