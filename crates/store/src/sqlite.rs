//! The sqlite backend. Skeleton: the store engineer replaces it.

use async_trait::async_trait;

use crate::*;

/// The sqlite store.
#[derive(Debug)]
pub struct SqliteStore;

impl SqliteStore {
    /// Open (not yet).
    pub async fn open(_spec: impl std::fmt::Debug) -> Result<Self> {
        Err(not_yet("open"))
    }
}

fn not_yet(what: &str) -> StoreError {
    StoreError::Conflict(format!("{what}: not yet implemented"))
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }
    async fn ping(&self) -> Result<()> {
        Err(not_yet("ping"))
    }
    async fn create_event(&self, _ctx: &Ctx, _new: &NewEvent) -> Result<Event> {
        Err(not_yet("create_event"))
    }
    async fn events(&self) -> Result<Vec<Event>> {
        Err(not_yet("events"))
    }
    async fn event(&self, _slug: &str) -> Result<Option<Event>> {
        Err(not_yet("event"))
    }
    async fn push_plan(
        &self,
        _ctx: &Ctx,
        _event_id: i64,
        _new: &NewPlanVersion,
    ) -> Result<PlanVersion> {
        Err(not_yet("push_plan"))
    }
    async fn plan_versions(&self, _event_id: i64) -> Result<Vec<PlanVersionInfo>> {
        Err(not_yet("plan_versions"))
    }
    async fn plan_version(
        &self,
        _event_id: i64,
        _version: Option<i64>,
    ) -> Result<Option<PlanVersion>> {
        Err(not_yet("plan_version"))
    }
    async fn add_run(&self, _ctx: &Ctx, _event_id: i64, _new: &NewRun) -> Result<RunInfo> {
        Err(not_yet("add_run"))
    }
    async fn runs(&self, _event_id: i64) -> Result<Vec<RunInfo>> {
        Err(not_yet("runs"))
    }
    async fn run(&self, _id: i64) -> Result<Option<Run>> {
        Err(not_yet("run"))
    }
    async fn create_token(&self, _ctx: &Ctx, _new: &NewToken) -> Result<Token> {
        Err(not_yet("create_token"))
    }
    async fn token_by_hash(&self, _secret_sha256: &str) -> Result<Option<Token>> {
        Err(not_yet("token_by_hash"))
    }
    async fn tokens(&self) -> Result<Vec<Token>> {
        Err(not_yet("tokens"))
    }
    async fn revoke_token(&self, _ctx: &Ctx, _id: i64) -> Result<Token> {
        Err(not_yet("revoke_token"))
    }
    async fn record_change(&self, _ctx: &Ctx, _new: &NewChangeRecord) -> Result<ChangeRecord> {
        Err(not_yet("record_change"))
    }
    async fn changes(&self, _filter: &ChangeFilter) -> Result<Vec<ChangeRecord>> {
        Err(not_yet("changes"))
    }
    async fn request_exception(
        &self,
        _ctx: &Ctx,
        _event_id: i64,
        _new: &NewException,
    ) -> Result<FreezeException> {
        Err(not_yet("request_exception"))
    }
    async fn decide_exception(
        &self,
        _ctx: &Ctx,
        _id: i64,
        _approve: bool,
        _note: Option<&str>,
    ) -> Result<FreezeException> {
        Err(not_yet("decide_exception"))
    }
    async fn exception(&self, _id: i64) -> Result<Option<FreezeException>> {
        Err(not_yet("exception"))
    }
    async fn exceptions(&self, _event_id: i64) -> Result<Vec<FreezeException>> {
        Err(not_yet("exceptions"))
    }
    async fn put_rules(&self, _ctx: &Ctx, _new: &NewRuleVersion) -> Result<RuleVersion> {
        Err(not_yet("put_rules"))
    }
    async fn rules(&self, _service: &str, _version: Option<i64>) -> Result<Option<RuleVersion>> {
        Err(not_yet("rules"))
    }
    async fn rule_history(&self, _service: &str) -> Result<Vec<RuleVersion>> {
        Err(not_yet("rule_history"))
    }
    async fn rule_services(&self) -> Result<Vec<(String, i64)>> {
        Err(not_yet("rule_services"))
    }
    async fn report_applied(&self, _report: &SidecarReport) -> Result<()> {
        Err(not_yet("report_applied"))
    }
    async fn sidecar_reports(&self, _service: &str) -> Result<Vec<SidecarReport>> {
        Err(not_yet("sidecar_reports"))
    }
    async fn append_audit(&self, _ctx: &Ctx, _new: &NewAudit) -> Result<AuditEntry> {
        Err(not_yet("append_audit"))
    }
    async fn audit(&self, _after_seq: i64, _limit: u32) -> Result<Vec<AuditEntry>> {
        Err(not_yet("audit"))
    }
}
