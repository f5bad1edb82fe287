//! Linux as a [`Platform`] for the shared daemon start-up: a tun-rs device with the node's
//! addresses and the overlay routes; mccd's underlay socket marked so that it never takes
//! the gateway's routes ([`crate::gateway_routing`]); and the sections of mccd's nftables
//! table, sharing one table ([`crate::host_firewall`]): the forwarding of external tunnels
//! ([`crate::external_nat`]) and of forwarding rules ([`crate::forwarding_nat`]), the exit
//! node's NAT ([`crate::exit_nat`]) and the gateway's marks.

use crate::exit_nat::{self, ExitNat};
use crate::external_nat::LinuxForwarding;
use crate::forwarding_nat::LinuxRuleForwarding;
use crate::gateway_routing::{self, GatewayRouting, Wanted};
use crate::host_firewall::SharedFirewall;
use crate::policy_routing::FWMARK;
use crate::tun_device::LinuxTun;
use mcc_std::config::DaemonConfig;
use mcc_std::daemon::{Platform, TunSpec};
use mcc_std::external::Forwarding;
use mcc_std::forwarding_rules::RuleForwarding;
use std::io;
use std::os::fd::{BorrowedFd, RawFd};

/// The Linux platform; what it set up for the gateway is taken down when it is dropped
/// (after the daemon stopped), unless the kill switch keeps it.
#[derive(Default)]
pub struct LinuxPlatform {
    /// Why mccd's underlay socket could not be marked (not root, no CAP_NET_ADMIN).
    mark_error: Option<String>,
    gateway: Option<GatewayRouting>,
    /// Made by the first section that asks, once the TUN device exists.
    firewall: Option<SharedFirewall>,
}

impl LinuxPlatform {
    fn firewall(&mut self, spec: &TunSpec, cfg: &DaemonConfig) -> SharedFirewall {
        self.firewall
            .get_or_insert_with(|| {
                SharedFirewall::new(&cfg.firewall_chain_name, &spec.name, &cfg.data_dir)
            })
            .clone()
    }
}

impl Platform for LinuxPlatform {
    type Tun = LinuxTun;

    fn protect_socket(&mut self, fd: RawFd) -> io::Result<()> {
        // SAFETY: the event loop owns the socket and keeps it open across this call.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        if let Err(e) = nix::sys::socket::setsockopt(&fd, nix::sys::socket::sockopt::Mark, &FWMARK)
        {
            self.mark_error = Some(e.to_string());
        }
        Ok(())
    }

    fn create_tun(&mut self, spec: &TunSpec, cfg: &DaemonConfig) -> io::Result<LinuxTun> {
        let tun = LinuxTun::create(spec)?;
        tracing::info!(device = %tun.name, address = %spec.ipv4, "TUN device up");
        if Wanted::from_config(cfg).any()
            && let Some(e) = &self.mark_error
        {
            return Err(io::Error::other(format!(
                "{}: gateway and reroutes need mccd's socket marked (SO_MARK: {e}); run mccd as root",
                cfg.path.display()
            )));
        }
        self.gateway = GatewayRouting::start(cfg, &tun.name)
            .map_err(|e| io::Error::new(e.kind(), format!("gateway routing: {e}")))?;
        Ok(tun)
    }

    fn forwarding(
        &mut self,
        spec: &TunSpec,
        cfg: &DaemonConfig,
    ) -> io::Result<Option<Box<dyn Forwarding>>> {
        let fw = self.firewall(spec, cfg);
        let mut f = LinuxForwarding::new(fw, &spec.name, cfg.nat_table_expiry).with_section(
            gateway_routing::SECTION,
            gateway_routing::section(&Wanted::from_config(cfg)),
        );
        if cfg.exit_node {
            let own_v4 = [Some(spec.ipv4), cfg.static_addr]
                .into_iter()
                .flatten()
                .collect();
            let x = ExitNat {
                tun: spec.name.clone(),
                overlay_v4: cfg.resolver_ipv4_network,
                own_v4,
                own_v6: spec.ipv6,
            };
            f = f.with_section(exit_nat::SECTION, x.section()).exit_node();
            // Fail closed: without its table an exit node would let clients reach this host.
            f.apply(&[])
                .map_err(|e| io::Error::other(format!("exit-node: {e}")))?;
            tracing::info!(
                table = %cfg.firewall_chain_name,
                "exit node: the overlay's internet traffic leaves masqueraded"
            );
        }
        Ok(Some(Box::new(f)))
    }

    fn rule_forwarding(
        &mut self,
        spec: &TunSpec,
        cfg: &DaemonConfig,
    ) -> io::Result<Option<Box<dyn RuleForwarding>>> {
        let fw = self.firewall(spec, cfg);
        let node = (spec.ipv4, spec.ipv6);
        Ok(Some(Box::new(LinuxRuleForwarding::new(
            fw, &spec.name, node,
        ))))
    }
}
