//! The dnsmasq drop-in (`dnsmasq-enable`, `dnsmasq-directory`, `dnsmasq-restart-command`):
//! `mcc.conf` in dnsmasq's configuration directory, which sends the overlay's names to
//! mccd's DNS server, so that whatever asks dnsmasq (the host itself on OpenWrt, LAN and
//! Android clients) resolves node IDs and names, and everything else goes where it went.
//!
//! The file sends to `dns-addr` (the wildcard address as loopback): the names under
//! `resolver.domain`; names without a dot (node IDs, `dns-names`; `server=//`); and the
//! reverse zones [`crate::dns`] serves (`resolver.ipv4-network`, `resolver.ipv6-network`,
//! the static addresses), cut at label boundaries as [`dns::reverse_zone_apexes`] gives
//! them. It also exempts those names from `stop-dns-rebind` (OpenWrt's
//! `rebind_protection`), which drops private addresses in upstream answers: every overlay
//! address is private, and these answers come from this node.
//!
//! At start mccd writes the file when its content differs from what is there, atomically
//! (temporary file, fsync, rename: dnsmasq never reads half a file, and it skips the
//! temporary's dot name), then runs `dnsmasq-restart-command` in the background: dnsmasq
//! reads its `server=` lines only when it starts. The file is not removed when mccd stops
//! (the docs): dnsmasq keeps forwarding to a server that is back after a restart.

use crate::config::DaemonConfig;
use crate::dns;
use crate::dns_service::dns_config;
use crate::store::{self, StoreError};
use std::fmt::Write as _;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use tracing::{debug, info, warn};

/// The drop-in's name inside `dnsmasq-directory`.
pub const FILE_NAME: &str = "mcc.conf";
/// How much of a failed restart command's output is logged.
const MAX_LOGGED_OUTPUT: usize = 512;

/// Why the drop-in cannot be written. Each names `mcc.conf` and the key to correct.
#[derive(Debug, thiserror::Error)]
pub enum DnsmasqError {
    /// `dnsmasq-enable = true` and the directory is missing: create it (is dnsmasq
    /// installed?) or point `dnsmasq-directory` at dnsmasq's `conf-dir`.
    #[error(
        "{}: dnsmasq-directory: {}: no such directory (dnsmasq-enable is true; create it or set dnsmasq-directory to dnsmasq's conf-dir)",
        file.display(), dir.display()
    )]
    NoDirectory { file: PathBuf, dir: PathBuf },
    /// Something other than a directory is at `dnsmasq-directory`.
    #[error("{}: dnsmasq-directory: {}: not a directory", file.display(), dir.display())]
    NotADirectory { file: PathBuf, dir: PathBuf },
    /// The directory or the file cannot be read or written (permissions, read-only file
    /// system: a sandboxed service needs the directory writable).
    #[error("{}: dnsmasq-directory: {source}", file.display())]
    Access { file: PathBuf, source: StoreError },
    /// `dnsmasq-enable = true` with `dns-enable = false`: the drop-in would send names to
    /// a server that is not there.
    #[error("{}: dnsmasq-enable: true needs the DNS server, but dns-enable is false", file.display())]
    NoDnsServer { file: PathBuf },
}

/// The drop-in a configuration asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DropIn {
    /// The configuration file, named in errors.
    config_file: PathBuf,
    path: PathBuf,
    text: String,
    restart_command: Option<String>,
}

