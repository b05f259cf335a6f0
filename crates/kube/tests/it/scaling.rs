//! The scale subresource against the fake API server on loopback: scale
//! and wait, the recorded no-op, each error answer, a conflict resolved by
//! reading again, and a wait that times out.

use std::time::Duration;

use seawall_kube::KubeError;
use seawall_kube::testing::{Access, TOKEN};

use crate::common::{setup, write};

const POLL: Duration = Duration::from_millis(20);

#[tokio::test]
async fn get_scale_reads_the_scale_object() {
    let s = setup(3).await;
    let scale = s.client.get_scale("shop", "web").await.expect("scale");
    assert_eq!(scale.kind, "Scale");
    assert_eq!(scale.api_version, "autoscaling/v1");
    assert_eq!(scale.spec.replicas, 3);
    assert_eq!(scale.status.replicas, 3);
    assert_eq!(scale.metadata.name, "web");
    assert!(!scale.metadata.resource_version.is_empty());
    let requests = s.fake.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "GET");
    assert_eq!(
        r.path,
        "/apis/apps/v1/namespaces/shop/deployments/web/scale"
    );
    assert_eq!(r.bearer.as_deref(), Some(TOKEN));
    assert_eq!(r.accept.as_deref(), Some("application/json"));
    assert_eq!(r.body, "");
}

#[tokio::test]
async fn scale_up_patches_and_waits_for_status() {
    let s = setup(2).await;
    s.fake.follow_after(Some(Duration::from_millis(150)));
    let outcome = s.scale("web", 5).await.expect("scaled");
    assert!(outcome.converged, "{outcome:?}");
    assert!(!outcome.no_op);
    assert_eq!((outcome.before, outcome.before_status), (2, 2));
    assert_eq!((outcome.target, outcome.after), (5, 5));
    assert_eq!(outcome.conflicts, 0);
    assert!(outcome.elapsed >= Duration::from_millis(150), "{outcome:?}");
    let d = s.fake.deployment("shop", "web").expect("deployment");
    assert_eq!((d.spec, d.status), (5, 5));

    let requests = s.fake.requests();
    let patches: Vec<_> = requests.iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(patches.len(), 1, "{requests:#?}");
    let patch = patches[0];
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    let body: serde_json::Value = serde_json::from_str(&patch.body).expect("JSON body");
    assert_eq!(body["spec"], serde_json::json!({ "replicas": 5 }));
    assert!(body["metadata"]["resourceVersion"].is_string(), "{body}");
    assert!(
        requests.iter().filter(|r| r.method == "GET").count() >= 2,
        "read before, polled after: {requests:#?}"
    );
    assert!(
        requests
            .iter()
            .all(|r| r.status == 200 && r.bearer.as_deref() == Some(TOKEN))
    );

    // The rollback: back to what was captured, down to zero replicas too.
    let back = s.scale("web", outcome.before).await.expect("rolled back");
    assert!(
        back.converged && back.before == 5 && back.after == 2,
        "{back:?}"
    );
    let zero = s.scale("web", 0).await.expect("to zero");
    assert!(zero.converged && zero.after == 0, "{zero:?}");
    let read = s.client.get_scale("shop", "web").await.expect("scale");
    assert_eq!(read.spec.replicas, 0, "an omitted spec.replicas reads as 0");
}

#[tokio::test]
async fn scaling_to_the_replicas_already_there_is_a_recorded_no_op() {
    let s = setup(4).await;
    let outcome = s.scale("web", 4).await.expect("no-op");
    assert!(outcome.no_op && outcome.converged, "{outcome:?}");
    assert_eq!((outcome.before, outcome.target, outcome.after), (4, 4, 4));
    let requests = s.fake.requests();
    assert_eq!(requests.len(), 1, "one read, no patch: {requests:#?}");
    assert_eq!(requests[0].method, "GET");
}

