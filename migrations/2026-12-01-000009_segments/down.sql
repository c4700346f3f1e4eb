DROP TABLE segments;
DROP TABLE outbox_followers;
DROP TABLE customer_categories;
DROP TABLE customer_activity;
