//! Parsers of the network values of the configuration files: socket addresses, parents,
//! networks (with `ipnet`), static and external addresses.

use super::{DEFAULT_PORT, STATIC_NETWORK};
use ipnet::{Ipv4Net, Ipv6Net};
use std::fmt::Display;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::str::FromStr;

/// 10.115.0.0/16, the network of static addresses.
const STATIC_NET: Ipv4Net = Ipv4Net::new_assert(STATIC_NETWORK, 16);

pub(super) fn socket_addr(v: &str) -> Result<SocketAddr, String> {
    v.parse()
        .map_err(|_| format!("invalid address {v:?} (use ip:port, e.g. 0.0.0.0:{DEFAULT_PORT})"))
}

/// A parent entry, normalized to `ip:port` or `host:port`.
pub(super) fn parent(entry: &str) -> Result<String, String> {
    let bad = || format!("invalid parent {entry:?} (use ip:port, host:port, ip or host)");
    let nonzero = |port: u16| if port == 0 { Err(bad()) } else { Ok(port) };
    if let Ok(sa) = entry.parse::<SocketAddr>() {
        nonzero(sa.port())?;
        return Ok(sa.to_string());
    }
    let bare = entry
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(entry);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, DEFAULT_PORT).to_string());
    }
    let (host, port) = match entry.rsplit_once(':') {
        Some((h, p)) => (h, nonzero(p.parse().map_err(|_| bad())?)?),
        None => (entry, DEFAULT_PORT),
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host.trim_end_matches('.').split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if !host_ok {
        return Err(bad());
    }
    Ok(format!("{host}:{port}"))
}

/// `addr/prefix` with the prefix in `prefixes` and no host bits set. `usage` shows the form.
fn network<N>(
    v: &str,
    usage: &str,
    prefixes: RangeInclusive<u8>,
    prefix_len: fn(&N) -> u8,
    trunc: fn(&N) -> N,
) -> Result<N, String>
where
    N: FromStr + PartialEq + Display,
{
    let net: N = v
        .parse()
        .map_err(|_| format!("invalid network {v:?} (use {usage})"))?;
    if !prefixes.contains(&prefix_len(&net)) {
        return Err(format!(
            "invalid network {v:?} (the prefix must be {} to {})",
            prefixes.start(),
            prefixes.end()
        ));
    }
    let masked = trunc(&net);
    if masked != net {
        return Err(format!(
            "invalid network {v:?} (host bits set; did you mean {masked}?)"
        ));
    }
    Ok(net)
}

/// `resolver.ipv4-network`: the resolver needs at least 4 addresses and at most a /8.
pub(super) fn ipv4_network(v: &str) -> Result<(Ipv4Addr, u8), String> {
    let usage = "a.b.c.d/prefix, e.g. 10.83.0.0/16";
    let n = network(v, usage, 8..=30, Ipv4Net::prefix_len, Ipv4Net::trunc)?;
    // A dynamic address must never be mistaken for a static one (or the other way round).
    if n.contains(&STATIC_NET.network()) || STATIC_NET.contains(&n.network()) {
        return Err(format!(
            "invalid network {v:?} (it overlaps {STATIC_NET}, the network of static addresses)"
        ));
    }
    Ok((n.addr(), n.prefix_len()))
}

/// `resolver.ipv6-network`: the low 32 bits hold the address index.
pub(super) fn ipv6_network(v: &str) -> Result<(Ipv6Addr, u8), String> {
    let usage = "addr/prefix, e.g. 200::/7";
    let n = network(v, usage, 1..=96, Ipv6Net::prefix_len, Ipv6Net::trunc)?;
    Ok((n.addr(), n.prefix_len()))
}

/// `10.115.0.0/16` (or empty) is none; otherwise a host address of 10.115.0.0/16, with or
/// without `/16`.
pub(super) fn static_addr(v: &str) -> Result<Option<Ipv4Addr>, String> {
    if v.is_empty() || v == format_static(None) {
        return Ok(None);
    }
    let a = v.strip_suffix("/16").unwrap_or(v);
    let host = |a: &Ipv4Addr| {
        STATIC_NET.contains(a) && *a != STATIC_NET.network() && *a != STATIC_NET.broadcast()
    };
    a.parse::<Ipv4Addr>()
        .ok()
        .filter(host)
        .map(Some)
        .ok_or_else(|| {
            format!(
                "invalid static address {v:?} (use an address inside {STATIC_NET}, or {STATIC_NET} for none)"
            )
        })
}

