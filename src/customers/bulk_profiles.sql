-- The start of bulk_insert.sql and bulk_update.sql (each is this text followed by its own): the
-- time of the write and the thirteen profile arrays of an import batch as the rows `r`.
WITH p AS (
    SELECT CAST(? AS timestamptz) AS now,
           CAST(? AS uuid[]) AS ids, CAST(? AS text[]) AS names, CAST(? AS text[]) AS genders,
           CAST(? AS date[]) AS birthdays, CAST(? AS text[]) AS phones, CAST(? AS text[]) AS emails,
           CAST(? AS text[]) AS cities, CAST(? AS text[]) AS districts, CAST(? AS text[]) AS addresses,
           CAST(? AS text[]) AS source_channels, CAST(? AS uuid[]) AS home_store_ids,
           CAST(? AS jsonb[]) AS consents, CAST(? AS jsonb[]) AS attributes
),
r AS (
    SELECT u.*
      FROM p, unnest(p.ids, p.names, p.genders, p.birthdays, p.phones, p.emails, p.cities, p.districts,
                     p.addresses, p.source_channels, p.home_store_ids, p.consents, p.attributes)
           AS u(id, name, gender, birthday, phone, email, city, district, address, source_channel,
                home_store_id, consents, attributes)
),
