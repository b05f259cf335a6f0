//! Request-path canonicalisation (RFC 3986 §6.2.2).
//!
//! Rules match paths, and an upstream framework routes many spellings of one
//! path to the same handler: `/api/%6Frders`, `/api/./orders`,
//! `/api/x/../orders`, `/api/orders;jsessionid=1` (Servlet containers strip
//! path parameters) and `//api/orders` (nginx merges slashes) all reach the
//! handler of `/api/orders`. Matching the raw path would let any of them
//! slip past a rule on `/api/orders`, so the guard matches — and the proxy
//! forwards — one canonical spelling, computed by [`canonical_path`]:
//!
//! 1. percent-encoded unreserved characters (`ALPHA / DIGIT / - . _ ~`) are
//!    decoded; every other escape keeps its encoding with upper-case hex;
//! 2. path parameters (`;` and everything after it, up to the next `/`) are
//!    removed from every segment, as Servlet containers do before routing,
//!    so `/a/..;x/b` is `/b` (the same as Tomcat), and the path forwarded
//!    upstream carries no parameters (an application that reads matrix
//!    variables does not get them through Seawall; an encoded `%3B` is an
//!    ordinary character and is kept);
//! 3. dot-segments (`.` and `..`, also spelt `%2e`) are removed as in
//!    RFC 3986 §5.2.4 (`..` above the root stays at the root);
//! 4. empty segments are dropped (`//` is `/`), a trailing slash is kept;
//! 5. raw characters that may not appear in a path (space, `"`, `<`, `>`,
//!    `^`, `` ` ``, `{`, `|`, `}`, `#`, non-ASCII) are percent-encoded.
//!
//! What cannot be made canonical is refused ([`PathError`], answered 400):
//! an encoded `/` (`%2F`: one framework splits on it, another does not), a
//! `\` raw or encoded (`%5C`: some servers treat it as `/`), NUL and other
//! control characters raw or encoded, escapes that do not decode to UTF-8,
//! malformed escapes (`%`, `%4`, `%zz`), and paths not starting with `/`
//! (the asterisk form `*` is the caller's business).
//!
//! The already-canonical path — by far the common case — is recognised in
//! one pass over its bytes with a lookup table and returned borrowed; the
//! sidecar calls this on every request.

use std::borrow::Cow;

/// Why a request path cannot be made canonical (the request is refused with
/// 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum PathError {
    /// The path does not start with `/`.
    #[error("the path does not start with `/`")]
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    #[error("malformed percent escape")]
    BadEscape,
    /// `%2F`: an encoded `/`.
    #[error("encoded `/` (%2F) in the path")]
    EncodedSlash,
    /// `\`, raw or encoded (`%5C`).
    #[error("backslash in the path")]
    Backslash,
    /// NUL, raw or encoded (`%00`).
    #[error("NUL in the path")]
    Nul,
    /// Another control character (U+0001–U+001F, U+007F), raw or encoded.
    #[error("control character in the path")]
    Control,
    /// Percent escapes that do not decode to UTF-8.
    #[error("percent escapes that are not UTF-8")]
    InvalidUtf8,
}

impl PathError {
    /// A short snake_case name for logs, metrics and the reason header.
    pub fn as_str(self) -> &'static str {
        match self {
            PathError::NotAbsolute => "not_absolute",
            PathError::BadEscape => "bad_escape",
            PathError::EncodedSlash => "encoded_slash",
            PathError::Backslash => "backslash",
            PathError::Nul => "nul",
            PathError::Control => "control",
            PathError::InvalidUtf8 => "invalid_utf8",
        }
    }
}

/// Byte classes.
const PLAIN: u8 = 1; // may appear raw in a canonical path (not `%`, `;`)
const UNRESERVED: u8 = 2; // decoded when percent-encoded
const SEGMENT: u8 = 4; // plain, and not `/`

