//! HTTP/1.1 message heads and body framing for the fast path: request heads
//! parsed in place by `httparse` and rewritten for the upstream in one
//! buffer, response heads rewritten for the client, and the body framings
//! (RFC 9112 §6) relayed without decoding more than needed.
//!
//! The framing rule, which keeps a request the guard judged from turning
//! into two at the upstream (request smuggling): the framing written on
//! either side is the one this module parsed, never a copy of the sender's
//! headers. `Content-Length` and `Transfer-Encoding` are never dropped
//! because `Connection` names them; the peer's framing lines are replaced
//! by `content-length: N` (N from the peer's digits when they are the
//! canonical decimal of the parsed length, else formatted) or
//! `transfer-encoding: chunked`, and a chunked
//! body is re-encoded (sizes in plain hex, extensions dropped, trailers
//! checked). A head whose framing could be read two ways (RFC 9112 §6.3,
//! §11.2: both framings, several lengths, a coding other than `chunked`,
//! `Transfer-Encoding` in HTTP/1.0, a bare LF, obs-fold, space before a
//! colon, several `Host`s, a request target in no known form) is refused
//! ([`Parsed::Refused`]): answered 400 and the connection closed, never
//! forwarded and never handed to hyper.
//!
//! A valid head this module does not implement (HTTP/1.0, `Upgrade`,
//! `Expect`, `CONNECT`, `OPTIONS *`, an absolute-form target, the HTTP/2
//! preface) is [`Parsed::Unusual`], and the connection goes to hyper.

use std::borrow::Cow;
use std::mem::MaybeUninit;

use seawall_guard::{PathError, RequestMeta};

use crate::headers::ClientAddr;

/// Most headers a request head may have (hyper's limit; more: 431).
pub(crate) const MAX_HEADERS: usize = 100;

/// Longest request head the fast path buffers (longer: 431).
pub(crate) const MAX_HEAD: usize = 64 * 1024;

/// Longest response head accepted from the upstream.
pub(crate) const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// Most headers a response may have (as many as hyper's client takes).
const MAX_RESPONSE_HEADERS: usize = 100;

/// A head whose framing or syntax could be read two ways: why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ambiguous(pub(crate) &'static str);

/// A request the sidecar answers itself and then closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refused {
    /// 400, or 431 for a head too large.
    pub(crate) status: u16,
    pub(crate) why: &'static str,
}

impl Refused {
    fn bad(why: &'static str) -> Self {
        Self { status: 400, why }
    }
}

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the sender closes the connection (responses only).
    Close,
}

/// A parsed request head, borrowing the read buffer.
#[derive(Debug)]
pub(crate) struct RequestHead<'b> {
    /// Bytes of the head, blank line included.
    pub(crate) len: usize,
    pub(crate) method: &'b str,
    /// The canonical path (`seawall_guard::canonical_path`): what the guard
    /// matches and the upstream gets; the raw one if it has none.
    pub(crate) path: Cow<'b, str>,
    /// Why the path has no canonical form (the request is answered 400).
    pub(crate) bad_path: Option<PathError>,
    pub(crate) query: Option<&'b str>,
    pub(crate) headers: &'b [httparse::Header<'b>],
    pub(crate) framing: Framing,
    /// The client asked to close the connection after this exchange.
    pub(crate) close: bool,
    scan: Scan<'b>,
    /// The head's bytes.
    raw: &'b [u8],
}

impl RequestMeta for RequestHead<'_> {
    fn method(&self) -> &str {
        self.method
    }
    fn path(&self) -> &str {
        &self.path
    }
    fn query(&self) -> Option<&str> {
        self.query
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
    }
    fn path_is_canonical(&self) -> bool {
        self.bad_path.is_none()
    }
}

impl RequestHead<'_> {
    /// Bit `min(len, 63)` for the length of each header name.
    pub(crate) fn name_lengths(&self) -> u64 {
        self.scan.name_lengths
    }
}

/// What parsing the start of the buffer gave.
#[derive(Debug)]
pub(crate) enum Parsed<'b> {
    /// A complete head the fast path handles.
    Head(RequestHead<'b>),
    /// More bytes are needed.
    Partial,
    /// Leave this connection to hyper (a valid head the fast path does not
    /// implement).
    Unusual,
    /// Answer with this status and close the connection.
    Refused(Refused),
}

/// Whether `name` is hop-by-hop whatever `Connection` says.
fn is_hop_by_hop(name: &str) -> bool {
    const HOP: [&str; 9] = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ];
    HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// The header names the codec acts on. [`Kind::of`] finds a name's kind
/// with one length dispatch and at most two comparisons, so a head is
/// classified in one pass (it runs for every header of every request and
/// response on the fast path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ContentLength,
    TransferEncoding,
    Connection,
    /// `Keep-Alive`, `Proxy-Connection`, `Proxy-Authenticate`,
    /// `Proxy-Authorization`, `Trailer`: hop-by-hop, nothing else to do.
    Hop,
    Te,
    Upgrade,
    Expect,
    Host,
    XForwardedFor,
    XForwardedProto,
    Forwarded,
    Date,
    Other,
}

/// Whether `name` is `lit` (lowercase letters and `-`) in any case,
/// compared a machine word at a time: bit 0x20 is set on `name` only where
/// `lit` has a letter (found by its bit 0x40, which `-` lacks), so `-` must
/// match exactly and a letter matches in either case. With `lit` a
/// literal, its words and masks fold to constants.
#[inline(always)]
fn eq_folded(name: &[u8], lit: &[u8]) -> bool {
    debug_assert!(lit.iter().all(|&c| c.is_ascii_lowercase() || c == b'-'));
    let n = lit.len();
    if name.len() != n {
        return false;
    }
    let w = match n {
        8.. => 8,
        4..=7 => 4,
        _ => n,
    };
    let load = |b: &[u8], at: usize| -> u64 {
        match w {
            8 => b
                .get(at..at + 8)
                .and_then(|s| s.try_into().ok())
                .map_or(0, u64::from_le_bytes),
            4 => b
                .get(at..at + 4)
                .and_then(|s| s.try_into().ok())
                .map_or(0, |s| u64::from(u32::from_le_bytes(s))),
            _ => b[at..at + w]
                .iter()
                .rev()
                .fold(0, |acc, &c| acc << 8 | u64::from(c)),
        }
    };
    let mut at = 0;
    while at < n {
        let from = at.min(n - w);
        let l = load(lit, from);
        if load(name, from) | ((l & 0x4040_4040_4040_4040) >> 1) != l {
            return false;
        }
        at += w;
    }
    true
}

impl Kind {
    #[inline]
    fn of(name: &str) -> Kind {
        let is = |k: &str| eq_folded(name.as_bytes(), k.as_bytes());
        // Most names (user-agent, accept…, cookie, referer…) are told
        // apart by their length and first letter without a comparison.
        let first = name.as_bytes().first().map_or(0, |b| b | 0x20);
        if !matches!(
            (name.len(), first),
            (2, b't')
                | (4, b'h' | b'd')
                | (6, b'e')
                | (7, b'u' | b't')
                | (9, b'f')
                | (10, b'c' | b'k')
                | (14, b'c')
                | (15 | 17, b'x')
                | (16 | 18 | 19, b'p')
                | (17, b't')
        ) {
            return Kind::Other;
        }
        match name.len() {
            2 if is("te") => Kind::Te,
            4 if is("host") => Kind::Host,
            4 if is("date") => Kind::Date,
            6 if is("expect") => Kind::Expect,
            7 if is("upgrade") => Kind::Upgrade,
            7 if is("trailer") => Kind::Hop,
            9 if is("forwarded") => Kind::Forwarded,
            10 if is("connection") => Kind::Connection,
            10 if is("keep-alive") => Kind::Hop,
            14 if is("content-length") => Kind::ContentLength,
            15 if is("x-forwarded-for") => Kind::XForwardedFor,
            16 if is("proxy-connection") => Kind::Hop,
            17 if is("transfer-encoding") => Kind::TransferEncoding,
            17 if is("x-forwarded-proto") => Kind::XForwardedProto,
            18 if is("proxy-authenticate") => Kind::Hop,
            19 if is("proxy-authorization") => Kind::Hop,
            _ => Kind::Other,
        }
    }

