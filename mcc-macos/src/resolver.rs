//! DNS through `/etc/resolver`: macOS sends queries for names under a domain to the
//! nameserver in `/etc/resolver/<domain>`, so one small file points `.home.arpa` at the
//! daemon's DNS server (`dns-addr`, 127.0.0.1:8353 by default).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// Where macOS reads per-domain resolver files.
pub const RESOLVER_DIR: &str = "/etc/resolver";

/// The file name for a domain: without leading or trailing dots (`.home.arpa` →
/// `home.arpa`). `None` if nothing is left or it could leave the directory or is not a
/// plain DNS name (only ASCII letters, digits, `-`, `_` and inner dots).
pub fn file_name(domain: &str) -> Option<&str> {
    let d = domain.trim_start_matches('.').trim_end_matches('.');
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    ok.then_some(d)
}

/// The resolver file's path for `domain` under `dir` (normally [`RESOLVER_DIR`]).
pub fn path_in(dir: &Path, domain: &str) -> Option<PathBuf> {
    file_name(domain).map(|f| dir.join(f))
}

/// `/etc/resolver/<domain>`, e.g. `/etc/resolver/home.arpa` for `.home.arpa`.
pub fn path(domain: &str) -> Option<PathBuf> {
    path_in(Path::new(RESOLVER_DIR), domain)
}

/// The file's content: the DNS server's address and port (`nameserver 127.0.0.1\nport
/// 8353\n`). An IPv6 address is written bare, as resolver(5) expects; a server bound to
/// the unspecified address is reached over loopback.
pub fn content(dns_addr: SocketAddr) -> String {
    let ip = match dns_addr.ip() {
        IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("nameserver {ip}\nport {}\n", dns_addr.port())
}

/// Writes the resolver file for `domain` into `dir` (created if missing) and returns
/// its path. The file is written under a temporary name and renamed, so a reader never
/// sees half of it.
pub fn install(dir: &Path, domain: &str, dns_addr: SocketAddr) -> io::Result<PathBuf> {
    let path = path_in(dir, domain).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("resolver.domain {domain:?} cannot name a resolver file"),
        )
    })?;
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("mcc-tmp");
    std::fs::write(&tmp, content(dns_addr))?;
    std::fs::rename(&tmp, &path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    Ok(path)
}

/// Removes the file [`install`] wrote, if it is still ours (same content); a missing file
/// is not an error.
pub fn remove(path: &Path, dns_addr: SocketAddr) -> io::Result<()> {
    match std::fs::read_to_string(path) {
        Ok(text) if text == content(dns_addr) => std::fs::remove_file(path),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> SocketAddr {
        "127.0.0.1:8353".parse().unwrap()
    }

    #[test]
    fn content_and_path_for_the_default_domain() {
        assert_eq!(content(local()), "nameserver 127.0.0.1\nport 8353\n");
        assert_eq!(
            path(".home.arpa").unwrap(),
            Path::new("/etc/resolver/home.arpa")
        );
        assert_eq!(path("home.arpa").unwrap(), path(".home.arpa").unwrap());
        assert_eq!(file_name(".staex."), Some("staex"));
    }

    #[test]
    fn ipv6_nameserver_is_bare() {
        let a: SocketAddr = "[::1]:53".parse().unwrap();
        assert_eq!(content(a), "nameserver ::1\nport 53\n");
        let any4: SocketAddr = "0.0.0.0:8353".parse().unwrap();
        assert_eq!(content(any4), "nameserver 127.0.0.1\nport 8353\n");
        let any6: SocketAddr = "[::]:8353".parse().unwrap();
        assert_eq!(content(any6), "nameserver ::1\nport 8353\n");
    }

    #[test]
    fn rejects_domains_that_are_not_plain_names() {
        for bad in [
            "", ".", "..", "../x", "a/b", "/etc", "a..b", "a b", "a\0b", "ä.de",
        ] {
            assert_eq!(file_name(bad), None, "{bad:?}");
        }
        assert_eq!(file_name(&"a".repeat(64)), None);
        assert_eq!(file_name("83.10.in-addr.arpa"), Some("83.10.in-addr.arpa"));
    }

    #[test]
    fn install_and_remove() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("resolver");
        let p = install(&dir, ".home.arpa", local()).unwrap();
        assert_eq!(p, dir.join("home.arpa"));
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "nameserver 127.0.0.1\nport 8353\n"
        );
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temp file left"
        );
        // Overwrites an older file.
        let other: SocketAddr = "127.0.0.1:53".parse().unwrap();
        install(&dir, "home.arpa", other).unwrap();
        // Someone else's file is left alone.
        remove(&p, local()).unwrap();
        assert!(p.exists());
        remove(&p, other).unwrap();
        assert!(!p.exists());
        remove(&p, other).unwrap();
        assert_eq!(
            install(&dir, "../x", local()).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }
}
