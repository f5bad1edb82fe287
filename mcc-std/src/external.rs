//! External tunnels: tunnels whose server endpoint is a LAN device behind this node (the
//! tunnel file's or certificate's `external-ip-address`), a device that runs no mcc.
//!
//! Where the NAT lives: the core delivers an external tunnel's packets to the TUN device as
//! for any server endpoint, already checked against the tunnel's `proto:port` whitelist,
//! with the client endpoint's address on this node as source and this node's own overlay
//! address as destination. The client endpoint's address is pinned in the resolver while
//! the tunnel exists and belongs to that one tunnel, so the pair names the tunnel. The OS
//! driver ([`Forwarding`]) rewrites that pair in the kernel: destination to the device
//! (DNAT), source to this node's LAN address (masquerade), and conntrack takes the replies
//! back the same way, so the core sees a reply from its own address as from any local
//! server. No change to the core and no extra address per endpoint; the kernel's NAT is the
//! one every Linux router uses (docs/FIREWALL.md).
//!
//! [`Externals`] keeps the driver in step with the node's tunnels, and fails closed: a tunnel
//! whose device cannot be forwarded to is removed from the node, since its packets would
//! otherwise reach this node's own services.

use crate::config::{DaemonConfig, STATIC_NETWORK};
use crate::tunnel_dir::{self, TunnelDirError};
use mcc_core::crypto::Cipher;
use mcc_core::id::NodeId;
use mcc_core::time::Instant;
use mcc_core::{Command, Node};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

/// One external tunnel as the driver forwards it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalTunnel {
    /// The tunnel file that names the device, for messages.
    pub file: PathBuf,
    pub fingerprint: [u8; 32],
    pub server_endpoint: NodeId,
    /// The client endpoint's addresses on this node: the source of every packet the tunnel
    /// delivers to the TUN device.
    pub client_v4: Ipv4Addr,
    pub client_v6: Ipv6Addr,
    /// This node's own overlay address: the destination of those packets.
    pub node_v4: Ipv4Addr,
    /// The LAN device (RFC 1918).
    pub device: Ipv4Addr,
}

/// What an OS driver does for external tunnels (Linux: nftables NAT and IPv4 forwarding).
/// `Send`: a daemon may run on a thread of its own (the Android library does).
pub trait Forwarding: Send {
    /// Refuses a tunnel this driver cannot forward (the device is not on a LAN of this host,
    /// say); the reason names what is wrong. Called before [`Forwarding::apply`] lists it.
    fn check(&mut self, tunnel: &ExternalTunnel) -> Result<(), String>;
    /// Forwards exactly `tunnels` from now on, replacing what was forwarded before, all or
    /// nothing; an empty list forwards nothing.
    fn apply(&mut self, tunnels: &[ExternalTunnel]) -> io::Result<()>;
    /// Removes everything `apply` set up (the daemon stops). Called once.
    fn stop(&mut self);
}

/// Why an external tunnel was taken out of service; each names its tunnel file.
#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    #[error(transparent)]
    TunnelDir(#[from] TunnelDirError),
    #[error("{}", .0.join("; "))]
    Refused(Vec<String>),
}

/// The driver's forwarding, kept in step with the node's external tunnels.
pub struct Externals {
    forwarding: Option<Box<dyn Forwarding>>,
    /// What the driver forwards now; `None` before the first [`Externals::refresh`].
    applied: Option<Vec<ExternalTunnel>>,
}

impl Externals {
    /// `forwarding` is `None` on a platform that cannot forward: external tunnels are then
    /// refused.
    pub fn new(forwarding: Option<Box<dyn Forwarding>>) -> Self {
        Externals {
            forwarding,
            applied: None,
        }
    }

