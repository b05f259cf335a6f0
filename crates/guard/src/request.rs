//! The request-level API's types: what the guard reads from a request
//! ([`RequestMeta`]) and everything it answers ([`Verdict`]).
//!
//! The guard needs no HTTP library: anything that can name its method and
//! path and look up a header can be evaluated. With the `http` feature,
//! `http::Request<B>` (hyper's request type) implements [`RequestMeta`].

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use crate::canon::decode_query_value;

use crate::decision::Decision;
use crate::gray::GrayReason;

/// What the guard reads from a request.
///
/// Header names are passed in lower case; implementations must look them up
/// case-insensitively (as `http::HeaderMap` does) and return `None` for a
/// missing header or one that is not valid UTF-8. With several values, the
/// first one counts.
pub trait RequestMeta {
    /// The request method, e.g. `GET`.
    fn method(&self) -> &str;
    /// The path, without the query string.
    fn path(&self) -> &str;
    /// The raw query string (after `?`), if any.
    fn query(&self) -> Option<&str> {
        None
    }
    /// The first value of header `name` (lower case).
    fn header(&self, name: &str) -> Option<&str>;
    /// Whether [`path`](Self::path) is known to be canonical (it came from
    /// [`canonical_path`](crate::canonical_path)): the guard then matches
    /// it without checking again. A wrong `true` lets a non-canonical path
    /// miss its rules, so the default is `false`.
    fn path_is_canonical(&self) -> bool {
        false
    }
}

/// A request given as borrowed parts: for tests, benchmarks and embedders
/// without an HTTP request type.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestParts<'a> {
    /// Method.
    pub method: &'a str,
    /// Path without the query string.
    pub path: &'a str,
    /// Raw query string.
    pub query: Option<&'a str>,
    /// Headers as `(name, value)`; names are compared case-insensitively.
    pub headers: &'a [(&'a str, &'a str)],
}

impl<'a> RequestParts<'a> {
    /// A request with no query and no headers.
    pub fn new(method: &'a str, path: &'a str) -> Self {
        Self {
            method,
            path,
            query: None,
            headers: &[],
        }
    }

    /// The same request with these headers.
    pub fn with_headers(self, headers: &'a [(&'a str, &'a str)]) -> Self {
        Self { headers, ..self }
    }

    /// The same request with this raw query string.
    pub fn with_query(self, query: &'a str) -> Self {
        Self {
            query: Some(query),
            ..self
        }
    }
}

impl RequestMeta for RequestParts<'_> {
    fn method(&self) -> &str {
        self.method
    }
    fn path(&self) -> &str {
        self.path
    }
    fn query(&self) -> Option<&str> {
        self.query
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

#[cfg(feature = "http")]
impl<B> RequestMeta for http::Request<B> {
    fn method(&self) -> &str {
        self.method().as_str()
    }
    fn path(&self) -> &str {
        self.uri().path()
    }
    fn query(&self) -> Option<&str> {
        self.uri().query()
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers().get(name).and_then(|v| v.to_str().ok())
    }
}

impl<M: RequestMeta + ?Sized> RequestMeta for &M {
    fn method(&self) -> &str {
        (**self).method()
    }
    fn path(&self) -> &str {
        (**self).path()
    }
    fn query(&self) -> Option<&str> {
        (**self).query()
    }
    fn header(&self, name: &str) -> Option<&str> {
        (**self).header(name)
    }
    fn path_is_canonical(&self) -> bool {
        (**self).path_is_canonical()
    }
}

/// The first value of query parameter `name` in a raw query string
/// (`a=1&b=2`), percent-decoded with `+` as a space (as the upstream's
/// framework reads it), so `sku=%31%32` and `sku=12` are the same value;
/// parameter names are compared decoded too (`s%6Bu=12` is `sku`). A
/// parameter without `=` has the empty value. Borrowed when nothing needed
/// decoding.
pub fn query_param<'q>(query: &'q str, name: &str) -> Option<Cow<'q, str>> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let same = if k.bytes().any(|b| b == b'%' || b == b'+') {
            decode_query_value(k) == name
        } else {
            k == name
        };
        same.then(|| decode_query_value(v))
    })
}

