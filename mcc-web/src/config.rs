//! `mcc-web.conf`: the web daemon's configuration file. The same `key = value` format as
//! `mcc.conf`, read with mcc-std's key table, so a bad line is refused with
//! `file:line: key: reason` exactly as mccd refuses one.

use mcc_std::config::table::{self, Key, Value, set};
use mcc_std::config::{ConfigError, parse_duration, parse_log_level};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file's name inside the configuration directory.
pub const CONFIG_FILE: &str = "mcc-web.conf";
/// The configuration directory when none is given.
pub const DEFAULT_DIR: &str = "/etc/mcc-web";
/// The self-signed certificate and key written on first start (when none is configured).
pub const GENERATED_CERT: &str = "tls-certificate.pem";
pub const GENERATED_KEY: &str = "tls-key.pem";

/// The contents of `mcc-web.conf`, defaults filled in, paths absolute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebConfig {
    /// The file this was read from (it may not exist: then every key has its default).
    pub path: PathBuf,
    pub dir: PathBuf,
    pub log_level: String,
    pub password_file: PathBuf,
    pub valid_users: Vec<String>,
    pub http_listen: SocketAddr,
    pub static_files_path: PathBuf,
    pub pre_session_timeout: Duration,
    pub max_pre_sessions: usize,
    pub session_timeout: Duration,
    pub max_sessions: usize,
    pub mcc_config_dir: PathBuf,
    pub mcc_restart_command: String,
    /// Both set, or neither (then [`GENERATED_CERT`] and [`GENERATED_KEY`] are used).
    pub tls_certificate_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// `None`: no metrics listener.
    pub metrics_listen: Option<SocketAddr>,
    pub network_key_file: Option<PathBuf>,
    pub login_attempts: LoginAttempts,
}

/// `login-attempts = N/PERIOD`: at most N login attempts per client address in a burst,
/// refilled at N per PERIOD (a token bucket).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginAttempts {
    pub burst: u32,
    pub per: Duration,
}

impl LoginAttempts {
    fn parse(v: &str) -> Result<LoginAttempts, String> {
        let bad = || format!("invalid rate {v:?} (use N/PERIOD, e.g. 5/min, 10/1h, 3/30s)");
        let (n, per) = v.split_once('/').ok_or_else(bad)?;
        let burst: u32 = n.trim().parse().map_err(|_| bad())?;
        if burst == 0 || burst > 10_000 {
            return Err(format!("invalid rate {v:?} (N must be 1 to 10000)"));
        }
        let per = match per.trim() {
            "s" | "sec" => Duration::from_secs(1),
            "min" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            p => parse_duration(p).map_err(|_| bad())?,
        };
        Ok(LoginAttempts { burst, per })
    }
}

fn path(dir: &Path, v: &str) -> Result<PathBuf, String> {
    if v.is_empty() {
        return Err("empty path".into());
    }
    Ok(dir.join(v))
}

fn optional_path(dir: &Path, v: &str) -> Result<Option<PathBuf>, String> {
    Ok((!v.is_empty()).then(|| dir.join(v)))
}

fn socket_addr(v: &str) -> Result<SocketAddr, String> {
    v.parse()
        .map_err(|_| format!("invalid address {v:?} (use ip:port, e.g. 0.0.0.0:8383 or [::]:8383)"))
}

fn count(v: &str) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(n) if (1..=1_000_000).contains(&n) => Ok(n),
        _ => Err(format!("invalid number {v:?} (use 1 to 1000000)")),
    }
}

fn users(v: &str) -> Result<Vec<String>, String> {
    let list: Vec<String> = v
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if list.is_empty() {
        return Err("at least one user name is needed".into());
    }
    if let Some(u) = list
        .iter()
        .find(|u| u.len() > 64 || u.chars().any(|c| c.is_control() || c.is_whitespace()))
    {
        return Err(format!(
            "invalid user name {u:?} (at most 64 characters, no blanks)"
        ));
    }
    Ok(list)
}

