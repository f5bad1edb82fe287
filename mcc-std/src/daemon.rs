//! The daemon start-up every platform shares.

#[cfg(feature = "ring")]
pub type DefaultCipher = mcc_core::crypto::RingChaCha;
#[cfg(not(feature = "ring"))]
pub type DefaultCipher = mcc_core::crypto::RustCryptoChaCha;

/// Completes on SIGTERM or SIGINT: the daemons' clean shutdown.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}
