//! What emergency actions may send where: the hosts they may call, the
//! Kubernetes names they may scale, and secret references instead of
//! secrets.
//!
//! A `cache_warmup` or `webhook` action makes the control plane send
//! requests to URLs written in a plan, and a plan can be pushed by anyone
//! who may push plans: without a rule, a plan could point the control
//! plane at its own loopback services or a cloud metadata endpoint (SSRF).
//! Loopback, unspecified, link-local and metadata addresses, and the names
//! `localhost` and the metadata host names, are refused unless
//! `emergency.allow_hosts` lists them. The check at plan time sees the
//! written host; an executor that resolves names calls [`refused`] and
//! [`allowed`] again with each resolved address before it connects.
//!
//! Numeric hosts are accepted only in their canonical form (four decimal
//! numbers, or bracketed IPv6), because resolvers read `127.1`,
//! `2130706433` or `0x7f.0.0.1` as loopback while a naive check would see a
//! name.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A URL's host: a DNS name (lower case, no trailing dot) or an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A DNS name.
    Name(String),
    /// An IP address.
    Ip(IpAddr),
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// One `emergency.allow_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allow {
    /// A DNS name, matched exactly (case-insensitive).
    Name(String),
    /// An address range; a single address is a /32 or /128.
    Net(IpAddr, u8),
}

/// Host names refused like loopback and metadata addresses (besides
/// `localhost` and every `*.localhost`).
pub const METADATA_NAMES: [&str; 5] = [
    "metadata",
    "metadata.google.internal",
    "metadata.tencentyun.com",
    "instance-data",
    "instance-data.ec2.internal",
];

/// Cloud metadata addresses outside the link-local ranges: Alibaba Cloud's
/// and AWS's IPv6 one (AWS, GCP and Azure's IPv4 169.254.169.254 is
/// link-local).
const METADATA_IPS: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x254)),
];

/// The host of an absolute `http://` or `https://` URL, or why the URL is
/// not one Seawall will call.
pub fn url_host(url: &str) -> Result<Host, String> {
    if url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return Err("contains a space, a control character or a backslash".into());
    }
    let rest = match url.split_once("://") {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") =>
        {
            rest
        }
        _ => return Err("is not an absolute http:// or https:// URL".into()),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("carries credentials before the host (`user@`)".into());
    }
    if authority.contains('%') {
        return Err("has a percent-encoded host".into());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let Some((ip, after)) = v6.split_once(']') else {
            return Err("has an unclosed `[` in its host".into());
        };
        let ip: Ipv6Addr = ip
            .parse()
            .map_err(|_| format!("has `[{ip}]`, which is not an IPv6 address"))?;
        (Host::Ip(IpAddr::V6(ip)), after.strip_prefix(':'))
    } else {
        let (name, port) = match authority.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (authority, None),
        };
        (host_name(name)?, port)
    };
    if let Some(p) = port
        && (p.is_empty() || p.parse::<u16>().is_err())
    {
        return Err(format!("has port `{p}`, which is not a number up to 65535"));
    }
    Ok(host)
}

/// A written host: a canonical IPv4 address or a DNS name.
fn host_name(name: &str) -> Result<Host, String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Err("has no host".into());
    }
    if let Ok(ip) = name.parse::<Ipv4Addr>() {
        return Ok(Host::Ip(IpAddr::V4(ip)));
    }
    let numeric = name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == '.' || c == 'x' || c == 'X');
    if numeric {
        return Err(format!(
            "has host `{name}`, which resolvers read as an IPv4 address; write it as four decimal numbers (e.g. 10.0.0.1)"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        || name.split('.').any(str::is_empty)
    {
        return Err(format!(
            "has host `{name}`, which is not a DNS name (write international names in punycode)"
        ));
    }
    Ok(Host::Name(name.to_ascii_lowercase()))
}

/// Why a host may not be called without being listed, if it is refused:
/// `"loopback"`, `"unspecified"`, `"link-local"` or `"a cloud metadata address"`.
pub fn refused(host: &Host) -> Option<&'static str> {
    match host {
        Host::Name(n) => {
            if n == "localhost" || n.ends_with(".localhost") {
                Some("loopback")
            } else if METADATA_NAMES.contains(&n.as_str()) {
                Some("a cloud metadata address")
            } else {
                None
            }
        }
        Host::Ip(ip) => refused_ip(*ip),
    }
}

fn refused_ip(ip: IpAddr) -> Option<&'static str> {
    if METADATA_IPS.contains(&ip) {
        return Some("a cloud metadata address");
    }
    match ip {
        IpAddr::V4(v4) => {
            if v4 == Ipv4Addr::new(169, 254, 169, 254) {
                Some("a cloud metadata address")
            } else if v4.is_loopback() {
                Some("loopback")
            } else if v4.octets()[0] == 0 {
                Some("unspecified")
            } else if v4.is_link_local() {
                Some("link-local")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                refused_ip(IpAddr::V4(v4))
            } else if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if v6.segments()[0] & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else {
                None
            }
        }
    }
}

