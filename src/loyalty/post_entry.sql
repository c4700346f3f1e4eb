-- One ledger entry in one round trip (see store.rs `entry_statement`): the lots it draws from, the
-- entry with its running balance, the lot it creates (if any), and the account's new balance and debt.
WITH p AS (
    SELECT CAST(? AS uuid[]) AS draw_ids, CAST(? AS bigint[]) AS draw_points, CAST(? AS uuid) AS customer,
           CAST(? AS text) AS kind, CAST(? AS bigint) AS delta, CAST(? AS bigint) AS balance,
           CAST(? AS uuid) AS order_id, CAST(? AS uuid) AS refund_id, CAST(? AS text) AS reference,
           CAST(? AS text) AS reason, CAST(? AS text) AS actor, CAST(? AS jsonb) AS lots,
           CAST(? AS timestamptz) AS at, CAST(? AS uuid) AS lot_id, CAST(? AS bigint) AS lot_points,
           CAST(? AS timestamptz) AS available_at, CAST(? AS timestamptz) AS expires_at,
           CAST(? AS bigint) AS debt
),
drawn AS (
    UPDATE points_lots l SET remaining = l.remaining - d.take
      FROM p, unnest(p.draw_ids, p.draw_points) AS d(id, take)
     WHERE l.customer_id = p.customer AND l.id = d.id
    RETURNING l.id
),
entry AS (
    INSERT INTO points_entries
        (customer_id, kind, delta, balance_after, order_id, refund_id, reference, reason, actor, lots, occurred_at)
    SELECT customer, kind, delta, balance, order_id, refund_id, reference, reason, actor, lots, at FROM p
    RETURNING id
),
lot AS (
    INSERT INTO points_lots (id, customer_id, entry_id, order_id, amount, remaining, available_at, expires_at)
    SELECT p.lot_id, p.customer, entry.id, p.order_id, p.lot_points, p.lot_points, p.available_at, p.expires_at
      FROM p, entry
     WHERE p.lot_points > 0
    RETURNING id
)
UPDATE points_accounts a SET balance = p.balance, debt = p.debt, updated_at = now()
  FROM p
 WHERE a.customer_id = p.customer
RETURNING (SELECT id FROM entry) AS entry_id