const fn classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let unreserved = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~');
        // pchar = unreserved / sub-delims / ":" / "@", and "/"; `;` and
        // `%` need the slow path.
        let plain = unreserved
            || matches!(
                c,
                b'!' | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b'='
                    | b':'
                    | b'@'
                    | b'/'
            );
        t[b] = (if plain { PLAIN } else { 0 })
            | (if unreserved { UNRESERVED } else { 0 })
            | (if plain && c != b'/' { SEGMENT } else { 0 });
        b += 1;
    }
    t
}

static CLASS: [u8; 256] = classes();

/// The canonical form of a request path (the part before `?`); borrowed
/// when `raw` already is canonical. See the module documentation for the
/// rules.
///
/// ```
/// use seawall_guard::canonical_path;
/// assert_eq!(canonical_path("/api/orders").unwrap(), "/api/orders");
/// assert_eq!(canonical_path("/api/%6Frders").unwrap(), "/api/orders");
/// assert_eq!(canonical_path("//api/x/../orders;v=1").unwrap(), "/api/orders");
/// assert!(canonical_path("/api%2Forders").is_err());
/// ```
#[inline]
pub fn canonical_path(raw: &str) -> Result<Cow<'_, str>, PathError> {
    if is_canonical(raw.as_bytes()) {
        Ok(Cow::Borrowed(raw))
    } else {
        canonicalise(raw).map(Cow::Owned)
    }
}

/// Whether `b` is canonical: starts with `/`, only plain bytes, no empty
/// segment but a trailing one, no dot-segment.
///
/// Segment by segment (it runs on every proxied request): the inner loop
/// only looks each byte up, and a segment is checked for being empty or
/// all dots once, at its end.
#[inline]
fn is_canonical(b: &[u8]) -> bool {
    if b.first() != Some(&b'/') {
        return false;
    }
    let n = b.len();
    // `b[at]` is a `/`; the segment after it runs to `end`.
    let mut at = 0;
    loop {
        let mut end = at + 1;
        while end < n && CLASS[b[end] as usize] & SEGMENT != 0 {
            end += 1;
        }
        let segment = &b[at + 1..end];
        let dots = matches!(segment, b"." | b"..");
        if end == n {
            // The last segment may be empty (a trailing `/`).
            return !dots;
        }
        if b[end] != b'/' || segment.is_empty() || dots {
            return false;
        }
        at = end;
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn push_escaped(out: &mut String, b: u8) {
    out.push('%');
    out.push(HEX[(b >> 4) as usize] as char);
    out.push(HEX[(b & 15) as usize] as char);
}

/// Refuses a byte (raw or decoded) that has no canonical form.
fn refuse(b: u8, encoded: bool) -> Result<(), PathError> {
    match b {
        0 => Err(PathError::Nul),
        b'\\' => Err(PathError::Backslash),
        b'/' if encoded => Err(PathError::EncodedSlash),
        0x01..=0x1f | 0x7f => Err(PathError::Control),
        _ => Ok(()),
    }
}

/// The slow path: check everything, then rebuild segment by segment.
fn canonicalise(raw: &str) -> Result<String, PathError> {
    let b = raw.as_bytes();
    if b.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    // Validate the whole path, parameters included (they are removed, but a
    // malformed or dangerous escape anywhere refuses the request), and that
    // escapes decode to UTF-8.
    let mut decoded = Vec::new();
    let mut any_high_escape = false;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(PathError::BadEscape);
            };
            let d = (h << 4) | l;
            refuse(d, true)?;
            any_high_escape |= d >= 0x80;
            decoded.push(d);
            i += 3;
        } else {
            refuse(c, false)?;
            decoded.push(c);
            i += 1;
        }
    }
    if any_high_escape && std::str::from_utf8(&decoded).is_err() {
        return Err(PathError::InvalidUtf8);
    }

    let mut segments: Vec<String> = Vec::new();
    let mut trailing = false;
    let mut parts = raw[1..].split('/').peekable();
    while let Some(part) = parts.next() {
        let last = parts.peek().is_none();
        let part = part.split_once(';').map_or(part, |(p, _)| p);
        let seg = decode_segment(part);
        match seg.as_str() {
            "" | "." => trailing = last,
            ".." => {
                segments.pop();
                trailing = last;
            }
            _ => {
                segments.push(seg);
                trailing = false;
            }
        }
    }
    let mut out = String::with_capacity(raw.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing || segments.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Decodes unreserved escapes, upper-cases the others and encodes raw bytes
/// not allowed in a path. The input was validated by `canonicalise`.
fn decode_segment(part: &str) -> String {
    let b = part.as_bytes();
    let mut out = String::with_capacity(part.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            let d = match (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => (h << 4) | l,
                _ => {
                    // Unreachable after validation; keep it encoded.
                    push_escaped(&mut out, c);
                    i += 1;
                    continue;
                }
            };
            if CLASS[d as usize] & UNRESERVED != 0 {
                out.push(d as char);
            } else {
                push_escaped(&mut out, d);
            }
            i += 3;
        } else if CLASS[c as usize] & PLAIN != 0 || c == b';' {
            out.push(c as char);
            i += 1;
        } else {
            push_escaped(&mut out, c);
            i += 1;
        }
    }
    out
}

