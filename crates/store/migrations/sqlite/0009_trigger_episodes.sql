-- Episodes of metric-triggered emergency plans (docs/respond.md#runs-rollback-and-recovery):
-- since when a plan's `trigger: {target, metric, above, for}` has held
-- (`since_ms`), and whether this episode started a run (`started`: 0 or
-- 1). Kept so that a restart in the middle of a `for` window keeps the
-- episode's start, and a trigger that fired does not fire again: a run
-- is started only by the one update that turns `started` from 0 to 1.
-- The row is deleted when the condition stops holding (the episode ends).
CREATE TABLE trigger_episodes (
    event_id  INTEGER NOT NULL REFERENCES events (id),
    plan_id   TEXT    NOT NULL,
    since_ms  INTEGER NOT NULL,
    started   INTEGER NOT NULL,
    PRIMARY KEY (event_id, plan_id)
) STRICT;
