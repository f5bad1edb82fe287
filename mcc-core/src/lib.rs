#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![deny(unsafe_code)]
extern crate alloc;
pub mod cert;
pub mod config;
pub mod crypto;
pub mod event;
pub mod filter;
pub mod handshake;
pub mod id;
mod inside;
pub mod link;
pub mod node;
mod outside;
pub mod queue;
pub mod replay;
pub mod resolver;
pub mod routing;
pub mod session;
pub mod time;
pub mod tunnel;
pub mod wire;

pub use node::{Command, CommandError, Node, PeerInfo, Transmit, TunnelInfo};
