//! Header rewriting between client and upstream: hop-by-hop headers
//! (RFC 9110 §7.6.1) belong to one connection and are dropped in both
//! directions; the client's address is appended to `x-forwarded-for` and
//! `forwarded`.

use std::net::IpAddr;

use http::HeaderMap;
use http::header::{self, Entry, HeaderName, HeaderValue};

// Constants, so the names are checked when compiling, not per request.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const HTTP: HeaderValue = HeaderValue::from_static("http");

/// Whether `name` is hop-by-hop whatever `Connection` says (the fixed
/// list and `Upgrade`). Compares names as text: cheaper than building
/// `HeaderName`s to compare with.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

/// Whether a `Connection` token names a header that is never hop-by-hop:
/// `Content-Length` (the framing: naming it must not leave a body without
/// its length) and `Host` (the request the guard judged is the one
/// forwarded). `Transfer-Encoding` is on the fixed list; hyper's client
/// writes the framing anew.
fn never_hop(token: &str) -> bool {
    token.eq_ignore_ascii_case("content-length") || token.eq_ignore_ascii_case("host")
}

/// Why a request's framing, as hyper parsed it, is refused (400) rather
/// than forwarded: a transfer coding besides `chunked` (hyper takes
/// `gzip, chunked`, and the coding would be lost on the way), several
/// `Transfer-Encoding` lines, several `Host`s. hyper itself refuses the
/// rest of RFC 9112 §6.3's ambiguities (differing lengths, a coding not
/// ending in `chunked`, `Transfer-Encoding` in HTTP/1.0) and reads both
/// framings at once as chunked, closing the connection after.
pub(crate) fn ambiguous_framing(headers: &HeaderMap) -> Option<&'static str> {
    let mut te = headers.get_all(header::TRANSFER_ENCODING).iter();
    if let Some(v) = te.next()
        && (te.next().is_some() || !v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"chunked"))
    {
        return Some("a Transfer-Encoding other than chunked");
    }
    let mut host = headers.get_all(header::HOST).iter();
    if host.next().is_some() && host.next().is_some() {
        return Some("more than one Host");
    }
    None
}

/// Removes hop-by-hop headers: those named by `Connection` (never
/// `Content-Length` or `Host`), then the fixed list and `Upgrade`. A
/// request's `TE: trailers` is kept (it is the one value that may travel
/// on, and gRPC needs it); pass `keep_te_trailers`. A `Content-Length`
/// beside `Transfer-Encoding` goes too (RFC 9112 §6.3: the coding framed
/// the message, and hyper, which read it so, keeps the length in the map —
/// sent on, it would frame the re-encoded body wrongly).
///
/// One pass over the names finds the hop-by-hop headers present (usually
/// none in requests, `Connection: keep-alive` in responses), so only those
/// are removed.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap, keep_te_trailers: bool) {
    let mut hop = headers.keys().filter(|n| is_hop_by_hop(n));
    let Some(first) = hop.next() else {
        return;
    };
    // The usual response: `Connection: keep-alive` (or `close`) alone.
    if *first == header::CONNECTION
        && hop.next().is_none()
        && connection_tokens(headers)
            .all(|t| t.eq_ignore_ascii_case("keep-alive") || t.eq_ignore_ascii_case("close"))
    {
        headers.remove(header::CONNECTION);
        return;
    }
    let te_trailers = keep_te_trailers
        && headers
            .get_all(header::TE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("trailers"));
    let mut doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|n| is_hop_by_hop(n))
        .cloned()
        .collect();
    if headers.contains_key(header::TRANSFER_ENCODING) {
        doomed.push(header::CONTENT_LENGTH);
    }
    doomed.extend(
        connection_tokens(headers)
            // `close` names no header; `keep-alive` is on the fixed list.
            .filter(|t| {
                !t.eq_ignore_ascii_case("close")
                    && !t.eq_ignore_ascii_case("keep-alive")
                    && !never_hop(t)
            })
            .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok()),
    );
    for name in doomed {
        headers.remove(name);
    }
    if te_trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
}

/// The tokens of every `Connection` header (a value that is not text
/// yields none).
fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// The forwarding headers' values for one client address, made once per
/// connection so that a request without them only clones ready values.
#[derive(Debug, Clone)]
pub(crate) struct ClientAddr {
    /// The address as text (`x-forwarded-for`'s element).
    ip: String,
    /// `x-forwarded-for` when the request has none.
    xff: HeaderValue,
    /// `forwarded`'s element (`for=…;proto=http`), also its whole value
    /// when the request has none.
    node: String,
    forwarded: HeaderValue,
}

impl ClientAddr {
    pub(crate) fn new(client: IpAddr) -> Self {
        let ip = client.to_string();
        let node = match client {
            IpAddr::V4(_) => format!("for={ip};proto=http"),
            IpAddr::V6(_) => format!("for=\"[{ip}]\";proto=http"),
        };
        // An IP address and these quotes are always valid header text.
        let value = |s: &str| {
            HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
        };
        Self {
            xff: value(&ip),
            forwarded: value(&node),
            ip,
            node,
        }
    }
}

impl ClientAddr {
    /// The address as text, as `x-forwarded-for` lists it.
    pub(crate) fn ip(&self) -> &str {
        &self.ip
    }

    /// The `forwarded` element (`for=…;proto=http`).
    pub(crate) fn node(&self) -> &str {
        &self.node
    }
}

