//! Linux as a [`Platform`] for the shared daemon start-up: a tun-rs device with the node's
//! addresses and the overlay routes, and the sections of mccd's nftables table: the
//! forwarding of external tunnels ([`crate::external_nat`]) and of forwarding rules
//! ([`crate::forwarding_nat`]), sharing one table ([`crate::host_firewall`]); the underlay
//! socket needs no protection (the routes cover only the overlay ranges).

use crate::external_nat::LinuxForwarding;
use crate::forwarding_nat::LinuxRuleForwarding;
use crate::host_firewall::SharedFirewall;
use crate::tun_device::LinuxTun;
use mcc_std::config::DaemonConfig;
use mcc_std::daemon::{Platform, TunSpec};
use mcc_std::external::Forwarding;
use mcc_std::forwarding_rules::RuleForwarding;
use std::io;

#[derive(Default)]
pub struct LinuxPlatform {
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

    fn create_tun(&mut self, spec: &TunSpec, _cfg: &DaemonConfig) -> io::Result<LinuxTun> {
        let tun = LinuxTun::create(spec)?;
        tracing::info!(device = %tun.name, address = %spec.ipv4, "TUN device up");
        Ok(tun)
    }

    fn forwarding(
        &mut self,
        spec: &TunSpec,
        cfg: &DaemonConfig,
    ) -> io::Result<Option<Box<dyn Forwarding>>> {
        let fw = self.firewall(spec, cfg);
        Ok(Some(Box::new(LinuxForwarding::new(
            fw,
            &spec.name,
            cfg.nat_table_expiry,
        ))))
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
