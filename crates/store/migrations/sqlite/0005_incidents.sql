-- Incidents and their paging (docs/respond.md#incidents).
-- `state` is seawall-respond's Incident, JSON; `escalation` its
-- Escalation, JSON, or NULL when nobody is paged. `next_page_ms` is when
-- the escalation's next page is due (NULL: nothing due — acknowledged,
-- exhausted or resolved), so the paging loop reads only due rows.
-- `version` starts at 1 and grows with every update; an update names the
-- version it read (a stale one is refused, never lost), which is what
-- keeps a page from being recorded twice.
-- At most one unresolved incident per event and dedup key (an alert's
-- target); incidents opened by hand have no key.
CREATE TABLE incidents (
    id           INTEGER PRIMARY KEY,
    event_id     INTEGER NOT NULL REFERENCES events (id),
    status       TEXT    NOT NULL,
    severity     TEXT    NOT NULL,
    dedup_key    TEXT,
    state        TEXT    NOT NULL,
    escalation   TEXT,
    next_page_ms INTEGER,
    version      INTEGER NOT NULL,
    created_ms   INTEGER NOT NULL,
    updated_ms   INTEGER NOT NULL
) STRICT;
CREATE INDEX incidents_event ON incidents (event_id, id);
CREATE INDEX incidents_next_page ON incidents (next_page_ms) WHERE next_page_ms IS NOT NULL;
CREATE UNIQUE INDEX incidents_one_unresolved
    ON incidents (event_id, dedup_key) WHERE status <> 'resolved';