impl DropIn {
    /// The drop-in of `cfg`, or `None` when the integration is off: `dnsmasq-enable =
    /// false`, or unset and no directory at `dnsmasq-directory` (or, unset, no DNS server).
    /// Checks the directory; writes nothing.
    pub fn from_config(cfg: &DaemonConfig) -> Result<Option<DropIn>, DnsmasqError> {
        let dir = &cfg.dnsmasq_directory;
        let file = || cfg.path.clone();
        let explicit = match cfg.dnsmasq_enable {
            Some(false) => return Ok(None),
            Some(true) => true,
            None => false,
        };
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(DnsmasqError::NotADirectory {
                    file: file(),
                    dir: dir.clone(),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && !explicit => {
                debug!(
                    "dnsmasq: no {}: no drop-in (dnsmasq-enable unset)",
                    dir.display()
                );
                return Ok(None);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(DnsmasqError::NoDirectory {
                    file: file(),
                    dir: dir.clone(),
                });
            }
            Err(source) => {
                return Err(DnsmasqError::Access {
                    file: file(),
                    source: StoreError::Io {
                        path: dir.clone(),
                        source,
                    },
                });
            }
        }
        if !cfg.dns_enable {
            if explicit {
                return Err(DnsmasqError::NoDnsServer { file: file() });
            }
            info!(
                "dnsmasq: no drop-in in {}: the DNS server is off (dns-enable = false)",
                dir.display()
            );
            return Ok(None);
        }
        Ok(Some(DropIn {
            config_file: cfg.path.clone(),
            path: dir.join(FILE_NAME),
            text: drop_in_text(cfg),
            restart_command: cfg.dnsmasq_restart_command.clone(),
        }))
    }

    /// `dnsmasq-directory/mcc.conf`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the file holds.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Writes the file unless it already holds [`Self::text`]; true when it wrote.
    pub fn write(&self) -> Result<bool, DnsmasqError> {
        let access = |source| DnsmasqError::Access {
            file: self.config_file.clone(),
            source,
        };
        match std::fs::read(&self.path) {
            Ok(old) if old == self.text.as_bytes() => return Ok(false),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(access(StoreError::Io {
                    path: self.path.clone(),
                    source,
                }));
            }
        }
        store::write_atomic(&self.path, self.text.as_bytes(), store::PUBLIC_MODE)
            .map_err(access)?;
        Ok(true)
    }

    /// What mccd does at start: writes the file if it changed and then, when
    /// `dnsmasq-restart-command` is set, runs it in the background (its failure is logged).
    pub fn apply(&self) -> Result<(), DnsmasqError> {
        if !self.write()? {
            info!("dnsmasq: {} is up to date", self.path.display());
            return Ok(());
        }
        match &self.restart_command {
            Some(command) => {
                info!(
                    "dnsmasq: wrote {}; running dnsmasq-restart-command",
                    self.path.display()
                );
                restart_in_background(command.clone());
            }
            None => info!(
                "dnsmasq: wrote {}; dnsmasq reads it when it restarts (dnsmasq-restart-command is unset)",
                self.path.display()
            ),
        }
        Ok(())
    }
}

/// The drop-in's text for `cfg`.
pub fn drop_in_text(cfg: &DaemonConfig) -> String {
    let dns = dns_config(cfg);
    let server = server_address(cfg.dns_addr);
    let mut out = format!(
        "# dnsmasq configuration written by mccd from {} (dnsmasq-enable): it is\n\
         # replaced when resolver.domain, resolver.ipv4-network, resolver.ipv6-network or\n\
         # dns-addr change, and stays when mccd stops.\n\
         #\n\
         # Names under the overlay's domain, and names without a dot (node IDs, dns-names),\n\
         # are answered by mccd's DNS server.\n",
        cfg.path.display()
    );
    let _ = writeln!(out, "server=/{}/{server}", dns.domain);
    let _ = writeln!(out, "server=//{server}");
    out.push_str("# The reverse zones of the resolver's networks and of the static addresses.\n");
    for zone in &dns.reverse_zones {
        for apex in dns::reverse_zone_apexes(zone) {
            let _ = writeln!(out, "server=/{apex}/{server}");
        }
    }
    out.push_str(
        "# Their answers are overlay addresses, which are private: let them through\n\
         # stop-dns-rebind (OpenWrt's rebind_protection) for these names only.\n",
    );
    let _ = writeln!(out, "rebind-domain-ok=/{}/", dns.domain);
    out.push_str("rebind-domain-ok=//\n");
    out
}

/// `dns-addr` as dnsmasq's `server=` takes it (`IP#PORT`); a wildcard address is reached
/// through the loopback.
fn server_address(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("{ip}#{}", addr.port())
}

