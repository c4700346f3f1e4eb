-- A coupon's customer is checked by coupon issue under the customer's guard (an advisory lock a
-- merge or an erasure takes exclusively, `customers::store::guard`), and customers are never deleted
-- (an erasure keeps the row). The foreign key only added a row lock (FOR KEY SHARE) on every
-- customer a coupon went to: a campaign batch held 500 customer rows locked, so their profiles
-- could not be edited until it committed, and wrote each customer's page (with a full-page image in
-- the WAL: 316 of the 523 MB a 100,000-customer campaign wrote).
ALTER TABLE coupons DROP CONSTRAINT coupons_customer_id_fkey;