    /// Not copied on whatever `Connection` says: hop-by-hop, or framing
    /// (written anew from the parsed framing); in a request also the
    /// forwarding lists the sidecar rewrites.
    fn dropped(self, request: bool) -> bool {
        match self {
            Kind::ContentLength
            | Kind::TransferEncoding
            | Kind::Connection
            | Kind::Hop
            | Kind::Te
            | Kind::Upgrade => true,
            Kind::XForwardedFor | Kind::Forwarded => request,
            _ => false,
        }
    }
}

/// The comma-separated tokens of a header value, trimmed (none if it is
/// not text).
fn tokens(value: &[u8]) -> impl Iterator<Item = &str> {
    std::str::from_utf8(value)
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// What one pass over a head's headers found.
#[derive(Debug, Default)]
struct Scan<'b> {
    content_length: Option<u64>,
    /// A `Transfer-Encoding` header was seen (its value is `chunked`).
    chunked: bool,
    close: bool,
    /// Header names listed in `Connection` (besides close/keep-alive and
    /// the framing headers, which are never hop-by-hop).
    named: Vec<&'b str>,
    te_trailers: bool,
    host: bool,
    xff: bool,
    forwarded: bool,
    proto: bool,
    /// `Upgrade` or `Expect`: hyper's.
    unusual: bool,
    /// A `Date` header was seen (responses).
    date: bool,
    /// Bit `i`: header `i` is not copied on ([`Kind::dropped`]); headers
    /// past the 128th are classified again when copied.
    dropped: u128,
    /// Bit `min(len, 63)` for each header name's length
    /// (`trust::length_bit`): the believed-header screen is skipped when no
    /// believed name has one of these lengths.
    name_lengths: u64,
    /// `content_length` in decimal when the peer wrote it canonically
    /// (digits, no leading zero, no whitespace): the same bytes
    /// [`put_decimal`] would write, without formatting them.
    length_text: Option<&'b [u8]>,
}

/// `Content-Length`'s value: digits only (`u64::from_str` would take a
/// `+`), optional whitespace around them.
fn parse_length(value: &[u8]) -> Result<u64, Ambiguous> {
    let v = value.trim_ascii();
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return Err(Ambiguous("an invalid Content-Length"));
    }
    Ok(v.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Whether a `Connection` token names a header that is never hop-by-hop:
/// the framing headers (the framing written on is the parsed one) and
/// `Host` (the request the guard judged is the one forwarded).
fn never_hop(token: &str) -> bool {
    token.eq_ignore_ascii_case("content-length")
        || token.eq_ignore_ascii_case("transfer-encoding")
        || token.eq_ignore_ascii_case("host")
}

impl<'b> Scan<'b> {
    /// One pass; `Err` for framing that could be read two ways: several
    /// `Content-Length`s (a response's may repeat one value), several
    /// `Transfer-Encoding`s or a coding other than `chunked` alone, both
    /// framings at once, several `Host`s.
    fn of(headers: &'b [httparse::Header<'b>], request: bool) -> Result<Self, Ambiguous> {
        let mut s = Scan::default();
        for (i, h) in headers.iter().enumerate() {
            s.name_lengths |= crate::trust::length_bit(h.name);
            let kind = Kind::of(h.name);
            if i < 128 && kind.dropped(request) {
                s.dropped |= 1 << i;
            }
            if kind == Kind::ContentLength {
                let v = parse_length(h.value)?;
                if s.content_length.is_some_and(|c| request || c != v) {
                    return Err(Ambiguous("more than one Content-Length"));
                }
                let canonical = h.value.first().is_some_and(u8::is_ascii_digit)
                    && h.value.last().is_some_and(u8::is_ascii_digit)
                    && (h.value.len() == 1 || h.value[0] != b'0');
                s.length_text = canonical.then_some(h.value);
                s.content_length = Some(v);
            } else if kind == Kind::TransferEncoding {
                if s.chunked {
                    return Err(Ambiguous("more than one Transfer-Encoding"));
                }
                if !h.value.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                    return Err(Ambiguous("a Transfer-Encoding other than chunked"));
                }
                s.chunked = true;
            } else if kind == Kind::Connection {
                // The usual values, without splitting a list.
                let v = h.value.trim_ascii();
                if eq_folded(v, b"keep-alive") {
                    continue;
                }
                if eq_folded(v, b"close") {
                    s.close = true;
                    continue;
                }
                for t in tokens(h.value) {
                    if t.eq_ignore_ascii_case("close") {
                        s.close = true;
                    } else if t.eq_ignore_ascii_case("upgrade") && request {
                        s.unusual = true;
                    } else if !t.eq_ignore_ascii_case("keep-alive") && !never_hop(t) {
                        s.named.push(t);
                    }
                }
            } else if request {
                match kind {
                    Kind::Host => {
                        if s.host {
                            return Err(Ambiguous("more than one Host"));
                        }
                        s.host = true;
                    }
                    Kind::XForwardedFor => s.xff = true,
                    Kind::Forwarded => s.forwarded = true,
                    Kind::XForwardedProto => s.proto = true,
                    Kind::Te => {
                        s.te_trailers |=
                            tokens(h.value).any(|t| t.eq_ignore_ascii_case("trailers"));
                    }
                    Kind::Upgrade | Kind::Expect => s.unusual = true,
                    _ => {}
                }
            } else if kind == Kind::Date {
                s.date = true;
            }
        }
        if s.chunked && s.content_length.is_some() {
            return Err(Ambiguous("both Content-Length and Transfer-Encoding"));
        }
        Ok(s)
    }

    /// Whether header `i`, named `name`, is not copied on: hop-by-hop,
    /// named by `Connection`, framing (written anew from the parsed
    /// framing), or (in a request) a forwarding list the sidecar rewrites.
    #[inline]
    fn drops(&self, i: usize, name: &str, request: bool) -> bool {
        let dropped = if i < 128 {
            self.dropped >> i & 1 == 1
        } else {
            Kind::of(name).dropped(request)
        };
        dropped
            || (!self.named.is_empty() && self.named.iter().any(|t| t.eq_ignore_ascii_case(name)))
    }
}

