-- Issue 22: the most points one campaign's award_points may give one customer per occurrence
-- (NULL: max_adjustment_points, the bound a hand adjustment has).
ALTER TABLE loyalty_program ADD COLUMN max_campaign_award_points bigint CHECK (max_campaign_award_points > 0);

-- The category names a marketing message may show ({{usual_categories}}, {{recommended_categories}}):
-- order lines carry whatever a till sends, so messages name only what a chain-wide principal put here.
CREATE TABLE message_categories (
    name text PRIMARY KEY CHECK (char_length(name) BETWEEN 1 AND 20),
    created_at timestamptz NOT NULL
);
