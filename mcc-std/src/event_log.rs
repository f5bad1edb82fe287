//! What the node reports ([`Event`]), in words: logged as it happens and the most recent
//! kept for the `events` control request.

use crate::clock::{rfc3339, unix_now};
use mcc_core::event::Event;
use serde_json::json;
use std::collections::VecDeque;

/// Events kept for the `events` request.
const RECENT_EVENTS: usize = 128;
/// Parent addresses whose last problem `health` reports (the core reports only configured
/// parents; this only bounds what a driver bug could add).
const PARENT_PROBLEMS: usize = 64;

/// The most recent events, oldest first, each `{ "time": RFC 3339, "event": text }`.
#[derive(Debug, Default)]
pub struct EventLog {
    recent: VecDeque<serde_json::Value>,
    /// The last problem (a refused node, no answer) at each parent address since a parent
    /// was last linked, in words.
    parent_problems: Vec<(std::net::SocketAddr, String)>,
}

impl EventLog {
    /// Keeps `e` unless it is a dropped packet (those would flush everything else out).
    pub fn record(&mut self, e: &Event) {
        match e {
            Event::Dropped { .. } => return,
            Event::ParentChanged { to: Some(_), .. } => self.parent_problems.clear(),
            Event::ParentRefused { addr, .. } | Event::ParentUnanswered { addr, .. } => {
                self.parent_problems.retain(|(a, _)| a != addr);
                if self.parent_problems.len() < PARENT_PROBLEMS {
                    self.parent_problems.push((*addr, describe(e)));
                }
            }
            _ => {}
        }
        if self.recent.len() == RECENT_EVENTS {
            self.recent.pop_front();
        }
        self.recent
            .push_back(json!({ "time": rfc3339(unix_now()), "event": describe(e) }));
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!(self.recent)
    }

    /// The latest problem at each parent address since a parent was last linked (a node
    /// refused at a pinned address, a round of handshakes unanswered), one line each, for
    /// `health`.
    pub fn parent_problems(&self) -> impl Iterator<Item = &str> {
        self.parent_problems.iter().map(|(_, s)| s.as_str())
    }
}

