//! Path canonicalisation in the sidecar, on both paths: every spelling of
//! `/api/orders` an upstream framework would route to its handler meets the
//! rule on `/api/orders`; the upstream gets the canonical path (and the
//! query as it came); a path with no canonical form is answered 400 and
//! never forwarded.

use crate::common::{PATHS, start_sidecar};
use crate::smuggling::{Recorder, exchange};

/// Blocks `GET /api/orders`; everything else passes.
const RULES: &str = "version: 1\nresources:\n  - name: orders\n    routes: [{method: GET, path: /api/orders}]\n    flow:\n      - {id: no-orders, count: 0}\n";

fn get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_spelling_of_a_blocked_path_is_blocked() {
    for fast in PATHS {
        for target in [
            "/api/orders",
            "/api/%6Frders",
            "/api/%6frders",
            "/api/./orders",
            "/api/x/../orders",
            "/api/orders;x",
            "/api/orders;jsessionid=1?q=1",
            "//api/orders",
            "/api//orders",
            "/api/%2E/orders",
            "/x/..;/api/orders",
        ] {
            let upstream = Recorder::start().await;
            let sc = start_sidecar(&upstream.url(), RULES, |c| c.fast_path = fast).await;
            let answers = exchange(sc.addr, &get(target), 1).await;
            sc.shutdown().await;
            let seen = upstream.settled().await;
            assert_eq!(
                answers.iter().map(|a| a.status).collect::<Vec<_>>(),
                [429],
                "fast {fast}: {target}"
            );
            assert!(seen.is_empty(), "fast {fast}: {target}: {seen:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_gets_the_canonical_path_and_the_query_as_it_came() {
    for fast in PATHS {
        let upstream = Recorder::start().await;
        let sc = start_sidecar(&upstream.url(), RULES, |c| c.fast_path = fast).await;
        let cases = [
            ("/api/%69tems", "/api/items"),
            (
                "/api/./items;v=1?q=%41&r=a/../b",
                "/api/items?q=%41&r=a/../b",
            ),
            ("//api/x/../items/", "/api/items/"),
            ("/api/items%2a?x", "/api/items%2A?x"),
            ("/api/items", "/api/items"),
        ];
        let mut bytes = Vec::new();
        for (sent, _) in cases {
            bytes.extend_from_slice(&get(sent));
        }
        let answers = exchange(sc.addr, &bytes, cases.len()).await;
        sc.shutdown().await;
        let seen = upstream.settled().await;
        assert!(
            answers.iter().all(|a| a.status == 200 && a.from_upstream),
            "fast {fast}: {answers:?}"
        );
        let got: Vec<&str> = seen.iter().map(|r| r.target.as_str()).collect();
        let want: Vec<&str> = cases.iter().map(|(_, w)| *w).collect();
        assert_eq!(got, want, "fast {fast}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_without_a_canonical_form_is_refused() {
    for fast in PATHS {
        for target in [
            "/api%2Forders",
            "/api/%2forders",
            "/api/orders%00",
            "/api/%FF",
            "/api/%C3%28",
            "/api/%5Corders",
            "/api/%",
            "/api/%zz",
        ] {
            let upstream = Recorder::start().await;
            let sc = start_sidecar(&upstream.url(), RULES, |c| c.fast_path = fast).await;
            let answers = exchange(sc.addr, &get(target), 1).await;
            sc.shutdown().await;
            let seen = upstream.settled().await;
            assert_eq!(
                answers.iter().map(|a| a.status).collect::<Vec<_>>(),
                [400],
                "fast {fast}: {target}"
            );
            assert!(seen.is_empty(), "fast {fast}: {target}: {seen:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_path_keeps_the_connection_on_the_fast_path() {
    let upstream = Recorder::start().await;
    let sc = start_sidecar(&upstream.url(), RULES, |_| {}).await;
    let mut bytes = b"POST /api/%2F HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello".to_vec();
    bytes.extend_from_slice(&get("/api/items"));
    let answers = exchange(sc.addr, &bytes, 2).await;
    sc.shutdown().await;
    let seen = upstream.settled().await;
    assert_eq!(
        answers.iter().map(|a| a.status).collect::<Vec<_>>(),
        [400, 200]
    );
    let got: Vec<&str> = seen.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(got, ["/api/items"]);
}
