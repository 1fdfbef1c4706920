-- runlogd state, migration 5: the listing of signatures over every run.

-- Per base signature, level and source: how many runs hold it, its lines in
-- them, and the newest of them. Kept with run_signatures in the same
-- transaction, so the listing over every run (the signatures page's
-- default) reads a row per signature, not a row per run and signature:
-- at 100,000 runs that aggregation took a third of a second.
CREATE TABLE signature_kinds (
    signature INTEGER NOT NULL,
    level     INTEGER NOT NULL,
    source    INTEGER NOT NULL,
    runs      INTEGER NOT NULL,
    lines     INTEGER NOT NULL,
    last_run  INTEGER NOT NULL,
    PRIMARY KEY (signature, level, source)
) WITHOUT ROWID;

INSERT INTO signature_kinds (signature, level, source, runs, lines, last_run)
SELECT signature, level, source, COUNT(*), SUM(lines), MAX(run_id)
FROM run_signatures
GROUP BY signature, level, source;