/// Whether a parsed request head has a line ending in a bare LF (httparse
/// takes them; a peer that does not would see other lines). httparse ends
/// the request line and every field line at the first LF (it refuses a
/// lone CR and obs-fold), so checking where each line ends is enough:
/// before each field name, at the end of the head, and the blank lines
/// httparse skips before the request line.
fn has_bare_lf(head: &[u8], method: &str, headers: &[httparse::Header<'_>]) -> bool {
    let before = |at: usize| at < 2 || &head[at - 2..at] != b"\r\n";
    let start = offset(head, method);
    if !start.is_multiple_of(2) || head[..start].chunks(2).any(|c| c != b"\r\n") {
        return true;
    }
    headers.iter().any(|h| before(offset(head, h.name))) || !head.ends_with(b"\r\n\r\n")
}

/// An absolute-form target (`http://host/path`), which hyper serves.
fn is_absolute_form(target: &str) -> bool {
    let t = target.as_bytes();
    let scheme = |s: &[u8]| t.len() > s.len() && t[..s.len()].eq_ignore_ascii_case(s);
    scheme(b"http://") || scheme(b"https://")
}

/// Parses a request head at the start of `buf`.
pub(crate) fn parse_request<'b>(
    buf: &'b [u8],
    headers: &'b mut [MaybeUninit<httparse::Header<'b>>; MAX_HEADERS],
) -> Parsed<'b> {
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, headers) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => return Parsed::Partial,
        Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => {
            return Parsed::Refused(Refused {
                status: 431,
                why: "the request head is too large",
            });
        }
        // HTTP/2 with prior knowledge (the preface, perhaps not all here
        // yet): hyper's.
        Err(httparse::Error::Version) if buf.starts_with(b"PRI * HTTP/2") => {
            return Parsed::Unusual;
        }
        Err(_) => return Parsed::Refused(Refused::bad("a malformed request head")),
    };
    let raw = &buf[..len];
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Parsed::Refused(Refused::bad("a malformed request line"));
    };
    let headers: &'b [httparse::Header<'b>] = req.headers;
    if has_bare_lf(raw, method, headers) {
        return Parsed::Refused(Refused::bad("a line ends in a bare LF"));
    }
    let scan = match Scan::of(headers, true) {
        Ok(scan) => scan,
        Err(Ambiguous(why)) => return Parsed::Refused(Refused::bad(why)),
    };
    if version == 0 && scan.chunked {
        return Parsed::Refused(Refused::bad("Transfer-Encoding in an HTTP/1.0 request"));
    }
    if !target.starts_with('/') {
        let elsewhere = (method == "CONNECT" && !target.contains('/'))
            || (method == "OPTIONS" && target == "*")
            || is_absolute_form(target);
        if !elsewhere {
            return Parsed::Refused(Refused::bad("a request target in no known form"));
        }
        return Parsed::Unusual;
    }
    // A plain loop rather than `split_once` or `memchr`, whose searchers
    // cost more to set up than a short target takes to scan.
    let (raw_path, query) = match target.bytes().position(|b| b == b'?') {
        Some(at) => (&target[..at], Some(&target[at + 1..])),
        None => (target, None),
    };
    let canonical = seawall_guard::canonical_path(raw_path);
    // A path that is canonical as it came has no `#`; the query may.
    let searched = match canonical {
        Ok(Cow::Borrowed(_)) => query.unwrap_or(""),
        _ => target,
    };
    if memchr::memchr(b'#', searched.as_bytes()).is_some() {
        return Parsed::Refused(Refused::bad("a fragment in the request target"));
    }
    if version == 0 || method == "CONNECT" || scan.unusual {
        return Parsed::Unusual;
    }
    let framing = if scan.chunked {
        Framing::Chunked
    } else {
        match scan.content_length {
            Some(0) | None => Framing::Empty,
            Some(n) => Framing::Length(n),
        }
    };
    let close = scan.close;
    let (path, bad_path) = match canonical {
        Ok(p) => (p, None),
        Err(e) => (Cow::Borrowed(raw_path), Some(e)),
    };
    Parsed::Head(RequestHead {
        len,
        method,
        path,
        bad_path,
        query,
        headers,
        framing,
        close,
        scan,
        raw,
    })
}

/// Writes `n` in decimal.
fn put_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Writes the framing header of a message framed as parsed:
/// `content-length: N` or `transfer-encoding: chunked`; a request without
/// a body gets `content-length: 0` only if it said so. `text`, when given,
/// is `length` as the peer wrote it canonically (see `Scan::length_text`).
fn put_framing(out: &mut Vec<u8>, framing: Framing, length: Option<u64>, text: Option<&[u8]>) {
    let put_length = |out: &mut Vec<u8>, n: u64| {
        out.extend_from_slice(b"content-length: ");
        match text {
            Some(t) if length == Some(n) => out.extend_from_slice(t),
            _ => put_decimal(out, n),
        }
        out.extend_from_slice(b"\r\n");
    };
    match framing {
        Framing::Chunked | Framing::Close => {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n");
        }
        Framing::Length(n) => put_length(out, n),
        Framing::Empty => {
            if let Some(n) = length {
                put_length(out, n);
            }
        }
    }
}

fn put_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Where `part` (a slice of `buf`) starts in `buf`.
fn offset(buf: &[u8], part: &str) -> usize {
    (part.as_ptr() as usize).saturating_sub(buf.as_ptr() as usize)
}

