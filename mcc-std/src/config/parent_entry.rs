//! One entry of `parents`: where the parent listens, optionally the node ID that must
//! answer there (`NODEID@ip:port`, `NODEID@ip`, `NODEID@host[:port]`; the ID as `mcc id`
//! prints it), and `tcp://` in front for a parent reached over TCP only.

use super::net::parent;
use super::values::node_id;
use mcc_core::id::NodeId;
use std::fmt;

/// A parent as `parents` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParentEntry {
    /// `ip:port` or `host:port` (a missing port is [`super::DEFAULT_PORT`]); host names are
    /// resolved by [`super::core_config`].
    pub addr: String,
    /// The node ID written before `@`: only that node becomes the parent at `addr`.
    pub pin: Option<NodeId>,
    /// `tcp://` in front: the link to this parent is a TCP connection, never UDP.
    pub tcp: bool,
}

/// What marks a parent reached over TCP.
pub const TCP_SCHEME: &str = "tcp://";

impl ParentEntry {
    /// Parses one item of `parents`. Node IDs and host names hold no `@`, so the first one
    /// ends the ID.
    pub(super) fn parse(entry: &str) -> Result<ParentEntry, String> {
        let (tcp, rest) = match entry.strip_prefix(TCP_SCHEME) {
            Some(rest) => (true, rest),
            None if entry.contains("://") => {
                return Err(format!(
                    "invalid parent {entry:?}: the only scheme is {TCP_SCHEME} (UDP needs none)"
                ));
            }
            None => (false, entry),
        };
        // Errors name the entry as written, scheme included.
        let mut p = Self::parse_udp(rest).map_err(|e| {
            if !tcp {
                e
            } else if e.contains(&format!("{rest:?}")) {
                e.replacen(&format!("{rest:?}"), &format!("{entry:?}"), 1)
            } else {
                format!("invalid parent {entry:?}: {e}")
            }
        })?;
        p.tcp = tcp;
        Ok(p)
    }

    fn parse_udp(entry: &str) -> Result<ParentEntry, String> {
        let Some((id, addr)) = entry.split_once('@') else {
            return Ok(ParentEntry {
                addr: parent(entry)?,
                pin: None,
                tcp: false,
            });
        };
        let pin = node_id(id).map_err(|e| {
            format!("invalid parent {entry:?}: {e} (the ID before @ is what `mcc id` prints)")
        })?;
        let addr = parent(addr).map_err(|e| format!("invalid parent {entry:?}: {e}"))?;
        Ok(ParentEntry {
            addr,
            pin: Some(pin),
            tcp: false,
        })
    }

    /// Parses the whole `parents` list. An address listed twice with two different node
    /// IDs is refused: the pin is per address.
    pub(super) fn parse_list(v: &str) -> Result<Vec<ParentEntry>, String> {
        let list = super::values::list_of(v, ParentEntry::parse)?;
        for (i, a) in list.iter().enumerate() {
            if let Some(b) = list[..i]
                .iter()
                .find(|b| b.addr == a.addr && b.pin.is_some() && a.pin.is_some())
                && b.pin != a.pin
            {
                return Err(format!(
                    "{} is listed twice with different node IDs ({b} and {a})",
                    a.addr
                ));
            }
        }
        Ok(list)
    }
}

