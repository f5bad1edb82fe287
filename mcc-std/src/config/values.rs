//! Parsers of the value types of the configuration files that are not network addresses
//! (those are in `net.rs`). Each returns the reason of a refusal, without file, line or key.

use super::LOG_LEVELS;
use base64::Engine as _;
use mcc_core::cert::{MAX_NAME_LEN, MAX_NAMES};
use mcc_core::config::NatKeepalivePolicy;
use mcc_core::id::NodeId;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Non-empty items of a comma-separated list.
pub(super) fn list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Parses every item of a comma-separated list.
pub(super) fn list_of<T>(
    v: &str,
    item: impl FnMut(&str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    list(v).map(item).collect()
}

/// A `serial-links` entry: `DEVICE@BAUD`, an absolute device path and a standard rate.
pub(super) fn serial_link(v: &str) -> Result<crate::serial_link::SerialLink, String> {
    let bad = |why: &str| format!("invalid serial link {v:?} ({why})");
    let (device, baud) = v
        .rsplit_once('@')
        .ok_or_else(|| bad("use DEVICE@BAUD, e.g. /dev/ttyUSB0@115200"))?;
    if !device.starts_with('/') || device.len() < 2 {
        return Err(bad(
            "the device must be an absolute path, e.g. /dev/ttyUSB0",
        ));
    }
    let baud = baud
        .parse()
        .ok()
        .filter(|b| crate::serial_link::BAUDS.contains(b))
        .ok_or_else(|| bad("the baud rate must be a standard one: 9600, 19200, 38400, 57600, 115200, 230400, ..."))?;
    Ok(crate::serial_link::SerialLink {
        device: device.into(),
        baud,
    })
}

/// `<n>ms`, `<n>s`, `<n>m`, `<n>h` or `<n>d`, more than zero.
pub(super) fn duration(v: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {v:?} (use e.g. 30s, 2m, 1h)");
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let n: u64 = v[..split].parse().map_err(|_| bad())?;
    let d = match &v[split..] {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(3600).map(Duration::from_secs),
        "d" => n.checked_mul(86400).map(Duration::from_secs),
        _ => return Err(bad()),
    }
    .ok_or_else(bad)?;
    if d.is_zero() {
        return Err(format!("invalid duration {v:?} (must be more than zero)"));
    }
    Ok(d)
}

/// A duration of whole seconds, at least one and at most `u32::MAX` (nftables and conntrack
/// count timeouts in seconds).
pub(super) fn whole_seconds(v: &str) -> Result<Duration, String> {
    let d = duration(v)?;
    if d.subsec_nanos() != 0 || d.as_secs() > u64::from(u32::MAX) {
        return Err(format!(
            "invalid duration {v:?} (use whole seconds, e.g. 60s or 2m)"
        ));
    }
    Ok(d)
}

/// An nftables table name: a letter or `_`, then letters, digits, `_` or `-`, at most 64
/// characters (written into nft's syntax unquoted, so nothing else is allowed).
pub(super) fn firewall_name(v: &str) -> Result<String, String> {
    let mut chars = v.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok
        || v.len() > 64
        || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "invalid name {v:?} (a letter or '_', then letters, digits, '_' or '-'; at most 64)"
        ));
    }
    Ok(v.into())
}

/// `nat-keep-alive`: `auto` (learn the NAT's binding timeout), `off`, or a period.
pub(super) fn nat_keep_alive(v: &str) -> Result<NatKeepalivePolicy, String> {
    Ok(match v {
        "auto" => NatKeepalivePolicy::Learn,
        "off" => NatKeepalivePolicy::Off,
        _ => NatKeepalivePolicy::Every(core_duration(duration(v).map_err(|_| {
            format!("invalid value {v:?} (use auto, off or a duration, e.g. 25s)")
        })?)),
    })
}

/// The core's duration type, saturating (it counts microseconds in a u64).
pub(super) fn core_duration(d: Duration) -> mcc_core::time::Duration {
    mcc_core::time::Duration::from_micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

pub(super) fn boolean(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("invalid value {v:?} (use true or false)")),
    }
}

/// A number in `range`; `what` names it in the error ("MTU", "TTL").
pub(super) fn number_in<N>(
    v: &str,
    range: std::ops::RangeInclusive<N>,
    what: &str,
) -> Result<N, String>
where
    N: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    v.parse().ok().filter(|n| range.contains(n)).ok_or_else(|| {
        format!(
            "invalid {what} {v:?} (use a number from {} to {})",
            range.start(),
            range.end()
        )
    })
}

/// A path, relative to `dir` unless absolute.
pub(super) fn path(dir: &Path, v: &str) -> Result<PathBuf, String> {
    if v.is_empty() {
        return Err("empty path".into());
    }
    Ok(dir.join(v))
}

/// One of [`LOG_LEVELS`], any case; stored lowercase.
pub(super) fn log_level(v: &str) -> Result<String, String> {
    let l = v.to_ascii_lowercase();
    if !LOG_LEVELS.contains(&l.as_str()) {
        return Err(format!(
            "invalid log level {v:?} (use one of {})",
            LOG_LEVELS.join(", ")
        ));
    }
    Ok(l)
}

