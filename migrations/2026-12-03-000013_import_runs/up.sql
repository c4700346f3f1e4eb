-- `retail-crm import customers|orders FILE.csv` commits a batch at a time; each batch's
-- transaction also moves its run's checkpoint, so an interrupted import resumes exactly where its
-- last committed batch ended (the counts so far, and how long the rejects file was then). A run
-- is the file's content (its SHA-256), the kind and the options: an edited file starts afresh.
CREATE TABLE import_runs (
    id uuid PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('customers', 'orders')),
    file_name text NOT NULL,
    file_sha256 text NOT NULL,
    options jsonb NOT NULL DEFAULT '{}',
    -- where the next batch starts: csv::Position (byte, line, record)
    next_byte bigint NOT NULL DEFAULT 0,
    next_line bigint NOT NULL DEFAULT 0,
    next_record bigint NOT NULL DEFAULT 0,
    rejects_bytes bigint NOT NULL DEFAULT 0,
    batches bigint NOT NULL DEFAULT 0,
    counts jsonb NOT NULL DEFAULT '{}',
    actor text NOT NULL,
    started_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    finished_at timestamptz
);
CREATE INDEX import_runs_unfinished_idx ON import_runs (file_sha256, kind) WHERE finished_at IS NULL;
