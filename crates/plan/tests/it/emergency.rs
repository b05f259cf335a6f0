//! Emergency plans as the executors read them: approvals, on-call timing,
//! Kubernetes targets, cache warm-up URLs and the hosts they may reach,
//! webhook settings, with their defaults; the carnival plan's values; and
//! L015 for a `scale` action nothing can execute.

use seawall_plan::model::{
    Action, Approval, DEFAULT_ACK_TIMEOUT_SECONDS, DEFAULT_DRILL_LEASE_SECONDS,
    DEFAULT_WARMUP_RATE, DEFAULT_WEBHOOK_RETRIES, DEFAULT_WEBHOOK_TIMEOUT_SECONDS, DrillExpect,
    DrillFault, FaultTarget, SimFaultKind,
};

use crate::common::{carnival, plan};

const HEAD: &str = "event: {name: demo, timezone: Asia/Shanghai}\n";

fn findings(p: &seawall_plan::Plan, rule: &str) -> Vec<seawall_plan::links::Finding> {
    let targets = seawall_plan::targets::decompose(p);
    let table = seawall_plan::capacity::table(p, &targets, &Default::default());
    seawall_plan::links::analyze(p, &targets, &table)
        .into_iter()
        .filter(|f| f.rule == rule)
        .collect()
}

#[test]
fn defaults() {
    let p = plan(&format!(
        "{HEAD}services:\n  coupon-svc:\n    kubernetes: {{namespace: payments}}\n\
         emergency_plans:\n  warm: {{phase: pre, trigger: manual, actions: [\n    \
         {{kind: cache_warmup, service: coupon-svc}},\n    \
         {{kind: webhook, url: \"https://cs.example.com/api\"}}]}}\n"
    ));
    assert_eq!(p.oncall.ack_timeout_seconds, DEFAULT_ACK_TIMEOUT_SECONDS);
    assert_eq!(p.oncall.ack_timeout_seconds, 300.0);
    assert_eq!(p.oncall.escalation_rounds, None);
    let k = p.services["coupon-svc"]
        .kubernetes
        .as_ref()
        .expect("kubernetes");
    assert_eq!(
        (k.namespace.as_str(), k.deployment.as_str()),
        ("payments", "coupon-svc")
    );
    let ep = &p.emergency_plans["warm"];
    assert_eq!(ep.approval, Approval::None);
    assert_eq!(ep.action_at.len(), ep.actions.len());
    match &ep.actions[0] {
        Action::CacheWarmup {
            urls, rate, keys, ..
        } => {
            assert!(urls.is_empty());
            assert_eq!(*rate, DEFAULT_WARMUP_RATE);
            assert_eq!(*rate, 10.0);
            assert_eq!(*keys, None);
        }
        a => panic!("{a:?}"),
    }
    match &ep.actions[1] {
        Action::Webhook {
            method,
            secret_env,
            timeout_seconds,
            retries,
            ..
        } => {
            assert_eq!(method, "POST");
            assert_eq!(*secret_env, None);
            assert_eq!(*timeout_seconds, DEFAULT_WEBHOOK_TIMEOUT_SECONDS);
            assert_eq!(*timeout_seconds, 5.0);
            assert_eq!(*retries, DEFAULT_WEBHOOK_RETRIES);
            assert_eq!(*retries, 2);
        }
        a => panic!("{a:?}"),
    }
}

