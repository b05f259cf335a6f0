//! The OpenAPI document is the contract: requests made from it, sent over
//! real HTTP to a real server, find no mismatch between what the document
//! says and what the server does.
//!
//! For every operation the test starts from one valid request (path
//! parameters naming fixtures that exist, a known-good body) and varies
//! one query parameter or one body field at a time through values made
//! from the field's schema: the boundaries of lengths and ranges, each
//! enum value, the empty string, and the values just outside (one
//! character too long, one below the minimum, one above the maximum, a
//! value outside the enum). Whether a request is valid is decided by the
//! document itself (the `jsonschema` crate validates the value against
//! the field's schema and the whole body against the body's schema).
//!
//! A mismatch is any of: a valid request refused with 400 or 422, an
//! invalid one accepted (2xx), a status the operation does not declare,
//! a 2xx body (JSON, or YAML read as JSON) that does not validate against
//! its declared schema. Bounded: a few hundred requests.

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use bytes::Bytes;
use http::{Method, header};
use seawall_server::AppState;
use seawall_server::client::Response;
use seawall_store::Role;
use serde_json::{Value, json};

use crate::common::{self, PLAN, TestServer, event_with_plan, upload_run, validate};

/// Slug of the event every path names.
const SLUG: &str = "contract";

/// Refusals for reasons a schema cannot state, each with its cause: a plan
/// the plan validator finds invalid (`invalid_plan`), a rule version that
/// does not exist yet (`invalid_version`), and the fields that go with a
/// token's role (a pm's business line, a ci token's event, a sidecar's
/// service: `*_required`, `*_not_allowed`), and a history series the
/// event's plan does not have (`unknown_series`: another event, or one
/// without a plan), and an incident's business line the plan does not
/// have (`unknown_line`), and an incident role for somebody who is not
/// one of the plan's people (`unknown_person`).
const SEMANTIC: &[&str] = &[
    "invalid_plan",
    "unknown_line",
    "unknown_person",
    "unknown_series",
    "invalid_version",
    "business_line_required",
    "business_line_not_allowed",
    "event_required",
    "event_not_allowed",
    "service_required",
    "service_not_allowed",
];

/// The query every request of an operation starts from: its required
/// parameters (a series of the plan), and `wait=0` so the long poll
/// answers at once.
fn base_query(template: &str) -> Vec<(&'static str, String)> {
    match template {
        "/api/v1/guard/rules" => vec![("service", "order-api".into()), ("wait", "0".into())],
        "/api/v1/guard/whitelist" => {
            vec![("service", "order-api".into()), ("wait", "0".into())]
        }
        "/api/v1/events/{slug}/history" => vec![
            ("series", "entry:create-order".into()),
            ("resolution", "10s".into()),
        ],
        _ => Vec::new(),
    }
}

/// A path with its query.
fn with_query(path: &str, query: &[(&str, String)]) -> String {
    if query.is_empty() {
        return path.to_owned();
    }
    let pairs: Vec<String> = query
        .iter()
        .map(|(k, v)| {
            let v = percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC);
            format!("{k}={v}")
        })
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

/// Every write of the walk is one token's: a burst large enough for all.
fn many_writes(state: AppState) -> AppState {
    let limits = seawall_server::state::Limits {
        write_burst: NonZeroU32::new(100_000).unwrap_or(NonZeroU32::MIN),
        ..*state.limits()
    };
    state.with_limits(limits)
}

/// `schema` with its `$ref` followed.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => resolve(
            doc,
            &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
        ),
        None => schema,
    }
}

