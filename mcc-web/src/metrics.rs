//! `/metrics` in the Prometheus text format: the core's counters (from mccd's `status`
//! `counters` object), the node's tables, the NAT learning state, and mcc-web's own
//! sessions and logins. Written by hand: the format is a few lines per family, which does
//! not need a metrics registry in a daemon meant for routers.

use serde_json::Value;
use std::fmt::Write as _;

/// A core counter (`mcc_core::event::Stats` field) as a metric: family and label.
struct CounterMetric {
    counter: &'static str,
    family: &'static str,
    label: Option<(&'static str, &'static str)>,
}

const fn c(
    counter: &'static str,
    family: &'static str,
    label: Option<(&'static str, &'static str)>,
) -> CounterMetric {
    CounterMetric {
        counter,
        family,
        label,
    }
}

const IN: Option<(&str, &str)> = Some(("direction", "in"));
const OUT: Option<(&str, &str)> = Some(("direction", "out"));

/// Every core counter, mapped; a test checks none is missing.
static COUNTERS: &[CounterMetric] = &[
    c("datagrams_in", "mcc_datagrams_total", IN),
    c("datagrams_out", "mcc_datagrams_total", OUT),
    c("bytes_in", "mcc_bytes_total", IN),
    c("bytes_out", "mcc_bytes_total", OUT),
    c("tun_in", "mcc_tun_packets_total", IN),
    c("tun_out", "mcc_tun_packets_total", OUT),
    c("forwarded", "mcc_forwarded_total", None),
    c("internet_sent", "mcc_internet_packets_total", OUT),
    c("internet_delivered", "mcc_internet_packets_total", IN),
    c("rerouted", "mcc_rerouted_total", None),
    c("handshakes_completed", "mcc_handshakes_total", None),
    c("rekeys", "mcc_rekeys_total", None),
    c("nat_keepalives_sent", "mcc_nat_keepalives_total", OUT),
    c("nat_keepalives_received", "mcc_nat_keepalives_total", IN),
    c("nat_probes_sent", "mcc_nat_probes_sent_total", None),
    c("nat_probes_lost", "mcc_nat_probes_lost_total", None),
    c(
        "drop_malformed",
        "mcc_drops_total",
        Some(("reason", "malformed")),
    ),
    c(
        "drop_unsupported",
        "mcc_drops_total",
        Some(("reason", "unsupported")),
    ),
    c("drop_forged", "mcc_drops_total", Some(("reason", "forged"))),
    c("drop_replay", "mcc_drops_total", Some(("reason", "replay"))),
    c(
        "drop_unknown_session",
        "mcc_drops_total",
        Some(("reason", "unknown_session")),
    ),
    c(
        "drop_no_tunnel",
        "mcc_drops_total",
        Some(("reason", "no_tunnel")),
    ),
    c(
        "drop_filtered",
        "mcc_drops_total",
        Some(("reason", "filtered")),
    ),
    c(
        "drop_no_session",
        "mcc_drops_total",
        Some(("reason", "no_session")),
    ),
    c(
        "drop_no_route",
        "mcc_drops_total",
        Some(("reason", "no_route")),
    ),
    c(
        "drop_ttl",
        "mcc_drops_total",
        Some(("reason", "ttl_expired")),
    ),
    c(
        "drop_bad_certificate",
        "mcc_drops_total",
        Some(("reason", "bad_certificate")),
    ),
    c(
        "drop_bad_handshake",
        "mcc_drops_total",
        Some(("reason", "bad_handshake")),
    ),
    c(
        "drop_rate_limited",
        "mcc_drops_total",
        Some(("reason", "rate_limited")),
    ),
    c("drop_full", "mcc_drops_total", Some(("reason", "full"))),
    c(
        "drop_source_limited",
        "mcc_drops_total",
        Some(("reason", "source_limited")),
    ),
    c(
        "drop_cookie_limited",
        "mcc_drops_total",
        Some(("reason", "cookie_limited")),
    ),
    c(
        "drop_tunnel_handshake_limited",
        "mcc_drops_total",
        Some(("reason", "tunnel_handshake_limited")),
    ),
    c(
        "drop_post_quantum_required",
        "mcc_drops_total",
        Some(("reason", "post_quantum_required")),
    ),
    c(
        "drop_post_quantum_unexpected",
        "mcc_drops_total",
        Some(("reason", "post_quantum_unexpected")),
    ),
    c("pq_exchanges", "mcc_pq_exchanges_total", None),
    c("control_checked", "mcc_control_checked_total", None),
    c("events_lost", "mcc_events_lost_total", None),
    c("revocations_refused", "mcc_revocations_refused_total", None),
    c("renewal_bytes_out", "mcc_renewal_bytes_total", OUT),
    c("renewal_bytes_in", "mcc_renewal_bytes_total", IN),
    c("ssl_refused", "mcc_ssl_refused_total", None),
    c("ssl_bytes_out", "mcc_ssl_bytes_sent_total", None),
    c("parents_refused", "mcc_parents_refused_total", None),
    c("parent_changes", "mcc_parent_changes_total", None),
];

