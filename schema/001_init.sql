-- runlogd state, migration 1.
-- Applied once by the store at start (PRAGMA user_version tracks what ran).

-- One row per run log the daemon has indexed. The tantivy index holds the
-- lines; this table remembers which version of which file they came from, so a
-- restart re-indexes only what changed.
CREATE TABLE runs (
    run_id        INTEGER PRIMARY KEY,          -- from the file name {run_id}.txt
    path          TEXT    NOT NULL,             -- file the lines came from
    size          INTEGER NOT NULL,             -- file size when last indexed (bytes)
    mtime_ns      INTEGER NOT NULL,             -- file mtime when last indexed (ns since epoch)
    fingerprint   BLOB    NOT NULL,             -- digest of the indexed bytes (see ingest::fingerprint)
    bytes_indexed INTEGER NOT NULL,             -- bytes of the file consumed by the parser
    lines_indexed INTEGER NOT NULL,             -- lines of the file in the index
    generation    INTEGER NOT NULL,             -- changes when the content is replaced; cursors carry it
    parse_section INTEGER NOT NULL DEFAULT 0,   -- parser section at bytes_indexed (for appends)
    indexed_at    INTEGER NOT NULL              -- unix seconds
);

-- API tokens. Only the SHA-256 of a token is kept; the token itself is shown
-- once, when it is created.
CREATE TABLE tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    hash        BLOB    NOT NULL UNIQUE,        -- SHA-256 of the whole token string
    name        TEXT    NOT NULL DEFAULT '',
    scopes      TEXT    NOT NULL,               -- space-separated
    created_at  INTEGER NOT NULL,               -- unix seconds
    expires_at  INTEGER NOT NULL,               -- unix seconds
    revoked_at  INTEGER                         -- unix seconds, NULL while valid
);

-- Small per-data-directory values: the cursor signing key, the generation counter.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
