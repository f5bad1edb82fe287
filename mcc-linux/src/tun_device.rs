//! The Linux TUN device (tun-rs, no packet-information header) and the routes of the
//! overlay ranges. The kernel removes the device and its routes when the fd closes, so a
//! stopped daemon leaves nothing behind.
//!
//! The device is opened with offloads (`IFF_VNET_HDR`, TSO/USO) when the kernel allows:
//! a TCP flow then crosses the device as 64 KiB super-packets that tun-rs splits into
//! MTU-size packets on read and coalesces again (GRO) on write, one system call per
//! burst instead of one per packet. That is why this uses tun-rs and not the `tun` crate,
//! which has neither offloads nor multi-queue.

use mcc_std::daemon::TunSpec;
use mcc_std::tun::{TunDevice, TunRead, TunWrite};
use std::cell::Cell;
use std::io;
use std::process::Command;

pub struct LinuxTun {
    dev: tun_rs::AsyncDevice,
    pub name: String,
    offload: bool,
    /// Coalescing state for `send_multiple`, taken out while a batch is written (the
    /// loop writes one batch at a time, so no lock is needed).
    gro: Cell<Option<tun_rs::GROTable>>,
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
    /// Creates the device with the addresses and routes of `s`.
    pub fn create(s: &TunSpec) -> io::Result<Self> {
        let build = |offload: bool| {
            tun_rs::DeviceBuilder::new()
                .name(&s.name)
                .mtu(s.mtu)
                .ipv4(s.ipv4, s.ipv4_prefix, None)
                .offload(offload)
                .build_async()
        };
        // MCC_TUN_OFFLOAD=0 turns offloads off, to measure what they bring (bench/run.sh).
        let want = std::env::var_os("MCC_TUN_OFFLOAD").is_none_or(|v| v != "0");
        let dev = match build(want) {
            Ok(dev) => dev,
            Err(e) => {
                tracing::warn!("TUN device {} without offloads: {e}", s.name);
                build(false).map_err(|e| io::Error::other(format!("TUN device {}: {e}", s.name)))?
            }
        };
        let offload = dev.tcp_gso();
        tracing::debug!(offload, udp_gso = dev.udp_gso(), "TUN device {}", s.name);
        let name = s.name.clone();
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
        if let Some(a) = s.static_ipv4 {
            ip(&["addr", "add", &format!("{a}/32"), "dev", &name])?;
        }
        // From the dynamic address: the receiving node rewrites the destination of what
        // arrives to its own dynamic address, so replies must be addressed there.
        let src = s.ipv4.to_string();
        for (net, prefix) in &s.routes {
            let net = format!("{net}/{prefix}");
            ip(&["route", "replace", &net, "dev", &name, "src", &src])?;
        }
        Ok(LinuxTun {
            dev,
            name,
            offload,
            gro: Cell::new(None),
        })
    }
}

impl TunDevice for LinuxTun {
    async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.dev.recv(buf).await
    }
    async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.dev.send(buf).await
    }
    fn offload(&self) -> bool {
        self.offload
    }
    fn headroom(&self) -> usize {
        if self.offload {
            tun_rs::VIRTIO_NET_HDR_LEN
        } else {
            0
        }
    }
    async fn recv_batch(&self, r: &mut TunRead) -> io::Result<()> {
        if !self.offload {
            r.sizes[0] = self.dev.recv(r.first()).await?;
            r.count = 1;
            return Ok(());
        }
        let (scratch, mut bufs, sizes) = r.split();
        let n = self.dev.recv_multiple(scratch, &mut bufs, sizes, 0).await?;
        r.count = n;
        Ok(())
    }
    async fn send_batch(&self, w: &mut TunWrite) -> io::Result<()> {
        if !self.offload {
            let mut result = Ok(());
            for b in &w.bufs[..w.count] {
                if let Err(e) = self.dev.send(b).await {
                    result = Err(e);
                }
            }
            return result;
        }
        let mut gro = self.gro.take().unwrap_or_default();
        let r = self
            .dev
            .send_multiple(&mut gro, &mut w.bufs[..w.count], w.headroom)
            .await;
        self.gro.set(Some(gro));
        r.map(|_| ())
    }
}
