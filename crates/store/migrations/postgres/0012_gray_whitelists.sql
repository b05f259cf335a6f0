-- Gray-release whitelists uploaded to the control plane (docs/scale-out.md,
-- "Gray release at the size of a real whitelist"): numbered versions per
-- service, each the whole set in seawall-guard's compact wire form
-- (`keys`: sorted 64-bit keys as varint gaps), so a version is served or
-- diffed against another without re-reading the uploaded text.
CREATE TABLE gray_whitelists (
    service     TEXT    COLLATE "C" NOT NULL,
    version     BIGINT  NOT NULL,
    keys        BYTEA   NOT NULL,
    id_count    BIGINT  NOT NULL,
    sha256      TEXT    NOT NULL,
    note        TEXT    NOT NULL,
    created_ms  BIGINT  NOT NULL,
    created_by  TEXT    NOT NULL,
    PRIMARY KEY (service, version)
);
