ALTER TABLE checkout_reservations DROP CONSTRAINT checkout_reservations_pkey, ADD PRIMARY KEY (id);
ALTER TABLE orders ADD CONSTRAINT orders_reservation_id_fkey FOREIGN KEY (reservation_id) REFERENCES checkout_reservations (id);
