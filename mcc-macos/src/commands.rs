//! The `ifconfig` and `route` commands that give a utun device its addresses and the
//! overlay routes. A utun device is point-to-point, so the IPv4 address is its own
//! destination and the overlay network needs an explicit route through the interface.

use std::net::Ipv4Addr;

/// The utun name macOS nodes use when the configuration keeps the generic default.
pub const DEFAULT_UTUN: &str = "utun83";

/// Addresses and routes the device gets: the shared start-up's [`TunSpec`], with `name`
/// a `utunN` name.
pub use mcc_std::daemon::TunSpec;

/// The unit number N of a `utunN` name (`utun0` is unit 0; the kernel control address
/// takes N + 1). `None` for anything else, including leading zeros and `utun` alone.
pub fn utun_unit(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("utun")?;
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    // N + 1 must fit in the u32 sc_unit.
    digits.parse::<u32>().ok().filter(|&n| n < u32::MAX)
}

/// The device name to use for a configured `tun-device-name`: `utunN` as is; the generic
/// default `mcc0` (macOS only allows utun names) becomes [`DEFAULT_UTUN`]; anything else
/// is an error.
pub fn utun_name(configured: &str) -> Result<String, String> {
    if utun_unit(configured).is_some() {
        Ok(configured.to_string())
    } else if configured == "mcc0" {
        Ok(DEFAULT_UTUN.to_string())
    } else {
        Err(format!(
            "tun-device-name = {configured}: macOS needs a utunN name (e.g. {DEFAULT_UTUN})"
        ))
    }
}

/// The netmask of an IPv4 prefix length (0..=32; longer counts as 32).
pub fn netmask(prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(
        u32::MAX
            .checked_shl(32 - u32::from(prefix.min(32)))
            .unwrap_or(0),
    )
}

/// The network address of `addr/prefix`.
pub fn network(addr: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(addr) & u32::from(netmask(prefix)))
}

/// The commands to run, in order, as argv lists: the IPv4 address (as its own
/// point-to-point destination) with netmask and MTU, the IPv6 address, the static address
/// (if any) as an alias of its own, then a route
/// through the device for the address's IPv4 network and for each extra route.
pub fn commands(s: &TunSpec) -> Vec<Vec<String>> {
    let argv = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<String>>();
    let ipv4 = s.ipv4.to_string();
    let mut out = vec![
        argv(&[
            "ifconfig",
            &s.name,
            "inet",
            &ipv4,
            &ipv4,
            "netmask",
            &netmask(s.ipv4_prefix).to_string(),
            "mtu",
            &s.mtu.to_string(),
            "up",
        ]),
        argv(&[
            "ifconfig",
            &s.name,
            "inet6",
            &s.ipv6.to_string(),
            "prefixlen",
            &s.ipv6_prefix.to_string(),
        ]),
    ];
    if let Some(a) = s.static_ipv4 {
        let a = a.to_string();
        out.push(argv(&[
            "ifconfig",
            &s.name,
            "inet",
            &a,
            &a,
            "netmask",
            "255.255.255.255",
            "alias",
        ]));
    }
    let own = (network(s.ipv4, s.ipv4_prefix), s.ipv4_prefix);
    let extra = s
        .routes
        .iter()
        .map(|&(net, prefix)| (network(net, prefix), prefix));
    let mut seen = Vec::new();
    for (net, prefix) in std::iter::once(own).chain(extra) {
        if seen.contains(&(net, prefix)) {
            continue;
        }
        seen.push((net, prefix));
        out.push(argv(&[
            "route",
            "-q",
            "-n",
            "add",
            "-net",
            &format!("{net}/{prefix}"),
            "-interface",
            &s.name,
        ]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> TunSpec {
        TunSpec {
            name: "utun83".into(),
            mtu: 1280,
            ipv4: Ipv4Addr::new(10, 83, 0, 1),
            ipv4_prefix: 16,
            ipv6: "200::1".parse().unwrap(),
            ipv6_prefix: 7,
            routes: vec![(Ipv4Addr::new(10, 115, 0, 0), 16)],
            static_ipv4: None,
        }
    }

    fn lines(cmds: &[Vec<String>]) -> Vec<String> {
        cmds.iter().map(|c| c.join(" ")).collect()
    }

    #[test]
    fn exact_commands() {
        assert_eq!(
            lines(&commands(&settings())),
            [
                "ifconfig utun83 inet 10.83.0.1 10.83.0.1 netmask 255.255.0.0 mtu 1280 up",
                "ifconfig utun83 inet6 200::1 prefixlen 7",
                "route -q -n add -net 10.83.0.0/16 -interface utun83",
                "route -q -n add -net 10.115.0.0/16 -interface utun83",
            ]
        );
    }

    #[test]
    fn a_static_address_is_an_alias_of_its_own() {
        let mut s = settings();
        s.static_ipv4 = Some(Ipv4Addr::new(10, 115, 4, 4));
        assert_eq!(
            lines(&commands(&s))[2],
            "ifconfig utun83 inet 10.115.4.4 10.115.4.4 netmask 255.255.255.255 alias"
        );
        assert_eq!(commands(&s).len(), commands(&settings()).len() + 1);
    }

    #[test]
    fn arguments_are_separate_words() {
        let cmds = commands(&settings());
        assert_eq!(cmds[0].len(), 10);
        assert_eq!(cmds[0][0], "ifconfig");
        assert_eq!(cmds[2][5], "10.83.0.0/16");
        assert!(cmds.iter().flatten().all(|a| !a.contains(' ')));
    }

    #[test]
    fn routes_are_masked_and_not_repeated() {
        let mut s = settings();
        s.ipv4 = Ipv4Addr::new(10, 83, 7, 9);
        s.ipv4_prefix = 24;
        s.routes = vec![
            (Ipv4Addr::new(10, 115, 3, 4), 16),
            (Ipv4Addr::new(10, 83, 7, 0), 24),
        ];
        assert_eq!(
            lines(&commands(&s))[2..],
            [
                "route -q -n add -net 10.83.7.0/24 -interface utun83",
                "route -q -n add -net 10.115.0.0/16 -interface utun83",
            ]
        );
        assert_eq!(
            lines(&commands(&s))[0],
            "ifconfig utun83 inet 10.83.7.9 10.83.7.9 netmask 255.255.255.0 mtu 1280 up"
        );
    }

    #[test]
    fn netmasks() {
        assert_eq!(netmask(0), Ipv4Addr::new(0, 0, 0, 0));
        assert_eq!(netmask(16), Ipv4Addr::new(255, 255, 0, 0));
        assert_eq!(netmask(32), Ipv4Addr::new(255, 255, 255, 255));
        assert_eq!(netmask(40), Ipv4Addr::new(255, 255, 255, 255));
    }

    #[test]
    fn utun_units_and_names() {
        assert_eq!(utun_unit("utun0"), Some(0));
        assert_eq!(utun_unit("utun83"), Some(83));
        for bad in [
            "utun", "utun01", "utun-1", "utun 1", "tun0", "mcc0", "utun1a",
        ] {
            assert_eq!(utun_unit(bad), None, "{bad}");
        }
        assert_eq!(utun_unit("utun4294967295"), None);
        assert_eq!(utun_unit("utun4294967294"), Some(u32::MAX - 1));
        assert_eq!(utun_name("utun7").unwrap(), "utun7");
        assert_eq!(utun_name("mcc0").unwrap(), DEFAULT_UTUN);
        assert!(utun_name("tun0").unwrap_err().contains("utunN"));
    }
}
