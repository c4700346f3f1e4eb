-- Changed profiles of an import batch (see bulk_store.rs `write`), after bulk_profiles.sql: each
-- only at the version it was read at, and only while active.
q AS (
    SELECT CAST(? AS int[]) AS versions, CAST(? AS text) AS active
)
UPDATE customers c
   SET name = r.name, gender = r.gender, birthday = r.birthday, phone = r.phone, email = r.email,
       city = r.city, district = r.district, address = r.address, source_channel = r.source_channel,
       home_store_id = r.home_store_id, consents = r.consents, attributes = r.attributes,
       version = c.version + 1, updated_at = p.now
  FROM p, q, r, unnest(p.ids, q.versions) AS v(id, version)
 WHERE c.id = r.id AND v.id = r.id AND c.version = v.version AND c.status = q.active
