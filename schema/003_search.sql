-- runlogd state, migration 3: search across runs and the listing of logs.

-- Lines of each level, per run, as indexed: the listing shows them without
-- reading the index. Kept up to date with lines_indexed (an append adds).
ALTER TABLE runs ADD COLUMN debug_lines    INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN info_lines     INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN warning_lines  INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN error_lines    INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN critical_lines INTEGER NOT NULL DEFAULT 0;

-- The listing and `since`/`until` filter by when a log landed.
CREATE INDEX runs_by_mtime ON runs (mtime_ns);
