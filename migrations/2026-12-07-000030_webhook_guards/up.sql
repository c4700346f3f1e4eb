-- Issue 22: a cap on the subscriptions one principal creates, and one replay at a time per
-- subscription.

-- Who created each subscription (the JWT `sub`), counted against MAX_SUBSCRIPTIONS_PER_PRINCIPAL.
-- Older subscriptions take it from their creation's audit entry; one without any counts for nobody.
ALTER TABLE webhook_subscriptions ADD COLUMN created_by text;
UPDATE webhook_subscriptions s
SET created_by = a.actor
FROM audit_log a
WHERE a.action = 'webhook.create' AND a.resource = 'webhook_subscription' AND a.resource_id = s.id::text;
CREATE INDEX webhook_subscriptions_by_creator ON webhook_subscriptions (created_by);

-- Queued (again) by a replay rather than by the dispatcher or a manual retry. While any such delivery
-- of a subscription is still pending or being sent, another replay of it is refused.
ALTER TABLE webhook_deliveries ADD COLUMN replayed boolean NOT NULL DEFAULT false;
CREATE INDEX webhook_deliveries_replay_in_flight ON webhook_deliveries (subscription_id)
    WHERE replayed AND status IN ('pending', 'sending');
