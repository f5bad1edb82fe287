#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![deny(unsafe_code)]
extern crate alloc;
pub mod cert;
pub mod crypto;
pub mod id;
pub mod replay;
pub mod time;
pub mod wire;
pub mod event;
pub mod filter;
pub mod queue;
pub mod resolver;
pub mod routing;
