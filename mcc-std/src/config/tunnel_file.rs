//! The tunnel files (`tunnels/*.conf`): their key table, reading and writing.

use super::ConfigError;
use super::net::{external_address, format_static, static_addr};
use super::table::{self, Key, Value, set};
use super::values::{dns_names, path};
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// One tunnel file of the `tunnels` directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelConf {
    /// The tunnel file itself.
    pub path: PathBuf,
    pub certificate: PathBuf,
    pub private_key: PathBuf,
    /// LAN device (RFC 1918) that receives the traffic; `None` for `0.0.0.0`.
    pub external_ip_address: Option<Ipv4Addr>,
    pub dns_names: Vec<String>,
    /// `None` for `10.115.0.0/16`.
    pub static_addr: Option<Ipv4Addr>,
}

/// The keys of a tunnel file, in the order [`tunnel_conf_text`] writes them.
static TUNNEL_KEYS: &[Key<TunnelConf>] = &[
    Key {
        name: "certificate",
        default: "",
        doc: "Tunnel certificate (relative to this file's directory).",
        value: Value::Required(|t, v, dir| set(&mut t.certificate, path(dir, v))),
    },
    Key {
        name: "private-key",
        default: "",
        doc: "Tunnel private key (relative to this file's directory).",
        value: Value::Required(|t, v, dir| set(&mut t.private_key, path(dir, v))),
    },
    Key {
        name: "external-ip-address",
        default: "0.0.0.0",
        doc: "LAN device (RFC 1918) that receives the traffic; 0.0.0.0 means none.",
        value: Value::Set(|t, v, _| set(&mut t.external_ip_address, external_address(v))),
    },
    Key {
        name: "dns-names",
        default: "",
        doc: "Comma-separated DNS names of the server endpoint; on this node they replace the\n\
              certificate's names (empty: the certificate's).",
        value: Value::Set(|t, v, _| set(&mut t.dns_names, dns_names(v))),
    },
    Key {
        name: "static-addr",
        default: "10.115.0.0/16",
        doc: "Static address of the server endpoint; 10.115.0.0/16 means none.",
        value: Value::Set(|t, v, _| set(&mut t.static_addr, static_addr(v))),
    },
];

/// Reads every `*.conf` file of `dir`, sorted by name. A missing directory has no tunnels.
pub fn load_tunnels(dir: &Path) -> Result<Vec<TunnelConf>, ConfigError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ConfigError::Io { path, source }
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(io_err(dir))?.path();
        let is_conf = path
            .file_name()
            .is_some_and(|n| n.as_encoded_bytes().ends_with(b".conf"));
        // Follows symlinks; directories named *.conf are skipped.
        if is_conf && std::fs::metadata(&path).map_err(io_err(&path))?.is_file() {
            files.push(path);
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
            parse_tunnel(&text, &path)
        })
        .collect()
}

/// Parses one tunnel file; relative paths are resolved against the file's directory.
pub fn parse_tunnel(text: &str, file: &Path) -> Result<TunnelConf, ConfigError> {
    let dir = file.parent().unwrap_or(Path::new(""));
    let mut t = TunnelConf {
        path: file.to_path_buf(),
        certificate: PathBuf::new(),
        private_key: PathBuf::new(),
        external_ip_address: None,
        dns_names: Vec::new(),
        static_addr: None,
    };
    table::apply_defaults(TUNNEL_KEYS, &mut t, dir);
    // A tunnel file has no unsupported keys.
    table::apply(TUNNEL_KEYS, text, file, dir, &mut t)?;
    Ok(t)
}

/// The text of a tunnel file; file names are relative to the tunnels directory.
pub fn tunnel_conf_text(
    cert_file: &str,
    key_file: &str,
    external: Option<Ipv4Addr>,
    dns_names: &[String],
    static_addr: Option<Ipv4Addr>,
) -> String {
    let mut out = String::from("# Tunnel file of mccd: one `key = value` per line.\n");
    table::render(&mut out, TUNNEL_KEYS, |key| {
        Some(match key {
            "certificate" => cert_file.into(),
            "private-key" => key_file.into(),
            "external-ip-address" => external.unwrap_or(Ipv4Addr::UNSPECIFIED).to_string(),
            "dns-names" => dns_names.join(","),
            "static-addr" => format_static(static_addr),
            _ => return None,
        })
    });
    out
}
