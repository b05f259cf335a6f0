//! The built-in scrape against a real sidecar on 127.0.0.1.

use std::time::Duration;

use seawall_scrape::scrape::{
    self, Board, DOWN_AFTER, Health, Outcome, ScrapeOptions, Scraper, Target,
};
use seawall_scrape::templates::Rates;
use seawall_scrape::{Exposition, MetricType};
use tokio::time::Instant;

use crate::common::{Stack, free_port};

fn page(outcome: &Outcome) -> &Exposition {
    match outcome {
        Outcome::Samples(p) => p,
        Outcome::Failed { error } => panic!("scrape failed: {error}"),
    }
}

fn value(page: &Exposition, name: &str, selector: &[(&str, &str)]) -> f64 {
    page.select(name, selector).map(|s| s.value).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_sidecars_page_parses_and_counts_the_requests_sent() {
    let stack = Stack::start().await;
    let scraper = Scraper::new(ScrapeOptions::default());
    let targets = [stack.target()];
    stack.send("/pay", 1, 200).await; // the series exist from here on

    let t0 = Instant::now();
    let before = scraper.scrape_all(&targets, t0).await;
    stack.send("/pay", 40, 200).await;
    stack.send("/boom", 10, 500).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t1 = Instant::now();
    let after = scraper.scrape_all(&targets, t1).await;
    let (b, a) = (page(&before[0].outcome), page(&after[0].outcome));

    assert!(a.eof, "the sidecar writes OpenMetrics with # EOF");
    let requests = a
        .family("seawall_sidecar_requests")
        .expect("requests family");
    assert_eq!(requests.kind, MetricType::Counter);
    assert!(requests.help.is_some());
    let latency = a
        .family("seawall_sidecar_request_duration_seconds")
        .expect("latency family");
    assert_eq!(latency.kind, MetricType::Histogram);
    let ok = [("resource", "pay"), ("result", "ok")];
    let name = "seawall_sidecar_requests_total";
    assert_eq!(value(a, name, &ok) - value(b, name, &ok), 40.0);
    let err = [("resource", "boom"), ("result", "upstream_5xx")];
    assert_eq!(value(a, name, &err) - value(b, name, &err), 10.0);
    let inf = [("resource", "pay"), ("le", "+Inf")];
    let buckets = "seawall_sidecar_request_duration_seconds_bucket";
    assert_eq!(value(a, buckets, &inf) - value(b, buckets, &inf), 40.0);
    let count = value(
        a,
        "seawall_sidecar_request_duration_seconds_count",
        &[("resource", "pay")],
    );
    assert_eq!(
        count,
        value(a, buckets, &inf),
        "_count equals the +Inf bucket"
    );

    // The figures: qps over the two scrapes, error rate, p99.
    let secs = (t1 - t0).as_secs_f64();
    let pay = Rates::between(b, a, secs, &[("resource", "pay")])
        .expect("window")
        .figures();
    let qps = pay.qps.expect("qps");
    assert!((qps * secs - 40.0).abs() < 1e-9, "qps {qps} over {secs} s");
    assert_eq!(pay.error_rate, Some(0.0));
    let p99 = pay.p99_ms.expect("p99 of 40 requests");
    assert!(p99 > 0.0 && p99 < 10_000.0, "{p99}");
    let boom = Rates::between(b, a, secs, &[("resource", "boom")])
        .expect("window")
        .figures();
    assert_eq!(boom.error_rate, Some(1.0));
    let all = Rates::between(b, a, secs, &[]).expect("window").figures();
    assert!((all.error_rate.expect("traffic") - 10.0 / 50.0).abs() < 1e-9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_carry_their_error_text() {
    let stack = Stack::start().await;
    // Nothing listens.
    let closed = Target::parse(&format!("127.0.0.1:{}", free_port())).expect("target");
    // Accepts and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_target =
        Target::parse(&silent.local_addr().expect("addr").to_string()).expect("target");
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    // Not the exposition format: the upstream's HTML through the proxy.
    let html = Target::parse(&format!("http://{}/page", stack.proxy)).expect("target");
    // A 404.
    let missing = Target::parse(&format!("http://{}/nothing", stack.admin)).expect("target");

    let scraper = Scraper::new(ScrapeOptions {
        timeout: Duration::from_millis(300),
        ..ScrapeOptions::default()
    });
    let started = std::time::Instant::now();
    let results = scraper
        .scrape_all(
            &[closed, silent_target, html, missing, stack.target()],
            Instant::now(),
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(3), "deadlines hold");
    let errors: Vec<String> = results
        .iter()
        .map(|r| match &r.outcome {
            Outcome::Failed { error } => error.clone(),
            Outcome::Samples(_) => "ok".into(),
        })
        .collect();
    for e in &errors {
        eprintln!("scrape result: {e}");
    }
    assert!(errors[0].contains("onnect"), "{}", errors[0]);
    assert!(
        errors[1].contains("did not answer within 300 ms"),
        "{}",
        errors[1]
    );
    assert!(errors[2].contains("line 1, column"), "{}", errors[2]);
    assert!(errors[3].contains("answered 404"), "{}", errors[3]);
    assert_eq!(errors[4], "ok");

    // A body over the cap.
    let small = Scraper::new(ScrapeOptions {
        max_body_bytes: 64,
        ..ScrapeOptions::default()
    });
    let e = small.scrape(&stack.target()).await.expect_err("too large");
    assert!(e.to_string().contains("larger than 64 bytes"), "{e}");
    hold.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_marks_a_target_down_after_three_failed_rounds_and_keeps_the_live_one_up() {
    let stack = Stack::start().await;
    let closed = Target::parse(&format!("127.0.0.1:{}", free_port())).expect("target");
    let (targets_tx, targets_rx) =
        tokio::sync::watch::channel(vec![closed.clone(), stack.target()]);
    let (board_tx, mut board_rx) = tokio::sync::watch::channel(Board::default());
    let task = tokio::spawn(scrape::run(
        Scraper::new(ScrapeOptions::default()),
        targets_rx,
        scrape::MIN_INTERVAL,
        board_tx,
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let down = loop {
        let health = board_rx.borrow().get(closed.name()).map(|s| s.health());
        if let Some(h @ Health::Down { .. }) = health {
            break h;
        }
        tokio::time::timeout_at(deadline, board_rx.changed())
            .await
            .expect("down within 10 s")
            .expect("loop runs");
    };
    let Health::Down { error, rounds, .. } = down else {
        unreachable!()
    };
    assert_eq!(rounds, DOWN_AFTER);
    assert!(error.contains("onnect"), "{error}");
    let live = board_rx
        .borrow()
        .get(stack.target().name())
        .cloned()
        .expect("live");
    assert_eq!(live.health(), Health::Up);
    assert!(live.previous.is_some(), "two pages for rates");
    // A new list: the next round scrapes it and forgets the old targets.
    let _ = targets_tx.send(vec![stack.target()]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while board_rx.borrow().get(closed.name()).is_some() {
        tokio::time::timeout_at(deadline, board_rx.changed())
            .await
            .expect("the new list within 5 s")
            .expect("loop runs");
    }
    assert_eq!(board_rx.borrow().iter().count(), 1);
    drop(targets_tx);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the loop ends with its target list")
        .expect("task");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_concurrency_targets_are_scraped_at_once() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::AsyncWriteExt;

    // A slow /metrics server that counts the requests it serves at once.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (now, max) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let server = {
        let (now, max) = (Arc::clone(&now), Arc::clone(&max));
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let (now, max) = (Arc::clone(&now), Arc::clone(&max));
                tokio::spawn(async move {
                    if !crate::common::read_head(&mut s).await {
                        return;
                    }
                    let in_flight = now.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(in_flight, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    now.fetch_sub(1, Ordering::SeqCst);
                    let _ = s
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\nup 1")
                        .await;
                });
            }
        })
    };
    let targets: Vec<Target> = (0..12)
        .map(|i| Target::parse(&format!("http://{addr}/m{i}")).expect("target"))
        .collect();
    let scraper = Scraper::new(ScrapeOptions {
        concurrency: 3,
        ..ScrapeOptions::default()
    });
    let results = scraper.scrape_all(&targets, Instant::now()).await;
    assert_eq!(results.len(), 12);
    for (r, t) in results.iter().zip(&targets) {
        assert_eq!(r.target, t.name(), "results in the order of the targets");
        assert_eq!(value(page(&r.outcome), "up", &[]), 1.0);
    }
    assert_eq!(
        max.load(Ordering::SeqCst),
        3,
        "three in flight at most, and three used"
    );
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_with_an_admin_token_is_scraped_with_the_bearer_token() {
    let stack = crate::common::Stack::start_tweaked(crate::common::RULES, |c| {
        c.admin_token = Some("scrape-s3cret".into());
    })
    .await;
    let e = Scraper::new(ScrapeOptions::default())
        .scrape(&stack.target())
        .await
        .expect_err("no token");
    assert!(e.to_string().contains("answered 401"), "{e}");
    let page = Scraper::new(ScrapeOptions {
        bearer_token: Some("scrape-s3cret".into()),
        ..ScrapeOptions::default()
    })
    .scrape(&stack.target())
    .await
    .expect("with the token");
    assert!(page.family("seawall_sidecar_requests").is_some());
}
