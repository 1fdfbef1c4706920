-- runlogd state, migration 2: the Google Cloud Storage mirror.

-- One row per `{prefix}{run_id}.txt` object seen in the bucket at the last
-- sync (or fetched on a first request). A listing that no longer shows the
-- object removes its row. The copy's file is in `mirrored_path`; NULL means
-- no copy was needed because `LogFiles/` already held the same or a newer file.
CREATE TABLE gcs_objects (
    run_id        INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,             -- object name in the bucket
    etag          TEXT,                         -- as listed; changes when the object does
    generation    TEXT,                         -- x-goog-generation of the copy, when downloaded
    size          INTEGER NOT NULL,             -- bytes
    updated_ns    INTEGER NOT NULL,             -- object update time (ns since epoch)
    mirrored_path TEXT,                         -- the downloaded copy, if any
    synced_at     INTEGER NOT NULL              -- unix seconds
);
