//! The client side of internet tunnels on Linux: policy routing that sends everything but
//! local networks and mccd's own underlay traffic into the TUN device (`gateway`), packets
//! to port 53 / 123 too (`reroute-dns`, `reroute-ntp`), and the kill switch.
//!
//! ```text
//! 9365  fwmark 0x9376 lookup main               (mccd's own packets and their answers)
//! 9366  ipproto udp|tcp dport 53|123 lookup 9376   (reroutes)
//! 9370  lookup main suppress_prefixlength 0     (gateway: every route of main but default)
//! 9371  lookup 9376                             (gateway: the rest)
//! table 9376:  default dev mcc0                 (goes with the device)
//!              blackhole default metric 4294967295   (gateway: what the device no longer takes)
//! ```
//!
//! mccd marks its underlay socket 0x9376 (`SO_MARK`), so its own datagrams to parents and
//! children take the main table. The blackhole route does not depend on the device: while
//! mccd is down (stopped, killed, restarting) the rules lead to it, so the traffic is
//! dropped, never sent in clear. `kill-switch = true` leaves rules and blackhole in place
//! when mccd stops; otherwise a clean stop removes them. A start removes what is not wanted
//! any more (the kill switch turned off, the gateway removed) after adding what is, so the
//! blackhole is never missing while it should be there.
//!
//! Hooks (`sh -c`, with `MCC_TABLE`, `MCC_FWMARK`, `MCC_DEVICE`, `MCC_GATEWAY` set): the add
//! hook after the rules are in place at start; the delete hook after a clean stop removed
//! them, and at start before the add hook when an earlier run left them (killed, or the
//! kill switch), so the two always alternate.
//!
//! Strict reverse-path filtering (`rp_filter = 1`) would drop the answers to mccd's own
//! datagrams (the reverse route of an underlay address is the TUN device here), so the
//! `gateway` section of the nftables table copies the mark into conntrack on the way out
//! and back onto the answers on the way in, and `src_valid_mark` makes the reverse-path
//! check see it (as wg-quick does).

use crate::firewall::{Chain, Section};
use crate::policy_routing::{
    self as pr, FWMARK, Family, Proto, Route, Rule, TABLE, our_routes, our_rules,
};
use mcc_core::id::NodeId;
use mcc_std::config::DaemonConfig;
use std::io;
use std::process::Command;
use tracing::{info, warn};

/// The section's name in mccd's nftables table.
pub const SECTION: &str = "gateway";

const SRC_VALID_MARK: &str = "/proc/sys/net/ipv4/conf/all/src_valid_mark";

/// What the configuration asks of the routing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub gateway: Option<NodeId>,
    /// The ports rerouted: (protocol, port).
    pub reroutes: Vec<(Proto, u16)>,
    pub kill_switch: bool,
    pub add_hook: Option<String>,
    pub delete_hook: Option<String>,
}

impl Wanted {
    pub fn from_config(cfg: &DaemonConfig) -> Self {
        let mut reroutes = Vec::new();
        if cfg.reroute_dns.is_some() {
            reroutes.push((Proto::Udp, mcc_core::internet::DNS_PORT));
            reroutes.push((Proto::Tcp, mcc_core::internet::DNS_PORT));
        }
        if cfg.reroute_ntp.is_some() {
            reroutes.push((Proto::Udp, mcc_core::internet::NTP_PORT));
        }
        Wanted {
            gateway: cfg.gateway,
            reroutes,
            kill_switch: cfg.kill_switch,
            add_hook: cfg.gateway_post_add_hook.clone(),
            delete_hook: cfg.gateway_post_delete_hook.clone(),
        }
    }

    /// Anything to route into the TUN device.
    pub fn any(&self) -> bool {
        self.gateway.is_some() || !self.reroutes.is_empty()
    }

    /// The rules, in priority order.
    pub fn rules(&self) -> Vec<Rule> {
        if !self.any() {
            return Vec::new();
        }
        let mut r = vec![Rule::Own];
        r.extend(
            self.reroutes
                .iter()
                .map(|&(proto, port)| Rule::Port { proto, port }),
        );
        if self.gateway.is_some() {
            r.push(Rule::LocalNetworks);
            r.push(Rule::Everything);
        }
        r
    }
}