/// The `static-addr` text of `a`.
pub(super) fn format_static(a: Option<Ipv4Addr>) -> String {
    a.map_or_else(|| STATIC_NET.to_string(), |a| a.to_string())
}

/// `external-ip-address`: an RFC 1918 address; `0.0.0.0` is none.
pub(super) fn external_address(v: &str) -> Result<Option<Ipv4Addr>, String> {
    let a: Ipv4Addr = v
        .parse()
        .map_err(|_| format!("invalid address {v:?} (use an IPv4 address, 0.0.0.0 for none)"))?;
    if a.is_unspecified() {
        return Ok(None);
    }
    if !a.is_private() {
        return Err(format!(
            "{a} is not a private address (use 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)"
        ));
    }
    Ok(Some(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_of_both_families_share_one_check() {
        assert_eq!(
            ipv4_network("10.83.0.0/16"),
            Ok((Ipv4Addr::new(10, 83, 0, 0), 16))
        );
        assert_eq!(
            ipv6_network("200::/7"),
            Ok((Ipv6Addr::new(0x200, 0, 0, 0, 0, 0, 0, 0), 7))
        );
        assert_eq!(
            ipv4_network("10.0.0.0/31").unwrap_err(),
            "invalid network \"10.0.0.0/31\" (the prefix must be 8 to 30)"
        );
        assert_eq!(
            ipv6_network("fd00::/112").unwrap_err(),
            "invalid network \"fd00::/112\" (the prefix must be 1 to 96)"
        );
        assert_eq!(
            ipv6_network("fd00::1/64").unwrap_err(),
            "invalid network \"fd00::1/64\" (host bits set; did you mean fd00::/64?)"
        );
        // The family is the key's: no IPv6 network for the IPv4 key and back.
        assert!(
            ipv4_network("fd00::/8")
                .unwrap_err()
                .contains("use a.b.c.d/prefix")
        );
        assert!(
            ipv6_network("10.0.0.0/8")
                .unwrap_err()
                .contains("use addr/prefix")
        );
        assert!(
            ipv4_network("10.83.0.0")
                .unwrap_err()
                .contains("use a.b.c.d/prefix")
        );
    }

    #[test]
    fn the_dynamic_network_keeps_clear_of_the_static_one() {
        for bad in [
            "10.0.0.0/8",
            "10.112.0.0/13",
            "10.115.0.0/16",
            "10.115.8.0/24",
        ] {
            assert!(
                ipv4_network(bad)
                    .unwrap_err()
                    .contains("overlaps 10.115.0.0/16"),
                "{bad}"
            );
        }
        assert!(ipv4_network("10.116.0.0/16").is_ok());
        assert!(ipv4_network("10.114.0.0/16").is_ok());
    }

    #[test]
    fn static_addresses_are_hosts_of_10_115() {
        assert_eq!(static_addr(""), Ok(None));
        assert_eq!(static_addr("10.115.0.0/16"), Ok(None));
        assert_eq!(
            static_addr("10.115.3.4"),
            Ok(Some(Ipv4Addr::new(10, 115, 3, 4)))
        );
        assert_eq!(
            static_addr("10.115.3.4/16"),
            Ok(Some(Ipv4Addr::new(10, 115, 3, 4)))
        );
        for bad in [
            "10.115.0.0",
            "10.115.255.255",
            "10.116.0.1",
            "10.115.1.1/24",
            "x",
        ] {
            assert!(static_addr(bad).is_err(), "{bad}");
        }
        assert_eq!(format_static(None), "10.115.0.0/16");
        assert_eq!(
            format_static(Some(Ipv4Addr::new(10, 115, 0, 7))),
            "10.115.0.7"
        );
    }
}
