-- New profiles of an import batch (see bulk_store.rs `write`), after bulk_profiles.sql.
q AS (
    SELECT CAST(? AS timestamptz[]) AS created_ats
)
INSERT INTO customers (id, name, gender, birthday, phone, email, city, district, address,
    source_channel, home_store_id, consents, attributes, created_at, updated_at)
SELECT r.*, t.created_at, p.now
  FROM p CROSS JOIN q CROSS JOIN r
  JOIN unnest(p.ids, q.created_ats) AS t(id, created_at) ON t.id = r.id
