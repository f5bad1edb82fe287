//! The macOS node of mcc: a utun device, its addresses and routes (`ifconfig`/`route`),
//! DNS for the overlay domain through `/etc/resolver`, and the launchd job, driven by
//! `mcc_std::daemon` like the Linux node.
//!
//! **Not verified on macOS here.** This crate is developed and tested on Linux (CI is
//! Linux only): the platform-independent modules ([`frame`], [`commands`], [`resolver`],
//! [`refused_keys`], [`launchd`]) are compiled and unit-tested everywhere, while `utun`
//! (the device and its `TunDevice` implementation), `platform` (macOS for
//! `mcc_std::daemon`) and the `mccd-macos` daemon compile only with `target_os = "macos"` and have never been built or run by this project's CI. Build
//! them on a Mac with `cargo build -p mcc-macos`; see the crate's README.md.

pub mod commands;
pub mod frame;
pub mod launchd;
#[cfg(target_os = "macos")]
pub mod platform;
pub mod refused_keys;
pub mod resolver;
#[cfg(target_os = "macos")]
pub mod utun;

pub use mcc_std::logging::error_chain;
