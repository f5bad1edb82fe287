//! The std runtime shared by every OS driver of mcc: configuration files, on-disk state,
//! the control socket protocol, the DNS server and the event loop that drives
//! [`mcc_core::Node`]. Platform crates supply the TUN device.
pub mod config;
pub mod control;
pub mod dns;
pub mod driver;
pub mod logging;
pub mod provision;
pub mod store;
pub mod tun;
pub mod tunnel_dir;
mod udp_io;
