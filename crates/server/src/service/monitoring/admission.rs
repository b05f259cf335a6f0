//! Which admin addresses reported by sidecars the built-in scrape may
//! connect to.
//!
//! Why: a following sidecar reports its admin `host:port` with the version
//! it applied, and the control plane then sends a GET to that address
//! every scrape interval, from inside the operator's network. Believed as
//! written, the field lets any holder of a sidecar token point the control
//! plane at any host and port (the cloud metadata service on
//! `169.254.169.254`, an internal admin port): server-side request forgery.
//! So an address is admitted only when
//!
//! - its host is an IP address (a name could resolve elsewhere at scrape
//!   time than when it was checked), and
//! - that IP is the peer address of the connection that reported it — a
//!   sidecar may only name itself, which is what it reports by default —
//!   or it lies in a network the operator allows (`seawall serve
//!   --scrape-allow CIDR`: sidecars behind NAT or a proxy, whose peer
//!   address is not their own); and
//! - it is not link-local (`169.254.0.0/16`, where cloud metadata lives,
//!   and `fe80::/10`), unspecified, multicast or broadcast, whoever reports
//!   it, unless an allowed network names it explicitly.
//!
//! A refused address is not stored (the report is, so the sidecar keeps
//! following); the service layer logs and audits the refusal. Addresses
//! stored before these checks existed are checked again (all but the peer
//! rule, which needs the report's connection) before every scrape.

use std::net::{IpAddr, SocketAddr};

use seawall_sidecar::PeerNet;

/// Why a reported admin address is not scraped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The host is a name, not an IP address.
    #[error(
        "its host is a name, not an IP address: the control plane scrapes only addresses it can \
         check"
    )]
    HostName,
    /// Link-local, unspecified, multicast or broadcast.
    #[error(
        "{0} is a link-local, unspecified, multicast or broadcast address (cloud metadata lives \
         at 169.254.169.254); allow it explicitly with --scrape-allow"
    )]
    Special(IpAddr),
    /// Another IP than the reporting connection's peer.
    #[error(
        "{ip} is not the reporting connection's address {peer}: a sidecar may only name itself \
         (behind NAT or a proxy, allow its network with --scrape-allow)"
    )]
    NotThePeer {
        /// The reported IP.
        ip: IpAddr,
        /// The connection's peer.
        peer: IpAddr,
    },
    /// The report came with no peer address to compare with.
    #[error(
        "the reporting connection's address is unknown, and {0} is in no --scrape-allow network"
    )]
    NoPeer(IpAddr),
}

/// Whether `ip` is link-local, unspecified, multicast or broadcast.
fn special(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_link_local() || v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()
        }
        IpAddr::V6(v6) => v6.is_unicast_link_local() || v6.is_unspecified() || v6.is_multicast(),
    }
}

/// The address as a socket address (IPv4-mapped IPv6 as IPv4), or
/// [`Refusal::HostName`].
fn literal(addr: &str) -> Result<SocketAddr, Refusal> {
    let parsed: SocketAddr = addr.trim().parse().map_err(|_| Refusal::HostName)?;
    Ok(SocketAddr::new(parsed.ip().to_canonical(), parsed.port()))
}

/// The checks that need no connection: an IP address, and not a special
/// one unless an allowed network holds it. Returns the address and
/// whether an allowed network holds it.
fn checked(addr: &str, allow: &[PeerNet]) -> Result<(SocketAddr, bool), Refusal> {
    let at = literal(addr)?;
    let allowed = allow.iter().any(|net| net.contains(at.ip()));
    if special(at.ip()) && !allowed {
        return Err(Refusal::Special(at.ip()));
    }
    Ok((at, allowed))
}

/// Whether the built-in scrape may use `addr`, reported over a connection
/// from `peer` (`None` when unknown), with the operator's `allow` list.
pub fn admit(addr: &str, peer: Option<IpAddr>, allow: &[PeerNet]) -> Result<(), Refusal> {
    let (at, allowed) = checked(addr, allow)?;
    if allowed {
        return Ok(());
    }
    match peer.map(|p| p.to_canonical()) {
        Some(peer) if peer == at.ip() => Ok(()),
        Some(peer) => Err(Refusal::NotThePeer { ip: at.ip(), peer }),
        None => Err(Refusal::NoPeer(at.ip())),
    }
}

/// Whether a stored address may still be scraped: [`admit`]'s checks but
/// the peer rule (an address stored by an older version).
pub fn still_admitted(addr: &str, allow: &[PeerNet]) -> Result<(), Refusal> {
    checked(addr, allow).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn net(s: &str) -> PeerNet {
        PeerNet::parse(s).expect("cidr")
    }

    const LOOPBACK: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    const METADATA: IpAddr = IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254));
    const LINK_LOCAL_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1));

    #[test]
    fn a_sidecar_may_name_itself_only() {
        assert_eq!(admit("127.0.0.1:9901", LOOPBACK, &[]), Ok(()));
        assert!(matches!(
            admit("10.0.0.7:9901", LOOPBACK, &[]),
            Err(Refusal::NotThePeer { .. })
        ));
        assert_eq!(
            admit("10.0.0.7:9901", None, &[]),
            Err(Refusal::NoPeer("10.0.0.7".parse().expect("ip")))
        );
        // A dual-stack listener sees IPv4 peers as mapped IPv6 addresses.
        let mapped = Some("::ffff:10.0.0.7".parse().expect("ip"));
        assert_eq!(admit("10.0.0.7:9901", mapped, &[]), Ok(()));
        assert_eq!(admit("[::ffff:10.0.0.7]:9901", mapped, &[]), Ok(()));
    }

    #[test]
    fn metadata_and_link_local_are_refused_even_from_themselves() {
        for (addr, peer) in [
            ("169.254.169.254:80", METADATA),
            ("[fe80::1]:9901", LINK_LOCAL_V6),
            ("[::ffff:169.254.169.254]:80", METADATA),
            ("0.0.0.0:9901", IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            ("224.0.0.1:9901", "224.0.0.1".parse().expect("ip")),
        ] {
            assert!(
                matches!(admit(addr, Some(peer), &[]), Err(Refusal::Special(_))),
                "{addr}"
            );
            assert!(still_admitted(addr, &[]).is_err(), "{addr}");
        }
        assert_eq!(
            admit("169.254.169.254:80", None, &[net("169.254.0.0/16")]),
            Ok(())
        );
    }

    #[test]
    fn allowed_networks_admit_addresses_of_other_peers() {
        let allow = [net("10.1.0.0/16")];
        assert_eq!(admit("10.1.2.3:9901", LOOPBACK, &allow), Ok(()));
        assert!(admit("10.2.2.3:9901", LOOPBACK, &allow).is_err());
    }

    #[test]
    fn host_names_are_refused() {
        assert_eq!(
            admit("sidecar.internal:9901", LOOPBACK, &[]),
            Err(Refusal::HostName)
        );
        assert_eq!(
            still_admitted("localhost:9901", &[]),
            Err(Refusal::HostName)
        );
        assert_eq!(still_admitted("127.0.0.1:9901", &[]), Ok(()));
    }
}
