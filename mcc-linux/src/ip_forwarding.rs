//! IPv4 forwarding of the interfaces that mccd's sections need (external tunnels, forwarding
//! rules), on only while one of them needs it and given back as found.
//!
//! Linux forwards an IPv4 packet when the interface it came in by has `forwarding` on, so a
//! flow to a LAN device needs it on the TUN device (the requests) and on the LAN interface
//! (the replies): per interface, not the host-wide `net.ipv4.ip_forward`, which would make
//! every interface a router. Each section claims what it needs under its name
//! ([`IpForwarding::set`]); an interface is on while any claim names it. The TUN device is mccd's own and vanishes with the daemon;
//! each other interface's previous value is written to `forwarding.json` in the data
//! directory before it is changed, restored on a clean stop, and restored at the next start
//! after a daemon that was killed.
//!
//! Through `/proc/sys` (sysctl), not rtnetlink's `IFLA_INET_CONF`: the kernel's sysctl
//! handler for `forwarding` also turns off LRO on the device (coalesced packets cannot be
//! forwarded) and announces the change (netconf), which the netlink path skips.

use mcc_std::store;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use tracing::warn;

/// The state file's name in the data directory.
pub const STATE_FILE: &str = "forwarding.json";

/// The interfaces whose forwarding this daemon switched on, with their previous values.
pub struct IpForwarding {
    /// `/proc/sys/net/ipv4/conf` (a temporary directory in tests).
    conf: PathBuf,
    state: PathBuf,
    /// What each section asked for: the TUN device or not, and other interfaces.
    claims: BTreeMap<&'static str, (Option<String>, BTreeSet<String>)>,
    /// Interface name to the value it had before (`"0"`).
    changed: BTreeMap<String, String>,
    /// The TUN device and its value before, while switched on by this daemon.
    own: Option<(String, String)>,
}

impl IpForwarding {
    /// Forwarding state kept in `data_dir`. What a daemon that did not stop cleanly left
    /// switched on is restored first, so this run starts from the host's own settings.
    pub fn new(data_dir: &Path) -> Self {
        Self::with_conf(data_dir, Path::new("/proc/sys/net/ipv4/conf"))
    }

