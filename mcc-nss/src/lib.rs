//! `libnss_mcc.so.2`: the glibc NSS module of mcc. With `mcc [SUCCESS=return]` on the
//! `hosts:` line of nsswitch.conf (see [`nsswitch`] and README.md), every program's host
//! lookups (`getaddrinfo`, `gethostbyname*`, `gethostbyaddr*`: ping, curl, getent) resolve
//! node IDs, endpoint IDs and DNS names, with or without `resolver.domain`, and reverse
//! lookups of the overlay addresses, by asking the running mccd over its control socket
//! (`MCC_UNIX_SOCKET_PATH`, default `/tmp/.mcc-socket`).
//!
//! - [`ffi`]: the `_nss_mcc_*` entry points (glibc's reentrant interface);
//! - [`client`]: one blocking request per lookup, short timeouts, only a trusted daemon;
//! - [`host`]: the request and answer lines (mcc-std's control protocol);
//! - [`pack`]: the answer packed into the caller's buffer (all safe code);
//! - [`nsswitch`]: adding and removing the module on a `hosts:` line (`mcc-nsswitch`).
//!
//! The daemon down (no socket, nobody listening), stuck (no answer within
//! [`client::READ_TIMEOUT`]) or untrusted: `NSS_STATUS_UNAVAIL`, so the next source is
//! asked. A name the daemon does not know: `NSS_STATUS_NOTFOUND`.

#[cfg(target_os = "linux")]
pub mod client;
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub mod ffi;
pub mod host;
pub mod nsswitch;
pub mod pack;