/// Every family: name, type, help. The order of the output.
pub static FAMILIES: &[(&str, &str, &str)] = &[
    (
        "mcc_up",
        "gauge",
        "1 when mccd answered the status request, else 0 (then only mcc_web_* follow).",
    ),
    (
        "mcc_datagrams_total",
        "counter",
        "Underlay datagrams received (in) and sent (out).",
    ),
    (
        "mcc_bytes_total",
        "counter",
        "Underlay bytes received (in) and sent (out).",
    ),
    (
        "mcc_tun_packets_total",
        "counter",
        "Packets from the TUN device (in) and written to it (out).",
    ),
    (
        "mcc_forwarded_total",
        "counter",
        "Frames relayed for other nodes.",
    ),
    (
        "mcc_internet_packets_total",
        "counter",
        "Packets sent into (out) and delivered from (in) a gateway channel.",
    ),
    (
        "mcc_rerouted_total",
        "counter",
        "Packets reroute-dns / reroute-ntp sent to their service.",
    ),
    (
        "mcc_handshakes_total",
        "counter",
        "Link handshakes completed (first sessions and rekeys).",
    ),
    (
        "mcc_rekeys_total",
        "counter",
        "Link sessions replaced by a rekey.",
    ),
    (
        "mcc_pq_exchanges_total",
        "counter",
        "ML-KEM-768 exchanges completed (post-quantum = hybrid: one per link handshake).",
    ),
    (
        "mcc_nat_keepalives_total",
        "counter",
        "NAT keepalives sent to the parent (out) and received from children (in).",
    ),
    (
        "mcc_nat_probes_sent_total",
        "counter",
        "NAT probes sent to the parent (learning the binding timeout).",
    ),
    (
        "mcc_nat_probes_lost_total",
        "counter",
        "NAT probes whose answer never came back.",
    ),
    ("mcc_drops_total", "counter", "Packets dropped, by reason."),
    (
        "mcc_control_checked_total",
        "counter",
        "Routed control messages let past the per-source limit to their checks.",
    ),
    (
        "mcc_events_lost_total",
        "counter",
        "Core events discarded because the event queue was full.",
    ),
    (
        "mcc_revocations_refused_total",
        "counter",
        "Revocations refused (not duplicates).",
    ),
    (
        "mcc_renewal_bytes_total",
        "counter",
        "Payload bytes of certificate renewal messages sent (out) and received (in).",
    ),
    (
        "mcc_ssl_refused_total",
        "counter",
        "SSL CA heads, pulls or chunks refused.",
    ),
    (
        "mcc_ssl_bytes_sent_total",
        "counter",
        "Bytes of SSL distribution frames sent.",
    ),
    (
        "mcc_parents_refused_total",
        "counter",
        "Parent answers refused because another node is pinned at that address.",
    ),
    (
        "mcc_parent_changes_total",
        "counter",
        "Changes of the active parent (first join, failover, rejoin, loss).",
    ),
    (
        "mcc_peers",
        "gauge",
        "Direct neighbours with a session (parent, children, direct paths).",
    ),
    (
        "mcc_known_nodes",
        "gauge",
        "Nodes and endpoints in this node's topology table.",
    ),
    (
        "mcc_tunnels",
        "gauge",
        "Tunnels this node is an endpoint of.",
    ),
    (
        "mcc_tunnels_established",
        "gauge",
        "Tunnels with a session in use.",
    ),
    (
        "mcc_parent_linked",
        "gauge",
        "1 when this node has an active parent (or is a root), else 0.",
    ),
    (
        "mcc_nat_keepalive_seconds",
        "gauge",
        "Silence after which a NAT keepalive goes to the parent (absent: off, or no parent).",
    ),
    (
        "mcc_nat_proven_seconds",
        "gauge",
        "Longest silence a NAT probe proved the binding survives (absent: none yet).",
    ),
    (
        "mcc_nat_lost_seconds",
        "gauge",
        "Shortest silence after which a NAT probe's answer was lost (absent: none).",
    ),
    (
        "mcc_nat_learning",
        "gauge",
        "1 while NAT probes are still learning the binding timeout.",
    ),
    (
        "mcc_nat_reflexive_known",
        "gauge",
        "1 when the parent told this node its public (reflexive) address.",
    ),
    ("mcc_web_sessions", "gauge", "Open mcc-web sessions."),
    (
        "mcc_web_pre_sessions",
        "gauge",
        "Open mcc-web login forms (pre-sessions).",
    ),
    (
        "mcc_web_logins_total",
        "counter",
        "mcc-web logins by result: ok, failed, rate_limited.",
    ),
];

