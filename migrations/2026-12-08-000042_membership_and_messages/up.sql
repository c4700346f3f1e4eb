-- Scale-out on Citus (SPEC §16), third part.
-- A member card is unique because enrolment claims it as the customer's `member_card` identity in
-- the same transaction (identity_routes decides); a second, table-wide unique index could not be
-- kept on a table distributed by customer.
ALTER TABLE memberships DROP CONSTRAINT memberships_member_card_key;

-- Campaign messages belong to their recipient's shard. A delivery report names only the message:
-- the key leads with the id, so that lookup needs no index of its own.
ALTER TABLE campaign_messages DROP CONSTRAINT campaign_messages_pkey, ADD PRIMARY KEY (id, customer_id);
