//! The queue running for real: fake DingTalk, WeCom, Lark and webhook
//! receivers on loopback, a small budget so throttling shows within a
//! second or two, a provider error retried then handed to the fallback
//! channel, and every outcome reported.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use seawall_notify::driver::spawn;
use seawall_notify::{Budget, ChannelConfig, Message, Outcome, Provider, Severity};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::common::{Fake, Reply, channel, sender};

async fn collect(rx: &mut mpsc::Receiver<Outcome>, n: usize) -> Vec<Outcome> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(o)) => out.push(o),
            other => panic!("only {} of {n} outcomes: {other:?}", out.len()),
        }
    }
    out
}

fn text_of(body: &Value) -> String {
    body["markdown"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_tickets_become_a_digest_and_the_page_is_not_held() {
    let fake = Fake::start(vec![Reply::new(200, r#"{"errcode":0,"errmsg":"ok"}"#)]).await;
    let url = format!("{}/robot/send?access_token=T", fake.base);
    // 3 per 1.5 s, one kept for pages: tickets get 2.
    let budget = Budget {
        messages: 3,
        window: Duration::from_millis(1500),
    };
    let configs = HashMap::from([("sre".to_owned(), ChannelConfig::new(budget))]);
    let (tx, mut rx) = mpsc::channel(64);
    let (notifier, task) = spawn(
        vec![channel("sre", Provider::DingTalk, &url)],
        configs,
        sender(2),
        tx,
    );
    let started = Instant::now();
    let mut tickets = Vec::new();
    for i in 0..6 {
        let m = Message::new(Severity::Ticket, format!("ticket {i}"), "disk 81 %");
        tickets.push(
            notifier
                .submit(m, vec!["sre".into()])
                .await
                .expect("submit"),
        );
    }
    let page = Message::new(Severity::Page, "checkout down", "5xx 40 %");
    let page_id = notifier
        .submit(page, vec!["sre".into()])
        .await
        .expect("submit");

    let outcomes = collect(&mut rx, 7).await;
    let page_at = fake
        .requests()
        .iter()
        .position(|r| text_of(&r.json()).contains("checkout down"))
        .expect("the page was sent");
    let requests = fake.requests();
    assert_eq!(requests.len(), 4, "two tickets, the page, one digest");
    let digest = text_of(&requests[3].json());
    assert!(
        digest.starts_with("### Seawall digest: 4 messages"),
        "{digest}"
    );
    for i in 2..6 {
        assert!(
            digest.contains(&format!("[TICKET] ticket {i} — disk 81 %")),
            "{digest}"
        );
    }
    assert!(page_at < 3, "the page waited behind the digest");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "the budget was not kept"
    );

    let mut digested = 0;
    for o in &outcomes {
        let Outcome::Delivered {
            channel,
            digest,
            failures,
            id,
        } = o
        else {
            panic!("{o:?}");
        };
        assert_eq!(channel, "sre");
        assert!(failures.is_empty());
        if digest.is_some() {
            digested += 1;
            assert!(tickets[2..].contains(id));
        }
        if *id == page_id {
            assert_eq!(*digest, None);
        }
    }
    assert_eq!(digested, 4);
    drop(notifier);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the loop ends once the notifiers are gone")
        .expect("no panic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_error_is_retried_then_the_fallback_channel_delivers() {
    let ding = Fake::start(vec![Reply::new(503, "busy")]).await;
    let wecom = Fake::start(vec![Reply::new(200, r#"{"errcode":0,"errmsg":"ok"}"#)]).await;
    let lark = Fake::start(vec![Reply::new(
        200,
        r#"{"code":19021,"msg":"sign match fail"}"#,
    )])
    .await;
    let hook = Fake::start(vec![Reply::new(400, "bad request")]).await;
    let channels = vec![
        channel(
            "sre",
            Provider::DingTalk,
            &format!("{}/robot/send?access_token=T", ding.base),
        ),
        channel(
            "cs",
            Provider::WeCom,
            &format!("{}/cgi-bin/webhook/send?key=K", wecom.base),
        ),
        channel(
            "war-room",
            Provider::Lark,
            &format!("{}/open-apis/bot/v2/hook/H", lark.base),
        ),
        channel("hook", Provider::Webhook, &format!("{}/seawall", hook.base)),
    ];
    let (tx, mut rx) = mpsc::channel(64);
    let (notifier, _task) = spawn(channels, HashMap::new(), sender(2), tx);

    let page = Message::new(Severity::Page, "checkout down", "5xx 40 %");
    let id = notifier
        .submit(page.clone(), vec!["sre".into(), "cs".into()])
        .await
        .expect("submit");
    let [outcome] = collect(&mut rx, 1).await.try_into().expect("one outcome");
    let Outcome::Delivered {
        id: got,
        channel,
        digest,
        failures,
    } = outcome
    else {
        panic!("not delivered: {outcome:?}");
    };
    assert_eq!((got, channel.as_str(), digest), (id, "cs", None));
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].channel, "sre");
    let expected = format!(
        "channel sre ({}/…): unavailable after 2 attempts: HTTP 503 busy",
        ding.base
    );
    assert_eq!(failures[0].error, expected);
    assert_eq!(
        ding.requests().len(),
        2,
        "retried once on the failing robot"
    );
    assert_eq!(wecom.requests().len(), 1);

    // Both channels of the route refuse: reported failed, with each error.
    let id = notifier
        .submit(page, vec!["war-room".into(), "hook".into()])
        .await
        .expect("submit");
    let [outcome] = collect(&mut rx, 1).await.try_into().expect("one outcome");
    let Outcome::Failed { id: got, failures } = outcome else {
        panic!("not failed: {outcome:?}");
    };
    assert_eq!(got, id);
    let channels: Vec<&str> = failures.iter().map(|f| f.channel.as_str()).collect();
    assert_eq!(channels, ["war-room", "hook"]);
    assert!(
        failures[0]
            .error
            .ends_with("refused: code 19021: sign match fail"),
        "{failures:?}"
    );
    assert!(
        failures[1].error.ends_with("refused: HTTP 400 bad request"),
        "{failures:?}"
    );
    assert_eq!(lark.requests().len(), 1, "a refusal is not retried");
    assert_eq!(hook.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_is_handed_over_and_answered_well_within_a_second() {
    // Submission to delivered outcome, one page at a time, through the
    // queue, the sender and a new loopback connection each: the provider
    // takes no time here, so this is Seawall's own share.
    let fake = Fake::start(vec![Reply::new(204, "")]).await;
    let url = format!("{}/seawall", fake.base);
    let budget = Budget {
        messages: 1000,
        window: Duration::from_secs(60),
    };
    let configs = HashMap::from([("hook".to_owned(), ChannelConfig::new(budget))]);
    let (tx, mut rx) = mpsc::channel(64);
    let (notifier, _task) = spawn(
        vec![channel("hook", Provider::Webhook, &url)],
        configs,
        sender(1),
        tx,
    );
    let mut took = Vec::new();
    for i in 0..200 {
        let started = Instant::now();
        let page = Message::new(Severity::Page, format!("page {i}"), "down");
        notifier
            .submit(page, vec!["hook".into()])
            .await
            .expect("submit");
        let [outcome] = collect(&mut rx, 1).await.try_into().expect("one outcome");
        assert!(matches!(outcome, Outcome::Delivered { .. }), "{outcome:?}");
        took.push(started.elapsed());
    }
    took.sort();
    let p50 = took[took.len() / 2];
    let p99 = took[took.len() * 99 / 100];
    eprintln!(
        "page submitted → delivered on loopback: p50 {p50:?}, p99 {p99:?}, max {:?}",
        took[took.len() - 1]
    );
    assert!(p99 < Duration::from_secs(1), "p99 {p99:?}");
    assert_eq!(fake.requests().len(), 200);
}
