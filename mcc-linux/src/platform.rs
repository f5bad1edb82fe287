//! Linux as a [`Platform`] for the shared daemon start-up: a tun-rs device with the node's
//! addresses and the overlay routes, and the forwarding of external tunnels (nftables NAT,
//! [`crate::external_nat`]); the underlay socket needs no protection (the routes cover only
//! the overlay ranges).

use crate::external_nat::LinuxForwarding;
use crate::tun_device::LinuxTun;
use mcc_std::config::DaemonConfig;
use mcc_std::daemon::{Platform, TunSpec};
use mcc_std::external::Forwarding;
use std::io;

pub struct LinuxPlatform;

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
        Ok(Some(Box::new(LinuxForwarding::new(
            &spec.name,
            &cfg.firewall_chain_name,
            cfg.nat_table_expiry,
            &cfg.data_dir,
        ))))
    }
}