    /// With the `conf` directory in place of `/proc/sys/net/ipv4/conf` (tests).
    pub(crate) fn with_conf(data_dir: &Path, conf: &Path) -> Self {
        let mut f = IpForwarding {
            conf: conf.to_path_buf(),
            state: data_dir.join(STATE_FILE),
            claims: BTreeMap::new(),
            changed: BTreeMap::new(),
            own: None,
        };
        match std::fs::read(&f.state) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(left) => {
                    f.changed = left;
                    f.restore_all();
                }
                Err(e) => warn!("{}: {e}; ignored", f.state.display()),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => warn!("{}: {e}", f.state.display()),
        }
        f
    }

    fn path(&self, iface: &str) -> PathBuf {
        self.conf.join(iface).join("forwarding")
    }

    /// What the section `claimant` needs from now on: forwarding on for `own` (the TUN
    /// device: not in the state file, it goes with the daemon) and for `lan`. What was
    /// switched on before and no claim asks for now is restored.
    pub fn set(
        &mut self,
        claimant: &'static str,
        own: Option<&str>,
        lan: &BTreeSet<String>,
    ) -> io::Result<()> {
        if own.is_none() && lan.is_empty() {
            self.claims.remove(claimant);
        } else {
            let claim = (own.map(str::to_string), lan.clone());
            self.claims.insert(claimant, claim);
        }
        let own = self.claims.values().find_map(|(o, _)| o.clone());
        let lan: BTreeSet<String> = self.claims.values().flat_map(|(_, l)| l.clone()).collect();
        self.switch(own.as_deref(), &lan)
    }

    /// Whether `iface` forwards only because this daemon switched it on, or not at all: a
    /// section may then drop what it forwards that no section asked for.
    pub fn forwards_only_for_us(&self, iface: &str) -> io::Result<bool> {
        Ok(self.changed.contains_key(iface) || self.read(iface)? != "1")
    }

    fn switch(&mut self, own: Option<&str>, lan: &BTreeSet<String>) -> io::Result<()> {
        let gone: Vec<String> = self
            .changed
            .keys()
            .filter(|i| !lan.contains(*i))
            .cloned()
            .collect();
        for iface in gone {
            self.restore(&iface);
        }
        for iface in lan {
            if self.changed.contains_key(iface) || own == Some(iface.as_str()) {
                continue;
            }
            let was = self.read(iface)?;
            if was == "1" {
                continue;
            }
            // Recorded before the change: a crash in between still restores it.
            self.changed.insert(iface.clone(), was);
            self.save()?;
            self.write(iface, "1")?;
        }
        match (own, self.own.take()) {
            (Some(tun), Some(was)) if was.0 == tun => self.own = Some(was),
            (Some(tun), was) => {
                self.restore_own(was);
                let before = self.read(tun)?;
                if before != "1" {
                    self.write(tun, "1")?;
                    self.own = Some((tun.to_string(), before));
                }
            }
            (None, was) => self.restore_own(was),
        }
        Ok(())
    }

    fn restore_own(&self, was: Option<(String, String)>) {
        if let Some((tun, v)) = was
            && let Err(e) = self.write(&tun, &v)
            && e.kind() != io::ErrorKind::NotFound
        {
            warn!("restoring forwarding of {tun} to {v}: {e}");
        }
    }

    /// Every interface back to its previous value, whatever is claimed; the state file is
    /// removed.
    pub fn restore_all(&mut self) {
        self.claims.clear();
        let own = self.own.take();
        self.restore_own(own);
        let all: Vec<String> = self.changed.keys().cloned().collect();
        for iface in all {
            self.restore(&iface);
        }
    }

    fn restore(&mut self, iface: &str) {
        let Some(was) = self.changed.remove(iface) else {
            return;
        };
        match self.write(iface, &was) {
            Ok(()) => {}
            // The interface is gone: so is its setting.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => warn!("restoring forwarding of {iface} to {was}: {e}"),
        }
        if let Err(e) = self.save() {
            warn!("{e}");
        }
    }

    fn read(&self, iface: &str) -> io::Result<String> {
        let p = self.path(iface);
        std::fs::read_to_string(&p)
            .map(|s| s.trim().to_string())
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))
    }

    fn write(&self, iface: &str, v: &str) -> io::Result<()> {
        let p = self.path(iface);
        std::fs::write(&p, v).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))
    }

    fn save(&self) -> io::Result<()> {
        if self.changed.is_empty() {
            return match std::fs::remove_file(&self.state) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        let text = serde_json::to_vec_pretty(&self.changed).expect("a map of strings");
        store::write_atomic(&self.state, &text, store::PUBLIC_MODE)
            .map_err(|e| io::Error::other(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf_with(ifaces: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (i, v) in ifaces {
            std::fs::create_dir_all(d.path().join(i)).unwrap();
            std::fs::write(d.path().join(i).join("forwarding"), v).unwrap();
        }
        d
    }

    fn value(conf: &Path, iface: &str) -> String {
        let v = std::fs::read_to_string(conf.join(iface).join("forwarding")).unwrap();
        v.trim().to_string()
    }

    #[test]
    fn switched_on_while_needed_and_restored_even_after_a_crash() {
        let conf = conf_with(&[("mcc0", "0\n"), ("lan0", "0\n"), ("lan1", "1\n")]);
        let data = tempfile::tempdir().unwrap();
        let state = data.path().join(STATE_FILE);
        let lan = |names: &[&str]| names.iter().map(|s| s.to_string()).collect();
        let mut f = IpForwarding::with_conf(data.path(), conf.path());
        f.set("t", Some("mcc0"), &lan(&["lan0", "lan1"])).unwrap();
        assert_eq!(value(conf.path(), "mcc0"), "1");
        assert_eq!(value(conf.path(), "lan0"), "1");
        // lan1 was on already: not ours to restore.
        assert_eq!(
            std::fs::read_to_string(&state)
                .unwrap()
                .matches(':')
                .count(),
            1
        );
        // The daemon is killed (its TUN device goes with it): a new one restores lan0 at once.
        drop(f);
        std::fs::write(conf.path().join("mcc0/forwarding"), "0\n").unwrap();
        let mut g = IpForwarding::with_conf(data.path(), conf.path());
        assert_eq!(value(conf.path(), "lan0"), "0");
        let raw = std::fs::read_to_string(conf.path().join("lan1/forwarding")).unwrap();
        assert_eq!(raw, "1\n", "never written");
        assert!(!state.exists());
        // No longer needed: restored; a clean stop restores the rest.
        g.set("t", Some("mcc0"), &lan(&["lan0"])).unwrap();
        assert_eq!(value(conf.path(), "lan0"), "1");
        g.set("t", None, &lan(&[])).unwrap();
        assert_eq!(value(conf.path(), "lan0"), "0");
        assert_eq!(value(conf.path(), "mcc0"), "0", "the TUN device too");
        g.set("t", Some("mcc0"), &lan(&["lan0"])).unwrap();
        g.restore_all();
        assert_eq!(value(conf.path(), "lan0"), "0");
        assert!(!state.exists());
        // An interface that does not exist is an error naming it.
        let e = g.set("t", None, &lan(&["nope0"])).unwrap_err();
        assert!(e.to_string().contains("nope0"), "{e}");
    }

    #[test]
    fn an_interface_stays_on_while_any_section_claims_it() {
        let conf = conf_with(&[
            ("mcc0", "0\n"),
            ("lan0", "0\n"),
            ("eth0", "0\n"),
            ("up0", "1\n"),
        ]);
        let data = tempfile::tempdir().unwrap();
        let lan = |names: &[&str]| names.iter().map(|s| s.to_string()).collect();
        let mut f = IpForwarding::with_conf(data.path(), conf.path());
        f.set("external", Some("mcc0"), &lan(&["lan0"])).unwrap();
        f.set("rules", Some("mcc0"), &lan(&["lan0", "eth0", "up0"]))
            .unwrap();
        for i in ["mcc0", "lan0", "eth0", "up0"] {
            assert_eq!(value(conf.path(), i), "1", "{i}");
        }
        // On only for us, or off: ours to guard; on before us: not ours.
        assert!(f.forwards_only_for_us("lan0").unwrap());
        assert!(f.forwards_only_for_us("eth0").unwrap());
        assert!(!f.forwards_only_for_us("up0").unwrap());
        assert!(f.forwards_only_for_us("nope0").is_err());
        // The external tunnels go: lan0 stays for the rules, and so does the TUN device.
        f.set("external", None, &lan(&[])).unwrap();
        assert_eq!(value(conf.path(), "lan0"), "1");
        assert_eq!(value(conf.path(), "mcc0"), "1");
        f.set("rules", Some("mcc0"), &lan(&["eth0"])).unwrap();
        assert_eq!(value(conf.path(), "lan0"), "0");
        f.set("rules", None, &lan(&[])).unwrap();
        assert_eq!(value(conf.path(), "eth0"), "0");
        assert_eq!(value(conf.path(), "mcc0"), "0");
        assert_eq!(value(conf.path(), "up0"), "1", "never ours");
        assert!(!data.path().join(STATE_FILE).exists());
    }
}
