-- A new import run, starting after the header (see runs.rs `start`).
WITH p AS (
    SELECT CAST(? AS uuid) AS id, CAST(? AS text) AS kind, CAST(? AS text) AS file_name,
           CAST(? AS text) AS file_sha256, CAST(? AS jsonb) AS options, CAST(? AS bigint) AS next_byte,
           CAST(? AS bigint) AS next_line, CAST(? AS bigint) AS next_record, CAST(? AS bigint) AS rejects_bytes,
           CAST(? AS text) AS actor, CAST(? AS timestamptz) AS now
)
INSERT INTO import_runs (id, kind, file_name, file_sha256, options, next_byte, next_line, next_record,
    rejects_bytes, actor, started_at, updated_at)
SELECT id, kind, file_name, file_sha256, options, next_byte, next_line, next_record,
       rejects_bytes, actor, now, now
  FROM p
