ALTER TABLE campaign_messages DROP CONSTRAINT campaign_messages_pkey, ADD PRIMARY KEY (id);
ALTER TABLE memberships ADD CONSTRAINT memberships_member_card_key UNIQUE (member_card);
