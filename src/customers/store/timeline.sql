-- A customer's events for the timeline, newest first.
--
-- An event about a store-held object (an order, refund, coupon redemption, ticket or lead) is shown
-- to a store-bound principal only when it is that store's: the store the event names in its data,
-- or, for events written before they named it, the store of the row the event is about. A chain
-- object (no store) is no store's. Events of no store (profile changes, points, memberships) show to
-- everyone who may read the customer.
--
-- Events carry ids, not words (SPEC §5), so the ticket's subject and an internal note's text (跨部门
-- 数据共享: sales staff see service's notes) are read from their rows, already cleaned by an erasure.
WITH params AS (
    SELECT $1::uuid[]      AS subjects,   -- the customer and the customers merged into it
           $2::timestamptz AS before_at,  -- the cursor: strictly before (before_at, before_id)
           $3::uuid        AS before_id,
           $4::uuid        AS own_store,  -- the principal's store; NULL for a chain-wide principal
           $5::bigint      AS max_rows
)
SELECT e.id, e.type AS event_type, e.occurred_at, e.data, t.subject AS ticket_subject, c.body AS note
FROM params p
JOIN events e ON e.subject_id = ANY (p.subjects)
LEFT JOIN tickets t ON e.type LIKE 'ticket.%' AND t.id = (e.data ->> 'ticket_id')::uuid
LEFT JOIN ticket_comments c
       ON e.type = 'ticket.commented' AND c.visibility = 'internal' AND c.id = (e.data ->> 'comment_id')::uuid
CROSS JOIN LATERAL (
    SELECT e.type NOT LIKE 'membership.%'
               AND (e.data ? 'store_id'
                    OR e.type LIKE 'order.%' OR e.type LIKE 'ticket.%' OR e.type LIKE 'lead.%'
                    OR e.type IN ('coupon.redeemed', 'coupon.rolled_back', 'coupon.returned')) AS held
) h
WHERE (p.before_at IS NULL OR (e.occurred_at, e.id) < (p.before_at, p.before_id))
  AND (p.own_store IS NULL OR NOT h.held OR p.own_store IS NOT DISTINCT FROM (
        CASE
            WHEN e.data ? 'store_id' THEN (e.data ->> 'store_id')::uuid
            WHEN e.type LIKE 'ticket.%' THEN
                (SELECT t.store_id FROM tickets t WHERE t.id = (e.data ->> 'ticket_id')::uuid)
            WHEN e.type LIKE 'lead.%' THEN
                (SELECT l.store_id FROM leads l WHERE l.id = (e.data ->> 'lead_id')::uuid)
            WHEN e.type LIKE 'order.%' OR e.type = 'coupon.returned' THEN
                (SELECT o.store_id FROM orders o WHERE o.id = (e.data ->> 'order_id')::uuid)
            WHEN e.type = 'coupon.rolled_back' THEN
                (SELECT r.store_id FROM coupon_redemptions r WHERE r.id = (e.data ->> 'redemption_id')::uuid)
        END))
ORDER BY e.occurred_at DESC, e.id DESC
LIMIT (SELECT max_rows FROM params)
