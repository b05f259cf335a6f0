//! `GET /api/v1/events/{slug}/history` through the typed client, over real
//! HTTP against a real server whose monitor scraped a real `/metrics` page
//! on 127.0.0.1 three times ten seconds apart (`ui_live`'s fixture): the
//! stored points, the time range, and every refusal with its code.

use seawall_api::monitoring::{HistoryQuery, HistoryResolution, TargetKind};
use seawall_server::client::{Client, ClientError};
use seawall_store::Role;

use crate::ui_live::live_server_in;

fn query(series: &str, resolution: HistoryResolution) -> HistoryQuery {
    HistoryQuery {
        series: series.to_owned(),
        resolution,
        from: None,
        to: None,
    }
}

/// The status, code and message of a refusal.
fn refusal(e: ClientError) -> (u16, String, String) {
    match e {
        ClientError::Api {
            status,
            code,
            message,
            ..
        } => (status, code.unwrap_or_default(), message),
        other => panic!("not an API refusal: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stored_history_is_served_with_its_times_and_range() {
    let (server, _ui) = live_server_in("UTC").await;
    let token = server.token("review", Role::Viewer, None).await;
    let client = Client::new(&server.base).expect("client").with_token(token);
    let created = server
        .state
        .store
        .event("live")
        .await
        .expect("event")
        .expect("live")
        .created_ms;

    let h = client
        .history(
            "live",
            &query("entry:create-order", HistoryResolution::TenSeconds),
        )
        .await
        .expect("the history");
    assert_eq!(h.kind, TargetKind::Entry);
    assert_eq!(h.id, "create-order");
    assert_eq!(h.step_s, 10);
    assert!(h.points.len() >= 2, "{h:?}");
    for pair in h.points.windows(2) {
        assert!(pair[0].t < pair[1].t, "oldest first: {h:?}");
    }
    for p in &h.points {
        assert!(p.t >= created, "{p:?}");
        assert_eq!(
            (p.t - created) % 10_000,
            0,
            "points start on the 10 s grid: {p:?}"
        );
        assert!(p.samples >= 1, "{p:?}");
    }
    // 600 requests between scrapes: a rate once two scrapes exist.
    let rated = h
        .points
        .iter()
        .filter_map(|p| p.qps_avg)
        .filter(|q| *q > 0.0)
        .count();
    assert!(rated >= 1, "{h:?}");
    // A point's min, mean and max are in order.
    for p in &h.points {
        if let (Some(min), Some(avg), Some(max)) = (p.qps_min, p.qps_avg, p.qps_max) {
            assert!(min <= avg && avg <= max, "{p:?}");
        }
    }

    // The range keeps the points starting inside it.
    let last = h.points.last().expect("a point").t;
    let mut q = query("entry:create-order", HistoryResolution::TenSeconds);
    q.from = Some(last);
    let tail = client.history("live", &q).await.expect("from the last");
    assert_eq!(tail.points.len(), 1);
    assert_eq!(tail.points[0].t, last);
    q.from = None;
    q.to = Some(last - 1);
    let head = client.history("live", &q).await.expect("up to the last");
    assert_eq!(head.points.len(), h.points.len() - 1);

    // The service's series is stored too.
    let svc = client
        .history(
            "live",
            &query("service:order-api", HistoryResolution::TenSeconds),
        )
        .await
        .expect("the service's history");
    assert_eq!(svc.kind, TargetKind::Service);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_history_questions_are_refused_with_a_clear_message() {
    let (server, _ui) = live_server_in("UTC").await;
    let token = server.token("review", Role::Viewer, None).await;
    let client = Client::new(&server.base).expect("client").with_token(token);

    let (status, code, message) = refusal(
        client
            .history("live", &query("entry:nope", HistoryResolution::TenSeconds))
            .await
            .expect_err("an unknown entry"),
    );
    assert_eq!((status, code.as_str()), (422, "unknown_series"));
    assert!(
        message.contains("create-order"),
        "names the plan's entries: {message}"
    );

    for bad in ["bogus", "query:x", "entry:"] {
        let (status, code, message) = refusal(
            client
                .history("live", &query(bad, HistoryResolution::TenSeconds))
                .await
                .expect_err("a malformed series"),
        );
        assert_eq!((status, code.as_str()), (422, "invalid_series"), "{bad}");
        assert!(message.contains("<kind>:<id>"), "{message}");
    }

    let mut q = query("entry:create-order", HistoryResolution::OneMinute);
    q.from = Some(2_000);
    q.to = Some(1_000);
    let (status, code, message) =
        refusal(client.history("live", &q).await.expect_err("from after to"));
    assert_eq!((status, code.as_str()), (422, "invalid_range"));
    assert!(
        message.contains("`from` (2000) is after `to` (1000)"),
        "{message}"
    );

    // A resolution the store does not keep: the query does not parse.
    let r = client
        .send(
            http::Method::GET,
            "/api/v1/events/live/history?series=entry:create-order&resolution=2m",
            None,
        )
        .await
        .expect("answered");
    assert_eq!(r.status, http::StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.text().contains("invalid_query"), "{}", r.text());
    assert!(
        r.text().contains("10s"),
        "names the resolutions: {}",
        r.text()
    );

    let (status, code, _) = refusal(
        client
            .history(
                "nope",
                &query("entry:create-order", HistoryResolution::FiveMinutes),
            )
            .await
            .expect_err("no such event"),
    );
    assert_eq!((status, code.as_str()), (404, "not_found"));
}