/// Runs `command` on a thread of its own (a restart may take a while, and must not hold up
/// the node) and logs how it ended.
fn restart_in_background(command: String) {
    let spawned = std::thread::Builder::new()
        .name("dnsmasq-restart".into())
        .spawn(move || match run_restart(&command) {
            Ok(()) => info!("dnsmasq-restart-command `{command}`: done"),
            Err(e) => warn!("dnsmasq-restart-command `{command}` failed: {e}"),
        });
    if let Err(e) = spawned {
        warn!("dnsmasq-restart-command: no thread to run it: {e}");
    }
}

/// Runs `command` with `/bin/sh -c` and waits for it. The error is its exit status and the
/// end of what it printed.
fn run_restart(command: &str) -> Result<(), String> {
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run /bin/sh: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let mut said = String::from_utf8_lossy(&out.stderr).into_owned();
    if said.trim().is_empty() {
        said = String::from_utf8_lossy(&out.stdout).into_owned();
    }
    let said = said.trim();
    if said.is_empty() {
        return Err(out.status.to_string());
    }
    // The end: a shell's last words say what went wrong.
    let start = said
        .char_indices()
        .map(|(i, _)| i)
        .find(|&i| said.len() - i <= MAX_LOGGED_OUTPUT)
        .unwrap_or(said.len());
    Err(format!("{}: {}", out.status, &said[start..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn config(dir: &Path, extra: &str) -> DaemonConfig {
        let conf = dir.join("etc");
        crate::config::parse(
            &format!(
                "dnsmasq-directory = {}\n{extra}",
                dir.join("dnsmasq.d").display()
            ),
            &conf.join("mcc.conf"),
            &conf,
        )
        .unwrap()
    }

    #[test]
    fn the_text_follows_the_resolver_keys() {
        let d = tempfile::tempdir().unwrap();
        let cfg = config(
            d.path(),
            "resolver.domain = .Staex\nresolver.ipv4-network = 10.99.0.0/20\n\
             resolver.ipv6-network = fd99::/64\ndns-addr = 0.0.0.0:5353\n",
        );
        let text = drop_in_text(&cfg);
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        let mut want = vec![
            "server=/staex/127.0.0.1#5353".to_string(),
            "server=//127.0.0.1#5353".into(),
        ];
        want.extend((0..16).map(|i| format!("server=/{i}.99.10.in-addr.arpa/127.0.0.1#5353")));
        want.push("server=/0.0.0.0.0.0.0.0.0.0.0.0.9.9.d.f.ip6.arpa/127.0.0.1#5353".into());
        want.push("server=/115.10.in-addr.arpa/127.0.0.1#5353".into());
        want.push("rebind-domain-ok=/staex/".into());
        want.push("rebind-domain-ok=//".into());
        assert_eq!(lines, want);
        let v6 = config(d.path(), "dns-addr = [::]:53\n");
        assert!(drop_in_text(&v6).contains("\nserver=//::1#53\n"));
        let v6 = config(d.path(), "dns-addr = [fd00::1]:8353\n");
        assert!(drop_in_text(&v6).contains("\nserver=/home.arpa/fd00::1#8353\n"));
    }

    #[test]
    fn the_openwrt_package_ships_what_mccd_writes_there() {
        // The .ipk installs this file so that dnsmasq, restarted by the postinst, forwards
        // at once; mccd with the defaults then finds it up to date (no restart needed).
        let cfg = DaemonConfig::defaults(Path::new("/etc/mcc"));
        assert_eq!(
            drop_in_text(&cfg),
            include_str!("../../packaging/openwrt/dnsmasq-mcc.conf")
        );
    }

    #[test]
    fn written_atomically_and_only_when_it_changes() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("dnsmasq.d")).unwrap();
        let cfg = config(d.path(), "");
        let drop = DropIn::from_config(&cfg).unwrap().unwrap();
        assert_eq!(drop.path(), d.path().join("dnsmasq.d/mcc.conf"));
        assert!(drop.write().unwrap());
        let meta = std::fs::metadata(drop.path()).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o644);
        assert_eq!(std::fs::read_to_string(drop.path()).unwrap(), drop.text());
        // The same content again: not written (same inode, same mtime).
        assert!(!drop.write().unwrap());
        let again = std::fs::metadata(drop.path()).unwrap();
        assert_eq!(
            (again.ino(), again.mtime(), again.mtime_nsec()),
            (meta.ino(), meta.mtime(), meta.mtime_nsec())
        );
        // Another content: replaced by a rename (a new inode), nothing else left behind.
        let other = DropIn::from_config(&config(d.path(), "resolver.domain = .mesh\n"))
            .unwrap()
            .unwrap();
        assert!(other.write().unwrap());
        assert_ne!(std::fs::metadata(drop.path()).unwrap().ino(), meta.ino());
        assert!(other.text().contains("server=/mesh/127.0.0.1#8353\n"));
        let names: Vec<_> = std::fs::read_dir(d.path().join("dnsmasq.d"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["mcc.conf"]);
        // A file edited by hand is put back.
        std::fs::write(drop.path(), "server=/home.arpa/10.0.0.1\n").unwrap();
        assert!(drop.write().unwrap());
        assert_eq!(std::fs::read_to_string(drop.path()).unwrap(), drop.text());
    }

    #[test]
    fn on_when_the_directory_exists_unless_told() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("dnsmasq.d");
        // Unset: off without the directory, and the directory is not created.
        assert_eq!(DropIn::from_config(&config(d.path(), "")).unwrap(), None);
        assert!(!missing.exists());
        let e = DropIn::from_config(&config(d.path(), "dnsmasq-enable = true\n")).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}: dnsmasq-directory: {}: no such directory (dnsmasq-enable is true; create it or set dnsmasq-directory to dnsmasq's conf-dir)",
                d.path().join("etc/mcc.conf").display(),
                missing.display()
            )
        );
        std::fs::create_dir(&missing).unwrap();
        assert!(
            DropIn::from_config(&config(d.path(), ""))
                .unwrap()
                .is_some()
        );
        assert_eq!(
            DropIn::from_config(&config(d.path(), "dnsmasq-enable = false\n")).unwrap(),
            None
        );
        // Without the DNS server: off when unset, refused when asked for.
        assert_eq!(
            DropIn::from_config(&config(d.path(), "dns-enable = false\n")).unwrap(),
            None
        );
        let e = DropIn::from_config(&config(
            d.path(),
            "dns-enable = false\ndnsmasq-enable = true\n",
        ))
        .unwrap_err();
        assert!(
            e.to_string().ends_with(
                "mcc.conf: dnsmasq-enable: true needs the DNS server, but dns-enable is false"
            ),
            "{e}"
        );
        // A file in the directory's place is refused whether asked for or not.
        std::fs::remove_dir(&missing).unwrap();
        std::fs::write(&missing, "").unwrap();
        for extra in ["", "dnsmasq-enable = true\n"] {
            let e = DropIn::from_config(&config(d.path(), extra)).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "{}: dnsmasq-directory: {}: not a directory",
                    d.path().join("etc/mcc.conf").display(),
                    missing.display()
                )
            );
        }
    }

    #[test]
    fn a_file_that_cannot_be_replaced_is_an_error_naming_the_key() {
        // A directory where the file goes: reading and renaming over it fail, even as root.
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("dnsmasq.d").join(FILE_NAME);
        std::fs::create_dir_all(&target).unwrap();
        let drop = DropIn::from_config(&config(d.path(), "")).unwrap().unwrap();
        let e = drop.write().unwrap_err().to_string();
        let want = format!(
            "{}: dnsmasq-directory: {}: ",
            d.path().join("etc/mcc.conf").display(),
            target.display()
        );
        assert!(e.starts_with(&want), "{e}");
    }

    #[test]
    fn the_restart_command_reports_its_exit_status_and_output() {
        assert_eq!(run_restart("true"), Ok(()));
        assert_eq!(
            run_restart("echo no dnsmasq here >&2; exit 3"),
            Err("exit status: 3: no dnsmasq here".into())
        );
        assert_eq!(run_restart("exit 4"), Err("exit status: 4".into()));
        let long = run_restart("head -c 5000 /dev/zero | tr '\\0' x; exit 1").unwrap_err();
        assert_eq!(long.len(), "exit status: 1: ".len() + MAX_LOGGED_OUTPUT);
        let d = tempfile::tempdir().unwrap();
        let mark = d.path().join("ran");
        assert_eq!(run_restart(&format!("touch '{}'", mark.display())), Ok(()));
        assert!(mark.exists());
    }
}
