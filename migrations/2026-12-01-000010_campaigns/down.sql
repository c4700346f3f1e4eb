ALTER TABLE points_entries DROP CONSTRAINT points_entries_kind_check;
ALTER TABLE points_entries ADD CONSTRAINT points_entries_kind_check
    CHECK (kind IN ('earn', 'redeem', 'expire', 'adjust', 'refund_clawback', 'refund_return',
                    'merge_in', 'merge_out', 'reward'));
DROP INDEX events_type_idx;
DROP TABLE campaign_messages;
DROP TABLE campaign_recipients;
DROP TABLE campaign_runs;
DROP TABLE campaigns;
DROP TABLE marketing_settings;
