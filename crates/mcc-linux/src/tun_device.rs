//! The Linux TUN device (the `tun` crate, no packet-information header) and the routes of
//! the overlay ranges. The kernel removes the device and its routes when the fd closes, so
//! a stopped daemon leaves nothing behind.

use mcc_std::driver::TunDevice;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::Command;

pub struct LinuxTun {
    dev: tun::AsyncDevice,
    pub name: String,
}

/// Addresses and routes the device gets.
pub struct TunSetup<'a> {
    pub name: &'a str,
    pub mtu: u16,
    pub ipv4: Ipv4Addr,
    pub ipv4_prefix: u8,
    pub ipv6: Ipv6Addr,
    pub ipv6_prefix: u8,
    /// Extra IPv4 routes through the device (the static range 10.115.0.0/16).
    pub routes: &'a [(Ipv4Addr, u8)],
}

fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl LinuxTun {
    pub fn create(s: &TunSetup) -> io::Result<Self> {
        let mut cfg = tun::Configuration::default();
        let mask = Ipv4Addr::from(u32::MAX.checked_shl(32 - s.ipv4_prefix as u32).unwrap_or(0));
        cfg.tun_name(s.name)
            .mtu(s.mtu)
            .address(s.ipv4)
            .netmask(mask)
            .up();
        let dev = tun::create_as_async(&cfg)
            .map_err(|e| io::Error::other(format!("TUN device {}: {e}", s.name)))?;
        let name = s.name.to_string();
        // IPv6 may be disabled in the kernel: then the device works for IPv4 only.
        if let Err(e) = ip(&[
            "-6",
            "addr",
            "add",
            &format!("{}/{}", s.ipv6, s.ipv6_prefix),
            "dev",
            &name,
        ]) {
            tracing::warn!("no IPv6 on {name}: {e}");
        }
        for (net, prefix) in s.routes {
            ip(&["route", "replace", &format!("{net}/{prefix}"), "dev", &name])?;
        }
        Ok(LinuxTun { dev, name })
    }
}

impl TunDevice for LinuxTun {
    async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.dev.recv(buf).await
    }
    async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.dev.send(buf).await
    }
}