#[test]
fn written_values() {
    let p = plan(&format!(
        "{HEAD}oncall: {{ack_timeout: 90s, escalation_rounds: 3}}\n\
         emergency:\n  allow_hosts: [localhost, 10.0.0.0/8, \"fe80::1\"]\n\
         services:\n  coupon-svc:\n    kubernetes: {{namespace: payments, deployment: coupons}}\n\
         emergency_plans:\n  warm: {{phase: pre, trigger: manual, approval: two, actions: [\n    \
         {{kind: cache_warmup, service: coupon-svc, rate: 1000, urls: [\"http://localhost:8080/warm\", \"http://[fe80::1]/warm\"]}},\n    \
         {{kind: webhook, url: \"https://cs.example.com/api\", secret_env: \"$CS_HOOK\", timeout: 2s, retries: 0}},\n    \
         {{kind: webhook, url: \"https://cs.example.com/b\", secret_env: \"file:/run/secrets/cs\", retries: 5}}]}}\n"
    ));
    assert_eq!(p.oncall.ack_timeout_seconds, 90.0);
    assert_eq!(p.oncall.escalation_rounds, Some(3));
    assert_eq!(p.emergency.allow_hosts.len(), 3);
    let k = p.services["coupon-svc"]
        .kubernetes
        .as_ref()
        .expect("kubernetes");
    assert_eq!(k.deployment, "coupons");
    let ep = &p.emergency_plans["warm"];
    assert_eq!(ep.approval, Approval::Two);
    assert_eq!(ep.approval.needed(), 2);
    assert!(
        matches!(&ep.actions[0], Action::CacheWarmup { urls, rate, .. } if urls.len() == 2 && *rate == 1000.0)
    );
    assert!(
        matches!(&ep.actions[1], Action::Webhook { secret_env: Some(s), timeout_seconds, retries: 0, .. } if s == "$CS_HOOK" && *timeout_seconds == 2.0)
    );
    assert!(matches!(&ep.actions[2], Action::Webhook { retries: 5, .. }));
}

/// The allow list is what lets a refused host through: the same URL
/// without it is E080.
#[test]
fn allow_hosts_is_what_lets_loopback_through() {
    let body = "services:\n  s: {instances: 2}\nemergency_plans:\n  warm: {phase: pre, trigger: manual, actions: [\n    \
                {kind: cache_warmup, service: s, urls: [\"http://127.0.0.1:8080/warm\"]}]}\n";
    let allowed = format!("{HEAD}emergency: {{allow_hosts: [127.0.0.1]}}\n{body}");
    plan(&allowed);
    let d = seawall_plan::parse(&format!("{HEAD}{body}"), "p.yaml").expect_err("refused");
    assert_eq!(d.0.len(), 1, "{}", d.render());
    assert_eq!(d.0[0].code, "E080");
    assert!(d.0[0].message.contains("loopback"), "{}", d.0[0].message);
    let help = d.0[0].help.as_deref().unwrap_or_default();
    assert!(help.contains("allow_hosts: [\"127.0.0.1\"]"), "{help}");
}

/// An on-call channel's webhook is a request the control plane makes:
/// loopback and metadata hosts get E080 as actions' URLs do, unless
/// `emergency.allow_hosts` lists them (a name that resolves to such an
/// address is refused by the pager before it connects).
#[test]
fn channel_webhooks_to_loopback_or_metadata_are_e080_unless_allowed() {
    for (url, host) in [
        ("http://127.0.0.1:8080/hook", "127.0.0.1"),
        (
            "http://169.254.169.254/latest/meta-data/",
            "169.254.169.254",
        ),
        ("http://localhost/hook", "localhost"),
        ("http://[::1]/hook", "::1"),
    ] {
        let body =
            format!("oncall:\n  channels:\n    war-room: {{kind: slack, webhook: \"{url}\"}}\n");
        let d = seawall_plan::parse(&format!("{HEAD}{body}"), "p.yaml").expect_err(url);
        assert_eq!(d.0.len(), 1, "{}", d.render());
        assert_eq!(d.0[0].code, "E080", "{url}: {}", d.render());
        assert!(d.0[0].message.contains("war-room"), "{}", d.0[0].message);
        plan(&format!(
            "{HEAD}emergency: {{allow_hosts: [\"{host}\"]}}\n{body}"
        ));
    }
    plan(&format!(
        "{HEAD}oncall:\n  channels:\n    war-room: {{kind: slack, webhook: \"https://hooks.slack.com/services/T/B/x\"}}\n"
    ));
}