/// Like [`query_param`], but `Err(())` when parameter `name` appears more
/// than once (`?sku=a&sku=b`): frameworks disagree on which one they serve
/// (the first, the last, a list), so a limit keyed on one of them can be
/// dodged by sending the other.
pub(crate) fn unique_query_param<'q>(
    query: &'q str,
    name: &str,
) -> Result<Option<Cow<'q, str>>, ()> {
    let mut found = None;
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let same = if k.bytes().any(|b| b == b'%' || b == b'+') {
            decode_query_value(k) == name
        } else {
            k == name
        };
        if same {
            if found.is_some() {
                return Err(());
            }
            found = Some(decode_query_value(v));
        }
    }
    Ok(found)
}

/// Whether a W3C `baggage` header value has member `key` with a non-empty
/// value (`key=value;props` members separated by commas).
pub fn baggage_has(baggage: &str, key: &str) -> bool {
    baggage.split(',').any(|member| {
        let kv = member.split(';').next().unwrap_or("");
        match kv.split_once('=') {
            Some((k, v)) => k.trim() == key && !v.trim().is_empty(),
            None => false,
        }
    })
}

/// Which upstream a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Upstream {
    /// The primary upstream.
    #[default]
    Primary,
    /// The gray upstream.
    Gray,
}

/// A fault to inject into an admitted request (drills).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The fault rule.
    pub rule_id: Arc<str>,
    /// What to do.
    pub action: FaultAction,
}

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    /// Wait this long before calling upstream.
    Delay(Duration),
    /// Answer with this status and do not call upstream. Drop the permit
    /// rather than finishing it, so the injected failure does not feed the
    /// breakers.
    Abort(u16),
}

/// The guard's complete answer for one request
/// ([`Guard::evaluate`](crate::Guard::evaluate)).
///
/// What the embedder does with it, in order:
/// 1. `decision`: on `Block` answer 429 (flow, hot-parameter and test
///    quotas) or 503 (open breaker, not shadow-safe) and stop; on `Fallback`
///    serve its response and stop; on `Wait` sleep for the wait; then carry
///    the permit;
/// 2. `fault`: on `Abort(status)` answer `status` and drop the permit; on
///    `Delay(d)` sleep `d` (inside the timeout);
/// 3. send the request to `upstream` with `timeout` as its deadline;
/// 4. [`Guard::finish`](crate::Guard::finish) the permit with
///    `Outcome::Error` for a 5xx, a connection error or a timeout, else
///    `Outcome::Ok`.
#[derive(Debug)]
#[must_use = "an admitted verdict holds a permit; finish it with `Guard::finish`"]
pub struct Verdict {
    /// The resource the request matched, if any (`None`: no route matched;
    /// only the global policies — gray routing, test traffic — applied).
    pub resource: Option<Arc<str>>,
    /// Pass / wait / block / fallback, with the rule id of any refusal.
    pub decision: Decision,
    /// Where to send the request.
    pub upstream: Upstream,
    /// Why it goes to gray (with [`Verdict::gray_rule`]); `None` for primary.
    pub gray: Option<GrayReason>,
    /// The gray rule's id when `upstream` is gray.
    pub gray_rule: Option<Arc<str>>,
    /// Whether the request carries the test tag (or is shadow-isolated
    /// gray traffic, see `tag_upstream`).
    pub test: bool,
    /// The test header (lower case) to add to the request sent upstream: set
    /// when gray routing under `isolation: shadow` made an untagged request
    /// test traffic, so the services behind know it is shadow traffic.
    pub tag_upstream: Option<Arc<str>>,
    /// A fault to inject, if a fault rule picked this request.
    pub fault: Option<Fault>,
    /// The resource's timeout for the upstream call.
    pub timeout: Option<Duration>,
}

impl Verdict {
    /// The id of the rule that refused or degraded the request, if any.
    pub fn rule_id(&self) -> Option<&str> {
        self.decision.rule_id()
    }

    /// A label for metrics and logs: the refusing rule's id, else `pass`.
    pub fn reason(&self) -> &str {
        self.rule_id().unwrap_or("pass")
    }
}
