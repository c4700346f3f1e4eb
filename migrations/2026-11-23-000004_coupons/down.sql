ALTER TABLE order_lines DROP COLUMN coupon_discount;
ALTER TABLE order_lines DROP COLUMN tier_discount;
ALTER TABLE orders DROP COLUMN reservation_id;
ALTER TABLE orders DROP COLUMN coupon_codes;
DROP TABLE checkout_reservations;
DROP TABLE coupon_redemptions;
DROP TABLE coupons;
DROP TABLE coupon_templates;
