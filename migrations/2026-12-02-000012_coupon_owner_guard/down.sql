ALTER TABLE coupons ADD CONSTRAINT coupons_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id);