/// The keys of `mcc-web.conf`, in the order `mcc-web -C` prints them.
static KEYS: &[Key<WebConfig>] = &[
    Key {
        name: "log-level",
        default: "info",
        doc: "Log level: off, error, warn, info, debug or trace.",
        value: Value::Set(|c, v, _| set(&mut c.log_level, parse_log_level(v))),
    },
    Key {
        name: "password-file",
        default: "password.txt",
        doc: "The argon2id hash of the password (PHC string), written by\n\
              `mcc-web set-password`; relative to this file's directory.",
        value: Value::Set(|c, v, d| set(&mut c.password_file, path(d, v))),
    },
    Key {
        name: "valid-users",
        default: "mcc",
        doc: "User names that may log in (comma-separated), all with the password above.",
        value: Value::Set(|c, v, _| set(&mut c.valid_users, users(v))),
    },
    Key {
        name: "http-listen",
        default: "0.0.0.0:8383",
        doc: "Listen address (ip:port) of the web UI and REST API (HTTPS only).",
        value: Value::Set(|c, v, _| set(&mut c.http_listen, socket_addr(v))),
    },
    Key {
        name: "static-files-path",
        default: "/usr/share/mcc-web/www",
        doc: "Directory of the web UI's files; when it does not exist, the copy built into\n\
              the binary is served.",
        value: Value::Set(|c, v, d| set(&mut c.static_files_path, path(d, v))),
    },
    Key {
        name: "pre-session-timeout",
        default: "1h",
        doc: "How long a login form (pre-session) stays valid.",
        value: Value::Set(|c, v, _| set(&mut c.pre_session_timeout, parse_duration(v))),
    },
    Key {
        name: "max-pre-sessions",
        default: "999",
        doc: "Most pre-sessions at once; a new one replaces the oldest.",
        value: Value::Set(|c, v, _| set(&mut c.max_pre_sessions, count(v))),
    },
    Key {
        name: "session-timeout",
        default: "1h",
        doc: "A session ends after this long without a request.",
        value: Value::Set(|c, v, _| set(&mut c.session_timeout, parse_duration(v))),
    },
    Key {
        name: "max-sessions",
        default: "999",
        doc: "Most sessions at once; a login beyond it is refused (503).",
        value: Value::Set(|c, v, _| set(&mut c.max_sessions, count(v))),
    },
    Key {
        name: "mcc-config-dir",
        default: "/etc/mcc",
        doc: "mccd's configuration directory: its mcc.conf names the control socket, the\n\
              certificates and the tunnels directory, and is what the UI edits.",
        value: Value::Set(|c, v, d| set(&mut c.mcc_config_dir, path(d, v))),
    },
    Key {
        name: "mcc-restart-command",
        default: "systemctl restart mcc",
        doc: "Run with /bin/sh -c after the UI changed mcc.conf.",
        value: Value::Set(|c, v, _| {
            if v.is_empty() {
                return Err("empty command".into());
            }
            c.mcc_restart_command = v.to_string();
            Ok(())
        }),
    },
    Key {
        name: "tls-certificate-file",
        default: "",
        doc: "Certificate chain (PEM) of the HTTPS listener. Unset (with tls-key-file): a\n\
              self-signed one is generated on first start into tls-certificate.pem.",
        value: Value::Set(|c, v, d| set(&mut c.tls_certificate_file, optional_path(d, v))),
    },
    Key {
        name: "tls-key-file",
        default: "",
        doc: "Private key (PEM) of tls-certificate-file. Unset: tls-key.pem (mode 0600).",
        value: Value::Set(|c, v, d| set(&mut c.tls_key_file, optional_path(d, v))),
    },
    Key {
        name: "metrics-listen",
        default: "127.0.0.1:8384",
        doc: "Listen address of the Prometheus /metrics endpoint (plain HTTP, no login:\n\
              keep it on loopback or a management network). Empty: no metrics.",
        value: Value::Set(|c, v, _| {
            c.metrics_listen = if v.is_empty() {
                None
            } else {
                Some(socket_addr(v)?)
            };
            Ok(())
        }),
    },
    Key {
        name: "network-key-file",
        default: "",
        doc: "The network private key, so that tunnels can be created and revoked from the UI\n\
              without pasting it. Unset: each such request carries the key.",
        value: Value::Set(|c, v, d| set(&mut c.network_key_file, optional_path(d, v))),
    },
    Key {
        name: "login-attempts",
        default: "5/min",
        doc: "Login attempts per client address: N at once, refilled at N per period\n\
              (N/s, N/min, N/h or N/<duration>); beyond it a login is answered 429.",
        value: Value::Set(|c, v, _| set(&mut c.login_attempts, LoginAttempts::parse(v))),
    },
];