/// Copies the header lines of `head` (a whole head's bytes, `headers`
/// parsed from it) that `scan` does not drop to `out`, as they were
/// written. The usual head (at most 128 lines, each ending in CRLF,
/// `Connection` naming nothing) is copied in runs read off the drop mask;
/// any other line by line.
fn copy_headers(
    head: &[u8],
    headers: &[httparse::Header<'_>],
    out: &mut Vec<u8>,
    scan: &Scan<'_>,
    request: bool,
) {
    if headers.len() <= 128 && scan.named.is_empty() && lines_end_in_crlf(head, headers) {
        copy_runs(head, headers, out, scan.dropped);
    } else {
        copy_lines(head, headers, out, |i, n| !scan.drops(i, n, request));
    }
}

/// Whether every header line of `head` ends in CRLF (httparse also takes a
/// bare LF): the line before each name, and the last one.
fn lines_end_in_crlf(head: &[u8], headers: &[httparse::Header<'_>]) -> bool {
    head.ends_with(b"\r\n\r\n")
        && headers.iter().all(|h| {
            let at = offset(head, h.name);
            at >= 2 && head.get(at - 2..at) == Some(b"\r\n")
        })
}

/// Copies the lines whose bit is clear in `dropped`, a run of adjacent
/// kept lines at a time (`headers.len() <= 128`, every line ending in
/// CRLF).
fn copy_runs(head: &[u8], headers: &[httparse::Header<'_>], out: &mut Vec<u8>, dropped: u128) {
    let n = headers.len();
    let start = |i: usize| {
        headers
            .get(i)
            .map_or(head.len().saturating_sub(2), |h| offset(head, h.name))
    };
    let all = if n >= 128 {
        u128::MAX
    } else {
        (1u128 << n) - 1
    };
    let mut kept = !dropped & all;
    while kept != 0 {
        let first = kept.trailing_zeros() as usize;
        let run = (!(kept >> first)).trailing_zeros() as usize;
        let end = (first + run).min(n);
        if let Some(lines) = head.get(start(first)..start(end)) {
            out.extend_from_slice(lines);
        }
        kept = if end >= 128 {
            0
        } else {
            kept & !((1u128 << end) - 1)
        };
    }
}

/// Copies the header lines `keep` accepts from `head` (a whole head's
/// bytes, `headers` parsed from it) to `out` as they were written, in runs
/// of adjacent lines: cheaper than writing them one by one. A line that
/// does not end in CRLF (httparse accepts a bare LF) is written anew.
fn copy_lines(
    head: &[u8],
    headers: &[httparse::Header<'_>],
    out: &mut Vec<u8>,
    keep: impl Fn(usize, &str) -> bool,
) {
    // The run of kept lines not copied yet.
    let (mut from, mut to) = (0, 0);
    for (i, h) in headers.iter().enumerate() {
        if !keep(i, h.name) {
            continue;
        }
        let start = offset(head, h.name);
        let end = headers
            .get(i + 1)
            .map_or(head.len().saturating_sub(2), |n| offset(head, n.name));
        let whole = start < end && end <= head.len() && head[..end].ends_with(b"\r\n");
        if whole && start == to && to > from {
            to = end;
            continue;
        }
        out.extend_from_slice(&head[from..to]);
        (from, to) = (start, start);
        if whole {
            to = end;
        } else {
            put_header(out, h.name.as_bytes(), h.value);
        }
    }
    out.extend_from_slice(&head[from..to]);
}

/// Appends `item` to the values of every `name` header, joined into one.
fn put_list(out: &mut Vec<u8>, head: &RequestHead<'_>, name: &str, item: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    for h in head
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
    {
        // As `headers::add_forwarded`: values that are not text are left out.
        if let Ok(v) = std::str::from_utf8(h.value)
            && v.bytes().all(|b| b == b'\t' || (b' '..0x7f).contains(&b))
        {
            out.extend_from_slice(v.trim().as_bytes());
            out.extend_from_slice(b", ");
        }
    }
    out.extend_from_slice(item.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Writes the head to send upstream into `out`: the request line with the
/// upstream's base path, the end-to-end headers in their order (hop-by-hop
/// ones and those `Connection` names dropped, `TE: trailers` kept), the
/// client appended to `x-forwarded-for` and `forwarded`,
/// `x-forwarded-proto: http` and `Host` when absent, and the framing as
/// parsed (the client's framing lines are not copied).
pub(crate) fn upstream_head(
    head: &RequestHead<'_>,
    base: &str,
    authority: &str,
    client: &ClientAddr,
    out: &mut Vec<u8>,
) {
    let scan = &head.scan;
    out.clear();
    let first = head
        .headers
        .first()
        .map_or(head.raw.len().saturating_sub(2), |h| {
            offset(head.raw, h.name)
        });
    let canonical = matches!(head.path, Cow::Borrowed(_));
    if base.is_empty() && canonical && head.raw[..first].ends_with(b" HTTP/1.1\r\n") {
        out.extend_from_slice(&head.raw[..first]);
    } else {
        // The canonical path, the query as it came.
        out.extend_from_slice(head.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(base.as_bytes());
        out.extend_from_slice(head.path.as_bytes());
        if let Some(q) = head.query {
            out.push(b'?');
            out.extend_from_slice(q.as_bytes());
        }
        out.extend_from_slice(b" HTTP/1.1\r\n");
    }
    copy_headers(head.raw, head.headers, out, scan, true);
    if scan.te_trailers {
        out.extend_from_slice(b"te: trailers\r\n");
    }
    if scan.xff {
        put_list(out, head, "x-forwarded-for", client.ip());
    } else {
        put_header(out, b"x-forwarded-for", client.ip().as_bytes());
    }
    if scan.forwarded {
        put_list(out, head, "forwarded", client.node());
    } else {
        put_header(out, b"forwarded", client.node().as_bytes());
    }
    if !scan.proto {
        out.extend_from_slice(b"x-forwarded-proto: http\r\n");
    }
    if !scan.host {
        put_header(out, b"host", authority.as_bytes());
    }
    put_framing(out, head.framing, scan.content_length, scan.length_text);
    out.extend_from_slice(b"\r\n");
}

/// A response head from the upstream, already rewritten for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResponseHead {
    /// Bytes of the upstream's head.
    pub(crate) len: usize,
    pub(crate) status: u16,
    /// How the upstream delimits the body.
    pub(crate) framing: Framing,
    /// The upstream connection cannot be used again.
    pub(crate) upstream_close: bool,
}

/// What parsing an upstream response head gave.
#[derive(Debug)]
pub(crate) enum ParsedResponse {
    /// A final response; the client's head is in `out`.
    Head(ResponseHead),
    /// An interim (1xx) response of this many bytes: skip it.
    Interim(usize),
    /// More bytes are needed.
    Partial,
}

/// The upstream's response head is not one the sidecar can relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadResponse(pub(crate) String);

/// Parses the upstream's response head at the start of `buf` and writes the
/// client's head into `out`: status line, end-to-end headers, and the
/// framing towards the client — `Content-Length` kept, chunked passed
/// through, a body delimited by close re-chunked — plus `connection: close`
/// when `close_client`.
pub(crate) fn parse_response(
    buf: &[u8],
    head_request: bool,
    close_client: bool,
    out: &mut Vec<u8>,
) -> Result<ParsedResponse, BadResponse> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() < MAX_RESPONSE_HEAD => {
            return Ok(ParsedResponse::Partial);
        }
        Ok(httparse::Status::Partial) => {
            return Err(BadResponse("response head too long".into()));
        }
        Err(e) => return Err(BadResponse(format!("invalid response head: {e}"))),
    };
    let (Some(version), Some(status)) = (resp.version, resp.code) else {
        return Err(BadResponse("invalid response head".into()));
    };
    if status == 101 {
        return Err(BadResponse(
            "the upstream switched protocols unasked".into(),
        ));
    }
    if (100..200).contains(&status) {
        return Ok(ParsedResponse::Interim(len));
    }
    let scan = Scan::of(resp.headers, false)
        .map_err(|Ambiguous(why)| BadResponse(format!("ambiguous response framing: {why}")))?;
    if version == 0 && scan.chunked {
        return Err(BadResponse(
            "ambiguous response framing: Transfer-Encoding in HTTP/1.0".into(),
        ));
    }
    let no_body = head_request || status == 204 || status == 304;
    let framing = if no_body {
        Framing::Empty
    } else if scan.chunked {
        Framing::Chunked
    } else {
        match scan.content_length {
            Some(0) => Framing::Empty,
            Some(n) => Framing::Length(n),
            None => Framing::Close,
        }
    };
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    // httparse took exactly three digits.
    out.extend_from_slice(&[
        b'0' + (status / 100 % 10) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
        b' ',
    ]);
    out.extend_from_slice(resp.reason.unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    copy_headers(&buf[..len], resp.headers, out, &scan, false);
    if !scan.date {
        put_header(out, b"date", &http_date());
    }
    // A 204 has no length; a HEAD's or 304's tells the size of what a GET
    // would have sent.
    let length = scan.content_length.filter(|_| status != 204);
    put_framing(out, framing, length, scan.length_text);
    if close_client {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(ParsedResponse::Head(ResponseHead {
        len,
        status,
        framing,
        upstream_close: scan.close || version == 0 || framing == Framing::Close,
    }))
}

/// A body being relayed: how much of it is left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Remaining {
    /// This many bytes.
    Length(u64),
    /// A chunked body, at this point of its syntax.
    Chunked(Chunked),
    /// Everything until the sender closes.
    Close,
    /// Nothing: the body has ended.
    Done,
}

impl Remaining {
    pub(crate) fn of(framing: Framing) -> Self {
        match framing {
            Framing::Empty | Framing::Length(0) => Self::Done,
            Framing::Length(n) => Self::Length(n),
            Framing::Chunked => Self::Chunked(Chunked::default()),
            Framing::Close => Self::Close,
        }
    }

    /// Whether the body's bytes are relayed as they come (length- or
    /// close-delimited) rather than re-encoded (chunked).
    pub(crate) fn is_raw(&self) -> bool {
        !matches!(self, Self::Chunked(_))
    }

    /// How many bytes of `avail` belong to the body. Those of a raw body
    /// ([`Remaining::is_raw`]) are the caller's to relay as they are; a
    /// chunked body's are re-encoded into `out` (sizes in plain hex,
    /// extensions dropped, trailer lines checked). `Err` for a malformed
    /// chunked body.
    pub(crate) fn take(&mut self, avail: &[u8], out: &mut Vec<u8>) -> Result<usize, BadChunk> {
        match self {
            Self::Length(n) => {
                let take = usize::try_from(*n).unwrap_or(usize::MAX).min(avail.len());
                *n -= take as u64;
                if *n == 0 {
                    *self = Self::Done;
                }
                Ok(take)
            }
            Self::Chunked(c) => {
                let used = c.feed(avail, out)?;
                if c.state == ChunkState::Done {
                    *self = Self::Done;
                }
                Ok(used)
            }
            Self::Close => Ok(avail.len()),
            Self::Done => Ok(0),
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        *self == Self::Done
    }
}

/// A chunked body is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadChunk;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum ChunkState {
    /// Reading the size's hex digits (`digits` so far).
    #[default]
    Size,
    /// Whitespace after the size (before `;` or the line's end).
    SizeSpace,
    /// In a chunk extension, up to the line's end.
    Extension,
    /// After the size line's CR.
    SizeLf,
    /// In the chunk's data.
    Data,
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the final blank line).
    TrailerStart,
    /// In a trailer field's name.
    TrailerName,
    /// In a trailer field's value.
    TrailerValue,
    /// After a trailer line's CR.
    TrailerLf,
    /// After the final blank line's CR.
    EndLf,
    Done,
}

/// Longest chunk-size line (size and extensions).
const MAX_CHUNK_LINE: u32 = 4 * 1024;

/// Most bytes of trailer fields a chunked body may end with.
const MAX_TRAILERS: u32 = 16 * 1024;

/// Whether `b` may be in a field name (RFC 9110 §5.6.2 `tchar`).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Where a chunked body's syntax is (RFC 9112 §7.1), fed byte ranges as
/// they arrive; it finds the body's end and writes the body re-encoded:
/// each chunk with its size in plain hex and no extensions, the data as it
/// came, the trailer lines (checked as field lines) as they came.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Chunked {
    state: ChunkState,
    size: u64,
    digits: u8,
    /// Bytes of the current size line, or of all trailer lines.
    line: u32,
}

impl Chunked {
    /// Consumes bytes of `buf` up to the body's end, writing the
    /// re-encoded body to `out`; returns how many were consumed.
    fn feed(&mut self, buf: &[u8], out: &mut Vec<u8>) -> Result<usize, BadChunk> {
        let mut i = 0;
        while i < buf.len() {
            let b = buf[i];
            if matches!(
                self.state,
                ChunkState::Size | ChunkState::SizeSpace | ChunkState::Extension
            ) {
                self.line += 1;
                if self.line > MAX_CHUNK_LINE {
                    return Err(BadChunk);
                }
            }
            match self.state {
                ChunkState::Size => {
                    if let Some(d) = (b as char).to_digit(16) {
                        self.digits += 1;
                        // 15 hex digits: far above any real chunk, no overflow.
                        if self.digits > 15 {
                            return Err(BadChunk);
                        }
                        self.size = self.size * 16 + u64::from(d);
                    } else if self.digits == 0 {
                        return Err(BadChunk);
                    } else if b == b'\r' {
                        self.state = ChunkState::SizeLf;
                    } else if b == b';' {
                        self.state = ChunkState::Extension;
                    } else if b == b' ' || b == b'\t' {
                        self.state = ChunkState::SizeSpace;
                    } else {
                        return Err(BadChunk);
                    }
                }
                ChunkState::SizeSpace => {
                    if b == b'\r' {
                        self.state = ChunkState::SizeLf;
                    } else if b == b';' {
                        self.state = ChunkState::Extension;
                    } else if b != b' ' && b != b'\t' {
                        return Err(BadChunk);
                    }
                }
                ChunkState::Extension => {
                    if b == b'\r' {
                        self.state = ChunkState::SizeLf;
                    } else if (b < b' ' && b != b'\t') || b == 0x7f {
                        return Err(BadChunk);
                    }
                }
                ChunkState::SizeLf => {
                    if b != b'\n' {
                        return Err(BadChunk);
                    }
                    self.digits = 0;
                    self.line = 0;
                    // Infallible: writing to a Vec.
                    let _ = std::io::Write::write_fmt(out, format_args!("{:x}\r\n", self.size));
                    self.state = if self.size == 0 {
                        ChunkState::TrailerStart
                    } else {
                        ChunkState::Data
                    };
                }
                ChunkState::Data => {
                    let take = usize::try_from(self.size)
                        .unwrap_or(usize::MAX)
                        .min(buf.len() - i);
                    out.extend_from_slice(&buf[i..i + take]);
                    self.size -= take as u64;
                    i += take;
                    if self.size == 0 {
                        self.state = ChunkState::DataCr;
                    }
                    continue;
                }
                ChunkState::DataCr => {
                    if b != b'\r' {
                        return Err(BadChunk);
                    }
                    self.state = ChunkState::DataLf;
                }
                ChunkState::DataLf => {
                    if b != b'\n' {
                        return Err(BadChunk);
                    }
                    out.extend_from_slice(b"\r\n");
                    self.state = ChunkState::Size;
                }
                ChunkState::TrailerStart => {
                    if b == b'\r' {
                        self.state = ChunkState::EndLf;
                    } else if is_tchar(b) {
                        out.push(b);
                        self.state = ChunkState::TrailerName;
                    } else {
                        // Includes obs-fold (a line starting with
                        // whitespace) and a bare LF.
                        return Err(BadChunk);
                    }
                }
                ChunkState::TrailerName => {
                    if b == b':' {
                        self.state = ChunkState::TrailerValue;
                    } else if !is_tchar(b) {
                        // Includes whitespace before the colon.
                        return Err(BadChunk);
                    }
                    out.push(b);
                }
                ChunkState::TrailerValue => {
                    if b == b'\r' {
                        self.state = ChunkState::TrailerLf;
                    } else if (b < b' ' && b != b'\t') || b == 0x7f {
                        return Err(BadChunk);
                    } else {
                        out.push(b);
                    }
                }
                ChunkState::TrailerLf => {
                    if b != b'\n' {
                        return Err(BadChunk);
                    }
                    out.extend_from_slice(b"\r\n");
                    self.state = ChunkState::TrailerStart;
                }
                ChunkState::EndLf => {
                    if b != b'\n' {
                        return Err(BadChunk);
                    }
                    out.extend_from_slice(b"\r\n");
                    self.state = ChunkState::Done;
                    return Ok(i + 1);
                }
                ChunkState::Done => return Ok(i),
            }
            if matches!(
                self.state,
                ChunkState::TrailerName | ChunkState::TrailerValue | ChunkState::TrailerLf
            ) {
                self.line += 1;
                if self.line > MAX_TRAILERS {
                    return Err(BadChunk);
                }
            }
            i += 1;
        }
        Ok(i)
    }
}

/// Writes a response the sidecar made itself (a refusal, a fallback, an
/// error) as HTTP/1.1 bytes.
pub(crate) fn made_response(
    resp: &http::Response<crate::proxy::ProxyBody>,
    body: &[u8],
    close: bool,
    out: &mut Vec<u8>,
) {
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(resp.status().as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(
        resp.status()
            .canonical_reason()
            .unwrap_or("Unknown")
            .as_bytes(),
    );
    out.extend_from_slice(b"\r\n");
    for (k, v) in resp.headers() {
        if !is_hop_by_hop(k.as_str()) && k != http::header::CONTENT_LENGTH {
            put_header(out, k.as_str().as_bytes(), v.as_bytes());
        }
    }
    if !resp.headers().contains_key(http::header::DATE) {
        put_header(out, b"date", &http_date());
    }
    put_header(out, b"content-length", body.len().to_string().as_bytes());
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// The current time as an HTTP date (`Wed, 25 Nov 2026 11:38:02 GMT`),
/// formatted once a second per thread. Servers add it (hyper does); the
/// fast path adds it to responses that lack one.
pub(crate) fn http_date() -> [u8; 29] {
    use std::cell::Cell;
    thread_local! {
        static CACHE: Cell<(u64, [u8; 29])> = const { Cell::new((u64::MAX, [0; 29])) };
    }
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    CACHE.with(|c| {
        let (at, text) = c.get();
        if at == secs {
            return text;
        }
        let text = format_date(secs);
        c.set((secs, text));
        text
    })
}

/// IMF-fixdate of a Unix time (httpdate's formatter; 29 bytes for every
/// year it accepts, 1970 to 9999; a clock past that reads as its last second).
fn format_date(secs: u64) -> [u8; 29] {
    const LAST: u64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.min(LAST));
    let text = httpdate::fmt_http_date(at);
    let mut out = [b' '; 29];
    if let Some(bytes) = text.as_bytes().get(..29) {
        out.copy_from_slice(bytes);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NAMES: [&str; 16] = [
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "trailer",
        "te",
        "upgrade",
        "expect",
        "host",
        "x-forwarded-for",
        "x-forwarded-proto",
        "forwarded",
        "date",
    ];

    proptest! {
        /// The word-at-a-time compare agrees with `eq_ignore_ascii_case`
        /// for any bytes, not only token characters: a known name with
        /// bytes changed, its case flipped, or noise of the same length.
        #[test]
        fn folded_compare_is_eq_ignore_ascii_case(
            which in 0..NAMES.len(),
            flips in proptest::collection::vec(any::<bool>(), 19),
            edits in proptest::collection::vec((0usize..19, any::<u8>()), 0..3),
        ) {
            let lit = NAMES[which].as_bytes();
            let mut name: Vec<u8> = lit
                .iter()
                .zip(&flips)
                .map(|(&c, &f)| if f { c.to_ascii_uppercase() } else { c })
                .collect();
            for (at, b) in edits {
                if let Some(c) = name.get_mut(at % lit.len()) {
                    *c = b;
                }
            }
            prop_assert_eq!(eq_folded(&name, lit), name.eq_ignore_ascii_case(lit));
        }

        /// Copying in runs off the drop mask writes what copying line by
        /// line writes, for requests and responses, `Connection` lists and
        /// bare LFs included (those take the line-by-line way).
        #[test]
        fn runs_copy_what_lines_copy(
            lines in proptest::collection::vec(
                (
                    prop_oneof![
                        Just("Host"), Just("x-a"), Just("Content-Length"),
                        Just("connection"), Just("Keep-Alive"), Just("TE"),
                        Just("x-forwarded-for"), Just("Date"), Just("b"),
                    ],
                    prop_oneof![Just("1"), Just("x-a"), Just("keep-alive"), Just("close, b")],
                    any::<bool>(),
                ),
                0..12,
            ),
            request in any::<bool>(),
        ) {
            let mut head = if request { "GET / HTTP/1.1\r\n" } else { "HTTP/1.1 200 OK\r\n" }
                .to_string();
            for (name, value, bare) in &lines {
                head.push_str(&format!("{name}: {value}{}", if *bare { "\n" } else { "\r\n" }));
            }
            head.push_str("\r\n");
            let mut parsed = [httparse::EMPTY_HEADER; 16];
            let headers: &[httparse::Header<'_>] = if request {
                let mut r = httparse::Request::new(&mut parsed);
                prop_assume!(matches!(r.parse(head.as_bytes()), Ok(httparse::Status::Complete(_))));
                r.headers
            } else {
                let mut r = httparse::Response::new(&mut parsed);
                prop_assume!(matches!(r.parse(head.as_bytes()), Ok(httparse::Status::Complete(_))));
                r.headers
            };
            let Ok(scan) = Scan::of(headers, request) else { return Ok(()) };
            let (mut runs, mut each) = (Vec::new(), Vec::new());
            copy_headers(head.as_bytes(), headers, &mut runs, &scan, request);
            copy_lines(head.as_bytes(), headers, &mut each, |i, n| !scan.drops(i, n, request));
            prop_assert_eq!(String::from_utf8_lossy(&runs), String::from_utf8_lossy(&each));
        }

        /// A length written from the peer's canonical text is the length
        /// `put_decimal` writes.
        #[test]
        fn length_text_writes_the_parsed_length(n in any::<u64>()) {
            let text = n.to_string();
            for framing in [Framing::Length(n), Framing::Empty] {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                put_framing(&mut a, framing, Some(n), Some(text.as_bytes()));
                put_framing(&mut b, framing, Some(n), None);
                prop_assert_eq!(&a, &b);
            }
        }
    }

    fn client() -> ClientAddr {
        ClientAddr::new("10.0.0.9".parse().expect("ip"))
    }

    /// Not forwarded: handed to hyper, or refused with this status.
    #[derive(Debug, PartialEq, Eq)]
    enum Not {
        Unusual,
        Refused(u16),
    }

    fn rewrite(raw: &str) -> Result<(String, Framing, bool), Not> {
        let mut h = [MaybeUninit::uninit(); MAX_HEADERS];
        match parse_request(raw.as_bytes(), &mut h) {
            Parsed::Head(head) => {
                assert_eq!(head.len, raw.find("\r\n\r\n").expect("end") + 4);
                let mut out = Vec::new();
                upstream_head(&head, "/base", "up:80", &client(), &mut out);
                Ok((
                    String::from_utf8(out).expect("text"),
                    head.framing,
                    head.close,
                ))
            }
            Parsed::Partial => panic!("partial: {raw}"),
            Parsed::Unusual => Err(Not::Unusual),
            Parsed::Refused(r) => Err(Not::Refused(r.status)),
        }
    }

    #[test]
    fn rewrites_a_request_head_for_the_upstream() {
        let (out, framing, close) = rewrite(
            "POST /a?b=1 HTTP/1.1\r\nHost: svc\r\nConnection: close, X-Secret\r\nX-Secret: s\r\n\
             TE: gzip, trailers\r\nKeep-Alive: 5\r\nX-Forwarded-For: 1.2.3.4\r\nx-forwarded-for:  5.6.7.8 \r\n\
             Forwarded: for=1.2.3.4\r\nX-Forwarded-Proto: https\r\nContent-Length: 3\r\n\r\nabc",
        )
        .expect("fast");
        assert_eq!(framing, Framing::Length(3));
        assert!(close);
        assert_eq!(
            out,
            "POST /base/a?b=1 HTTP/1.1\r\nHost: svc\r\nX-Forwarded-Proto: https\r\n\
             te: trailers\r\nx-forwarded-for: 1.2.3.4, 5.6.7.8, 10.0.0.9\r\n\
             forwarded: for=1.2.3.4, for=10.0.0.9;proto=http\r\ncontent-length: 3\r\n\r\n"
        );
        let (out, framing, close) =
            rewrite("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").expect("fast");
        assert_eq!(framing, Framing::Chunked);
        assert!(!close);
        assert_eq!(
            out,
            "GET /base/ HTTP/1.1\r\nx-forwarded-for: 10.0.0.9\r\nforwarded: for=10.0.0.9;proto=http\r\n\
             x-forwarded-proto: http\r\nhost: up:80\r\ntransfer-encoding: chunked\r\n\r\n"
        );
    }

    #[test]
    fn copies_header_lines_as_written_and_refuses_bare_lf_ones() {
        let (out, _, _) = rewrite(
            "GET /p HTTP/1.1\r\nA:  1 \r\nConnection: keep-alive\r\nB: 2\r\nC: 3\r\nhost: h\r\n\r\n",
        )
        .expect("fast");
        assert_eq!(
            out,
            "GET /base/p HTTP/1.1\r\nA:  1 \r\nB: 2\r\nC: 3\r\nhost: h\r\n\
             x-forwarded-for: 10.0.0.9\r\nforwarded: for=10.0.0.9;proto=http\r\nx-forwarded-proto: http\r\n\r\n"
        );
        assert_eq!(
            rewrite("GET /p HTTP/1.1\r\nB: 2\nC: 3\r\n\r\n"),
            Err(Not::Refused(400))
        );
        let mut h = [MaybeUninit::uninit(); MAX_HEADERS];
        let raw = b"GET /p?q HTTP/1.1\r\nX-A: 1\r\n\r\n";
        let Parsed::Head(head) = parse_request(raw, &mut h) else {
            panic!("head");
        };
        let mut out = Vec::new();
        upstream_head(&head, "", "up:80", &client(), &mut out);
        assert!(
            out.starts_with(b"GET /p?q HTTP/1.1\r\nX-A: 1\r\nx-forwarded-for"),
            "{}",
            String::from_utf8_lossy(&out)
        );
    }

    #[test]
    fn leaves_unusual_requests_to_hyper() {
        for raw in [
            "GET / HTTP/1.0\r\n\r\n",
            "PUT / HTTP/1.0\r\nContent-Length: 1\r\n\r\n",
            "CONNECT a:443 HTTP/1.1\r\n\r\n",
            "GET http://a/ HTTP/1.1\r\n\r\n",
            "GET HTTPS://a/x HTTP/1.1\r\n\r\n",
            "OPTIONS * HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            "PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "PRI * HTTP/2.0\r",
            "PRI * HTTP/2",
        ] {
            assert_eq!(rewrite(raw), Err(Not::Unusual), "{raw}");
        }
        let mut h = [MaybeUninit::uninit(); MAX_HEADERS];
        assert!(matches!(
            parse_request(b"GET / HTTP/1.1\r\nHost: a\r\n", &mut h),
            Parsed::Partial
        ));
    }

    #[test]
    fn refuses_heads_that_could_be_read_two_ways() {
        for raw in [
            "PUT / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "PUT / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
            "PUT / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            "PUT / HTTP/1.1\r\nContent-Length: +1\r\n\r\n",
            "PUT / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            "PUT / HTTP/1.1\r\nContent-Length: 1,1\r\n\r\n",
            "PUT / HTTP/1.1\r\nContent-Length: 1 1\r\n\r\n",
            "PUT / HTTP/1.1\r\nContent-Length:\r\n\r\n",
            "PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            "PUT / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "PUT / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n",
            "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n",
            "PUT / HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
            "PUT / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "PUT / HTTP/1.1\r\nContent-Length : 2\r\n\r\n",
            "PUT / HTTP/1.1\r\nX-A: 1\r\n folded\r\nContent-Length: 2\r\n\r\n",
            "PUT / HTTP/1.1\r\nContent-Length: 2\nX-A: 1\r\n\r\n",
            "PUT / HTTP/1.1\nContent-Length: 2\r\n\r\n",
            "GET / HTTP/1.1\r\nA: 1\r\n\n",
            "GET / HTTP/1.1\n\r\n",
            "\r\n\nGET / HTTP/1.1\r\n\r\n",
            "\nGET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
            "GET /a#b HTTP/1.1\r\n\r\n",
            "GET a/b HTTP/1.1\r\n\r\n",
            "GET * HTTP/1.1\r\n\r\n",
            "GET  / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.2\r\n\r\n",
            "GARBAGE\r\n\r\n",
        ] {
            assert_eq!(rewrite(raw), Err(Not::Refused(400)), "{raw}");
        }
        let many: String = (0..=MAX_HEADERS).map(|i| format!("x-{i}: 1\r\n")).collect();
        assert_eq!(
            rewrite(&format!("GET / HTTP/1.1\r\n{many}\r\n")),
            Err(Not::Refused(431))
        );
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(MAX_HEAD));
        let mut h = [MaybeUninit::uninit(); MAX_HEADERS];
        assert!(matches!(
            parse_request(long.as_bytes(), &mut h),
            Parsed::Refused(Refused { status: 431, .. })
        ));
    }

    /// Every name the codec acts on is found in any case, and nothing
    /// else is (the length-and-first-letter filter must let each through).
    #[test]
    fn header_kinds_are_found_in_any_case() {
        let known = [
            ("content-length", Kind::ContentLength),
            ("transfer-encoding", Kind::TransferEncoding),
            ("connection", Kind::Connection),
            ("keep-alive", Kind::Hop),
            ("proxy-connection", Kind::Hop),
            ("proxy-authenticate", Kind::Hop),
            ("proxy-authorization", Kind::Hop),
            ("trailer", Kind::Hop),
            ("te", Kind::Te),
            ("upgrade", Kind::Upgrade),
            ("expect", Kind::Expect),
            ("host", Kind::Host),
            ("x-forwarded-for", Kind::XForwardedFor),
            ("x-forwarded-proto", Kind::XForwardedProto),
            ("forwarded", Kind::Forwarded),
            ("date", Kind::Date),
        ];
        for (name, kind) in known {
            assert_eq!(Kind::of(name), kind, "{name}");
            assert_eq!(Kind::of(&name.to_ascii_uppercase()), kind, "{name}");
            let mixed: String = name
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            assert_eq!(Kind::of(&mixed), kind, "{mixed}");
            // One letter changed, one added, one taken away: another name.
            assert_eq!(Kind::of(&format!("{name}s")), Kind::Other, "{name}s");
            assert_eq!(Kind::of(&name[1..]), Kind::Other, "{name}");
            assert_eq!(
                Kind::of(&name.replacen(|c: char| c.is_ascii_alphabetic(), "q", 1)),
                Kind::Other
            );
        }
        for other in [
            "user-agent",
            "accept",
            "cookie",
            "referer",
            "x-request-id",
            "",
            "t",
            "content-type",
        ] {
            assert_eq!(Kind::of(other), Kind::Other, "{other}");
        }
        let hop = [
            "connection",
            "keep-alive",
            "proxy-connection",
            "proxy-authenticate",
            "proxy-authorization",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
        ];
        for name in hop {
            assert!(Kind::of(name).dropped(false), "{name} is hop-by-hop");
            assert!(is_hop_by_hop(name));
        }
        assert!(Kind::of("content-length").dropped(false));
        assert!(!Kind::of("x-forwarded-for").dropped(false));
        assert!(Kind::of("x-forwarded-for").dropped(true));
        assert!(!Kind::of("host").dropped(true));
    }

    #[test]
    fn framing_headers_are_never_hop_by_hop_and_are_written_as_parsed() {
        // The smuggling of issue 12: `Connection` naming the length made
        // the upstream see a body-less GET and the body as a second request.
        let (out, framing, _) = rewrite(
            "GET /p HTTP/1.1\r\nHost: a\r\nConnection: Content-Length, Host, Transfer-Encoding\r\n\
             Content-Length: 5\r\n\r\n",
        )
        .expect("fast");
        assert_eq!(framing, Framing::Length(5));
        assert!(out.contains("\r\nHost: a\r\n"), "{out}");
        assert!(out.ends_with("\r\ncontent-length: 5\r\n\r\n"), "{out}");
        assert_eq!(out.matches("ength:").count(), 1, "{out}");
        let (out, framing, _) = rewrite(
            "POST /p HTTP/1.1\r\nConnection: transfer-encoding\r\nTransfer-Encoding: Chunked \r\n\r\n",
        )
        .expect("fast");
        assert_eq!(framing, Framing::Chunked);
        assert!(
            out.ends_with("\r\ntransfer-encoding: chunked\r\n\r\n"),
            "{out}"
        );
        assert!(!out.contains("Chunked"), "{out}");
        // A zero length stays said; no length stays unsaid.
        let (out, framing, _) =
            rewrite("POST /p HTTP/1.1\r\ncontent-length: 000\r\n\r\n").expect("fast");
        assert_eq!(framing, Framing::Empty);
        assert!(out.ends_with("\r\ncontent-length: 0\r\n\r\n"), "{out}");
        let (out, _, _) = rewrite("GET /p HTTP/1.1\r\n\r\n").expect("fast");
        assert!(!out.contains("content-length"), "{out}");
    }

    #[test]
    fn forwards_the_canonical_path_with_the_query_as_it_came() {
        let (out, _, _) = rewrite("GET //a/./b;v=1/../%63?q=%41&r=./x HTTP/1.1\r\nHost: h\r\n\r\n")
            .expect("fast");
        assert!(
            out.starts_with("GET /base/a/c?q=%41&r=./x HTTP/1.1\r\nHost: h\r\n"),
            "{out}"
        );
        let mut h = [MaybeUninit::uninit(); MAX_HEADERS];
        let raw = b"GET /a/%62 HTTP/1.1\r\n\r\n";
        let Parsed::Head(head) = parse_request(raw, &mut h) else {
            panic!("head");
        };
        assert_eq!(head.path(), "/a/b");
        let mut out = Vec::new();
        upstream_head(&head, "", "up:80", &client(), &mut out);
        assert!(out.starts_with(b"GET /a/b HTTP/1.1\r\n"));
        for (raw, error) in [
            ("GET /a%2Fb HTTP/1.1\r\n\r\n", PathError::EncodedSlash),
            ("GET /a%00 HTTP/1.1\r\n\r\n", PathError::Nul),
            ("GET /%FF HTTP/1.1\r\n\r\n", PathError::InvalidUtf8),
        ] {
            let mut h = [MaybeUninit::uninit(); MAX_HEADERS];
            let Parsed::Head(head) = parse_request(raw.as_bytes(), &mut h) else {
                panic!("head: {raw}");
            };
            assert_eq!(head.bad_path, Some(error), "{raw}");
        }
    }

    #[test]
    fn meta_reads_the_head() {
        let raw = "GET /p?q=1 HTTP/1.1\r\nX-User: u1\r\nx-user: u2\r\n\r\n";
        let mut h = [MaybeUninit::uninit(); MAX_HEADERS];
        let Parsed::Head(head) = parse_request(raw.as_bytes(), &mut h) else {
            panic!("head");
        };
        assert_eq!(
            (head.method(), head.path(), head.query()),
            ("GET", "/p", Some("q=1"))
        );
        assert_eq!(head.header("x-user"), Some("u1"));
        assert_eq!(head.header("X-USER"), Some("u1"));
        assert_eq!(head.header("absent"), None);
    }

    fn response(raw: &str, head_request: bool, close: bool) -> (ResponseHead, String) {
        let mut out = Vec::new();
        match parse_response(raw.as_bytes(), head_request, close, &mut out) {
            Ok(ParsedResponse::Head(h)) => (h, String::from_utf8(out).expect("text")),
            other => panic!("{other:?} for {raw}"),
        }
    }

    #[test]
    fn rewrites_response_heads_and_finds_their_framing() {
        let (h, out) = response(
            "HTTP/1.1 200 Fine\r\nDate: x\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nContent-Length: 5\r\n\r\n",
            false,
            false,
        );
        assert_eq!(h.framing, Framing::Length(5));
        assert!(!h.upstream_close);
        assert_eq!(
            out,
            "HTTP/1.1 200 Fine\r\nDate: x\r\ncontent-length: 5\r\n\r\n"
        );
        let (h, out) = response("HTTP/1.1 200 OK\r\n\r\n", false, true);
        assert_eq!(h.framing, Framing::Close);
        assert!(h.upstream_close);
        let date = String::from_utf8(http_date().to_vec()).expect("text");
        assert_eq!(
            out,
            format!(
                "HTTP/1.1 200 OK\r\ndate: {date}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
            )
        );
        let (h, _) = response(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            false,
            false,
        );
        assert_eq!(h.framing, Framing::Chunked);
        for (raw, head) in [
            ("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true),
            ("HTTP/1.1 204 No Content\r\n\r\n", false),
            (
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
                false,
            ),
        ] {
            assert_eq!(
                response(raw, head, false).0.framing,
                Framing::Empty,
                "{raw}"
            );
        }
        let (h, _) = response("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false, false);
        assert!(h.upstream_close);
        let mut out = Vec::new();
        assert!(matches!(
            parse_response(
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1",
                false,
                false,
                &mut out
            ),
            Ok(ParsedResponse::Interim(25))
        ));
        assert!(matches!(
            parse_response(b"HTTP/1.1 200 OK\r\n", false, false, &mut out),
            Ok(ParsedResponse::Partial)
        ));
        let many: String = (0..MAX_RESPONSE_HEADERS - 1)
            .map(|i| format!("x-{i}: 1\r\n"))
            .collect();
        let (_, text) = response(
            &format!("HTTP/1.1 200 OK\r\n{many}Content-Length: 0\r\n\r\n"),
            false,
            false,
        );
        assert!(text.contains("x-98: 1\r\n"), "{text}");
        for bad in [
            "HTTP/1.1 101 Switching Protocols\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "nonsense\r\n\r\n",
        ] {
            assert!(
                parse_response(bad.as_bytes(), false, false, &mut out).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn response_framing_is_written_as_parsed() {
        // An upstream naming its length in `Connection` does not leave the
        // client without one.
        let (h, out) = response(
            "HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 2\r\nContent-Length: 2\r\nDate: d\r\n\r\n",
            false,
            false,
        );
        assert_eq!(h.framing, Framing::Length(2));
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\nDate: d\r\ncontent-length: 2\r\n\r\n"
        );
        let (h, out) = response(
            "HTTP/1.1 200 OK\r\nDate: d\r\nTransfer-Encoding: CHUNKED\r\n\r\n",
            false,
            false,
        );
        assert_eq!(h.framing, Framing::Chunked);
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\nDate: d\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        let (_, out) = response(
            "HTTP/1.1 204 No Content\r\nDate: d\r\nContent-Length: 7\r\n\r\n",
            false,
            false,
        );
        assert_eq!(out, "HTTP/1.1 204 No Content\r\nDate: d\r\n\r\n");
        let mut out = Vec::new();
        for bad in [
            "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n",
        ] {
            assert!(
                parse_response(bad.as_bytes(), false, false, &mut out).is_err(),
                "{bad}"
            );
        }
    }

    /// Feeds `body` in pieces of `step` bytes; returns the re-encoded body.
    fn reencode(body: &[u8], step: usize) -> Result<Vec<u8>, BadChunk> {
        let mut r = Remaining::of(Framing::Chunked);
        let (mut at, mut out) = (0, Vec::new());
        while !r.is_done() && at < body.len() {
            let end = (at + step).min(body.len());
            at += r.take(&body[at..end], &mut out)?;
        }
        if r.is_done() { Ok(out) } else { Err(BadChunk) }
    }

    #[test]
    fn reencodes_chunked_bodies_and_refuses_odd_chunk_syntax() {
        let body =
            b"5;ext=\"a;b\"\r\nhello\r\n00010 \t;x\r\n0123456789abcdef\r\n0\r\nx-sum: 1\r\n\r\n";
        for step in [1, 2, 5, 100] {
            assert_eq!(
                reencode(body, step).as_deref(),
                Ok(&b"5\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nx-sum: 1\r\n\r\n"[..]),
                "step {step}"
            );
        }
        let long_ext = format!("1;{}\r\na\r\n0\r\n\r\n", "x".repeat(5000));
        for bad in [
            &b"5 x\r\nhello\r\n0\r\n\r\n"[..],
            b"5\r\nhello\r\n0\r\nx-sum : 1\r\n\r\n",
            b"5\r\nhello\r\n0\r\n folded\r\n\r\n",
            b"5\r\nhello\r\n0\r\nx-sum: 1\n\r\n",
            b"5\r\nhello\r\n0\r\nx-sum: \x01\r\n\r\n",
            b"5;a\x00\r\nhello\r\n0\r\n\r\n",
            b"5;\nhello\r\n0\r\n\r\n",
            b"-5\r\nhello\r\n0\r\n\r\n",
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"+5\r\nhello\r\n0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"5\r\nhello\r\n0\r\n\n",
            long_ext.as_bytes(),
        ] {
            assert_eq!(
                reencode(bad, 1),
                Err(BadChunk),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn formats_http_dates() {
        assert_eq!(&format_date(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            &format_date(1_795_606_682),
            b"Wed, 25 Nov 2026 11:38:02 GMT"
        );
        assert_eq!(&format_date(951_782_400), b"Tue, 29 Feb 2000 00:00:00 GMT");
    }

    /// Feeds `body` in pieces of `step` bytes; returns the bytes taken.
    fn feed(body: &[u8], step: usize) -> Result<usize, BadChunk> {
        let mut r = Remaining::of(Framing::Chunked);
        let mut at = 0;
        while !r.is_done() && at < body.len() {
            let end = (at + step).min(body.len());
            at += r.take(&body[at..end], &mut Vec::new())?;
        }
        if r.is_done() { Ok(at) } else { Err(BadChunk) }
    }

    #[test]
    fn finds_the_end_of_chunked_bodies_split_anywhere() {
        let body = b"5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nx-sum: 1\r\n\r\nNEXT";
        for step in [1, 2, 3, 7, 100] {
            assert_eq!(feed(body, step), Ok(body.len() - 4), "step {step}");
        }
        assert_eq!(feed(b"0\r\n\r\n", 1), Ok(5));
        for bad in [
            &b"x\r\n"[..],
            b"5\r\nhelloXX",
            b"5\nhello\r\n",
            b"ffffffffffffffff0\r\n",
            b"0\r\nbad\n",
        ] {
            assert_eq!(feed(bad, 1), Err(BadChunk), "{bad:?}");
        }
        let mut r = Remaining::of(Framing::Length(4));
        let mut out = Vec::new();
        assert_eq!(r.take(b"ab", &mut out), Ok(2));
        assert_eq!(r.take(b"cdef", &mut out), Ok(2));
        assert!(out.is_empty());
        assert!(r.is_done());
    }
}
