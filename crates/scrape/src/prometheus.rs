//! A thin client of the Prometheus HTTP API: instant queries only
//! (`POST /api/v1/query`, form-encoded `query` and `time`), which is all the
//! evaluator needs from an organisation's Prometheus (or Thanos, Mimir,
//! VictoriaMetrics: the same envelope).
//!
//! Why its own client: the workspace already speaks HTTP through hyper 1 and
//! hyper-util, and the API is one form POST and one JSON envelope; a
//! general Prometheus crate would bring its own HTTP stack. What matters
//! here is the failure side: a query Prometheus rejects (400 `bad_data`,
//! 422 `execution`, 503 `unavailable`/`timeout`) comes back as
//! [`PromError::Api`] with Prometheus' own `errorType` and `error` text,
//! and an unreachable server as its transport error — never as an empty
//! result or a zero. Sample values keep Prometheus' spellings: `"NaN"`,
//! `"+Inf"` and `"-Inf"` become the floats they name.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use crate::exposition::parse_float;

/// Largest response body read.
const MAX_BODY: usize = 32 << 20;

/// Characters kept as they are in a form value (the rest are %-encoded).
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Where Prometheus is and how to reach it.
#[derive(Debug, Clone)]
pub struct PromConfig {
    /// Base URL, `http://host:port` or `https://host:port` (a path prefix
    /// is kept).
    pub url: String,
    /// For `https://`: the PEM file of the CA that signed the server's
    /// certificate; the system's trust store when `None`.
    pub ca_file: Option<PathBuf>,
    /// Sent as `Authorization: Bearer …`.
    pub bearer_token: Option<String>,
    /// Sent as `X-Scope-OrgID` (Mimir, Cortex, Loki tenants).
    pub org_id: Option<String>,
    /// Deadline of one query's exchange; also sent as the query's
    /// `timeout` parameter, so Prometheus gives up at the same time.
    pub timeout: Duration,
}

impl PromConfig {
    /// `url` with no token, tenant or CA file and a 10 s deadline.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ca_file: None,
            bearer_token: None,
            org_id: None,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Why a query gave no result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PromError {
    /// The configured URL cannot be used.
    #[error("Prometheus URL {url:?}: {reason}")]
    Url {
        /// As given.
        url: String,
        /// Why.
        reason: String,
    },
    /// No connection, or the exchange broke.
    #[error("Prometheus at {url}: {message}")]
    Http {
        /// URL asked.
        url: String,
        /// What failed.
        message: String,
    },
    /// No answer within the deadline.
    #[error("Prometheus at {url} did not answer within {ms} ms")]
    Timeout {
        /// URL asked.
        url: String,
        /// The deadline.
        ms: u128,
    },
    /// Prometheus refused the query: its status, `errorType` and `error`.
    #[error("Prometheus answered {status} {error_type}: {error}")]
    Api {
        /// HTTP status (400 bad_data, 422 execution, 503 unavailable or timeout, …).
        status: u16,
        /// `errorType`.
        error_type: String,
        /// `error`.
        error: String,
    },
    /// The answer is not the API's envelope.
    #[error("Prometheus answered {status} with a body that is not its API envelope: {message}")]
    BadResponse {
        /// HTTP status.
        status: u16,
        /// What is wrong.
        message: String,
    },
}

/// One series' value at the query time.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSample {
    /// Its labels.
    pub metric: BTreeMap<String, String>,
    /// Unix seconds.
    pub time: f64,
    /// The value.
    pub value: f64,
}

/// One series' values over a range.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixSeries {
    /// Its labels.
    pub metric: BTreeMap<String, String>,
    /// `(unix seconds, value)`.
    pub values: Vec<(f64, f64)>,
}

/// `data` of a successful query, by `resultType`.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryData {
    /// An instant vector.
    Vector(Vec<VectorSample>),
    /// A scalar.
    Scalar {
        /// Unix seconds.
        time: f64,
        /// The value.
        value: f64,
    },
    /// A range vector.
    Matrix(Vec<MatrixSeries>),
    /// A string.
    String {
        /// Unix seconds.
        time: f64,
        /// The string.
        value: String,
    },
}

/// A successful query.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// The result.
    pub data: QueryData,
    /// `warnings` (the result may be partial).
    pub warnings: Vec<String>,
    /// `infos` (notes that do not make the result doubtful).
    pub infos: Vec<String>,
}

impl QueryResult {
    /// The one number the result stands for: a scalar, or a vector's only
    /// sample. `None` for an empty vector (no series matched), several
    /// series, a matrix or a string — the caller shows "no data", not zero.
    /// A `NaN` sample (`0/0`: a ratio without traffic) comes back as NaN;
    /// treat it as no data too.
    pub fn single_value(&self) -> Option<f64> {
        match &self.data {
            QueryData::Scalar { value, .. } => Some(*value),
            QueryData::Vector(v) if v.len() == 1 => Some(v[0].value),
            _ => None,
        }
    }
}

/// A Prometheus server.
#[derive(Debug, Clone)]
pub struct PromClient {
    client: crate::transport::HttpClient<Full<Bytes>>,
    query_uri: Uri,
    config: PromConfig,
}

