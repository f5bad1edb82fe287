//! Linux as a [`Platform`] for the shared daemon start-up: a tun-rs device with the node's
//! addresses and the overlay routes; mccd's underlay socket marked so that it never takes
//! the gateway's routes ([`crate::gateway_routing`]); and mccd's nftables table: the
//! forwarding of external tunnels ([`crate::external_nat`]), the exit node's NAT
//! ([`crate::exit_nat`]) and the gateway's marks.

use crate::exit_nat::{self, ExitNat};
use crate::external_nat::LinuxForwarding;
use crate::gateway_routing::{self, GatewayRouting, Wanted};
use crate::policy_routing::FWMARK;
use crate::tun_device::LinuxTun;
use mcc_std::config::DaemonConfig;
use mcc_std::daemon::{Platform, TunSpec};
use mcc_std::external::Forwarding;
use std::io;
use std::os::fd::{BorrowedFd, RawFd};

/// The Linux platform; what it set up for the gateway is taken down when it is dropped
/// (after the daemon stopped), unless the kill switch keeps it.
#[derive(Default)]
pub struct LinuxPlatform {
    /// Why mccd's underlay socket could not be marked (not root, no CAP_NET_ADMIN).
    mark_error: Option<String>,
    gateway: Option<GatewayRouting>,
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
        let mut f = LinuxForwarding::new(
            &spec.name,
            &cfg.firewall_chain_name,
            cfg.nat_table_expiry,
            &cfg.data_dir,
        )
        .with_section(
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
}
