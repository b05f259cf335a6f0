//! Header rewriting between client and upstream: hop-by-hop headers
//! (RFC 9110 §7.6.1) belong to one connection and are dropped in both
//! directions; the client's address is appended to `x-forwarded-for` and
//! `forwarded`.

use std::net::IpAddr;

use http::HeaderMap;
use http::header::{self, HeaderName, HeaderValue};

/// Headers that are always hop-by-hop, besides those `Connection` names.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Removes hop-by-hop headers: those named by `Connection`, then the fixed
/// list and `Upgrade`. A request's `TE: trailers` is kept (it is the one
/// value that may travel on, and gRPC needs it); pass `keep_te_trailers`.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap, keep_te_trailers: bool) {
    let te_trailers = keep_te_trailers
        && headers
            .get_all(header::TE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("trailers"));
    if headers.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(header::UPGRADE);
    if te_trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
}

/// Appends the client's address to `x-forwarded-for` and a `for=…;proto=http`
/// element to `forwarded`, and sets `x-forwarded-proto: http` unless present.
pub(crate) fn add_forwarded(headers: &mut HeaderMap, client: IpAddr) {
    let ip = client.to_string();
    append_list(headers, HeaderName::from_static("x-forwarded-for"), &ip);
    let node = match client {
        IpAddr::V4(_) => format!("for={ip};proto=http"),
        IpAddr::V6(_) => format!("for=\"[{ip}]\";proto=http"),
    };
    append_list(headers, header::FORWARDED, &node);
    headers
        .entry(HeaderName::from_static("x-forwarded-proto"))
        .or_insert(HeaderValue::from_static("http"));
}

/// Appends `item` to a comma-separated list header, folding several
/// occurrences of the header into one.
fn append_list(headers: &mut HeaderMap, name: HeaderName, item: &str) {
    let mut joined = String::new();
    for v in headers.get_all(&name) {
        if let Ok(s) = v.to_str() {
            joined.push_str(s.trim());
            joined.push_str(", ");
        }
    }
    joined.push_str(item);
    if let Ok(v) = HeaderValue::from_str(&joined) {
        headers.insert(name, v);
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
        add_forwarded(&mut h, "10.1.2.3".parse().expect("ip"));
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
        add_forwarded(&mut h, "::1".parse().expect("ip"));
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