/// One line about an event, for logs and the `events` request.
pub fn describe(e: &Event) -> String {
    match e {
        Event::PeerUp { id, addr } => format!("link up with {id} at {addr}"),
        Event::PeerDown { id } => format!("link down with {id}"),
        Event::PeerRoamed { id, addr } => format!("{id} roamed to {addr}"),
        Event::DirectUp { node, addr } => format!("direct path up with {node} at {addr}"),
        Event::DirectDown { node } => {
            format!("direct path down with {node}: its tunnel traffic takes the tree")
        }
        Event::DirectFailed { node } => {
            format!("direct path to {node} not possible now: its tunnel traffic stays on the tree")
        }
        Event::ParentChanged { from, to } => format!(
            "parent changed from {} to {}",
            from.map_or("none".into(), |p| p.to_string()),
            to.map_or("none".into(), |p| p.to_string())
        ),
        Event::ParentPinned { addr, id } => format!("parent {addr} pinned to node {id}"),
        Event::ParentRefused {
            addr,
            expected,
            offered,
        } => format!(
            "parent {addr}: refused node {offered}, which answered there: the address is pinned to node {expected}"
        ),
        Event::ParentUnanswered {
            addr,
            expected: None,
        } => format!("parent {addr}: no answer to a round of handshakes"),
        Event::ParentUnanswered {
            addr,
            expected: Some(id),
        } => format!(
            "parent {addr}: no answer to a round of handshakes meant for node {id}, pinned there: the parent is down, or a node with another key holds the address and drops them"
        ),
        Event::TunnelUp { remote_endpoint } => format!("tunnel up with endpoint {remote_endpoint}"),
        Event::ProviderDown { remote_endpoint } => {
            format!("provider {remote_endpoint} does not answer: left out of name answers")
        }
        Event::ProviderUp { remote_endpoint } => {
            format!("provider {remote_endpoint} answers again")
        }
        Event::TunnelDown { remote_endpoint } => {
            format!("tunnel down with endpoint {remote_endpoint}")
        }
        Event::TunnelInstalled { .. } => "tunnel installed".into(),
        Event::GatewayUp { exit } => format!("gateway channel to exit node {exit} up"),
        Event::ExitClientUp { client } => format!("exit node: serving {client}"),
        Event::GatewayRefused { client, reason } => {
            format!("exit node: refused gateway client {client}: {reason}")
        }
        Event::LookupDone { query, found } => format!("lookup {query} done (found: {found})"),
        Event::RevocationRefused { network, reason } => {
            format!("revocation signed by {network} refused: {reason}")
        }
        Event::SslRefused { from, reason } => format!(
            "SSL CA set from {} refused: {reason}",
            from.map_or("this node".into(), |f| f.to_string())
        ),
        Event::SslSetChanged {
            version,
            certificates,
        } => format!("SSL CA set now version {version} with {certificates} certificates"),
        Event::RecordRefused { from, id, reason } => {
            format!("refused topology record {id} from {from}: {reason}")
        }
        Event::StaticAddressTaken { id, addr, holder } => format!(
            "static address {addr} claimed by {id} refused: {holder} holds it (a certified address first, then the first claimant)"
        ),
        Event::Dropped { reason } => format!("dropped: {reason}"),
        Event::OwnCertificateInvalid { reason, unix_secs } => format!(
            "own node certificate: {reason} at the wall clock {} ({}); no links until {}",
            crate::clock::rfc3339(*unix_secs),
            unix_secs,
            if *reason == mcc_core::cert::CertError::NotYetValid {
                "the clock is right (waiting for NTP?)"
            } else {
                "a new certificate is installed"
            }
        ),
        Event::OwnCertificateValid { unix_secs } => format!(
            "own node certificate valid at the wall clock {}: dialling parents",
            crate::clock::rfc3339(*unix_secs)
        ),
        Event::PeerCertificateLapsed { id, reason } => {
            format!("certificate of {id}: {reason}; link dropped")
        }
        Event::TunnelCertificateLapsed {
            remote_endpoint,
            reason,
        } => format!(
            "certificate of the tunnel with endpoint {remote_endpoint}: {reason}; tunnel removed"
        ),
        Event::CertificateRenewed {
            kind,
            fingerprint,
            not_after,
        } => format!(
            "{} certificate renewed (fingerprint {}), valid until {}",
            match kind {
                mcc_core::cert::CertKind::Tunnel => "tunnel",
                _ => "node",
            },
            fingerprint[..8]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
            crate::clock::rfc3339(*not_after)
        ),
        Event::RenewalRefused { requester, reason } => {
            format!("certificate renewal for {requester} refused: {reason}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcc_core::id::NodeId;

    #[test]
    fn parent_problems_are_kept_until_a_parent_is_linked() {
        let mut log = EventLog::default();
        let (a, b) = (NodeId::from_bytes([1; 32]), NodeId::from_bytes([2; 32]));
        let addr: std::net::SocketAddr = "10.0.0.1:9376".parse().unwrap();
        for offered in [b, a] {
            log.record(&Event::ParentRefused {
                addr,
                expected: NodeId::from_bytes([3; 32]),
                offered,
            });
        }
        let problems: Vec<&str> = log.parent_problems().collect();
        assert_eq!(problems.len(), 1, "the latest per address");
        assert!(
            problems[0].starts_with(&format!("parent 10.0.0.1:9376: refused node {a}")),
            "{}",
            problems[0]
        );
        log.record(&Event::ParentUnanswered {
            addr,
            expected: Some(b),
        });
        let problems: Vec<&str> = log.parent_problems().collect();
        assert_eq!(
            problems,
            [format!(
                "parent 10.0.0.1:9376: no answer to a round of handshakes meant for node {b}, pinned there: the parent is down, or a node with another key holds the address and drops them"
            )]
        );
        log.record(&Event::ParentChanged {
            from: None,
            to: Some(b),
        });
        assert_eq!(log.parent_problems().count(), 0);
    }

    #[test]
    fn keeps_the_most_recent_events_but_no_drops() {
        let mut log = EventLog::default();
        for query in 0..RECENT_EVENTS as u64 + 3 {
            log.record(&Event::LookupDone { query, found: true });
        }
        log.record(&Event::Dropped {
            reason: mcc_core::event::DropReason::Malformed,
        });
        let v = log.to_json();
        let all = v.as_array().unwrap();
        assert_eq!(all.len(), RECENT_EVENTS);
        assert_eq!(all[0]["event"], "lookup 3 done (found: true)");
        assert_eq!(
            all[RECENT_EVENTS - 1]["event"],
            format!("lookup {} done (found: true)", RECENT_EVENTS + 2)
        );
    }
}