/// mcc-web's own numbers.
pub struct WebNumbers {
    pub sessions: usize,
    pub pre_sessions: usize,
    pub logins_ok: u64,
    pub logins_failed: u64,
    pub logins_rate_limited: u64,
}

type Sample = (&'static str, Option<(&'static str, &'static str)>, f64);

/// The samples of mccd's `status` object (`None`: mccd did not answer).
fn node_samples(status: Option<&Value>) -> Vec<Sample> {
    let Some(s) = status else {
        return vec![("mcc_up", None, 0.0)];
    };
    let mut out: Vec<Sample> = vec![("mcc_up", None, 1.0)];
    let counters = s.get("counters").and_then(Value::as_object);
    for m in COUNTERS {
        if let Some(v) = counters
            .and_then(|c| c.get(m.counter))
            .and_then(Value::as_f64)
        {
            out.push((m.family, m.label, v));
        }
    }
    let num = |k: &str| s.get(k).and_then(Value::as_f64);
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    if let Some(v) = num("peers") {
        out.push(("mcc_peers", None, v));
    }
    if let Some(v) = num("known_nodes") {
        out.push(("mcc_known_nodes", None, v));
    }
    if let Some(ts) = s.get("tunnels").and_then(Value::as_array) {
        out.push(("mcc_tunnels", None, ts.len() as f64));
        let up = ts
            .iter()
            .filter(|t| t.get("established").and_then(Value::as_bool) == Some(true))
            .count();
        out.push(("mcc_tunnels_established", None, up as f64));
    }
    // A root has no parent and needs none.
    let root = s.get("root").and_then(Value::as_bool).unwrap_or(false);
    let linked = root || s.get("parent").is_some_and(Value::is_string);
    out.push(("mcc_parent_linked", None, flag(linked)));
    if let Some(n) = s.get("nat").filter(|n| n.is_object()) {
        let secs = |k: &str| n.get(k).and_then(Value::as_f64);
        if let Some(v) = secs("keepalive_secs") {
            out.push(("mcc_nat_keepalive_seconds", None, v));
        }
        if let Some(v) = secs("proven_secs") {
            out.push(("mcc_nat_proven_seconds", None, v));
        }
        if let Some(v) = secs("lost_secs") {
            out.push(("mcc_nat_lost_seconds", None, v));
        }
        let learning = n.get("learning").and_then(Value::as_bool).unwrap_or(false);
        out.push(("mcc_nat_learning", None, flag(learning)));
    }
    out.push((
        "mcc_nat_reflexive_known",
        None,
        flag(s.get("reflexive").is_some_and(Value::is_string)),
    ));
    out
}

/// The whole `/metrics` text.
pub fn render(status: Option<&Value>, web: &WebNumbers) -> String {
    let mut samples = node_samples(status);
    samples.push(("mcc_web_sessions", None, web.sessions as f64));
    samples.push(("mcc_web_pre_sessions", None, web.pre_sessions as f64));
    for (result, v) in [
        ("ok", web.logins_ok),
        ("failed", web.logins_failed),
        ("rate_limited", web.logins_rate_limited),
    ] {
        samples.push(("mcc_web_logins_total", Some(("result", result)), v as f64));
    }
    let mut out = String::new();
    for (family, kind, help) in FAMILIES {
        // Every family is declared, also one without a sample now (a gauge that is unknown:
        // no parent, mccd down), so a scraper sees the same families each time.
        let of_family = samples.iter().filter(|s| s.0 == *family);
        let _ = writeln!(out, "# HELP {family} {help}");
        let _ = writeln!(out, "# TYPE {family} {kind}");
        for (_, label, v) in of_family {
            let _ = match label {
                Some((k, l)) => writeln!(out, "{family}{{{k}=\"{l}\"}} {v}"),
                None => writeln!(out, "{family} {v}"),
            };
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcc_core::event::Stats;

    #[test]
    fn every_core_counter_has_a_documented_metric() {
        for (name, _) in Stats::default().counters() {
            let m = COUNTERS
                .iter()
                .find(|m| m.counter == name)
                .unwrap_or_else(|| panic!("core counter {name} has no metric"));
            assert!(
                FAMILIES.iter().any(|f| f.0 == m.family),
                "{} has no HELP",
                m.family
            );
        }
        assert_eq!(COUNTERS.len(), Stats::COUNT);
    }

    #[test]
    fn every_metric_is_in_docs_web_md() {
        let doc = include_str!("../../docs/WEB.md");
        for (family, _, _) in FAMILIES {
            assert!(
                doc.contains(&format!("`{family}`")),
                "{family} is not in docs/WEB.md"
            );
        }
    }

    #[test]
    fn status_becomes_samples() {
        let stats = Stats {
            datagrams_in: 5,
            drop_replay: 2,
            ..Stats::default()
        };
        let counters: serde_json::Map<String, Value> = stats
            .counters()
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect();
        let status = serde_json::json!({
            "counters": counters, "peers": 2, "known_nodes": 4,
            "tunnels": [{"established": true}, {"established": false}],
            "parent": "abc", "reflexive": null,
            "nat": {"keepalive_secs": 25, "proven_secs": null, "lost_secs": null, "learning": true},
        });
        let web = WebNumbers {
            sessions: 1,
            pre_sessions: 0,
            logins_ok: 1,
            logins_failed: 3,
            logins_rate_limited: 0,
        };
        let text = render(Some(&status), &web);
        for line in [
            "mcc_up 1",
            "mcc_datagrams_total{direction=\"in\"} 5",
            "mcc_drops_total{reason=\"replay\"} 2",
            "mcc_tunnels 2",
            "mcc_tunnels_established 1",
            "mcc_parent_linked 1",
            "mcc_nat_keepalive_seconds 25",
            "mcc_nat_learning 1",
            "mcc_nat_reflexive_known 0",
            "mcc_web_logins_total{result=\"failed\"} 3",
            "# TYPE mcc_drops_total counter",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("mcc_nat_proven_seconds "))
        );
        let down = render(None, &web);
        assert!(down.starts_with("# HELP mcc_up"));
        assert!(down.lines().any(|l| l == "mcc_up 0"));
        assert!(down.contains("# TYPE mcc_peers gauge"));
        assert!(!down.lines().any(|l| l.starts_with("mcc_peers ")));
    }
}
