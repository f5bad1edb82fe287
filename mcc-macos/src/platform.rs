//! macOS as a [`Platform`] for the shared daemon start-up (macOS only): a utun device with
//! the node's addresses and the overlay routes, and, with `dns-enable`, the
//! `/etc/resolver` file that sends the overlay domain to the node's DNS server, removed
//! again when the device closes.

use crate::commands;
use crate::refused_keys;
use crate::resolver;
use crate::utun::UtunTun;
use mcc_std::config::{DaemonConfig, Refused};
use mcc_std::daemon::{Platform, TunSpec};
use mcc_std::tun::TunDevice;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub struct MacosPlatform;

/// The utun device and the resolver file installed with it.
pub struct MacosTun {
    utun: UtunTun,
    resolver_file: Option<(PathBuf, SocketAddr)>,
}

impl Platform for MacosPlatform {
    type Tun = MacosTun;

    fn refused_keys(&self) -> (&'static str, &'static [Refused]) {
        (refused_keys::PLATFORM, &refused_keys::REFUSED)
    }

    fn create_tun(&mut self, spec: &TunSpec, cfg: &DaemonConfig) -> io::Result<MacosTun> {
        let name = commands::utun_name(&spec.name)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let utun = UtunTun::create(&TunSpec {
            name,
            ..spec.clone()
        })?;
        tracing::info!(device = %utun.name, address = %spec.ipv4, "utun device up");
        let resolver_file = if cfg.dns_enable {
            let dir = Path::new(resolver::RESOLVER_DIR);
            match resolver::install(dir, &cfg.resolver_domain, cfg.dns_addr) {
                Ok(p) => Some((p, cfg.dns_addr)),
                Err(e) => {
                    tracing::warn!("no /etc/resolver file for {}: {e}", cfg.resolver_domain);
                    None
                }
            }
        } else {
            None
        };
        Ok(MacosTun {
            utun,
            resolver_file,
        })
    }
}

impl TunDevice for MacosTun {
    async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.utun.recv(buf).await
    }
    async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.utun.send(buf).await
    }
}

impl Drop for MacosTun {
    fn drop(&mut self) {
        if let Some((path, dns_addr)) = &self.resolver_file
            && let Err(e) = resolver::remove(path, *dns_addr)
        {
            tracing::warn!("{}: {e}", path.display());
        }
    }
}
