//! Fuzzing the API's JSON bodies on stable Rust: for every operation the
//! server's own OpenAPI document lists with a JSON request body, arbitrary
//! and schema-shaped JSON (wrong types, missing and unknown keys, huge and
//! odd numbers and strings, truncated text) is sent over real HTTP to a real
//! server on loopback. No answer may be a 5xx, every 4xx carries the JSON
//! error body, and the server keeps answering afterwards (a panicking
//! handler would drop the connection or answer 500).
//!
//! Bounded: `SEAWALL_FUZZ_CASES` cases per operation (default 32), so the
//! whole module runs in seconds. A failure is shrunk and its seed kept in
//! `tests/it/proptest-regressions/fuzz_api.txt`, which proptest replays
//! first on every run; bodies that once broke the server are listed in
//! [`REGRESSIONS`] and sent on every run as well.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{PLAN, TestServer, event_with_plan};
use http::Method;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use seawall_server::client::Client;
use seawall_store::Role;
use serde_json::{Map, Number, Value, json};

/// Bodies kept as regression cases: sent to every operation on every run.
const REGRESSIONS: &[&str] = &[
    "null",
    "[]",
    "{}",
    "\"\"",
    "{\"slug\": \"\", \"name\": \"\"}",
    "{\"services\": [], \"kinds\": [], \"start\": \"\", \"end\": \"\", \"reason\": \"\"}",
    "{\"start\": \"2026-09-30T10:00:00Z\", \"end\": \"2026-09-30T09:00:00Z\"}",
    "{\"qps\": 1e308}",
    "{\"qps\": -1}",
    "{\"at_ms\": 9223372036854775807}",
    "{\"at_ms\": -9223372036854775808}",
    "{\"version\": 18446744073709551615}",
    "{\"name\": \"\\u0000\"}",
    "{\"text\": \"event: *a\"}",
    "{\"text\": \"a: &a [*a]\"}",
    "{\"file\": \"../../etc/passwd\", \"text\": \"event: {name: x}\"}",
];

/// Cases per operation: `SEAWALL_FUZZ_CASES`, default 32.
fn cases() -> u32 {
    std::env::var("SEAWALL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32)
}

/// Arbitrary JSON: scalars of every kind, nested up to 4 levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        ".{0,24}".prop_map(Value::from),
        prop::sample::select(STRINGS).prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(("[a-z_]{0,12}", inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Strings that mean something to some handler (ids, globs, kinds, times,
/// plans) or to a parser (empty, NUL, long, non-ASCII, paths).
const STRINGS: &[&str] = &[
    "",
    "e",
    "x",
    "order-api",
    "bike",
    "*",
    "pay-*",
    "release",
    "config",
    "ops",
    "admin",
    "ci",
    "sidecar",
    "pm",
    "viewer",
    "2026-09-30T10:00:00Z",
    "2026-09-30T10:00:00+08:00",
    "2026-13-45T99:99:99Z",
    "30d",
    "-1",
    "1e400",
    "NaN",
    "\u{0}",
    "../../etc/passwd",
    "é漢字🚲",
    "event: {name: x}",
    "event: *a",
];

/// What one case sends.
#[derive(Debug, Clone)]
struct Case {
    /// How the body is made: 0 arbitrary JSON, 1–2 shaped by the schema
    /// with arbitrary values spliced in, 3 shaped with a key dropped or
    /// added, 4 a shaped body cut short.
    mode: u8,
    seed: u64,
    junk: Vec<Value>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        0u8..5,
        any::<u64>(),
        prop::collection::vec(any_json(), 1..4),
    )
        .prop_map(|(mode, seed, junk)| Case { mode, seed, junk })
}

/// A small deterministic generator for the schema walk.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// `schema` with its `$ref` followed.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    let mut s = schema;
    for _ in 0..16 {
        match s.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                s = &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")]
            }
            None => break,
        }
    }
    s
}