/// The `gateway` section of the nftables table: mccd's mark kept with its connections, so
/// the answers carry it too (for strict reverse-path filtering). Empty without a gateway.
pub fn section(w: &Wanted) -> Section {
    let mut s = Section::default();
    if !w.any() {
        return s;
    }
    s.rule(
        Chain::PostMangle,
        format!("meta l4proto udp meta mark {FWMARK:#x} ct mark set meta mark"),
    );
    s.rule(
        Chain::PreMangle,
        format!("meta l4proto udp ct mark {FWMARK:#x} meta mark set ct mark"),
    );
    s
}

/// The routing in place while mccd runs; [`Drop`] takes it down (or leaves the kill switch).
pub struct GatewayRouting {
    wanted: Wanted,
    device: String,
    /// `src_valid_mark` before it was set, to give it back.
    valid_mark_before: Option<String>,
}

fn families() -> impl Iterator<Item = Family> {
    Family::BOTH.into_iter()
}

/// IPv6 may be disabled in the kernel: its requests then fail with this.
fn v6_off(f: Family, e: &io::Error) -> bool {
    f == Family::V6 && e.raw_os_error() == Some(97) // EAFNOSUPPORT
}

impl GatewayRouting {
    /// Brings the rules and routes in line with `cfg`, the TUN device `device` being up;
    /// returns what to take down at stop (`None` when nothing is wanted). What an earlier run
    /// left and is not wanted is removed, after what is wanted was added.
    pub fn start(cfg: &DaemonConfig, device: &str) -> io::Result<Option<Self>> {
        let w = Wanted::from_config(cfg);
        let mut left = false;
        for f in families() {
            match our_rules(f) {
                Ok(found) => left |= !found.is_empty(),
                Err(e) if v6_off(f, &e) => {}
                Err(e) => return Err(ctx(e, "listing the routing rules")),
            }
        }
        if left {
            info!("routing rules of an earlier mccd found (killed, or the kill switch)");
            run_hook(
                "gateway-post-delete-hook",
                w.delete_hook.as_deref(),
                &w,
                device,
            );
        }
        if w.any() {
            let index = nix::net::if_::if_nametoindex(device)
                .map_err(|e| io::Error::other(format!("{device}: {e}")))?;
            for f in families() {
                let mut routes = vec![Route::Device(index)];
                if w.gateway.is_some() {
                    routes.push(Route::Blackhole);
                }
                for r in routes {
                    match pr::add_route(r, f) {
                        Ok(()) => {}
                        Err(e) if v6_off(f, &e) => break,
                        // No IPv6 on the device: the blackhole still keeps IPv6 in.
                        Err(e) if f == Family::V6 && matches!(r, Route::Device(_)) => {
                            warn!("no IPv6 route into {device} ({e}): IPv6 is blackholed")
                        }
                        Err(e) => return Err(ctx(e, &format!("adding {r:?} to table {TABLE}"))),
                    }
                }
            }
        }
        // Every wanted rule present, then every other rule and route of ours gone.
        for f in families() {
            let found = match our_rules(f) {
                Ok(found) => found,
                Err(e) if v6_off(f, &e) => continue,
                Err(e) => return Err(ctx(e, "listing the routing rules")),
            };
            for r in w.rules() {
                if !found.iter().any(|x| pr::is_rule(x, r, f)) {
                    pr::add_rule(r, f)
                        .map_err(|e| ctx(e, &format!("ip {} rule add {}", f.ip(), r.describe())))?;
                }
            }
            for x in found {
                if !w.rules().iter().any(|&r| pr::is_rule(&x, r, f)) {
                    pr::delete_rule(x).map_err(|e| ctx(e, "deleting an old rule"))?;
                }
            }
            if w.gateway.is_none() {
                for r in our_routes(f).map_err(|e| ctx(e, "listing table 9376"))? {
                    if r.blackhole || !w.any() {
                        pr::delete_route(r).map_err(|e| ctx(e, "deleting an old route"))?;
                    }
                }
            }
        }
        if !w.any() {
            return Ok(None);
        }
        let valid_mark_before = std::fs::read_to_string(SRC_VALID_MARK)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|v| v != "1");
        if valid_mark_before.is_some()
            && let Err(e) = std::fs::write(SRC_VALID_MARK, "1")
        {
            warn!("{SRC_VALID_MARK}: {e}: strict rp_filter may drop the underlay's answers");
        }
        match w.gateway {
            Some(g) => info!(
                gateway = %g,
                kill_switch = w.kill_switch,
                "all traffic but local networks and mccd's own goes through {device} (table {TABLE})"
            ),
            None => info!(
                "ports {:?} rerouted through {device} (table {TABLE})",
                w.reroutes
            ),
        }
        run_hook("gateway-post-add-hook", w.add_hook.as_deref(), &w, device);
        Ok(Some(GatewayRouting {
            wanted: w,
            device: device.into(),
            valid_mark_before,
        }))
    }

    fn stop(&mut self) {
        if let Some(v) = &self.valid_mark_before
            && let Err(e) = std::fs::write(SRC_VALID_MARK, v)
        {
            warn!("{SRC_VALID_MARK}: {e}");
        }
        if self.wanted.kill_switch {
            info!("kill switch: traffic through the gateway is blackholed until mccd runs again");
            return;
        }
        for f in families() {
            for r in our_rules(f).unwrap_or_default() {
                if let Err(e) = pr::delete_rule(r) {
                    warn!("deleting a routing rule: {e}");
                }
            }
            for r in our_routes(f).unwrap_or_default() {
                if let Err(e) = pr::delete_route(r) {
                    warn!("deleting a route of table {TABLE}: {e}");
                }
            }
        }
        run_hook(
            "gateway-post-delete-hook",
            self.wanted.delete_hook.as_deref(),
            &self.wanted,
            &self.device,
        );
    }
}

