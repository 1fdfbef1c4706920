-- runlogd state, migration 4: failure signatures.

-- Every base signature ever indexed: its template, and the group the
-- grouping put it in (the group's id is its smallest member's). Rows are
-- never deleted, so an id once served keeps answering (for its group).
CREATE TABLE signatures (
    signature  INTEGER PRIMARY KEY,   -- base id, the 64 bits as an integer
    template   TEXT    NOT NULL,
    grouped_as INTEGER NOT NULL
);
CREATE INDEX signatures_by_group ON signatures (grouped_as);

-- Lines of each base signature in each run, by level and source, as
-- indexed: written in the same transaction as the run's record, so the two
-- always agree. An append adds to the counts; a re-index replaces them.
CREATE TABLE run_signatures (
    run_id     INTEGER NOT NULL,
    signature  INTEGER NOT NULL,
    level      INTEGER NOT NULL,
    source     INTEGER NOT NULL,
    lines      INTEGER NOT NULL,
    first_line INTEGER NOT NULL,
    PRIMARY KEY (run_id, signature, level, source)
) WITHOUT ROWID;
-- A signature's runs.
CREATE INDEX run_signatures_by_signature ON run_signatures (signature, run_id);
-- The listing across runs of errors and critical lines (its default),
-- without reading the other levels' rows: nine rows in ten are info and
-- warnings, which this index leaves out (writing them stays cheap).
CREATE INDEX run_signatures_errors ON run_signatures (level, run_id, signature, source, lines, first_line)
    WHERE level >= 3;

-- Per base signature, the runs holding it: kept with run_signatures, so
-- "seen in N runs since run X" is one row read, not a count over runs.
CREATE TABLE signature_runs (
    signature INTEGER PRIMARY KEY,
    runs      INTEGER NOT NULL,
    first_run INTEGER NOT NULL,
    last_run  INTEGER NOT NULL
);
