-- A batch's messages as one statement of column arrays (see mod.rs `insert_messages`).
WITH p AS (
    SELECT CAST(? AS uuid[]) AS ids, CAST(? AS uuid[]) AS campaign_ids, CAST(? AS uuid[]) AS customer_ids,
           CAST(? AS text[]) AS occurrences, CAST(? AS text[]) AS channels, CAST(? AS text[]) AS recipients,
           CAST(? AS text[]) AS bodies, CAST(? AS text[]) AS coupon_codes, CAST(? AS text[]) AS statuses,
           CAST(? AS timestamptz[]) AS send_ats, CAST(? AS timestamptz[]) AS sent_ats, CAST(? AS text[]) AS reasons,
           CAST(? AS timestamptz[]) AS status_ats, CAST(? AS timestamptz[]) AS created_ats
)
INSERT INTO campaign_messages (id, campaign_id, customer_id, occurrence, channel, recipient, body,
                               coupon_code, status, send_at, sent_at, reason, status_at, created_at)
SELECT m.* FROM p, unnest(p.ids, p.campaign_ids, p.customer_ids, p.occurrences, p.channels, p.recipients,
                          p.bodies, p.coupon_codes, p.statuses, p.send_ats, p.sent_ats, p.reasons,
                          p.status_ats, p.created_ats) AS m
