-- Scale-out on Citus (SPEC §16), fifth part: a lead, a ticket and a ticket's comments carry
-- `owner_id` as an order does: the customer they were opened for, or the lead or ticket itself when
-- it had none (a prospect, an anonymous complaint). Fixed when written: attaching a customer later
-- or a merge changes `customer_id`, a plain column, and never the owner.
ALTER TABLE leads ADD COLUMN owner_id uuid;
UPDATE leads SET owner_id = coalesce(customer_id, id);
ALTER TABLE leads ALTER COLUMN owner_id SET NOT NULL;

ALTER TABLE tickets ADD COLUMN owner_id uuid;
UPDATE tickets SET owner_id = coalesce(customer_id, id);
ALTER TABLE tickets ALTER COLUMN owner_id SET NOT NULL;

ALTER TABLE ticket_comments ADD COLUMN owner_id uuid;
UPDATE ticket_comments c SET owner_id = t.owner_id FROM tickets t WHERE t.id = c.ticket_id;
ALTER TABLE ticket_comments ALTER COLUMN owner_id SET NOT NULL;

-- `customer_id` is no longer what the row is placed by, so it cannot be a key between shards; the
-- code checks the customer when it links one.
ALTER TABLE leads DROP CONSTRAINT leads_customer_id_fkey;
ALTER TABLE tickets DROP CONSTRAINT tickets_customer_id_fkey;
ALTER TABLE ticket_comments DROP CONSTRAINT ticket_comments_ticket_id_fkey;

-- Keys lead with the id (a lookup by id stays one probe) and hold the owner.
ALTER TABLE leads DROP CONSTRAINT leads_pkey, ADD PRIMARY KEY (id, owner_id);
ALTER TABLE tickets DROP CONSTRAINT tickets_pkey, ADD PRIMARY KEY (id, owner_id);
ALTER TABLE ticket_comments DROP CONSTRAINT ticket_comments_pkey, ADD PRIMARY KEY (id, owner_id);
ALTER TABLE ticket_comments ADD CONSTRAINT ticket_comments_ticket_fkey
    FOREIGN KEY (ticket_id, owner_id) REFERENCES tickets (id, owner_id);