/// Appends the client's address to `x-forwarded-for` and a `for=…;proto=http`
/// element to `forwarded`, and sets `x-forwarded-proto: http` unless present.
pub(crate) fn add_forwarded(headers: &mut HeaderMap, client: &ClientAddr) {
    append_list(headers, X_FORWARDED_FOR, &client.ip, &client.xff);
    append_list(headers, header::FORWARDED, &client.node, &client.forwarded);
    headers.entry(X_FORWARDED_PROTO).or_insert(HTTP);
}

/// Appends `item` to a comma-separated list header, folding several
/// occurrences of the header into one; `alone` is the value when the
/// header is absent (the common case: one hash, no formatting).
fn append_list(headers: &mut HeaderMap, name: HeaderName, item: &str, alone: &HeaderValue) {
    let mut entry = match headers.entry(name) {
        Entry::Vacant(v) => {
            v.insert(alone.clone());
            return;
        }
        Entry::Occupied(o) => o,
    };
    let mut joined = String::new();
    for v in entry.iter() {
        if let Ok(s) = v.to_str() {
            joined.push_str(s.trim());
            joined.push_str(", ");
        }
    }
    joined.push_str(item);
    if let Ok(v) = HeaderValue::from_str(&joined) {
        entry.insert(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn strips_hop_by_hop_and_connection_named_headers() {
        let mut h = map(&[
            ("connection", "keep-alive, X-Secret"),
            ("connection", "close"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("proxy-authorization", "Basic x"),
            ("proxy-connection", "keep-alive"),
            ("te", "gzip"),
            ("trailer", "x-checksum"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("x-end-to-end", "kept"),
            ("content-type", "text/plain"),
        ]);
        strip_hop_by_hop(&mut h, true);
        let mut left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-type", "x-end-to-end"]);
    }

    #[test]
    fn leaves_end_to_end_headers_alone_and_catches_a_lone_upgrade() {
        let mut h = map(&[("host", "a"), ("x-a", "1"), ("x-a", "2")]);
        let before = h.clone();
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h, before);
        let mut h = map(&[("x-a", "1"), ("upgrade", "h2c")]);
        strip_hop_by_hop(&mut h, false);
        assert!(h.get("upgrade").is_none());
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn drops_a_lone_connection_header_and_what_it_names() {
        let mut h = map(&[("connection", "keep-alive"), ("x-a", "1")]);
        strip_hop_by_hop(&mut h, false);
        assert!(h.get("connection").is_none());
        assert_eq!(h.len(), 1);
        let mut h = map(&[("connection", "Close, x-a"), ("x-a", "1"), ("x-b", "2")]);
        strip_hop_by_hop(&mut h, false);
        let left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["x-b"]);
    }

    #[test]
    fn connection_never_removes_the_length_or_the_host() {
        let mut h = map(&[
            ("connection", "Content-Length, HOST, transfer-encoding, x-a"),
            ("content-length", "5"),
            ("host", "h"),
            ("x-a", "1"),
        ]);
        strip_hop_by_hop(&mut h, true);
        let mut left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-length", "host"]);
    }

    #[test]
    fn a_length_beside_a_coding_goes_with_it() {
        let mut h = map(&[
            ("content-length", "5"),
            ("transfer-encoding", "chunked"),
            ("x-a", "1"),
        ]);
        strip_hop_by_hop(&mut h, false);
        let left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["x-a"]);
    }

    #[test]
    fn finds_framing_hyper_would_take_but_the_sidecar_refuses() {
        assert_eq!(
            ambiguous_framing(&map(&[("transfer-encoding", "chunked")])),
            None
        );
        assert_eq!(
            ambiguous_framing(&map(&[("transfer-encoding", " Chunked ")])),
            None
        );
        assert_eq!(
            ambiguous_framing(&map(&[("host", "a"), ("content-length", "1")])),
            None
        );
        for bad in [
            &[("transfer-encoding", "gzip, chunked")][..],
            &[("transfer-encoding", "chunked, chunked")],
            &[
                ("transfer-encoding", "chunked"),
                ("transfer-encoding", "chunked"),
            ],
            &[("host", "a"), ("host", "b")],
        ] {
            assert!(ambiguous_framing(&map(bad)).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn keeps_te_trailers_on_requests_only() {
        let mut h = map(&[("te", "gzip, trailers")]);
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h.get("te").map(|v| v.as_bytes()), Some(&b"trailers"[..]));
        let mut h = map(&[("te", "trailers")]);
        strip_hop_by_hop(&mut h, false);
        assert!(h.get("te").is_none());
    }

    #[test]
    fn appends_forwarded_headers() {
        let mut h = map(&[
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-for", "198.51.100.1"),
            ("x-forwarded-proto", "https"),
        ]);
        add_forwarded(&mut h, &ClientAddr::new("10.1.2.3".parse().expect("ip")));
        assert_eq!(
            h.get("x-forwarded-for").map(|v| v.as_bytes()),
            Some(&b"203.0.113.7, 198.51.100.1, 10.1.2.3"[..])
        );
        assert_eq!(
            h.get("x-forwarded-proto").map(|v| v.as_bytes()),
            Some(&b"https"[..])
        );
        assert_eq!(
            h.get("forwarded").map(|v| v.as_bytes()),
            Some(&b"for=10.1.2.3;proto=http"[..])
        );
        let mut h = HeaderMap::new();
        add_forwarded(&mut h, &ClientAddr::new("::1".parse().expect("ip")));
        assert_eq!(
            h.get("x-forwarded-for").map(|v| v.as_bytes()),
            Some(&b"::1"[..])
        );
        assert_eq!(
            h.get("forwarded").map(|v| v.as_bytes()),
            Some(&b"for=\"[::1]\";proto=http"[..])
        );
        assert_eq!(
            h.get("x-forwarded-proto").map(|v| v.as_bytes()),
            Some(&b"http"[..])
        );
    }
}
