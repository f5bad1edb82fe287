//! Tags: labels a node claims (`tags`) for itself and the server endpoints it hosts, so
//! one name reaches a group ("every meter"): `<tag>._tag` under the overlay's domain. The
//! `_tag` label cannot be a DNS name of a node or tunnel (names are letters, digits, `-`
//! and `.`), so a tag never shadows a name. Tags are claims, never certified: they select
//! IDs to look up, and every ID still needs its own certificate and, for traffic, a tunnel.

use super::Topology;
use crate::id::NodeId;
use crate::wire::rpc::RecordKind;
use alloc::vec::Vec;

/// The label that marks a tag's name: `meter._tag`.
pub const TAG_LABEL: &str = "_tag";
/// Most tags one record carries.
pub const MAX_TAGS: usize = 8;

/// The tag a name stands for: `meter` for `meter._tag` (any case).
pub fn tag_of(name: &str) -> Option<&str> {
    let (tag, label) = name.rsplit_once('.')?;
    (label.eq_ignore_ascii_case(TAG_LABEL) && valid_tag(tag)).then_some(tag)
}

/// A tag is one DNS label: 1 to 63 letters, digits and inner `-`.
pub fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

impl Topology {
    /// Server endpoints, then nodes, tagged `tag`.
    pub(super) fn tagged(&self, tag: &str) -> Vec<NodeId> {
        let mut nodes = Vec::new();
        let mut out = Vec::new();
        for (id, s) in &self.slots {
            let Some(r) = s.record.as_ref() else { continue };
            if !r.tags.iter().any(|t| t.eq_ignore_ascii_case(tag)) {
                continue;
            }
            match r.kind {
                RecordKind::ServerEndpoint => out.push(*id),
                RecordKind::Node => nodes.push(*id),
                RecordKind::ClientEndpoint => {}
            }
        }
        out.append(&mut nodes);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_names_are_one_label_before_tag() {
        assert_eq!(tag_of("meter._tag"), Some("meter"));
        assert_eq!(tag_of("Meter._TAG"), Some("Meter"));
        assert_eq!(tag_of("meter"), None);
        assert_eq!(tag_of("a.b._tag"), None, "a tag is one label");
        assert_eq!(tag_of("._tag"), None);
        assert_eq!(tag_of("-x._tag"), None);
        assert!(valid_tag("building-3"));
        assert!(!valid_tag(&"x".repeat(64)));
        assert!(!valid_tag("a_b"));
    }
}