/// A value shaped like `schema`, with arbitrary values from `junk` spliced
/// in now and then (`splice` = one in how many nodes; 0 = never).
fn shaped(
    doc: &Value,
    schema: &Value,
    rng: &mut Rng,
    junk: &[Value],
    splice: usize,
    depth: usize,
) -> Value {
    if splice > 0 && rng.chance(splice) && !junk.is_empty() {
        return junk[rng.below(junk.len())].clone();
    }
    let schema = resolve(doc, schema);
    if depth > 6 {
        return Value::Null;
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(list) = schema
            .get(key)
            .and_then(Value::as_array)
            .filter(|l| !l.is_empty())
        {
            let pick = &list[rng.below(list.len())];
            return shaped(doc, pick, rng, junk, splice, depth + 1);
        }
    }
    if let Some(values) = schema
        .get("enum")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
    {
        return values[rng.below(values.len())].clone();
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ if schema.get("properties").is_some() => vec!["object"],
        _ => vec!["string", "integer", "object"],
    };
    match types[rng.below(types.len())] {
        "null" => Value::Null,
        "boolean" => Value::Bool(rng.chance(2)),
        "integer" => {
            json!([0i64, 1, -1, 2, 100, 1_790_733_600_000, i64::MAX, i64::MIN][rng.below(8)])
        }
        "number" => json!([0.0, 0.5, 1.0, -1.0, 1e9, 1e300, -1e300][rng.below(7)]),
        "string" => {
            if rng.chance(12) {
                Value::from("x".repeat(1 + rng.below(5_000)))
            } else if rng.chance(8) {
                Value::from(PLAN)
            } else {
                Value::from(STRINGS[rng.below(STRINGS.len())])
            }
        }
        "array" => {
            let items = schema.get("items").cloned().unwrap_or(Value::Null);
            let n = rng.below(4);
            Value::Array(
                (0..n)
                    .map(|_| shaped(doc, &items, rng, junk, splice, depth + 1))
                    .collect(),
            )
        }
        _ => {
            let mut out = Map::new();
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, s) in props {
                    if required.contains(&k.as_str()) || rng.chance(2) {
                        out.insert(k.clone(), shaped(doc, s, rng, junk, splice, depth + 1));
                    }
                }
            } else if let Some(extra) = schema.get("additionalProperties").filter(|v| v.is_object())
            {
                for _ in 0..rng.below(3) {
                    let k = STRINGS[rng.below(STRINGS.len())].to_string();
                    out.insert(k, shaped(doc, extra, rng, junk, splice, depth + 1));
                }
            }
            Value::Object(out)
        }
    }
}

/// The body `case` sends to an operation whose request schema is `schema`.
fn body(doc: &Value, schema: &Value, case: &Case) -> Vec<u8> {
    let mut rng = Rng(case.seed);
    let value = match case.mode {
        0 => case.junk[0].clone(),
        1 => shaped(doc, schema, &mut rng, &case.junk, 5, 0),
        2 => shaped(doc, schema, &mut rng, &case.junk, 0, 0),
        _ => {
            let mut v = shaped(doc, schema, &mut rng, &case.junk, 0, 0);
            if let Some(obj) = v.as_object_mut().filter(|_| case.mode == 3) {
                let keys: Vec<String> = obj.keys().cloned().collect();
                if !keys.is_empty() && rng.chance(2) {
                    obj.remove(&keys[rng.below(keys.len())]);
                } else {
                    obj.insert("unexpected".to_string(), case.junk[0].clone());
                }
            }
            v
        }
    };
    let mut text = serde_json::to_vec(&value).unwrap_or_default();
    if case.mode == 4 && !text.is_empty() {
        text.truncate(rng.below(text.len()));
    }
    text
}

/// A concrete path for `template`: the event `e`, exception 1, the plan's
/// service, or `x` for any other parameter.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|s| match s {
            "{slug}" | "{event}" => "e",
            "{id}" | "{version}" => "1",
            "{service}" => "order-api",
            p if p.starts_with('{') => "x",
            p => p,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every operation with a JSON request body: method, path template and the
/// body's schema.
fn operations(doc: &Value) -> Vec<(Method, String, Value)> {
    let mut ops = Vec::new();
    for (template, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            if schema.is_null() {
                continue;
            }
            if let Ok(m) = method.to_ascii_uppercase().parse::<Method>() {
                ops.push((m, template.clone(), schema.clone()));
            }
        }
    }
    ops
}

