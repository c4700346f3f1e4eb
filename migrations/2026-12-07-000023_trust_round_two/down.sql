DROP TABLE message_categories;
ALTER TABLE loyalty_program DROP COLUMN max_campaign_award_points;
