-- Emergency-plan runs (docs/respond.md#emergency-plans-that-execute).
-- `state` is seawall-respond's Run, JSON, stored before and after every
-- action; `version` starts at 1 and grows with every update, and an update
-- names the version it read (a stale one is refused, never lost).
-- `plan_version`: the plan version the run executes (a push during the
-- run does not change what it does).
-- `finished`: 1 once the run's status is final (succeeded, failed, rolled
-- back, cancelled); at most one unfinished run per event and plan.
CREATE TABLE emergency_runs (
    id           INTEGER PRIMARY KEY,
    event_id     INTEGER NOT NULL REFERENCES events (id),
    plan_version INTEGER NOT NULL,
    plan_id      TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    finished     INTEGER NOT NULL,
    state        TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    requested_by TEXT    NOT NULL,
    created_ms   INTEGER NOT NULL,
    updated_ms   INTEGER NOT NULL
) STRICT;
CREATE INDEX emergency_runs_event ON emergency_runs (event_id, id);
CREATE UNIQUE INDEX emergency_runs_one_unfinished
    ON emergency_runs (event_id, plan_id) WHERE finished = 0;