    /// Brings the driver in line with the node's external tunnels (at start, and after
    /// anything that may add or remove a tunnel). A tunnel the driver refuses, or all of
    /// them when applying fails, is removed from the node; the error says which and why.
    pub fn refresh<C: Cipher>(
        &mut self,
        node: &mut Node<C>,
        cfg: &DaemonConfig,
        now: Instant,
    ) -> Result<(), ExternalError> {
        let devices = tunnel_dir::external_devices(&cfg.tunnels)?;
        let mut wanted = Vec::new();
        let mut refused = Vec::new();
        for t in node.tunnels().filter(|t| t.server_side) {
            let Some(dev) = devices.get(&t.fingerprint) else {
                continue;
            };
            let addrs = (
                node.resolver().addr_of(&t.remote_endpoint, false),
                node.resolver().addr_of(&t.remote_endpoint, true),
            );
            let (Some(IpAddr::V4(client_v4)), Some(IpAddr::V6(client_v6))) = addrs else {
                // Pinned while the tunnel exists: this is a bug, refused all the same.
                refused.push((t.fingerprint, dev.file.clone(), "no client address".into()));
                continue;
            };
            let ext = ExternalTunnel {
                file: dev.file.clone(),
                fingerprint: t.fingerprint,
                server_endpoint: t.local_endpoint,
                client_v4,
                client_v6,
                node_v4: node.address(),
                device: dev.address,
            };
            let verdict = match overlay_clash(cfg, ext.device, ext.node_v4) {
                Some(why) => Err(why),
                None => match &mut self.forwarding {
                    Some(f) => f.check(&ext),
                    None => {
                        Err("this platform does not forward to LAN devices (Linux does)".into())
                    }
                },
            };
            match verdict {
                Ok(()) => wanted.push(ext),
                Err(why) => refused.push((ext.fingerprint, ext.file, why)),
            }
        }
        if self.applied.as_ref() != Some(&wanted) {
            let applied = match &mut self.forwarding {
                Some(f) => f.apply(&wanted),
                None => Ok(()),
            };
            match applied {
                Ok(()) => self.applied = Some(wanted),
                Err(e) => {
                    for t in wanted {
                        refused.push((t.fingerprint, t.file, format!("forwarding: {e}")));
                    }
                    self.applied = None;
                }
            }
        }
        if refused.is_empty() {
            return Ok(());
        }
        let mut messages = Vec::new();
        for (fingerprint, file, why) in refused {
            let _ = node.handle_command(now, Command::RemoveTunnel { fingerprint });
            messages.push(format!(
                "tunnel {}: external tunnel not activated: {why}",
                file.display()
            ));
        }
        Err(ExternalError::Refused(messages))
    }

    /// Removes what the driver set up; nothing is forwarded afterwards.
    pub fn stop(&mut self) {
        if let Some(mut f) = self.forwarding.take() {
            f.stop();
        }
        self.applied = None;
    }
}

impl Drop for Externals {
    /// A loop that ends with an error cleans up too.
    fn drop(&mut self) {
        self.stop();
    }
}

/// Why `device` cannot be a LAN device of a node whose overlay address is `node`: it lies in
/// one of the overlay's ranges (all of which are RFC 1918), so it is routed into the TUN
/// device, not onto a LAN.
fn overlay_clash(cfg: &DaemonConfig, device: Ipv4Addr, node: Ipv4Addr) -> Option<String> {
    let inside = |net: Ipv4Addr, prefix: u8| {
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        u32::from(device) & mask == u32::from(net) & mask
    };
    let (net, prefix) = cfg.resolver_ipv4_network;
    if device == node || inside(net, prefix) {
        Some(format!(
            "external-ip-address {device} is inside the overlay's resolver.ipv4-network {net}/{prefix}"
        ))
    } else if inside(STATIC_NETWORK, 16) {
        Some(format!(
            "external-ip-address {device} is inside the overlay's static range {STATIC_NETWORK}/16"
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn devices_inside_the_overlay_ranges_are_refused() {
        let cfg = DaemonConfig::defaults(Path::new("/etc/mcc"));
        let node = Ipv4Addr::new(10, 83, 0, 1);
        assert_eq!(
            overlay_clash(&cfg, Ipv4Addr::new(192, 168, 1, 5), node),
            None
        );
        assert_eq!(overlay_clash(&cfg, Ipv4Addr::new(10, 84, 0, 1), node), None);
        assert!(
            overlay_clash(&cfg, Ipv4Addr::new(10, 83, 7, 7), node)
                .unwrap()
                .contains("10.83.0.0/16")
        );
        assert!(
            overlay_clash(&cfg, Ipv4Addr::new(10, 115, 0, 9), node)
                .unwrap()
                .contains("10.115.0.0/16")
        );
    }
}
