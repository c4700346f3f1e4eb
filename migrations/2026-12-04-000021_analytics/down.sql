DELETE FROM outbox_followers WHERE name IN ('sales_summary', 'co_purchase');
DROP TABLE rfm_snapshot;
DROP TABLE customer_rfm;
ALTER TABLE customer_categories DROP COLUMN bought_days;
ALTER TABLE customer_activity DROP COLUMN usual_interval_days;
DROP TABLE co_purchases;
DROP TABLE order_baskets;
DROP TABLE category_sales_daily;
DROP TABLE sales_daily;