/// Percent-decodes a query-string value (`+` is a space, as in HTML forms):
/// the key a hot-parameter rule counts, so `sku=%31%32`, `sku=1%32` and
/// `sku=12` are one value. Malformed escapes stay as they are; bytes that do
/// not decode to UTF-8 become U+FFFD. Borrowed when there is nothing to
/// decode.
pub fn decode_query_value(v: &str) -> Cow<'_, str> {
    if !v.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(v);
    }
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    out.push((h << 4) | l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> String {
        match canonical_path(raw) {
            Ok(c) => c.into_owned(),
            Err(e) => panic!("{raw:?} refused: {e}"),
        }
    }

    #[test]
    fn canonical_paths_are_borrowed() {
        for p in [
            "/",
            "/api/orders",
            "/api/orders/",
            "/a/b.c/~x_y-z",
            "/a:b@c!$&'()*+,=",
        ] {
            assert!(matches!(canonical_path(p), Ok(Cow::Borrowed(_))), "{p}");
        }
    }

    #[test]
    fn the_issue_spellings_are_one_path() {
        for p in [
            "/api/%6Frders",
            "/api/%6frders",
            "/api/./orders",
            "/api/x/../orders",
            "/api/orders;x",
            "/api;v=1/orders;jsessionid=abc",
            "//api/orders",
            "/api//orders",
            "/api/%2e/orders",
            "/api/x/%2E%2E/orders",
            "/api/x/..;y/orders",
            "/../api/orders",
            "/api/orders/.",
        ] {
            let c = ok(p);
            assert!(c == "/api/orders" || c == "/api/orders/", "{p} → {c}");
        }
    }

    #[test]
    fn dot_segments_and_slashes() {
        assert_eq!(ok("/a/b/.."), "/a/");
        assert_eq!(ok("/a/b/../"), "/a/");
        assert_eq!(ok("/a/./b/./"), "/a/b/");
        assert_eq!(ok("/.."), "/");
        assert_eq!(ok("//"), "/");
        assert_eq!(ok("/a//"), "/a/");
        assert_eq!(ok("/a/.b/..c"), "/a/.b/..c");
        assert_eq!(ok("/;x"), "/");
    }

    #[test]
    fn escapes_are_normalised() {
        assert_eq!(ok("/a%3bb"), "/a%3Bb");
        assert_eq!(ok("/a%2a"), "/a%2A");
        assert_eq!(ok("/caf%c3%a9"), "/caf%C3%A9");
        assert_eq!(ok("/%41%7e%5F%2D"), "/A~_-");
        assert_eq!(ok("/a b"), "/a%20b");
        assert_eq!(ok("/café"), "/caf%C3%A9");
        assert_eq!(ok("/a|{b}"), "/a%7C%7Bb%7D");
    }

    #[test]
    fn what_cannot_be_canonical_is_refused() {
        let cases = [
            ("/a%2Fb", PathError::EncodedSlash),
            ("/a%2fb", PathError::EncodedSlash),
            ("/a%5Cb", PathError::Backslash),
            ("/a\\b", PathError::Backslash),
            ("/a%00", PathError::Nul),
            ("/a\0", PathError::Nul),
            ("/a%0A", PathError::Control),
            ("/a\tb", PathError::Control),
            ("/a%7f", PathError::Control),
            ("/a%ff", PathError::InvalidUtf8),
            ("/a%C3", PathError::InvalidUtf8),
            ("/a%", PathError::BadEscape),
            ("/a%4", PathError::BadEscape),
            ("/a%zz", PathError::BadEscape),
            ("/a;p=%zz", PathError::BadEscape),
            ("a/b", PathError::NotAbsolute),
            ("", PathError::NotAbsolute),
            ("*", PathError::NotAbsolute),
        ];
        for (raw, want) in cases {
            assert_eq!(canonical_path(raw), Err(want), "{raw:?}");
        }
    }

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(decode_query_value("12"), "12");
        assert!(matches!(decode_query_value("12"), Cow::Borrowed(_)));
        assert_eq!(decode_query_value("%31%32"), "12");
        assert_eq!(decode_query_value("a+b%20c"), "a b c");
        assert_eq!(decode_query_value("100%"), "100%");
        assert_eq!(decode_query_value("%zz"), "%zz");
        assert_eq!(decode_query_value("%ff"), "\u{fffd}");
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        /// Paths built from the pieces that matter: dots, slashes,
        /// parameters, escapes (good and bad), raw odd bytes.
        fn piece() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("/".to_owned()),
                Just("//".to_owned()),
                Just(".".to_owned()),
                Just("..".to_owned()),
                Just("%2e".to_owned()),
                Just("%2E%2e".to_owned()),
                Just(";".to_owned()),
                Just(";p=1".to_owned()),
                Just("%2F".to_owned()),
                Just("%3b".to_owned()),
                Just("%".to_owned()),
                Just("%c3%a9".to_owned()),
                Just(" ".to_owned()),
                Just("é".to_owned()),
                "[a-z0-9~_-]{1,4}",
                "%[0-9a-fA-F]{2}",
                any::<char>().prop_map(|c| c.to_string()),
            ]
        }

        fn path() -> impl Strategy<Value = String> {
            proptest::collection::vec(piece(), 0..12).prop_map(|v| format!("/{}", v.concat()))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn canonical_is_idempotent_and_clean(raw in path()) {
                if let Ok(c) = canonical_path(&raw) {
                    let again = canonical_path(&c);
                    prop_assert_eq!(again.as_deref(), Ok(c.as_ref()), "{:?}", raw);
                    prop_assert!(matches!(again, Ok(Cow::Borrowed(_))) || c.contains('%'));
                    prop_assert!(c.starts_with('/'));
                    prop_assert!(!c.contains("//"), "{:?} → {:?}", raw, c);
                    prop_assert!(!c.contains("/./") && !c.ends_with("/."));
                    prop_assert!(!c.contains("/../") && !c.ends_with("/.."));
                    prop_assert!(!c.to_ascii_uppercase().contains("%2F"));
                    prop_assert!(!c.contains(';'));
                }
            }

            /// The fast check agrees with the slow path: what it passes
            /// the slow path leaves as it is, and (escapes aside, which the
            /// fast check always leaves to the slow path) what the slow
            /// path leaves as it is the fast check passes.
            #[test]
            fn the_fast_check_agrees_with_the_slow_path(raw in path()) {
                let slow = canonicalise(&raw);
                if is_canonical(raw.as_bytes()) {
                    prop_assert_eq!(slow.as_deref(), Ok(raw.as_str()));
                } else if !raw.contains('%') {
                    prop_assert_ne!(slow.as_deref(), Ok(raw.as_str()));
                }
            }

            #[test]
            fn any_string_is_canonical_or_refused(raw in any::<String>()) {
                if let Ok(c) = canonical_path(&raw) {
                    let again = canonical_path(&c);
                    prop_assert_eq!(again.as_deref(), Ok(c.as_ref()));
                }
            }
        }
    }
}
