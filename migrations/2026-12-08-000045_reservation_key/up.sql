-- Scale-out on Citus (SPEC §16), sixth part: a checkout reservation always belongs to a customer (it
-- holds their points and coupons) and lives on their shard. Its key leads with the id, so a lookup
-- by id stays one probe. The order that consumed it keeps its id without a foreign key: an order is
-- placed by its owner, not by the reservation.
ALTER TABLE orders DROP CONSTRAINT orders_reservation_id_fkey;
ALTER TABLE checkout_reservations DROP CONSTRAINT checkout_reservations_pkey, ADD PRIMARY KEY (id, customer_id);