impl WebConfig {
    /// Every key's default, for the configuration directory `dir`.
    pub fn defaults(dir: &Path) -> WebConfig {
        let mut c = WebConfig {
            path: dir.join(CONFIG_FILE),
            dir: dir.to_path_buf(),
            log_level: String::new(),
            password_file: PathBuf::new(),
            valid_users: Vec::new(),
            http_listen: SocketAddr::from(([0, 0, 0, 0], 0)),
            static_files_path: PathBuf::new(),
            pre_session_timeout: Duration::ZERO,
            max_pre_sessions: 0,
            session_timeout: Duration::ZERO,
            max_sessions: 0,
            mcc_config_dir: PathBuf::new(),
            mcc_restart_command: String::new(),
            tls_certificate_file: None,
            tls_key_file: None,
            metrics_listen: None,
            network_key_file: None,
            login_attempts: LoginAttempts {
                burst: 0,
                per: Duration::ZERO,
            },
        };
        table::apply_defaults(KEYS, &mut c, dir);
        c
    }

    /// The certificate and key files of the HTTPS listener, and whether they are the
    /// generated ones (then they are created when missing).
    pub fn tls_files(&self) -> (PathBuf, PathBuf, bool) {
        match (&self.tls_certificate_file, &self.tls_key_file) {
            (Some(c), Some(k)) => (c.clone(), k.clone(), false),
            _ => (
                self.dir.join(GENERATED_CERT),
                self.dir.join(GENERATED_KEY),
                true,
            ),
        }
    }
}

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    #[error("{}: no such directory", .0.display())]
    NoDir(PathBuf),
    #[error(transparent)]
    File(#[from] ConfigError),
}

/// Reads `dir/mcc-web.conf`; a missing file means every default, a missing directory is
/// an error.
pub fn load(dir: &Path) -> Result<WebConfig, WebConfigError> {
    if !dir.is_dir() {
        return Err(WebConfigError::NoDir(dir.to_path_buf()));
    }
    let file = dir.join(CONFIG_FILE);
    match std::fs::read_to_string(&file) {
        Ok(text) => Ok(parse(&text, &file, dir)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(WebConfig::defaults(dir)),
        Err(source) => Err(ConfigError::Io { path: file, source }.into()),
    }
}

/// Parses the text of `mcc-web.conf`; `file` is named in errors, `dir` resolves paths.
pub fn parse(text: &str, file: &Path, dir: &Path) -> Result<WebConfig, ConfigError> {
    let mut c = WebConfig::defaults(dir);
    c.path = file.to_path_buf();
    // The table has no unsupported keys: every key it knows is implemented.
    table::apply(KEYS, text, file, dir, &mut c)?;
    if c.tls_certificate_file.is_some() != c.tls_key_file.is_some() {
        let key = if c.tls_certificate_file.is_some() {
            "tls-key-file"
        } else {
            "tls-certificate-file"
        };
        return Err(ConfigError::Conflict {
            path: file.to_path_buf(),
            key: key.into(),
            reason: "set tls-certificate-file and tls-key-file together, or neither".into(),
        });
    }
    Ok(c)
}

/// What `mcc-web -C` prints: every key with its default and what it means.
pub fn default_config_text() -> String {
    let mut out = String::from(
        "# mcc-web.conf: configuration of the MCC web daemon (mcc-web).\n\
         # One `key = value` per line; # starts a comment, at the start of a line or after a blank.\n\
         # Relative paths are relative to the directory of this file.\n",
    );
    table::render(&mut out, KEYS, |_| None);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_defaults_parse_to_the_defaults() {
        let dir = Path::new("/etc/mcc-web");
        let c = parse(&default_config_text(), &dir.join(CONFIG_FILE), dir).unwrap();
        assert_eq!(c, WebConfig::defaults(dir));
        assert_eq!(c.http_listen.to_string(), "0.0.0.0:8383");
        assert_eq!(c.password_file, Path::new("/etc/mcc-web/password.txt"));
        assert_eq!(c.session_timeout, Duration::from_secs(3600));
        assert_eq!(
            c.login_attempts,
            LoginAttempts {
                burst: 5,
                per: Duration::from_secs(60)
            }
        );
        assert_eq!(c.metrics_listen.unwrap().to_string(), "127.0.0.1:8384");
        assert!(c.tls_files().2);
    }

    #[test]
    fn rates_parse() {
        assert_eq!(LoginAttempts::parse("10/30s").unwrap().per.as_secs(), 30);
        assert_eq!(LoginAttempts::parse("3/h").unwrap().burst, 3);
        assert!(LoginAttempts::parse("0/min").is_err());
        assert!(LoginAttempts::parse("5").is_err());
        assert!(LoginAttempts::parse("5/fortnight").is_err());
    }
}
