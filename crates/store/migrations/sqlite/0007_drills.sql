-- Drills of emergency plans (docs/respond.md#drills). `state` is the
-- control plane's drill record, JSON: the fault and its lease, the steps'
-- verdicts and times. `version` starts at 1 and grows with every update,
-- and an update names the version it read (a stale one is refused).
-- `finished`: 1 once the drill has its verdict (passed, failed, stopped);
-- at most one unfinished drill per event and plan.
CREATE TABLE drills (
    id           INTEGER PRIMARY KEY,
    event_id     INTEGER NOT NULL REFERENCES events (id),
    plan_id      TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    finished     INTEGER NOT NULL,
    state        TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    created_ms   INTEGER NOT NULL,
    updated_ms   INTEGER NOT NULL
) STRICT;
CREATE INDEX drills_event ON drills (event_id, id);
CREATE UNIQUE INDEX drills_one_unfinished
    ON drills (event_id, plan_id) WHERE finished = 0;
