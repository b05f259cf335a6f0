//! An upstream address (`http://host[:port][/base-path]`), parsed and
//! checked once. Its own module, below both `config` and `control` (the
//! control plane's address is one too), so that neither imports the other
//! for it.

use http::uri::{Authority, PathAndQuery, Scheme, Uri};

use crate::SidecarError;

/// An upstream: `http://host[:port][/base-path]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    authority: Authority,
    /// Prefix prepended to every request path ("" for none).
    base: String,
}

impl Upstream {
    /// Parses an upstream URL. Only `http` is supported (TLS to the upstream
    /// is not built); a query or fragment is refused.
    pub fn parse(url: &str) -> Result<Self, SidecarError> {
        let err = |message: &str| SidecarError::Upstream {
            url: url.to_owned(),
            message: message.to_owned(),
        };
        let uri: Uri = url
            .parse()
            .map_err(|_| err("not a URL; write it as http://host:port"))?;
        match uri.scheme() {
            Some(s) if *s == Scheme::HTTP => {}
            Some(s) if *s == Scheme::HTTPS => {
                return Err(err(
                    "https upstreams are not supported yet; put the sidecar next to the service and use http://",
                ));
            }
            _ => return Err(err("needs the http:// scheme, e.g. http://127.0.0.1:8080")),
        }
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| err("has no host; write it as http://host:port"))?;
        if authority.as_str().contains('@') {
            return Err(err("must not carry credentials"));
        }
        if uri.query().is_some() {
            return Err(err("must not have a query string"));
        }
        let base = uri.path().trim_end_matches('/').to_owned();
        Ok(Self { authority, base })
    }

    /// `host:port` of the upstream.
    pub fn authority(&self) -> &str {
        self.authority.as_str()
    }

    /// The base path prepended to every request path (`""` for none).
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// Host (brackets and all for IPv6) and port (80 when the URL has none).
    pub(crate) fn host_port(&self) -> (&str, u16) {
        (
            self.authority.host(),
            self.authority.port_u16().unwrap_or(80),
        )
    }

    /// The origin-form target (`/base/path?query`) for a request whose path
    /// and query are `pq`, as an HTTP/1.1 request line carries it.
    pub(crate) fn origin_form(&self, pq: Option<&PathAndQuery>) -> Result<Uri, http::Error> {
        match pq {
            Some(pq) if self.base.is_empty() => Ok(Uri::from(pq.clone())),
            _ => {
                let pq = pq.map_or("/", PathAndQuery::as_str);
                Uri::builder()
                    .path_and_query(format!("{}{pq}", self.base))
                    .build()
            }
        }
    }

    /// The absolute URI for a request whose path and query are `pq`.
    pub(crate) fn uri_for(&self, pq: Option<&PathAndQuery>) -> Result<Uri, http::Error> {
        let pq = pq.map_or("/", PathAndQuery::as_str);
        let builder = Uri::builder()
            .scheme(Scheme::HTTP)
            .authority(self.authority.clone());
        if self.base.is_empty() {
            builder.path_and_query(pq).build()
        } else {
            builder.path_and_query(format!("{}{pq}", self.base)).build()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstreams() {
        let u = Upstream::parse("http://127.0.0.1:8080").expect("valid");
        assert_eq!(u.authority(), "127.0.0.1:8080");
        let pq = PathAndQuery::from_static("/a?b=1");
        assert_eq!(
            u.uri_for(Some(&pq)).expect("uri").to_string(),
            "http://127.0.0.1:8080/a?b=1"
        );
        let u = Upstream::parse("http://svc:80/base/").expect("valid");
        assert_eq!(
            u.uri_for(Some(&pq)).expect("uri").to_string(),
            "http://svc:80/base/a?b=1"
        );
        assert_eq!(
            u.uri_for(None).expect("uri").to_string(),
            "http://svc:80/base/"
        );
        assert_eq!(u.host_port(), ("svc", 80));
        assert_eq!(
            u.origin_form(Some(&pq)).expect("uri").to_string(),
            "/base/a?b=1"
        );
        assert_eq!(u.origin_form(None).expect("uri").to_string(), "/base/");
        let u = Upstream::parse("http://[::1]:9").expect("valid");
        assert_eq!(u.host_port(), ("[::1]", 9));
        assert_eq!(u.origin_form(Some(&pq)).expect("uri").to_string(), "/a?b=1");
        let u = Upstream::parse("http://svc").expect("valid");
        assert_eq!(u.host_port(), ("svc", 80));
        assert_eq!(u.origin_form(None).expect("uri").to_string(), "/");
    }

    #[test]
    fn refuses_bad_upstreams() {
        for (url, needle) in [
            ("https://x:1", "https"),
            ("ftp://x", "http://"),
            ("127.0.0.1:8080", "http://"),
            ("http://u:p@x:1", "credentials"),
            ("http://x:1/?q=1", "query"),
            ("not a url", "not a URL"),
        ] {
            let e = Upstream::parse(url).expect_err(url).to_string();
            assert!(e.contains(needle), "{url}: {e}");
            assert!(e.contains(url), "{url}: {e}");
        }
    }
}
