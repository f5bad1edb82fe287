//! The internet-tunnel keys of `mcc.conf` (`exit-node`, `exit-node-clients`, `gateway` and
//! its hooks, `kill-switch`, `reroute-dns`, `reroute-ntp`): their value parsers, the check
//! across them, and the core's [`InternetConfig`] they make.

use super::values::node_id;
use super::{ConfigError, DaemonConfig};
use mcc_core::id::NodeId;
use mcc_core::internet::{ExitPolicy, InternetConfig, Reroute};

/// Empty: none; else a node ID.
pub(super) fn optional_node_id(v: &str) -> Result<Option<NodeId>, String> {
    if v.is_empty() {
        return Ok(None);
    }
    node_id(v).map(Some)
}

/// Empty: none; else `NODE-ID:PORT`.
pub(super) fn reroute(v: &str) -> Result<Option<Reroute>, String> {
    if v.is_empty() {
        return Ok(None);
    }
    let bad = || format!("invalid reroute {v:?} (use NODE-ID:PORT)");
    let (id, port) = v.rsplit_once(':').ok_or_else(bad)?;
    let node = node_id(id.trim())?;
    let port: u16 = port.trim().parse().map_err(|_| bad())?;
    if port == 0 {
        return Err(format!(
            "invalid reroute {v:?} (the port must be 1 to 65535)"
        ));
    }
    Ok(Some(Reroute { node, port }))
}

/// Empty: none; else a shell command on one line.
pub(super) fn hook(v: &str) -> Result<Option<String>, String> {
    if v.chars().any(char::is_control) {
        return Err(format!("invalid hook {v:?} (a control character)"));
    }
    Ok((!v.is_empty()).then(|| v.to_string()))
}

/// The checks across keys, after the file is read.
pub(super) fn check(cfg: &DaemonConfig) -> Result<(), ConfigError> {
    let conflict = |key: &str, reason: &str| ConfigError::Conflict {
        path: cfg.path.clone(),
        key: key.into(),
        reason: reason.into(),
    };
    if cfg.kill_switch && cfg.gateway.is_none() {
        return Err(conflict(
            "kill-switch",
            "needs a gateway (the kill switch keeps the gateway's traffic from leaving in clear)",
        ));
    }
    if !cfg.exit_node_clients.is_empty() && !cfg.exit_node {
        return Err(conflict("exit-node-clients", "needs exit-node = true"));
    }
    let hooks = cfg.gateway_post_add_hook.is_some() || cfg.gateway_post_delete_hook.is_some();
    if hooks && cfg.gateway.is_none() {
        return Err(conflict(
            "gateway-post-add-hook",
            "the gateway hooks need a gateway",
        ));
    }
    Ok(())
}

impl DaemonConfig {
    /// The core's internet tunnels as these keys describe them.
    pub fn internet(&self) -> InternetConfig {
        InternetConfig {
            gateway: self.gateway,
            exit: self.exit_node.then(|| ExitPolicy {
                clients: self.exit_node_clients.clone(),
                ..ExitPolicy::default()
            }),
            reroute_dns: self.reroute_dns,
            reroute_ntp: self.reroute_ntp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;
    use std::path::Path;

    const A: &str = "3zb3xe4gh757dnhdsyrzxxv6efvpgkzg82m08a8w88a5sf48w7x0";

    fn p(text: &str) -> Result<DaemonConfig, ConfigError> {
        parse(text, Path::new("/etc/mcc/mcc.conf"), Path::new("/etc/mcc"))
    }

    #[test]
    fn the_keys_make_the_core_config() {
        let c = p(&format!(
            "exit-node = true\nexit-node-clients = {A}\ngateway = {A}\nkill-switch = true\n\
             reroute-dns = {A}:5353\nreroute-ntp = {A} : 1123\n\
             gateway-post-add-hook = ip rule add sport 1234 lookup main\n"
        ))
        .unwrap();
        let id: NodeId = A.parse().unwrap();
        let i = c.internet();
        assert_eq!(i.gateway, Some(id));
        assert_eq!(i.exit.as_ref().unwrap().clients, vec![id]);
        assert_eq!(
            i.reroute_dns,
            Some(Reroute {
                node: id,
                port: 5353
            })
        );
        assert_eq!(i.reroute_ntp.unwrap().port, 1123);
        assert!(c.kill_switch);
        assert_eq!(
            c.gateway_post_add_hook.as_deref(),
            Some("ip rule add sport 1234 lookup main")
        );
        assert!(p("").unwrap().internet().is_off());
    }

    #[test]
    fn bad_values_and_conflicts_are_refused_with_file_line_and_key() {
        let e = |t: &str| p(t).unwrap_err().to_string();
        assert_eq!(
            e("\nreroute-dns = abc"),
            "/etc/mcc/mcc.conf:2: reroute-dns: invalid reroute \"abc\" (use NODE-ID:PORT)"
        );
        assert!(e(&format!("reroute-ntp = {A}:0")).contains("1 to 65535"));
        assert!(e(&format!("reroute-ntp = {A}:65536")).contains("NODE-ID:PORT"));
        assert!(e("gateway = nope").starts_with("/etc/mcc/mcc.conf:1: gateway: invalid node ID"));
        assert_eq!(
            e("kill-switch = true"),
            "/etc/mcc/mcc.conf: kill-switch: needs a gateway (the kill switch keeps the \
             gateway's traffic from leaving in clear)"
        );
        assert!(e(&format!("exit-node-clients = {A}")).contains("needs exit-node = true"));
        assert!(e("gateway-post-delete-hook = true").contains("need a gateway"));
    }
}