#[tokio::test]
async fn a_no_op_still_waits_for_the_replicas_asked_before() {
    let s = setup(2).await;
    s.fake.follow_after(Some(Duration::from_millis(300)));
    let first = s
        .client
        .scale("shop", "web", 4, Duration::from_millis(20), POLL)
        .await
        .expect("patched");
    assert!(!first.converged && !first.no_op, "{first:?}");
    // Run again: nothing to patch, but the wait goes on until the status
    // follows.
    let again = s.scale("web", 4).await.expect("no-op");
    assert!(again.no_op && again.converged, "{again:?}");
    assert_eq!((again.before, again.before_status, again.after), (4, 2, 4));
    assert_eq!(s.count("PATCH"), 1, "only the first run patched");
}

#[tokio::test]
async fn an_unknown_deployment_is_not_found() {
    let s = setup(1).await;
    let err = s
        .scale("checkout", 3)
        .await
        .expect_err("no such deployment");
    let KubeError::NotFound {
        namespace,
        deployment,
        message,
    } = &err
    else {
        panic!("NotFound: {err:?}");
    };
    assert_eq!(
        (namespace.as_str(), deployment.as_str()),
        ("shop", "checkout")
    );
    assert_eq!(message, "deployments.apps \"checkout\" not found");
    assert!(
        err.to_string().contains("kubectl get deployment -n shop"),
        "{err}"
    );
    assert!(s.fake.requests().iter().all(|r| r.method == "GET"));
}

