-- Event-day monitoring (docs/monitoring.md#control-plane).
-- admin_addr: the admin `host:port` a sidecar reports, scraped by the
--             control plane's built-in scrape (NULL: none reported).
ALTER TABLE sidecar_reports ADD COLUMN admin_addr TEXT;

-- The alert engine's states per event (seawall-monitor's Snapshot, JSON),
-- written with every tick that changed a state, so a restart restores
-- them and neither loses nor re-fires a firing alert.
CREATE TABLE alert_snapshots (
    event_id   INTEGER PRIMARY KEY REFERENCES events (id),
    snapshot   TEXT    NOT NULL,
    updated_ms INTEGER NOT NULL
) STRICT;

-- Every alert state change (pending, fired, resolved, cancelled), each
-- with its audit entry; `transition` is seawall-monitor's Transition, JSON.
CREATE TABLE alert_transitions (
    id         INTEGER PRIMARY KEY,
    event_id   INTEGER NOT NULL REFERENCES events (id),
    rule       TEXT    NOT NULL,
    change     TEXT    NOT NULL,
    at_ms      INTEGER NOT NULL,
    transition TEXT    NOT NULL
) STRICT;
CREATE INDEX alert_transitions_event ON alert_transitions (event_id, id);

-- Telemetry history: one series per event, kind and target id; points in
-- fixed slots per tier (slot = t_s / step mod the tier's length), so a
-- series holds at most 360 + 360 + 576 points whatever the event's length.
-- `point` is the 26-byte little-endian encoding of seawall-monitor's Point.
CREATE TABLE history_series (
    id       INTEGER PRIMARY KEY,
    event_id INTEGER NOT NULL REFERENCES events (id),
    kind     TEXT    NOT NULL,
    target   TEXT    NOT NULL,
    UNIQUE (event_id, kind, target)
) STRICT;
CREATE TABLE history_points (
    series_id INTEGER NOT NULL REFERENCES history_series (id),
    tier      INTEGER NOT NULL,
    slot      INTEGER NOT NULL,
    point     BLOB    NOT NULL,
    PRIMARY KEY (series_id, tier, slot)
) STRICT, WITHOUT ROWID;
