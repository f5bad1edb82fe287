//! Where renewed certificates are saved (docs/RENEWAL.md): the core swaps a renewed
//! certificate in place and says so with `Event::CertificateRenewed`; the daemon replaces
//! the file it loaded the old one from, atomically, so a restart runs with the new one.
//! Certificates are public (0644); no private key changes in a renewal.

use crate::config::{self, ConfigError, DaemonConfig};
use crate::store::{self, StoreError};
use mcc_core::Node;
use mcc_core::cert::renewal::is_renewal_of;
use mcc_core::cert::{CertKind, Certificate};
use mcc_core::crypto::Cipher;
use std::path::PathBuf;

/// Why a renewed certificate was not saved (the node keeps running with it).
#[derive(Debug, thiserror::Error)]
pub enum RenewalStoreError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("no tunnel file in {} holds the certificate this renewal replaces", dir.display())]
    NoTunnelFile { dir: PathBuf },
}

/// Saves the certificate renewed with `fingerprint`; returns the file written.
pub fn save<C: Cipher>(
    cfg: &DaemonConfig,
    node: &Node<C>,
    kind: CertKind,
    fingerprint: &[u8; 32],
) -> Result<PathBuf, RenewalStoreError> {
    if kind != CertKind::Tunnel {
        store::write_certificate(&cfg.node_certificate, node.certificate())?;
        return Ok(cfg.node_certificate.clone());
    }
    let Some((cert, _)) = node.tunnel_credentials(fingerprint) else {
        return Err(RenewalStoreError::NoTunnelFile {
            dir: cfg.tunnels.clone(),
        });
    };
    for t in config::load_tunnels(&cfg.tunnels)? {
        let Ok(old) = store::read_certificate(&t.certificate) else {
            continue;
        };
        if old == cert {
            return Ok(t.certificate);
        }
        if replaces(&cert, &old) {
            store::write_certificate(&t.certificate, &cert)?;
            return Ok(t.certificate);
        }
    }
    Err(RenewalStoreError::NoTunnelFile {
        dir: cfg.tunnels.clone(),
    })
}

/// Is `new` a renewal of `old`, possibly after several (a file left behind by a failed save)?
fn replaces(new: &Certificate, old: &Certificate) -> bool {
    let mut stripped = old.clone();
    stripped.body.not_before = new.body.not_before;
    stripped.body.not_after = new.body.not_after;
    is_renewal_of(new, old)
        || (new.body == stripped.body && new.body.not_after > old.body.not_after)
}