/// The JSON types a schema allows.
fn types(schema: &Value) -> Vec<&str> {
    match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Values made from a field's schema: boundaries, enum values, and the
/// values just outside them. Which are valid the document decides.
fn candidates(doc: &Value, schema: &Value) -> Vec<Value> {
    let schema = resolve(doc, schema);
    let mut out = Vec::new();
    if let Some(values) = schema["enum"].as_array() {
        out.extend(values.iter().cloned());
        out.push(json!("not-a-member"));
    }
    for option in schema["oneOf"]
        .as_array()
        .into_iter()
        .chain(schema["anyOf"].as_array())
        .flatten()
    {
        out.extend(candidates(doc, option));
    }
    let ts = types(schema);
    for t in &ts {
        match *t {
            "string" => {
                let min = schema["minLength"].as_u64().unwrap_or(0) as usize;
                out.push(json!(""));
                out.push(json!("a"));
                out.push(json!("a".repeat(min.max(1))));
                if min > 1 {
                    out.push(json!("a".repeat(min - 1)));
                }
                if let Some(max) = schema["maxLength"].as_u64() {
                    out.push(json!("a".repeat(max as usize)));
                    out.push(json!("a".repeat(max as usize + 1)));
                }
                if schema.get("pattern").is_some() {
                    out.push(json!("Not Valid!"));
                }
                if schema["format"] == "date-time" {
                    out.push(json!("2026-10-24T23:30:00+02:00"));
                    out.push(json!("2026-10-24 21:00"));
                }
            }
            "integer" | "number" => {
                let (min, max) = (schema["minimum"].as_i64(), schema["maximum"].as_i64());
                out.extend([json!(0), json!(1), json!(-1), json!(2_147_483_648_i64)]);
                if let Some(min) = min {
                    out.extend([json!(min), json!(min - 1)]);
                }
                if let Some(max) = max {
                    out.extend([json!(max), json!(max + 1)]);
                }
                if let Some(x) = schema["exclusiveMinimum"].as_f64() {
                    out.extend([json!(x), json!(x + 0.5)]);
                }
                if *t == "number" {
                    out.push(json!(0.5));
                }
                out.push(json!("x"));
            }
            "boolean" => out.extend([json!(true), json!(false), json!("maybe")]),
            "null" => out.push(Value::Null),
            _ => {}
        }
    }
    let mut seen = Vec::new();
    out.retain(|v| {
        let new = !seen.contains(v);
        seen.push(v.clone());
        new
    });
    out
}

/// Is `v` valid against `schema` (a schema from `doc`)?
fn valid(doc: &Value, schema: &Value, v: &Value) -> bool {
    validate(doc, schema, v, "$").is_ok()
}

/// A query or path value as text; `None` for null (the parameter left out).
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// One request of the walk.
struct Case {
    what: String,
    path: String,
    body: Option<Value>,
    valid: bool,
}

/// A mismatch between the document and an answer.
fn mismatch(
    doc: &Value,
    method: &Method,
    template: &str,
    case: &Case,
    r: &Response,
) -> Option<String> {
    let op = &doc["paths"][template][method.as_str().to_ascii_lowercase()];
    let status = r.status.as_u16();
    let label = format!("{method} {} ({})", case.path, case.what);
    let response = &op["responses"][status.to_string()];
    if response.is_null() {
        return Some(format!(
            "{label}: answered {status}, undeclared: {}",
            r.text()
        ));
    }
    let code = r
        .json::<Value>()
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
        .unwrap_or_default();
    if case.valid && matches!(status, 400 | 422) && !SEMANTIC.contains(&code.as_str()) {
        return Some(format!(
            "{label}: valid by the document, refused {status}: {}",
            r.text()
        ));
    }
    if !case.valid && r.status.is_success() {
        return Some(format!(
            "{label}: invalid by the document, accepted {status}"
        ));
    }
    if !r.status.is_success() {
        return None;
    }
    let content_type = r
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_owned();
    let content = &response["content"];
    let Some((_, media)) = content.as_object().and_then(|m| {
        m.iter()
            .find(|(k, _)| k.split(';').next().unwrap_or("").trim() == mime)
    }) else {
        if content.is_null() && r.body.is_empty() {
            return None;
        }
        return Some(format!(
            "{label}: content type {content_type:?} is not declared"
        ));
    };
    let body: Value = match mime.as_str() {
        "application/json" => match serde_json::from_slice(&r.body) {
            Ok(v) => v,
            Err(e) => return Some(format!("{label}: not JSON: {e}")),
        },
        "application/yaml" => match serde_saphyr::from_str(&r.text()) {
            Ok(v) => v,
            Err(e) => return Some(format!("{label}: not YAML: {e}")),
        },
        _ => Value::String(r.text()),
    };
    validate(doc, &media["schema"], &body, "$")
        .err()
        .map(|e| format!("{label}: {status} body does not match its schema: {e}"))
}

/// The known-good request body of each operation that takes one.
fn base_body(method: &Method, template: &str, n: usize) -> Option<Value> {
    Some(match (method.as_str(), template) {
        ("POST", "/api/v1/events") => json!({"slug": format!("ev-{n}"), "name": "An event"}),
        ("POST", "/api/v1/events/{slug}/plans") => json!({"file_name": "plan.yaml", "text": PLAN}),
        ("POST", "/api/v1/events/{slug}/runs") => {
            serde_json::from_str(&common::run_json(8.0, 4.0)).ok()?
        }
        ("POST", "/api/v1/events/{slug}/exceptions") => json!({
            "services": ["order-api"], "kinds": ["release"],
            "start": "2026-10-24T21:00:00Z", "end": "2026-10-24T22:00:00Z",
            "reason": "a hotfix"}),
        ("POST", "/api/v1/exceptions/{id}/approve" | "/api/v1/exceptions/{id}/reject") => {
            json!({"note": "ok"})
        }
        ("POST", "/api/v1/gate/check") => json!({"service": "order-api", "kind": "release"}),
        ("POST", "/api/v1/events/{slug}/guard/derive") => json!({}),
        ("PUT", "/api/v1/guard/services/{service}/rules") => json!({
            "rules": {"version": 1, "resources": [{
                "name": "create-order",
                "routes": [{"method": "POST", "path": "/api/orders"}],
                "flow": [{"id": "create-order.qps", "count": 10.0}]}]},
            "note": "a limit"}),
        ("POST", "/api/v1/guard/applied") => {
            json!({"service": "order-api", "instance": "m-1", "version": 1})
        }
        ("POST", "/api/v1/tokens") => json!({"name": format!("t-{n}"), "role": "viewer"}),
        ("POST", "/api/v1/events/{slug}/incidents") => {
            json!({"title": format!("incident {n}"), "severity": "P2", "line": "bike"})
        }
        ("POST", "/api/v1/events/{slug}/incidents/{n}/resolve") => json!({"text": "fixed"}),
        ("POST", "/api/v1/events/{slug}/incidents/{n}/roles") => {
            json!({"role": "commander", "person": "lin-wei", "version": 1})
        }
        ("POST", "/api/v1/events/{slug}/incidents/{n}/notes") => json!({"text": "a note"}),
        ("POST", "/api/v1/events/{slug}/incidents/{n}/updates") => {
            json!({"status": "investigating", "text": "looking"})
        }
        ("POST", "/api/v1/events/{slug}/incidents/{n}/severity") => json!({"severity": "P1"}),
        ("POST", "/api/v1/events/{slug}/incidents/{n}/mitigate") => json!({"text": "limited"}),
        _ => return None,
    })
}

/// Every request the walk makes for one operation.
fn cases(
    doc: &Value,
    method: &Method,
    template: &str,
    op: &Value,
    ids: &BTreeMap<&str, String>,
) -> Vec<Case> {
    // The fixture each path parameter names.
    let fixture = |name: &str| -> String {
        let key = match name {
            "id" if method == Method::DELETE => "revocable",
            "id" if template.starts_with("/api/v1/exceptions/") => "exception",
            "id" if template.starts_with("/api/v1/events/{slug}/runs/") => "run",
            other => other,
        };
        ids.get(key)
            .cloned()
            .unwrap_or_else(|| panic!("no fixture for `{name}`"))
    };
    let path_with = |changed: Option<(&str, &str)>| -> String {
        let mut path = template.to_owned();
        for p in op["parameters"].as_array().into_iter().flatten() {
            if p["in"] != "path" {
                continue;
            }
            let name = p["name"].as_str().unwrap_or("");
            let value = match changed {
                Some((n, v)) if n == name => v.to_owned(),
                _ => fixture(name),
            };
            let value =
                percent_encoding::utf8_percent_encode(&value, percent_encoding::NON_ALPHANUMERIC);
            path = path.replace(&format!("{{{name}}}"), &value.to_string());
        }
        path
    };
    let path = path_with(None);
    let query = base_query(template);
    let mut out = vec![Case {
        what: "base".into(),
        path: with_query(&path, &query),
        body: base_body(method, template, 0),
        valid: true,
    }];
    for p in op["parameters"].as_array().into_iter().flatten() {
        if p["in"] != "query" {
            continue;
        }
        let name = p["name"].as_str().unwrap_or("");
        let required = p["required"] == true;
        assert!(
            !required || query.iter().any(|(k, _)| *k == name),
            "{method} {template}: no base value for the required `{name}`"
        );
        for v in candidates(doc, &p["schema"]) {
            let text = text_of(&v);
            let is_valid = if text.is_some() {
                valid(doc, &p["schema"], &v)
            } else {
                !required
            };
            let mut q: Vec<(&str, String)> =
                query.iter().filter(|(k, _)| *k != name).cloned().collect();
            if let Some(text) = &text {
                q.push((name, text.clone()));
            }
            out.push(Case {
                what: format!("{name}={}", short(text.as_deref().unwrap_or("(absent)"))),
                path: with_query(&path, &q),
                body: base_body(method, template, 0),
                valid: is_valid,
            });
        }
    }
    // Path parameters: schema-made values and one that names nothing (a
    // DELETE keeps its fixture: revoking the walk's own token ends it).
    for p in op["parameters"].as_array().into_iter().flatten() {
        if p["in"] != "path" || method == Method::DELETE {
            continue;
        }
        let name = p["name"].as_str().unwrap_or("");
        let mut values = candidates(doc, &p["schema"]);
        values.push(json!("no-such-thing"));
        for v in values {
            // An empty segment is another path, not this operation's.
            let Some(text) = text_of(&v).filter(|t| !t.is_empty()) else {
                continue;
            };
            out.push(Case {
                what: format!("path {name}={}", short(&text)),
                path: with_query(&path_with(Some((name, &text))), &query),
                body: base_body(method, template, out.len()),
                valid: valid(doc, &p["schema"], &v),
            });
        }
    }
    let body_schema = &op["requestBody"]["content"]["application/json"]["schema"];
    if let Some(base) = base_body(method, template, 0)
        && !body_schema.is_null()
    {
        let resolved = resolve(doc, body_schema);
        for (name, field) in resolved["properties"].as_object().into_iter().flatten() {
            let mut values = candidates(doc, field);
            if let Some(items) = field.get("items") {
                let item = base[name].get(0).cloned();
                values.push(json!([]));
                for v in candidates(doc, items) {
                    values.push(json!([v]));
                }
                if let (Some(max), Some(item)) = (field["maxItems"].as_u64(), item) {
                    values.push(Value::Array(vec![item.clone(); max as usize]));
                    values.push(Value::Array(vec![item; max as usize + 1]));
                }
            }
            for v in values {
                let mut body = base.clone();
                body[name] = v.clone();
                if let Some(n) = base["slug"].as_str().or(base["name"].as_str())
                    && name != "slug"
                    && name != "name"
                {
                    // Fresh names: a second create is not a conflict.
                    let key = if base.get("slug").is_some() {
                        "slug"
                    } else {
                        "name"
                    };
                    body[key] = json!(format!("{n}-{}", out.len()));
                }
                let is_valid = valid(doc, body_schema, &body);
                out.push(Case {
                    what: format!("{name}: {}", short(&v.to_string())),
                    path: with_query(&path, &query),
                    body: Some(body),
                    valid: is_valid,
                });
            }
        }
    }
    out
}

fn short(s: &str) -> String {
    if s.chars().count() > 24 {
        format!(
            "{}… ({} chars)",
            s.chars().take(12).collect::<String>(),
            s.chars().count()
        )
    } else {
        s.to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_made_from_the_document_find_no_mismatch() {
    let server = TestServer::start_tweaked(many_writes).await;
    let doc = server.openapi.clone();
    event_with_plan(&server, SLUG).await;
    upload_run(&server, SLUG).await;
    let admin = server.admin();
    // A whitelist to follow: its long poll answers at once, whatever `wait`.
    admin
        .client
        .upload_whitelist("order-api", Bytes::from_static(b"42\n"), None)
        .await
        .expect("whitelist");
    let sidecar = server
        .token("contract-sidecar", Role::Sidecar, Some("order-api"))
        .await;
    let sidecar = server.api(Some(&sidecar));
    let revocable = admin
        .post(
            "/api/v1/tokens",
            &json!({"name": "revocable", "role": "viewer"}),
        )
        .await;
    let revocable: Value = revocable.json().expect("json");
    let exception = admin
        .post(
            &format!("/api/v1/events/{SLUG}/exceptions"),
            &base_body(&Method::POST, "/api/v1/events/{slug}/exceptions", 0).expect("body"),
        )
        .await;
    let exception: Value = exception.json().expect("json");
    let runs: Value = admin
        .get(&format!("/api/v1/events/{SLUG}/runs"))
        .await
        .json()
        .expect("json");
    let ids: BTreeMap<&str, String> = [
        ("slug", SLUG.to_owned()),
        ("service", "order-api".to_owned()),
        ("version", "1".to_owned()),
        ("id", "999999".to_owned()),
        ("n", "999999".to_owned()),
        ("revocable", revocable["token"]["id"].to_string()),
        ("exception", exception["id"].to_string()),
        ("run", runs["runs"][0]["id"].to_string()),
    ]
    .into_iter()
    .collect();

    let mut mismatches = Vec::new();
    let mut sent = 0;
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let method: Method = method.to_ascii_uppercase().parse().expect("method");
            let mut client = &admin;
            for (i, case) in cases(&doc, &method, template, op, &ids)
                .into_iter()
                .enumerate()
            {
                let body = case
                    .body
                    .as_ref()
                    .map(|b| ("application/json", Bytes::from(b.to_string())));
                let send = |c: &common::Api| {
                    let (method, path, body) = (method.clone(), case.path.clone(), body.clone());
                    let c = c.clone();
                    async move { c.client.send(method, &path, body).await.expect("answer") }
                };
                let mut r = send(client).await;
                if i == 0 && r.status == 403 {
                    client = &sidecar;
                    r = send(client).await;
                }
                sent += 1;
                if let Some(m) = mismatch(&doc, &method, template, &case, &r) {
                    mismatches.push(m);
                }
            }
        }
    }
    assert!(sent >= 200, "{sent} requests");
    assert!(sent <= 1000, "{sent} requests");
    assert!(
        mismatches.is_empty(),
        "{} of {sent} requests found a mismatch:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// The four analyses answer `seawall-api`'s types exactly: the typed
/// client decodes each (unknown fields are refused there), and the decoded
/// value serializes back to the very JSON the server sent — on the
/// carnival plan and on a plan with a measured run.
#[tokio::test]
async fn analyses_are_the_api_types_exactly() {
    let server = TestServer::start().await;
    common::event_with(&server, "carnival", "Carnival", common::CARNIVAL).await;
    event_with_plan(&server, SLUG).await;
    upload_run(&server, SLUG).await;
    let admin = server.admin();
    let typed = &admin.client;
    for slug in ["carnival", SLUG] {
        let raw = |name: &str| {
            let admin = admin.clone();
            let path = format!("/api/v1/events/{slug}/plan/{name}");
            async move { admin.get(&path).await.json::<Value>().expect("json") }
        };
        let targets = typed.plan_targets(slug, None).await.expect("targets");
        assert_eq!(
            serde_json::to_value(&targets).expect("json"),
            raw("targets").await
        );
        let capacity = typed.plan_capacity(slug, Some(1)).await.expect("capacity");
        assert_eq!(
            serde_json::to_value(&capacity).expect("json"),
            raw("capacity").await
        );
        let links = typed.plan_links(slug, None).await.expect("links");
        assert_eq!(
            serde_json::to_value(&links).expect("json"),
            raw("links").await
        );
        let readiness = typed.plan_readiness(slug, None).await.expect("readiness");
        assert_eq!(
            serde_json::to_value(&readiness).expect("json"),
            raw("readiness").await
        );
        assert!(!targets.entries.is_empty(), "{slug}");
        assert_eq!(capacity.entries.len(), targets.entries.len(), "{slug}");
    }
    let carnival = typed
        .plan_readiness("carnival", None)
        .await
        .expect("readiness");
    assert!(!carnival.lines.is_empty());
    let links = typed.plan_links("carnival", None).await.expect("links");
    assert!(
        !links.findings.is_empty(),
        "the carnival plan has link findings"
    );
}
