//! Scale a deployment and wait for it: what the `scale` emergency action
//! does, and what its rollback does with the `before` it captured.
//!
//! 1. Read the scale; its `spec.replicas` is `before` (what a rollback
//!    restores). A target equal to it is a recorded no-op: nothing is
//!    patched, the outcome says so.
//!    A no-op still waits for `status.replicas` like a change (a run
//!    repeated after a timeout waits for the replicas the first one asked).
//! 2. Patch `spec.replicas` with the `resourceVersion` just read; on 409
//!    (someone changed the deployment in between) read again and retry, at
//!    most [`KubeClient::with_conflict_retries`] times.
//! 3. Poll the scale until `status.replicas` equals the target or the
//!    timeout passes. The scale subresource has no `readyReplicas`; created
//!    pods are what it reports, which is enough to know the controller
//!    acted. Errors while waiting do not undo the patch: the outcome keeps
//!    `before` and says what went wrong.
//!
//! Time is `tokio::time` (tests may pause it); the poll interval is
//! clamped to [`MIN_POLL`]..=[`MAX_POLL`], and every wait ends at the
//! deadline.

use std::time::Duration;

use tokio::time::Instant;

use crate::client::{KubeClient, KubeError};
use crate::name::{check_deployment, check_namespace};

/// Shortest poll interval.
pub const MIN_POLL: Duration = Duration::from_millis(10);
/// Longest poll interval.
pub const MAX_POLL: Duration = Duration::from_secs(30);

/// What a scale did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleOutcome {
    /// Namespace.
    pub namespace: String,
    /// Deployment.
    pub deployment: String,
    /// `spec.replicas` before the change (a rollback scales back to it).
    pub before: i32,
    /// `status.replicas` before the change.
    pub before_status: i32,
    /// The replicas asked for.
    pub target: i32,
    /// The last `status.replicas` seen.
    pub after: i32,
    /// The target equalled `before`: nothing was patched.
    pub no_op: bool,
    /// `status.replicas` reached the target within the timeout.
    pub converged: bool,
    /// From the first request to the end of the wait.
    pub elapsed: Duration,
    /// 409s answered before the patch went through.
    pub conflicts: u32,
    /// What went wrong while waiting (the patch itself went through).
    pub wait_error: Option<String>,
}

impl KubeClient {
    /// Scales `namespace`/`deployment` to `target` replicas and waits up
    /// to `timeout` for `status.replicas` to follow, reading every `poll`
    /// (clamped to [`MIN_POLL`]..=[`MAX_POLL`]).
    pub async fn scale(
        &self,
        namespace: &str,
        deployment: &str,
        target: i32,
        timeout: Duration,
        poll: Duration,
    ) -> Result<ScaleOutcome, KubeError> {
        check_namespace(namespace)?;
        check_deployment(deployment)?;
        if target < 0 {
            return Err(KubeError::NegativeReplicas {
                namespace: namespace.to_owned(),
                deployment: deployment.to_owned(),
                replicas: target,
            });
        }
        let started = Instant::now();
        let deadline = started + timeout;
        let poll = poll.clamp(MIN_POLL, MAX_POLL);
        let mut conflicts = 0;
        let (current, scale) = loop {
            let current = self.get_scale(namespace, deployment).await?;
            if current.spec.replicas == target {
                tracing::info!(
                    namespace,
                    deployment,
                    replicas = target,
                    "already at the target: nothing to scale"
                );
                break (current.clone(), current);
            }
            let version =
                Some(current.metadata.resource_version.as_str()).filter(|v| !v.is_empty());
            match self
                .set_replicas(namespace, deployment, target, version)
                .await
            {
                Ok(scale) => break (current, scale),
                Err(KubeError::Conflict { message, .. }) => {
                    conflicts += 1;
                    tracing::info!(
                        namespace,
                        deployment,
                        conflicts,
                        "the deployment changed since it was read: reading it again"
                    );
                    if conflicts > self.conflict_retries() {
                        return Err(KubeError::Conflict {
                            namespace: namespace.to_owned(),
                            deployment: deployment.to_owned(),
                            attempts: conflicts,
                            message,
                        });
                    }
                }
                Err(e) => return Err(e),
            }
        };
        let no_op = current.spec.replicas == target;
        if !no_op {
            tracing::info!(
                namespace,
                deployment,
                before = current.spec.replicas,
                target,
                "scaled; waiting for status.replicas"
            );
        }
        let mut after = scale.status.replicas;
        let mut wait_error = None;
        while after != target {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            tokio::time::sleep(poll.min(deadline - now)).await;
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.get_scale(namespace, deployment)).await {
                Ok(Ok(scale)) => {
                    after = scale.status.replicas;
                    wait_error = None;
                }
                Ok(Err(
                    e @ (KubeError::NotFound { .. }
                    | KubeError::Forbidden { .. }
                    | KubeError::Unauthorized { .. }),
                )) => {
                    wait_error = Some(e.to_string());
                    break;
                }
                Ok(Err(e)) => wait_error = Some(e.to_string()),
                Err(_) => break,
            }
        }
        let converged = after == target;
        if !converged {
            tracing::warn!(
                namespace,
                deployment,
                target,
                after,
                "status.replicas did not reach the target in time"
            );
        }
        Ok(ScaleOutcome {
            namespace: namespace.to_owned(),
            deployment: deployment.to_owned(),
            before: current.spec.replicas,
            before_status: current.status.replicas,
            target,
            after,
            no_op,
            converged,
            elapsed: started.elapsed(),
            conflicts,
            wait_error,
        })
    }
}