impl PromClient {
    /// A client of `config.url` (`http://`, or `https://` checked against
    /// `config.ca_file` or the system's roots).
    pub fn new(config: PromConfig) -> Result<Self, PromError> {
        let bad = |reason: &str| PromError::Url {
            url: config.url.clone(),
            reason: reason.to_owned(),
        };
        let uri: Uri = config.url.parse().map_err(|_| bad("not a URL"))?;
        let (scheme, tls) = match uri.scheme_str() {
            Some("http") => ("http", None),
            Some("https") => {
                let tls = seawall_api::client::client_tls(config.ca_file.as_deref())
                    .map_err(|e| bad(&e.to_string()))?;
                ("https", Some(tls))
            }
            _ => return Err(bad("the scheme must be http or https")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        let prefix = uri.path().trim_end_matches('/');
        let query_uri: Uri = format!("{scheme}://{authority}{prefix}/api/v1/query")
            .parse()
            .map_err(|_| bad("not a URL"))?;
        let client = crate::transport::client(config.timeout, tls);
        Ok(Self {
            client,
            query_uri,
            config,
        })
    }

    /// An instant query at `time` (Unix seconds; Prometheus' now if `None`).
    pub async fn query(&self, query: &str, time: Option<f64>) -> Result<QueryResult, PromError> {
        let url = self.query_uri.to_string();
        let timeout = self.config.timeout;
        match tokio::time::timeout(timeout, self.exchange(query, time, &url)).await {
            Ok(r) => r,
            Err(_) => Err(PromError::Timeout {
                url,
                ms: timeout.as_millis(),
            }),
        }
    }

    async fn exchange(
        &self,
        query: &str,
        time: Option<f64>,
        url: &str,
    ) -> Result<QueryResult, PromError> {
        let http = |message: String| PromError::Http {
            url: url.to_owned(),
            message,
        };
        let mut form = format!("query={}", utf8_percent_encode(query, FORM));
        if let Some(t) = time {
            form.push_str(&format!("&time={t:.3}"));
        }
        form.push_str(&format!(
            "&timeout={}ms",
            self.config.timeout.as_millis().max(1)
        ));
        let mut request = crate::transport::bearer(
            Request::post(self.query_uri.clone())
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::ACCEPT, "application/json"),
            self.config.bearer_token.as_deref(),
        );
        if let Some(org) = &self.config.org_id {
            request = request.header("x-scope-orgid", org.as_str());
        }
        let response =
            crate::transport::send(&self.client, request.body(Full::new(Bytes::from(form))))
                .await
                .map_err(http)?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| http(e.to_string()))?
            .to_bytes();
        decode(status, &body)
    }
}

/// Reads the API's envelope (any status).
pub fn decode(status: u16, body: &[u8]) -> Result<QueryResult, PromError> {
    let bad = |message: String| PromError::BadResponse { status, message };
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        bad(format!("{e} (body starts {text:?})"))
    })?;
    let strings = |key: &str| -> Vec<String> {
        v.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    match v.get("status").and_then(Value::as_str) {
        Some("success") if status < 300 => {}
        Some("error") | Some("success") => {
            return Err(PromError::Api {
                status,
                error_type: v
                    .get("errorType")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_owned(),
                error: v
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("(no error text)")
                    .to_owned(),
            });
        }
        _ => return Err(bad("no \"status\"".to_owned())),
    }
    let data = v.get("data").ok_or_else(|| bad("no \"data\"".to_owned()))?;
    let kind = data
        .get("resultType")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no \"data.resultType\"".to_owned()))?;
    let result = data
        .get("result")
        .ok_or_else(|| bad("no \"data.result\"".to_owned()))?;
    let data = match kind {
        "vector" => QueryData::Vector(
            array(result)
                .map_err(bad)?
                .iter()
                .map(|s| {
                    let (time, value) = point(s.get("value").ok_or_else(|| {
                        if s.get("histogram").is_some() {
                            "a native histogram sample (not read)".to_owned()
                        } else {
                            "a vector sample without \"value\"".to_owned()
                        }
                    })?)?;
                    Ok(VectorSample {
                        metric: metric(s)?,
                        time,
                        value,
                    })
                })
                .collect::<Result<_, String>>()
                .map_err(bad)?,
        ),
        "matrix" => QueryData::Matrix(
            array(result)
                .map_err(bad)?
                .iter()
                .map(|s| {
                    let values = s
                        .get("values")
                        .map(array)
                        .transpose()?
                        .unwrap_or(&[])
                        .iter()
                        .map(point)
                        .collect::<Result<_, String>>()?;
                    Ok(MatrixSeries {
                        metric: metric(s)?,
                        values,
                    })
                })
                .collect::<Result<_, String>>()
                .map_err(bad)?,
        ),
        "scalar" => {
            let (time, value) = point(result).map_err(bad)?;
            QueryData::Scalar { time, value }
        }
        "string" => {
            let pair = array(result).map_err(bad)?;
            match pair {
                [t, Value::String(s)] => QueryData::String {
                    time: t
                        .as_f64()
                        .ok_or_else(|| bad("a time that is not a number".into()))?,
                    value: s.clone(),
                },
                _ => return Err(bad("a string result that is not [time, \"text\"]".into())),
            }
        }
        other => return Err(bad(format!("unknown resultType {other:?}"))),
    };
    Ok(QueryResult {
        data,
        warnings: strings("warnings"),
        infos: strings("infos"),
    })
}

