//! The keys `mccd-macos` refuses by name: it installs no NAT and no routes for a gateway,
//! so an exit node, a kill switch or the gateway's hooks would silently not happen.

use mcc_std::config::{PlatformKey, Refused};

/// The platform's name in the messages.
pub const PLATFORM: &str = "macOS";

pub const REFUSED: [Refused; 4] = [
    Refused {
        key: PlatformKey::ExitNode,
        why: "mccd-macos does no forwarding or NAT for other nodes; make a Linux mccd the exit node",
    },
    Refused {
        key: PlatformKey::KillSwitch,
        why: "mccd-macos installs no gateway routes and no blackhole to keep while it is down",
    },
    Refused {
        key: PlatformKey::GatewayPostAddHook,
        why: "mccd-macos installs no gateway routes, so there is no moment to run the hook at",
    },
    Refused {
        key: PlatformKey::GatewayPostDeleteHook,
        why: "mccd-macos installs no gateway routes, so there is no moment to run the hook at",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_internet_key_macos_lacks_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let gw = "gateway = 3zb3xe4gh757dnhdsyrzxxv6efvpgkzg82m08a8w88a5sf48w7x0\n";
        for (line, key) in [
            ("exit-node = true", "exit-node"),
            ("kill-switch = true", "kill-switch"),
            ("gateway-post-add-hook = true", "gateway-post-add-hook"),
            (
                "gateway-post-delete-hook = true",
                "gateway-post-delete-hook",
            ),
        ] {
            std::fs::write(dir.path().join("mcc.conf"), format!("{gw}{line}\n")).unwrap();
            let cfg = mcc_std::config::load(dir.path()).unwrap();
            let e = mcc_std::config::refuse_keys(&cfg, PLATFORM, &REFUSED)
                .unwrap_err()
                .to_string();
            assert!(
                e.ends_with(&format!(
                    "mcc.conf:2: {key}: not supported on macOS ({})",
                    { REFUSED.iter().find(|r| r.key.name() == key).unwrap().why }
                )),
                "{e}"
            );
        }
        std::fs::write(dir.path().join("mcc.conf"), gw).unwrap();
        let cfg = mcc_std::config::load(dir.path()).unwrap();
        assert!(mcc_std::config::refuse_keys(&cfg, PLATFORM, &REFUSED).is_ok());
    }
}