/// Reads one `emergency.allow_hosts` entry: a DNS name, an IP address or
/// a CIDR range (`10.0.0.0/8`, `fd00::/8`).
pub fn parse_allow(entry: &str) -> Result<Allow, String> {
    let entry = entry.trim();
    if let Some((ip, bits)) = entry.split_once('/') {
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| format!("`{ip}` is not an IP address"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        return match bits.parse::<u8>() {
            Ok(b) if b <= max => Ok(Allow::Net(ip, b)),
            _ => Err(format!("`/{bits}` is not a prefix length from 0 to {max}")),
        };
    }
    if let Ok(ip) = entry.trim_matches(['[', ']']).parse::<IpAddr>() {
        let bits = if ip.is_ipv4() { 32 } else { 128 };
        return Ok(Allow::Net(ip, bits));
    }
    Ok(match host_name(entry)? {
        Host::Name(n) => Allow::Name(n),
        Host::Ip(ip) => Allow::Net(ip, 32),
    })
}

/// The usable entries of `emergency.allow_hosts`; an entry that does not
/// parse is left out here and refused with its own diagnostic at plan check.
pub fn allow_list(entries: &[String]) -> Vec<Allow> {
    entries.iter().filter_map(|a| parse_allow(a).ok()).collect()
}

/// Whether an allow list lets `host` be called.
pub fn allowed(host: &Host, allow: &[Allow]) -> bool {
    allow.iter().any(|a| match (host, a) {
        (Host::Name(n), Allow::Name(m)) => n == m,
        (Host::Ip(ip), Allow::Net(net, bits)) => {
            in_net(*ip, *net, *bits)
                || matches!(ip, IpAddr::V6(v6) if v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| in_net(IpAddr::V4(v4), *net, *bits)))
        }
        _ => false,
    })
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Whether `name` is a DNS-1123 label, as Kubernetes requires of
/// namespaces and deployment names here: 1–63 characters of lower-case
/// letters, digits and `-`, starting and ending with a letter or digit.
pub fn is_dns1123_label(name: &str) -> bool {
    let b = name.as_bytes();
    let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty()
        && b.len() <= 63
        && b.first().is_some_and(ok)
        && b.last().is_some_and(ok)
        && b.iter().all(|c| ok(c) || *c == b'-')
}

/// Whether `text` is a secret *reference* as `seawall-notify` reads them —
/// `NAME`, `$NAME` or `${NAME}` with `NAME` = `[A-Z_][A-Z0-9_]*`, or
/// `file:/path` — rather than a secret written in clear.
pub fn is_secret_reference(text: &str) -> bool {
    let text = text.trim();
    if let Some(path) = text.strip_prefix("file:") {
        return !path.is_empty();
    }
    let name = text
        .strip_prefix("${")
        .and_then(|n| n.strip_suffix('}'))
        .or_else(|| text.strip_prefix('$'))
        .unwrap_or(text);
    is_env_name(name)
}

/// `[A-Z_][A-Z0-9_]*`: an environment variable name as secret references
/// take them — upper case only, so a provider's mixed-case secret pasted
/// in clear is not mistaken for a variable name.
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(url: &str) -> Host {
        url_host(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn refused_hosts() {
        for (url, why) in [
            ("http://localhost/x", "loopback"),
            ("http://LOCALHOST.:8080/x", "loopback"),
            ("http://api.localhost/x", "loopback"),
            ("http://127.0.0.1/", "loopback"),
            ("http://127.9.9.9:80", "loopback"),
            ("http://[::1]/", "loopback"),
            ("http://[::ffff:127.0.0.1]/", "loopback"),
            ("http://0.0.0.0/", "unspecified"),
            ("http://[::]/", "unspecified"),
            ("http://169.254.1.1/", "link-local"),
            ("http://[fe80::1]/", "link-local"),
            ("http://[febf::1]/", "link-local"),
            (
                "http://169.254.169.254/latest/meta-data/",
                "a cloud metadata address",
            ),
            (
                "http://100.100.100.200/latest/meta-data",
                "a cloud metadata address",
            ),
            ("http://[fd00:ec2::254]/", "a cloud metadata address"),
            (
                "http://metadata.google.internal/",
                "a cloud metadata address",
            ),
        ] {
            assert_eq!(refused(&host(url)), Some(why), "{url}");
        }
        for url in [
            "https://coupon.carnival.example.com/warm?x=1",
            "https://10.0.0.1:8443/",
            "http://[2001:db8::1]/",
            "http://[fec0::1]/",
            "http://169.255.0.1/",
        ] {
            assert_eq!(refused(&host(url)), None, "{url}");
        }
    }

    #[test]
    fn malformed_urls() {
        for url in [
            "ftp://example.com/",
            "example.com/x",
            "http://user:pw@example.com/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f.0.0.1/",
            "http://exa mple.com/",
            "http://example.com\\@127.0.0.1/",
            "http://%6c%6fcalhost/",
            "http://[::1/",
            "http://example.com:99999/",
            "http://example.com:/",
            "http:///x",
            "http://a..b/",
        ] {
            assert!(url_host(url).is_err(), "{url}");
        }
    }

    #[test]
    fn allow_lists() {
        let allow: Vec<Allow> = ["localhost", "127.0.0.0/8", "fe80::1", "169.254.169.254"]
            .iter()
            .map(|a| parse_allow(a).unwrap_or_else(|e| panic!("{a}: {e}")))
            .collect();
        for url in [
            "http://localhost/",
            "http://127.0.0.2/",
            "http://[::ffff:127.0.0.3]/",
            "http://[fe80::1]/",
            "http://169.254.169.254/",
        ] {
            assert!(allowed(&host(url), &allow), "{url}");
        }
        for url in [
            "http://api.localhost/",
            "http://[fe80::2]/",
            "http://[::1]/",
        ] {
            assert!(!allowed(&host(url), &allow), "{url}");
        }
        for bad in ["10.0.0.0/33", "::/129", "nope/8", "exa mple", "127.1", ""] {
            assert!(parse_allow(bad).is_err(), "{bad}");
        }
        let any = parse_allow("0.0.0.0/0").expect("a CIDR");
        assert!(allowed(&host("http://8.8.8.8/"), &[any]));
    }

    proptest::proptest! {
        /// Any text: an answer, never a panic; and whatever host a URL
        /// yields, the empty allow list allows nothing.
        #[test]
        fn any_url_is_answered(url in "\\PC{0,80}") {
            if let Ok(h) = url_host(&url) {
                proptest::prop_assert!(!allowed(&h, &[]));
            }
        }

        /// Every loopback and link-local address, however written as a
        /// URL host (dotted, bracketed IPv4-mapped), is refused.
        #[test]
        fn loopback_and_link_local_are_refused(b in proptest::prelude::any::<[u8; 3]>(), mapped: bool) {
            for first in [[127, b[0]], [169, 254]] {
                let ip = Ipv4Addr::new(first[0], first[1], b[1], b[2]);
                let url = if mapped {
                    format!("http://[::ffff:{ip}]:8080/x")
                } else {
                    format!("http://{ip}/x")
                };
                let h = url_host(&url).expect("a valid URL");
                proptest::prop_assert!(refused(&h).is_some(), "{url}");
            }
        }
    }

    #[test]
    fn dns_labels_and_secret_references() {
        for ok in ["a", "ride-svc", "carnival-2026", &"a".repeat(63)] {
            assert!(is_dns1123_label(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "Ride", "ride_svc", "a.b", &"a".repeat(64)] {
            assert!(!is_dns1123_label(bad), "{bad}");
        }
        for ok in ["SEAWALL_HOOK", "$HOOK_1", "${_X}", "file:/run/secrets/hook"] {
            assert!(is_secret_reference(ok), "{ok}");
        }
        for bad in ["s3cr3t-Value", "gX9kq2", "", "$", "$lower", "file:"] {
            assert!(!is_secret_reference(bad), "{bad}");
        }
    }
}