#[tokio::test]
async fn a_token_that_may_only_read_is_forbidden_to_patch() {
    let s = setup(1).await;
    s.fake.grant(TOKEN, Some(Access::ReadOnly));
    let err = s.scale("web", 3).await.expect_err("forbidden");
    let KubeError::Forbidden { verb, message, .. } = &err else {
        panic!("Forbidden: {err:?}");
    };
    assert_eq!(*verb, "patch");
    assert!(
        message.contains("cannot patch resource \"deployments/scale\""),
        "{message}"
    );
    let text = err.to_string();
    assert!(text.contains("Role and RoleBinding"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
    assert_eq!(s.fake.deployment("shop", "web").expect("there").spec, 1);
}

#[tokio::test]
async fn an_unknown_token_is_unauthorized_and_never_shown() {
    let s = setup(1).await;
    s.fake.grant(TOKEN, None);
    let err = s
        .client
        .get_scale("shop", "web")
        .await
        .expect_err("unauthorized");
    assert!(matches!(err, KubeError::Unauthorized { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("renew it"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
    assert!(!format!("{err:?}").contains(TOKEN));
    assert!(!format!("{:?}", s.client).contains(TOKEN));
}

#[tokio::test]
async fn a_conflict_is_read_again_and_retried() {
    let s = setup(2).await;
    s.fake.follow_after(Some(Duration::from_millis(10)));
    // Another writer changes the deployment right after each of our first
    // two reads: two stale patches (409), then one that goes through.
    s.fake.write_after_reads(2);
    let outcome = s.scale("web", 6).await.expect("scaled after conflicts");
    assert_eq!(outcome.conflicts, 2, "{outcome:?}");
    assert!(outcome.converged, "{outcome:?}");
    let statuses: Vec<(String, u16)> = s
        .fake
        .requests()
        .iter()
        .map(|r| (r.method.clone(), r.status))
        .take(6)
        .collect();
    let expected: Vec<(String, u16)> = [
        ("GET", 200),
        ("PATCH", 409),
        ("GET", 200),
        ("PATCH", 409),
        ("GET", 200),
        ("PATCH", 200),
    ]
    .iter()
    .map(|(m, c)| ((*m).to_owned(), *c))
    .collect();
    assert_eq!(statuses, expected);
}

#[tokio::test]
async fn conflicts_without_end_give_up_after_the_bound() {
    let s = setup(2).await;
    let client = s.client.clone().with_conflict_retries(2);
    s.fake.write_after_reads(100);
    let err = client
        .scale("shop", "web", 6, Duration::from_secs(30), POLL)
        .await
        .expect_err("always stale");
    let KubeError::Conflict { attempts, .. } = &err else {
        panic!("Conflict: {err:?}");
    };
    assert_eq!(*attempts, 3);
    assert_eq!(s.count("PATCH"), 3);
    assert!(err.to_string().contains("autoscaler"), "{err}");
    assert_eq!(s.fake.deployment("shop", "web").expect("there").spec, 2);
}

#[tokio::test]
async fn a_status_that_never_follows_times_out() {
    let s = setup(2).await;
    s.fake.follow_after(None);
    let timeout = Duration::from_millis(300);
    let outcome = s
        .client
        .scale("shop", "web", 4, timeout, POLL)
        .await
        .expect("patched, not converged");
    assert!(!outcome.converged && !outcome.no_op, "{outcome:?}");
    assert_eq!((outcome.before, outcome.target, outcome.after), (2, 4, 2));
    assert!(outcome.elapsed >= timeout, "{outcome:?}");
    assert_eq!(outcome.wait_error, None);
    let d = s.fake.deployment("shop", "web").expect("there");
    assert_eq!((d.spec, d.status), (4, 2));
    let polls = s.count("GET");
    assert!(polls >= 2, "polled while waiting: {polls}");
}

#[tokio::test(start_paused = true)]
async fn waiting_uses_tokio_time_and_is_bounded_by_the_deadline() {
    let s = setup(2).await;
    s.fake.follow_after(None);
    // Paused time: ten virtual minutes pass at once; the poll interval is
    // clamped to 30 s, so about twenty reads, not millions.
    let outcome = s
        .client
        .scale(
            "shop",
            "web",
            4,
            Duration::from_secs(600),
            Duration::from_secs(3600),
        )
        .await
        .expect("patched");
    assert!(!outcome.converged, "{outcome:?}");
    assert!(outcome.elapsed >= Duration::from_secs(600), "{outcome:?}");
    let polls = s.count("GET");
    assert!((20..=22).contains(&polls), "{polls} reads");
}

#[tokio::test]
async fn a_negative_target_is_refused_before_any_request() {
    let s = setup(2).await;
    let err = s.scale("web", -1).await.expect_err("negative");
    assert!(matches!(err, KubeError::NegativeReplicas { .. }), "{err:?}");
    let err = s
        .client
        .set_replicas("shop", "web", -1, None)
        .await
        .expect_err("negative");
    assert!(matches!(err, KubeError::NegativeReplicas { .. }), "{err:?}");
    assert!(s.fake.requests().is_empty());
}

#[tokio::test]
async fn a_rotated_token_file_is_read_before_each_request() {
    let fake = seawall_kube::testing::FakeApiServer::start()
        .await
        .expect("fake");
    fake.add_deployment("shop", "web", 1);
    fake.grant("first", Some(Access::ReadWrite));
    fake.grant("second", Some(Access::ReadWrite));
    let dir = tempfile::tempdir().expect("tempdir");
    let token = write(&dir, "token", "first");
    let config = fake.kubeconfig("unused", None).replace(
        "    token: unused",
        &format!("    tokenFile: {}", token.display()),
    );
    let config = write(&dir, "config", &config);
    let credentials = seawall_kube::Credentials::from_kubeconfig(&config, None).expect("creds");
    let client = seawall_kube::KubeClient::new(&credentials).expect("client");
    client.get_scale("shop", "web").await.expect("first token");
    std::fs::write(&token, "second\n").expect("rotate");
    client.get_scale("shop", "web").await.expect("second token");
    let bearers: Vec<_> = fake
        .requests()
        .into_iter()
        .filter_map(|r| r.bearer)
        .collect();
    assert_eq!(bearers, ["first", "second"]);
}
