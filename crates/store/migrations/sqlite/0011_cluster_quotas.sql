-- Cluster-wide guard quotas (docs/scale-out.md#cluster-wide-guard-quotas):
-- one token bucket per service and `scope: cluster` flow rule, shared by
-- every control-plane replica on this database (`tokens` left, brought up
-- to date at `updated_ms`), and each sidecar instance's latest lease per
-- rule: its recent demand (requests offered per second), when it last
-- leased (the live instances and the fair shares are counted from these
-- rows) and its credit, refilled at its fair share, that caps its grants
-- (`credit` tokens at `credit_ms`). Rows idle ten liveness windows are
-- deleted by the next lease of the service.
-- Operational state, not configuration: rows change many times a second
-- and are not audited.
CREATE TABLE cluster_buckets (
    service     TEXT    NOT NULL,
    rule_id     TEXT    NOT NULL,
    tokens      REAL    NOT NULL,
    updated_ms  INTEGER NOT NULL,
    PRIMARY KEY (service, rule_id)
) STRICT;
CREATE TABLE cluster_leases (
    service     TEXT    NOT NULL,
    rule_id     TEXT    NOT NULL,
    instance    TEXT    NOT NULL,
    demand      REAL    NOT NULL,
    seen_ms     INTEGER NOT NULL,
    credit      REAL    NOT NULL,
    credit_ms   INTEGER NOT NULL,
    PRIMARY KEY (service, rule_id, instance)
) STRICT;