impl fmt::Display for ParentEntry {
    /// As it would be written in `parents`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.tcp {
            f.write_str(TCP_SCHEME)?;
        }
        match &self.pin {
            Some(id) => write!(f, "{id}@{}", self.addr),
            None => f.write_str(&self.addr),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcc_core::crypto::Identity;

    fn id() -> NodeId {
        Identity::from_secret([4; 32]).id()
    }

    #[test]
    fn every_documented_form_takes_an_optional_pin() {
        let id = id();
        for (text, addr) in [
            ("10.0.0.1:7000", "10.0.0.1:7000"),
            ("10.0.0.1", "10.0.0.1:9376"),
            ("[fe80::1]:9", "[fe80::1]:9"),
            ("fe80::1", "[fe80::1]:9376"),
            ("root.example.com", "root.example.com:9376"),
            ("root.example.com:99", "root.example.com:99"),
        ] {
            let plain = ParentEntry::parse(text).unwrap();
            assert_eq!(plain.addr, addr);
            assert_eq!(plain.pin, None);
            let pinned = ParentEntry::parse(&format!("{id}@{text}")).unwrap();
            assert_eq!(pinned.addr, addr);
            assert_eq!(pinned.pin, Some(id));
            assert_eq!(pinned.to_string(), format!("{id}@{addr}"));
            assert_eq!(ParentEntry::parse(&pinned.to_string()), Ok(pinned));
        }
    }

    #[test]
    fn bad_pins_name_the_entry() {
        let id = id();
        let e = ParentEntry::parse("abc@10.0.0.1").unwrap_err();
        assert!(e.starts_with("invalid parent \"abc@10.0.0.1\": invalid node ID \"abc\""));
        assert!(
            e.ends_with("(the ID before @ is what `mcc id` prints)"),
            "{e}"
        );
        let e = ParentEntry::parse("@10.0.0.1").unwrap_err();
        assert!(
            e.starts_with("invalid parent \"@10.0.0.1\": invalid node ID \"\""),
            "{e}"
        );
        let e = ParentEntry::parse(&format!("{id}@")).unwrap_err();
        assert!(e.contains("invalid parent \"\""), "{e}");
        let e = ParentEntry::parse(&format!("{id}@{id}@10.0.0.1")).unwrap_err();
        assert!(
            e.starts_with(&format!("invalid parent \"{id}@{id}@10.0.0.1\"")),
            "{e}"
        );
        let e = ParentEntry::parse(&format!("{id}@10.0.0.1:0")).unwrap_err();
        assert!(e.contains("use ip:port, host:port, ip or host"), "{e}");
    }

    #[test]
    fn tcp_parents_take_every_form_behind_the_scheme() {
        let id = id();
        for (text, addr) in [
            ("tcp://10.0.0.1:7000", "10.0.0.1:7000"),
            ("tcp://10.0.0.1", "10.0.0.1:9376"),
            ("tcp://root.example.com", "root.example.com:9376"),
        ] {
            let p = ParentEntry::parse(text).unwrap();
            assert_eq!((p.addr.as_str(), p.pin, p.tcp), (addr, None, true));
            assert_eq!(p.to_string(), format!("tcp://{addr}"));
            let pinned = format!("tcp://{id}@{addr}");
            let p = ParentEntry::parse(&pinned).unwrap();
            assert_eq!((p.pin, p.tcp), (Some(id), true));
            assert_eq!(p.to_string(), pinned);
        }
        assert!(!ParentEntry::parse("10.0.0.1").unwrap().tcp);
        let e = ParentEntry::parse("udp://10.0.0.1").unwrap_err();
        assert_eq!(
            e,
            "invalid parent \"udp://10.0.0.1\": the only scheme is tcp:// (UDP needs none)"
        );
        let e = ParentEntry::parse("tcp://10.0.0.1:0").unwrap_err();
        assert!(e.starts_with("invalid parent \"tcp://10.0.0.1:0\""), "{e}");
    }

    #[test]
    fn an_address_pinned_twice_must_agree() {
        let (a, b) = (id(), Identity::from_secret([5; 32]).id());
        let ok = ParentEntry::parse_list(&format!("{a}@10.0.0.1, 10.0.0.1:9376, {a}@10.0.0.1"));
        assert_eq!(ok.unwrap().len(), 3);
        let e = ParentEntry::parse_list(&format!("{a}@10.0.0.1, {b}@10.0.0.1:9376")).unwrap_err();
        assert_eq!(
            e,
            format!(
                "10.0.0.1:9376 is listed twice with different node IDs ({a}@10.0.0.1:9376 and {b}@10.0.0.1:9376)"
            )
        );
    }
}