impl Drop for GatewayRouting {
    fn drop(&mut self) {
        self.stop();
    }
}

fn ctx(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Runs a hook with `sh -c`, waiting for it; a failure is logged, not fatal (the hook
/// adds to mcc's routing, it is not part of it).
fn run_hook(name: &str, hook: Option<&str>, w: &Wanted, device: &str) {
    let Some(hook) = hook else { return };
    let out = Command::new("sh")
        .args(["-c", hook])
        .env("MCC_TABLE", TABLE.to_string())
        .env("MCC_FWMARK", format!("{FWMARK:#x}"))
        .env("MCC_DEVICE", device)
        .env(
            "MCC_GATEWAY",
            w.gateway.map(|g| g.to_string()).unwrap_or_default(),
        )
        .output();
    match out {
        Ok(o) if o.status.success() => info!("{name} ran: {hook}"),
        Ok(o) => warn!(
            "{name} {hook:?} failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => warn!("{name} {hook:?}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const A: &str = "3zb3xe4gh757dnhdsyrzxxv6efvpgkzg82m08a8w88a5sf48w7x0";

    fn cfg(text: &str) -> DaemonConfig {
        mcc_std::config::parse(text, Path::new("/e/mcc.conf"), Path::new("/e")).unwrap()
    }

    #[test]
    fn the_rules_follow_the_configuration() {
        assert!(!Wanted::from_config(&cfg("")).any());
        assert!(section(&Wanted::from_config(&cfg(""))).is_empty());
        let w = Wanted::from_config(&cfg(&format!("gateway = {A}\nkill-switch = true")));
        assert_eq!(
            w.rules(),
            [Rule::Own, Rule::LocalNetworks, Rule::Everything]
        );
        let w = Wanted::from_config(&cfg(&format!(
            "gateway = {A}\nreroute-dns = {A}:5353\nreroute-ntp = {A}:1123"
        )));
        assert_eq!(
            w.rules(),
            [
                Rule::Own,
                Rule::Port {
                    proto: Proto::Udp,
                    port: 53
                },
                Rule::Port {
                    proto: Proto::Tcp,
                    port: 53
                },
                Rule::Port {
                    proto: Proto::Udp,
                    port: 123
                },
                Rule::LocalNetworks,
                Rule::Everything
            ]
        );
        // Reroutes alone: only their ports.
        let w = Wanted::from_config(&cfg(&format!("reroute-ntp = {A}:1123")));
        assert_eq!(
            w.rules(),
            [
                Rule::Own,
                Rule::Port {
                    proto: Proto::Udp,
                    port: 123
                }
            ]
        );
        let s = section(&w);
        let mut t = crate::firewall::Table::new("MCC", "mcc0");
        t.set(SECTION, s);
        let text = t.render();
        assert!(text.contains("meta l4proto udp meta mark 0x9376 ct mark set meta mark"));
        assert!(text.contains("type filter hook prerouting priority mangle"));
    }
}