/// A network interface name as Linux and macOS accept it.
pub(super) fn device_name(v: &str) -> Result<String, String> {
    if v.is_empty()
        || v.len() > 15
        || v.chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "invalid device name {v:?} (1 to 15 characters, no '/', ':' or spaces)"
        ));
    }
    Ok(v.into())
}

/// Dot-separated labels of lowercase letters, digits and inner hyphens.
fn valid_name(n: &str) -> bool {
    n.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    })
}

/// A comma-separated list of DNS names, lowercased, without repeats.
pub(super) fn dns_names(v: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for n in list(v) {
        let lower = n.to_ascii_lowercase();
        if lower.len() > MAX_NAME_LEN || !valid_name(&lower) {
            return Err(format!(
                "invalid DNS name {n:?} (letters, digits, '-' and '.', at most {MAX_NAME_LEN} characters)"
            ));
        }
        if !out.contains(&lower) {
            out.push(lower);
        }
    }
    if out.len() > MAX_NAMES {
        return Err(format!("at most {MAX_NAMES} names"));
    }
    Ok(out)
}

/// A DNS domain, stored lowercase with one leading dot (`.home.arpa`).
pub(super) fn domain(v: &str) -> Result<String, String> {
    let d = v.strip_prefix('.').unwrap_or(v);
    let d = d.strip_suffix('.').unwrap_or(d).to_ascii_lowercase();
    if d.is_empty() || d.len() > 253 || !valid_name(&d) {
        return Err(format!("invalid domain {v:?} (e.g. .home.arpa)"));
    }
    Ok(format!(".{d}"))
}

/// The first two octets of a MAC address, the last four zero (they hold the address index).
pub(super) fn mac_mask(v: &str) -> Result<[u8; 6], String> {
    let bad = || format!("invalid MAC address mask {v:?} (use e.g. AE:00:00:00:00:00)");
    let mut out = [0u8; 6];
    let parts: Vec<&str> = v.split([':', '-']).collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    for (o, p) in out.iter_mut().zip(parts) {
        if p.len() != 2 {
            return Err(bad());
        }
        *o = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if out[0] & 1 != 0 {
        return Err(format!(
            "invalid MAC address mask {v:?} (a multicast address; the first octet must be even)"
        ));
    }
    if out[2..] != [0; 4] {
        return Err(format!(
            "invalid MAC address mask {v:?} (the last four octets must be 00: they hold the address index)"
        ));
    }
    Ok(out)
}

pub(super) fn node_id(s: &str) -> Result<NodeId, String> {
    s.parse().map_err(|e| format!("invalid node ID {s:?}: {e}"))
}

/// `tags`: at most `MAX_TAGS` DNS labels, lowercase, without repeats.
pub(super) fn tags(v: &str) -> Result<Vec<String>, String> {
    use mcc_core::routing::{MAX_TAGS, valid_tag};
    let mut out: Vec<String> = Vec::new();
    for t in list(v) {
        if !valid_tag(t) {
            return Err(format!(
                "invalid tag {t:?} (one label: letters, digits and inner '-', at most 63)"
            ));
        }
        let t = t.to_ascii_lowercase();
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.len() > MAX_TAGS {
        return Err(format!("{} tags, at most {MAX_TAGS}", out.len()));
    }
    Ok(out)
}

/// `direct-paths`: `off` (or empty), `all`, or tunnel DNS names (as `dns-names`).
pub(super) fn direct_paths(v: &str) -> Result<mcc_core::DirectPolicy, String> {
    use mcc_core::DirectPolicy;
    match v.trim() {
        "off" | "" => Ok(DirectPolicy::Off),
        "all" => Ok(DirectPolicy::All),
        _ => dns_names(v).map(DirectPolicy::Names),
    }
}

/// `post-quantum`: `off` or `hybrid`.
pub(super) fn post_quantum(v: &str) -> Result<mcc_core::config::PostQuantum, String> {
    use mcc_core::config::PostQuantum;
    match v.trim() {
        "off" => Ok(PostQuantum::Off),
        "hybrid" => Ok(PostQuantum::Hybrid),
        other => Err(format!("invalid value {other:?} (use off or hybrid)")),
    }
}

/// `shared-nodes`: `all`, `none`, or at most `MAX_SHARED` node IDs.
pub(super) fn shared_nodes(v: &str) -> Result<mcc_core::routing::Share, String> {
    use mcc_core::routing::{MAX_SHARED, Share};
    match v.trim() {
        "all" => Ok(Share::All),
        "none" | "" => Ok(Share::Only(Vec::new())),
        _ => {
            let ids = list_of(v, node_id)?;
            if ids.len() > MAX_SHARED {
                return Err(format!("{} node IDs, at most {MAX_SHARED}", ids.len()));
            }
            Ok(Share::Only(ids))
        }
    }
}

/// A network key: its 52-character ID, or the base64 of its 32-byte public key.
pub(super) fn network_key(s: &str) -> Result<NodeId, String> {
    if s.len() == mcc_core::id::ID_TEXT_LEN {
        return s
            .parse()
            .map_err(|e| format!("invalid network ID {s:?}: {e}"));
    }
    base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT
        .decode(s)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .map(NodeId::from_bytes)
        .ok_or_else(|| {
            format!("invalid network key {s:?} (use its base64 public key or 52-character ID)")
        })
}
