//! What the node reports ([`Event`]), in words: logged as it happens and the most recent
//! kept for the `events` control request.

use crate::clock::{rfc3339, unix_now};
use mcc_core::event::Event;
use serde_json::json;
use std::collections::VecDeque;

/// Events kept for the `events` request.
const RECENT_EVENTS: usize = 128;

/// The most recent events, oldest first, each `{ "time": RFC 3339, "event": text }`.
#[derive(Debug, Default)]
pub struct EventLog {
    recent: VecDeque<serde_json::Value>,
}

impl EventLog {
    /// Keeps `e` unless it is a dropped packet (those would flush everything else out).
    pub fn record(&mut self, e: &Event) {
        if matches!(e, Event::Dropped { .. }) {
            return;
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
}

/// One line about an event, for logs and the `events` request.
pub fn describe(e: &Event) -> String {
    match e {
        Event::PeerUp { id, addr } => format!("link up with {id} at {addr}"),
        Event::PeerDown { id } => format!("link down with {id}"),
        Event::PeerRoamed { id, addr } => format!("{id} roamed to {addr}"),
        Event::ParentChanged { from, to } => format!(
            "parent changed from {} to {}",
            from.map_or("none".into(), |p| p.to_string()),
            to.map_or("none".into(), |p| p.to_string())
        ),
        Event::TunnelUp { remote_endpoint } => format!("tunnel up with endpoint {remote_endpoint}"),
        Event::TunnelDown { remote_endpoint } => {
            format!("tunnel down with endpoint {remote_endpoint}")
        }
        Event::TunnelInstalled { .. } => "tunnel installed".into(),
        Event::LookupDone { query, found } => format!("lookup {query} done (found: {found})"),
        Event::RevocationRefused { network, reason } => {
            format!("revocation signed by {network} refused: {reason}")
        }
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
