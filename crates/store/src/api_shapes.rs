//! Conversions from the store's records to the API's shapes
//! (`seawall-api`), here because the orphan rule allows them only in the
//! crate that owns one side, and `seawall-api` must not depend on the store
//! (no sqlx in an API client).

use seawall_api::audit::AuditEntry;
use seawall_api::events::Event;
use seawall_api::gate::ChangeRecord;
use seawall_api::plans::PlanVersionInfo;
use seawall_api::runs::RunInfo;
use seawall_api::tokens::Token;

impl From<crate::AuditEntry> for AuditEntry {
    fn from(e: crate::AuditEntry) -> Self {
        Self {
            seq: e.seq,
            at_ms: e.at_ms,
            actor: e.actor,
            action: e.action,
            target: e.target,
            detail: e.detail,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

impl From<AuditEntry> for crate::AuditEntry {
    fn from(e: AuditEntry) -> Self {
        Self {
            seq: e.seq,
            at_ms: e.at_ms,
            actor: e.actor,
            action: e.action,
            target: e.target,
            detail: e.detail,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

impl From<crate::Event> for Event {
    fn from(e: crate::Event) -> Self {
        Self {
            id: e.id,
            slug: e.slug,
            name: e.name,
            created_ms: e.created_ms,
            created_by: e.created_by,
        }
    }
}

impl From<crate::ChangeRecord> for ChangeRecord {
    fn from(r: crate::ChangeRecord) -> Self {
        Self {
            id: r.id,
            at_ms: r.at_ms,
            event_id: r.event_id,
            service: r.service,
            kind: r.kind,
            actor: r.actor,
            change_ref: r.change_ref,
            allowed: r.allowed,
            reason: r.reason,
            window: r.window,
            exception_id: r.exception_id,
        }
    }
}

impl From<crate::PlanVersionInfo> for PlanVersionInfo {
    fn from(p: crate::PlanVersionInfo) -> Self {
        Self {
            event_id: p.event_id,
            version: p.version,
            sha256: p.sha256,
            file_name: p.file_name,
            created_ms: p.created_ms,
            created_by: p.created_by,
        }
    }
}

impl From<crate::RunInfo> for RunInfo {
    fn from(r: crate::RunInfo) -> Self {
        Self {
            id: r.id,
            event_id: r.event_id,
            plan_version: r.plan_version,
            scenario: r.scenario,
            sha256: r.sha256,
            uploaded_ms: r.uploaded_ms,
            uploaded_by: r.uploaded_by,
        }
    }
}

impl From<crate::Token> for Token {
    fn from(t: crate::Token) -> Self {
        Self {
            id: t.id,
            name: t.name,
            role: t.role,
            business_line: t.business_line,
            created_ms: t.created_ms,
            created_by: t.created_by,
            revoked_ms: t.revoked_ms,
            expires_ms: t.expires_ms,
            service: t.service,
            event: t.event,
        }
    }
}
