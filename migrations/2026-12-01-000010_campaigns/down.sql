ALTER TABLE points_entries DROP CONSTRAINT points_entries_kind_check;
ALTER TABLE points_entries ADD CONSTRAINT points_entries_kind_check
    CHECK (kind IN ('earn', 'redeem', 'expire', 'adjust', 'refund_clawback', 'refund_return',
                    'merge_in', 'merge_out', 'reward'));
DROP INDEX leads_abandoned_cart_idx;
DROP INDEX tier_changes_occurred_idx;
DROP TABLE campaign_messages;
DROP TABLE campaign_recipients;
DROP TABLE campaign_runs;
DROP TABLE campaigns;
DROP TABLE marketing_settings;
