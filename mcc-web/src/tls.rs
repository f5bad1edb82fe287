//! The HTTPS listener's certificate: the configured one, or a self-signed one generated on
//! first start (names: localhost, 127.0.0.1, ::1, the listen address and the host name),
//! written atomically, the key with mode 0600.

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    #[error("{}: no certificate in the file", .0.display())]
    NoCertificate(PathBuf),
    #[error("generating the self-signed certificate: {0}")]
    Generate(String),
    #[error(transparent)]
    Store(#[from] mcc_std::store::StoreError),
    #[error("{}, {}: {reason}", cert.display(), key.display())]
    Config {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
}

/// The names the generated certificate is valid for.
pub fn subject_names(listen: SocketAddr) -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    if !listen.ip().is_unspecified() {
        names.push(listen.ip().to_string());
    }
    if let Some(h) = host_name() {
        names.push(h);
    }
    names.dedup();
    let mut seen = Vec::new();
    names.retain(|n| {
        let new = !seen.contains(n);
        seen.push(n.clone());
        new
    });
    names
}

fn host_name() -> Option<String> {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let h = h.trim();
    // Only a name a certificate can carry.
    (!h.is_empty()
        && h.len() <= 253
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'))
    .then(|| h.to_ascii_lowercase())
}

/// Writes a self-signed certificate and its key unless both files exist. Returns whether
/// it wrote them.
pub fn ensure_self_signed(cert: &Path, key: &Path, listen: SocketAddr) -> Result<bool, TlsError> {
    if cert.exists() && key.exists() {
        return Ok(false);
    }
    let generated = rcgen::generate_simple_self_signed(subject_names(listen))
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    // The key first: a certificate without its key would be kept by the check above.
    mcc_std::store::write_atomic(key, generated.signing_key.serialize_pem().as_bytes(), 0o600)?;
    mcc_std::store::write_atomic(cert, generated.cert.pem().as_bytes(), 0o644)?;
    Ok(true)
}

/// The rustls server configuration (ring provider, TLS 1.2 and 1.3, HTTP/1.1).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let read = |p: &Path, e: String| TlsError::Read {
        path: p.to_path_buf(),
        reason: e,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| read(cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| read(cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(cert.to_path_buf()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| read(key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key_der))
        .map_err(|e| TlsError::Config {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            reason: e.to_string(),
        })?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_generated_certificate_loads_and_its_key_is_private() {
        let d = tempfile::tempdir().unwrap();
        let (c, k) = (d.path().join("c.pem"), d.path().join("k.pem"));
        let listen: SocketAddr = "10.249.0.1:8383".parse().unwrap();
        assert!(ensure_self_signed(&c, &k, listen).unwrap());
        assert!(!ensure_self_signed(&c, &k, listen).unwrap(), "kept");
        let mode = std::fs::metadata(&k).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        server_config(&c, &k).unwrap();
        assert!(subject_names(listen).contains(&"10.249.0.1".to_string()));
        assert!(subject_names(listen).contains(&"::1".to_string()));
    }
}
