-- Token expiry and scopes, and server-side UI sessions.
-- expires_ms: a token past it authenticates nothing (NULL: never expires).
-- service:    the one service a `sidecar` token may read rules of and report for.
-- event:      the event slug a `ci` token is bound to.
ALTER TABLE tokens ADD COLUMN expires_ms INTEGER;
ALTER TABLE tokens ADD COLUMN service TEXT;
ALTER TABLE tokens ADD COLUMN event TEXT;

-- One row per logged-in UI session. The cookie holds a random id; only
-- its SHA-256 is stored. A session ends at idle_until_ms (moved forward
-- while it is used), at expires_ms (fixed at login), at logout, and when
-- its token is revoked (expires_ms is set to the revocation time in the
-- same transaction). Ended rows are swept at the next login.
CREATE TABLE sessions (
    id_sha256     TEXT    PRIMARY KEY,
    token_id      INTEGER NOT NULL REFERENCES tokens (id),
    created_ms    INTEGER NOT NULL,
    seen_ms       INTEGER NOT NULL,
    idle_until_ms INTEGER NOT NULL,
    expires_ms    INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_token ON sessions (token_id);
