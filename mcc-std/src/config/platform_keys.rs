//! Keys a platform refuses by name: a node on Android or macOS that was given `exit-node`,
//! `kill-switch` or a gateway hook stops with an error naming the key, rather than run
//! without what the key asks for.

use super::{ConfigError, DaemonConfig, lexer};

/// A key some platform cannot honour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformKey {
    ExitNode,
    KillSwitch,
    GatewayPostAddHook,
    GatewayPostDeleteHook,
}

impl PlatformKey {
    /// The key's name in mcc.conf.
    pub const fn name(self) -> &'static str {
        match self {
            PlatformKey::ExitNode => "exit-node",
            PlatformKey::KillSwitch => "kill-switch",
            PlatformKey::GatewayPostAddHook => "gateway-post-add-hook",
            PlatformKey::GatewayPostDeleteHook => "gateway-post-delete-hook",
        }
    }

    /// Whether `cfg` asks for it (a value that means off is not asking).
    pub fn is_set(self, cfg: &DaemonConfig) -> bool {
        match self {
            PlatformKey::ExitNode => cfg.exit_node,
            PlatformKey::KillSwitch => cfg.kill_switch,
            PlatformKey::GatewayPostAddHook => cfg.gateway_post_add_hook.is_some(),
            PlatformKey::GatewayPostDeleteHook => cfg.gateway_post_delete_hook.is_some(),
        }
    }
}

/// A key a platform refuses, and what to do instead.
#[derive(Clone, Copy, Debug)]
pub struct Refused {
    pub key: PlatformKey,
    pub why: &'static str,
}

/// The first key of `refused` that `cfg` sets, as an error naming the file, the line (read
/// again from the file; none when it cannot be) and the key.
pub fn refuse_keys(
    cfg: &DaemonConfig,
    platform: &'static str,
    refused: &[Refused],
) -> Result<(), ConfigError> {
    let Some(r) = refused.iter().find(|r| r.key.is_set(cfg)) else {
        return Ok(());
    };
    Err(ConfigError::NotSupported {
        path: cfg.path.clone(),
        line: key_line(cfg, r.key.name()),
        key: r.key.name().into(),
        platform,
        why: r.why,
    })
}

fn key_line(cfg: &DaemonConfig, key: &str) -> Option<usize> {
    let text = std::fs::read_to_string(&cfg.path).ok()?;
    let mut found = None;
    let _ = lexer::for_each_entry(&text, &cfg.path, |line, k, _| {
        if k == key && found.is_none() {
            found = Some(line);
        }
        Ok(())
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "3zb3xe4gh757dnhdsyrzxxv6efvpgkzg82m08a8w88a5sf48w7x0";
    const LIST: [Refused; 4] = [
        Refused {
            key: PlatformKey::ExitNode,
            why: "no NAT here",
        },
        Refused {
            key: PlatformKey::KillSwitch,
            why: "the OS has one",
        },
        Refused {
            key: PlatformKey::GatewayPostAddHook,
            why: "no shell",
        },
        Refused {
            key: PlatformKey::GatewayPostDeleteHook,
            why: "no shell",
        },
    ];

    fn refused(text: &str) -> Result<(), String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mcc.conf"), text).unwrap();
        let cfg = super::super::load(dir.path()).map_err(|e| format!("load: {e}"))?;
        refuse_keys(&cfg, "Testland", &LIST).map_err(|e| {
            e.to_string()
                .replace(&dir.path().display().to_string(), "DIR")
        })
    }

    #[test]
    fn each_key_is_refused_by_name_with_its_line() {
        assert_eq!(
            refused("# x\nexit-node = true\n"),
            Err("DIR/mcc.conf:2: exit-node: not supported on Testland (no NAT here)".into())
        );
        assert_eq!(
            refused(&format!("gateway = {A}\n\nkill-switch = true\n")),
            Err("DIR/mcc.conf:3: kill-switch: not supported on Testland (the OS has one)".into())
        );
        let e = refused(&format!("gateway = {A}\ngateway-post-add-hook = true\n")).unwrap_err();
        assert!(
            e.starts_with("DIR/mcc.conf:2: gateway-post-add-hook: not supported"),
            "{e}"
        );
        let e = refused(&format!("gateway = {A}\ngateway-post-delete-hook = true\n")).unwrap_err();
        assert!(
            e.starts_with("DIR/mcc.conf:2: gateway-post-delete-hook:"),
            "{e}"
        );
    }

    #[test]
    fn off_values_and_the_gateway_itself_pass() {
        assert_eq!(
            refused(&format!(
                "gateway = {A}\nexit-node = false\nkill-switch = false\n\
                 gateway-post-add-hook =\nreroute-dns = {A}:53\n"
            )),
            Ok(())
        );
        assert_eq!(refused(""), Ok(()));
    }
}
