//! The std runtime shared by every OS driver of mcc: configuration files, on-disk state,
//! the control socket, the name service (DNS server and NSS requests) and the event loop that drives [`mcc_core::Node`].
//! Platform crates supply the TUN device; [`daemon`] is the start-up they all share.
pub mod clock;
pub mod config;
pub mod control;
pub mod control_access;
pub mod control_respond;
pub mod control_server;
pub mod daemon;
pub mod dns;
pub mod dns_service;
pub mod dnsmasq;
pub mod event_log;
pub mod event_loop;
pub mod external;
pub mod forwarding_commit;
pub mod forwarding_rules;
pub mod handshake_queue;
pub mod host_lookup;
pub mod logging;
pub mod names;
pub mod parent_pins;
pub mod parent_resolve;
pub mod provision;
pub mod readiness;
pub mod renewal_store;
pub mod resolver_state;
pub mod revocation_state;
pub mod serial_link;
pub mod ssl_state;
pub mod store;
pub mod stream_links;
pub mod tcp_links;
pub mod tun;
pub mod tunnel_dir;
mod udp_io;