#[test]
fn carnival_values() {
    let p = carnival();
    assert_eq!(p.emergency_plans["pay-fallback"].approval, Approval::One);
    assert_eq!(p.emergency_plans["scale-out"].approval, Approval::None);
    for (svc, ns, dep) in [
        ("ride-svc", "ride", "ride-svc"),
        ("coupon-svc", "payments", "coupon-svc"),
        ("risk-svc", "platform", "risk-control"),
    ] {
        let k = p.services[svc].kubernetes.as_ref().expect("kubernetes");
        assert_eq!(
            (k.namespace.as_str(), k.deployment.as_str()),
            (ns, dep),
            "{svc}"
        );
    }
    let warm = &p.emergency_plans["cache-warmup"];
    for a in &warm.actions {
        let Action::CacheWarmup { urls, .. } = a else {
            panic!("{a:?}")
        };
        assert_eq!(urls.len(), 2, "{urls:?}");
        assert!(urls.iter().all(|u| u.starts_with("https://")), "{urls:?}");
    }
    // Every scaled service says where it runs.
    assert!(findings(&p, "L015").is_empty());
}

#[test]
fn scale_without_kubernetes_is_l015_at_the_action() {
    let src = format!(
        "{HEAD}services:\n  ride-svc: {{instances: 2}}\nemergency_plans:\n  up: {{phase: pre, trigger: manual, actions: [\n    \
         {{kind: scale, service: ride-svc, instances: 6}}]}}\n"
    );
    let p = plan(&src);
    let f = findings(&p, "L015");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].location.path, "emergency_plans.up.actions[0].service");
    assert_eq!((f[0].location.line, f[0].location.column), (6, 28));
    assert!(f[0].message.contains("cannot execute"), "{}", f[0].message);
}

#[test]
fn drill_keys_and_their_defaults() {
    let p = plan(&format!(
        "{HEAD}services:\n  api: {{instances: 2}}\nentries:\n  home: {{service: api}}\n\
         partners:\n  pay: {{}}\n\
         emergency_plans:\n  \
         a: {{phase: during, trigger: manual, drill: {{fault: {{entry: home, abort_status: 503}}}}}}\n  \
         b: {{phase: during, trigger: manual, drill: {{expect: break, lease: 90s,\n      \
         fault: {{service: api, delay_ms: 250, percent: 40}}}}}}\n  \
         c: {{phase: during, trigger: manual, drill: {{fault: {{sim: pay, kind: fail, ratio: 0.5}}}}}}\n  \
         d: {{phase: during, trigger: manual}}\n"
    ));
    let drill = |id: &str| p.emergency_plans[id].drill.clone();
    let a = drill("a").expect("a drill");
    assert_eq!(
        a.fault,
        DrillFault::Guard {
            target: FaultTarget::Entry("home".into()),
            delay_ms: None,
            abort_status: Some(503),
            percent: 100.0
        }
    );
    assert_eq!(a.expect, DrillExpect::Hold);
    assert_eq!(a.lease_seconds, DEFAULT_DRILL_LEASE_SECONDS);
    assert_eq!(a.scenario, None);
    let b = drill("b").expect("b drill");
    assert_eq!(
        b.fault,
        DrillFault::Guard {
            target: FaultTarget::Service("api".into()),
            delay_ms: Some(250),
            abort_status: None,
            percent: 40.0
        }
    );
    assert_eq!((b.expect, b.lease_seconds), (DrillExpect::Break, 90.0));
    assert_eq!(
        drill("c").map(|c| c.fault),
        Some(DrillFault::Sim {
            node: "pay".into(),
            kind: SimFaultKind::Fail { ratio: 0.5 }
        })
    );
    assert!(drill("d").is_none(), "the key is optional");
}