/// Send `body` and check the answer: no 5xx, a JSON error body on 4xx.
/// The status on success.
async fn send(client: &Client, method: &Method, path: &str, body: Vec<u8>) -> Result<u16, String> {
    let shown = String::from_utf8_lossy(&body[..body.len().min(400)]).into_owned();
    let r = client
        .send(
            method.clone(),
            path,
            Some(("application/json", Bytes::from(body))),
        )
        .await
        .map_err(|e| format!("{method} {path}: no answer ({e}) to {shown}"))?;
    let status = r.status.as_u16();
    if status >= 500 {
        return Err(format!(
            "{method} {path}: {status} {} for {shown}",
            r.text()
        ));
    }
    if status >= 400 {
        let v: Value = serde_json::from_slice(&r.body)
            .map_err(|e| format!("{method} {path}: {status} body is not JSON ({e}) for {shown}"))?;
        if !v["error"]["code"].is_string() {
            return Err(format!("{method} {path}: {status} without error.code: {v}"));
        }
    }
    Ok(status)
}

#[test]
fn arbitrary_json_bodies_never_get_a_5xx() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(async {
        let server = TestServer::start().await;
        event_with_plan(&server, "e").await;
        // An exception to approve and reject (whether or not the plan's
        // freeze lets it be requested, the operations are fuzzed).
        let _ = server
            .admin()
            .post(
                "/api/v1/events/e/exceptions",
                &json!({"services": ["order-api"], "kinds": ["release"],
                        "start": "2026-09-30T00:00:00Z", "end": "2026-09-30T06:00:00Z",
                        "reason": "fuzz"}),
            )
            .await;
        server
    });
    let doc = Arc::clone(&server.openapi);
    let ops = operations(&doc);
    assert!(
        ops.len() >= 8,
        "only {} operations with JSON bodies",
        ops.len()
    );
    // Answers by status, to check the cases reach the handlers rather than
    // the write rate limit.
    let statuses = std::sync::Mutex::new(std::collections::BTreeMap::<u16, usize>::new());
    let count = |status: u16| {
        if let Ok(mut m) = statuses.lock() {
            *m.entry(status).or_default() += 1;
        }
    };

    for (n, (method, template, schema)) in ops.iter().enumerate() {
        let path = concrete(template);
        // An admin token per operation: each has its own write budget.
        let token = rt.block_on(server.token(&format!("fuzz-{n}"), Role::Admin, None));
        let client = Client::new(&server.base)
            .expect("client")
            .with_token(token)
            .with_timeout(Duration::from_secs(30));
        // The kept regressions first.
        for body in REGRESSIONS {
            match rt.block_on(send(&client, method, &path, body.as_bytes().to_vec())) {
                Ok(status) => count(status),
                Err(e) => panic!("regression case: {e}"),
            }
        }
        let mut runner = TestRunner::new(Config {
            cases: cases(),
            failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
                "tests/it/proptest-regressions/fuzz_api.txt",
            ))),
            ..Config::default()
        });
        let result = runner.run(&case(), |case| {
            let bytes = body(&doc, schema, &case);
            let status = rt
                .block_on(send(&client, method, &path, bytes))
                .map_err(TestCaseError::fail)?;
            count(status);
            Ok(())
        });
        if let Err(e) = result {
            panic!("{method} {template}: {e}");
        }
    }

    let statuses = statuses.into_inner().unwrap_or_default();
    let total: usize = statuses.values().sum();
    let limited = statuses.get(&429).copied().unwrap_or(0);
    eprintln!(
        "{} operations, {total} requests, by status: {statuses:?}",
        ops.len()
    );
    assert!(limited * 10 < total, "mostly rate-limited: {statuses:?}");
    // Still serving.
    let r = rt
        .block_on(
            Client::new(&server.base)
                .expect("client")
                .with_token(&server.admin)
                .send(Method::GET, "/api/v1/events", None),
        )
        .expect("the server still answers");
    assert_eq!(r.status.as_u16(), 200, "{}", r.text());
    drop(server);
}
