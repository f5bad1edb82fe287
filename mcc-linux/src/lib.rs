//! The Linux node: a TUN device and routes for the overlay ranges, started and driven by
//! `mcc_std::daemon`, and the one nftables table mccd owns (`firewall`, shared by its
//! sections through `host_firewall`) with the NAT of external tunnels (`external_nat`), of
//! forwarding rules (`forwarding_nat`) and of the exit node (`exit_nat`), and the policy
//! routing of a gateway client and its kill switch (`gateway_routing`, `policy_routing`;
//! docs/FIREWALL.md). The binaries are `mccd` (the daemon) and `mcc` (the client).

pub mod exit_nat;
pub mod external_nat;
pub mod firewall;
pub mod forwarding_nat;
pub mod gateway_routing;
pub mod host_firewall;
pub mod ip_forwarding;
pub mod platform;
pub mod policy_routing;
pub mod route_lookup;
pub mod tun_device;

pub use mcc_std::logging::error_chain;
