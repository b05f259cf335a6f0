//! The built-in scrape's cost: parsing one real sidecar page (20 resources
//! with traffic), the figures of two pages, and one round of 200 scrapes of
//! a real sidecar on 127.0.0.1 (the sidecar answers in the same process,
//! so the round's time includes rendering the pages).

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use seawall_scrape::exposition::parse;
use seawall_scrape::scrape::{ScrapeOptions, Scraper};
use seawall_scrape::templates::Rates;
use tokio::time::Instant;

#[allow(dead_code)]
#[path = "../tests/it/common.rs"]
mod common;

const RESOURCES: usize = 20;

fn rules() -> String {
    let mut r = String::from("version: 1\nresources:\n");
    for i in 0..RESOURCES {
        r.push_str(&format!(
            "  - name: r{i}\n    routes: [{{path: /r{i}}}]\n    flow: [{{id: r{i}-qps, count: 100000}}]\n"
        ));
    }
    r
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (stack, page_text) = rt.block_on(async {
        let stack = common::Stack::start_with(&rules()).await;
        for i in 0..RESOURCES {
            stack.send(&format!("/r{i}"), 5, 200).await;
        }
        let url = format!("http://{}/metrics", stack.admin);
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build::<_, http_body_util::Empty<bytes::Bytes>>(
                hyper_util::client::legacy::connect::HttpConnector::new(),
            );
        let resp = client
            .get(url.parse().expect("uri"))
            .await
            .expect("metrics");
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .expect("body")
            .to_bytes();
        (stack, String::from_utf8(body.to_vec()).expect("utf-8"))
    });
    let lines = page_text.lines().count();
    let mut group = c.benchmark_group("scrape");
    group.measurement_time(Duration::from_secs(3));
    group.bench_function(format!("parse_sidecar_page_{lines}_lines"), |b| {
        b.iter(|| parse(std::hint::black_box(&page_text)).expect("parses"))
    });
    let page = parse(&page_text).expect("parses");
    group.bench_function("figures_of_two_pages", |b| {
        b.iter(|| {
            Rates::between(&page, &page, 5.0, &[("resource", "r7")])
                .expect("window")
                .figures()
        })
    });
    let scraper = Scraper::new(ScrapeOptions::default());
    let targets = vec![stack.target(); 200];
    group.sample_size(10);
    group.bench_function("round_of_200_scrapes", |b| {
        b.iter(|| rt.block_on(scraper.scrape_all(&targets, Instant::now())))
    });
    group.finish();
    drop(stack);
}

criterion_group!(benches, bench);
criterion_main!(benches);