fn array(v: &Value) -> Result<&[Value], String> {
    v.as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| format!("expected an array, found {v}"))
}

fn metric(s: &Value) -> Result<BTreeMap<String, String>, String> {
    match s.get("metric") {
        None => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                v.as_str()
                    .map(|v| (k.clone(), v.to_owned()))
                    .ok_or_else(|| format!("label {k} is not a string"))
            })
            .collect(),
        Some(other) => Err(format!("\"metric\" is not an object: {other}")),
    }
}

/// `[unix seconds, "value"]`.
fn point(v: &Value) -> Result<(f64, f64), String> {
    match array(v)? {
        [t, Value::String(s)] => {
            let t = t
                .as_f64()
                .ok_or_else(|| format!("a sample time that is not a number: {t}"))?;
            let value = parse_float(s).ok_or_else(|| format!("a sample value {s:?}"))?;
            Ok((t, value))
        }
        _ => Err(format!("a sample that is not [time, \"value\"]: {v}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_result_type_and_special_values() {
        let r = decode(
            200,
            br#"{"status":"success","data":{"resultType":"vector","result":[
                {"metric":{"resource":"a"},"value":[1700000000.5,"NaN"]},
                {"metric":{},"value":[1700000000.5,"+Inf"]},
                {"metric":{},"value":[1700000000.5,"-Inf"]},
                {"metric":{},"value":[1700000000.5,"1.5e3"]}]},
                "warnings":["partial"],"infos":["info"]}"#,
        )
        .expect("vector");
        let QueryData::Vector(v) = &r.data else {
            panic!("{r:?}")
        };
        assert!(v[0].value.is_nan());
        assert_eq!(v[0].metric["resource"], "a");
        assert_eq!(v[1].value, f64::INFINITY);
        assert_eq!(v[2].value, f64::NEG_INFINITY);
        assert_eq!(v[3].value, 1500.0);
        assert_eq!(r.warnings, ["partial"]);
        assert_eq!(r.infos, ["info"]);
        assert_eq!(r.single_value(), None, "four series are not one number");

        let r = decode(
            200,
            br#"{"status":"success","data":{"resultType":"scalar","result":[1.0,"2"]}}"#,
        )
        .expect("scalar");
        assert_eq!(r.single_value(), Some(2.0));
        let r = decode(
            200,
            br#"{"status":"success","data":{"resultType":"string","result":[1.0,"hi"]}}"#,
        )
        .expect("string");
        assert!(matches!(r.data, QueryData::String { ref value, .. } if value == "hi"));
        let r = decode(
            200,
            br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":"b"},"values":[[1,"1"],[2,"2"]]}]}}"#,
        )
        .expect("matrix");
        assert!(matches!(&r.data, QueryData::Matrix(m) if m[0].values == [(1.0, 1.0), (2.0, 2.0)]));
        let r = decode(
            200,
            br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
        )
        .expect("empty");
        assert_eq!(r.single_value(), None, "no series is no data, not zero");
    }

    #[test]
    fn error_shapes_keep_prometheus_text() {
        for (status, kind) in [
            (400, "bad_data"),
            (422, "execution"),
            (503, "unavailable"),
            (503, "timeout"),
        ] {
            let body = format!(r#"{{"status":"error","errorType":"{kind}","error":"it broke"}}"#);
            assert_eq!(
                decode(status, body.as_bytes()),
                Err(PromError::Api {
                    status,
                    error_type: kind.into(),
                    error: "it broke".into()
                })
            );
        }
        let e = decode(502, b"<html>bad gateway</html>").expect_err("not json");
        assert!(e.to_string().contains("bad gateway"), "{e}");
        assert!(decode(200, br#"{"status":"success"}"#).is_err());
        assert!(
            decode(200, br#"{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"x"]}]}}"#).is_err()
        );
    }

    #[test]
    fn urls() {
        let c = PromClient::new(PromConfig::new("https://p:9090")).expect("https");
        assert_eq!(c.query_uri.to_string(), "https://p:9090/api/v1/query");
        assert!(PromClient::new(PromConfig::new("ftp://p:9090")).is_err());
        let mut missing_ca = PromConfig::new("https://p:9090");
        missing_ca.ca_file = Some("/nonexistent/ca.pem".into());
        let e = PromClient::new(missing_ca).expect_err("no CA file");
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        assert!(PromClient::new(PromConfig::new("p:9090")).is_err());
        let c = PromClient::new(PromConfig::new("http://p:9090/prom/")).expect("prefix");
        assert_eq!(c.query_uri.to_string(), "http://p:9090/prom/api/v1/query");
    }
}
