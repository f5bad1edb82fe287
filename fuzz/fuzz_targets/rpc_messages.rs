//! The plaintext inside `Data` frames: topology updates and acks, routed and control headers,
//! control messages, name and address lookups, tunnel offers, the gateway channel handshake, NAT probes. Parsing never panics; everything
//! round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcc_core::wire::gateway::{GATEWAY_MAX, GatewayInit, GatewayInitAck};
use mcc_core::wire::rpc::{
    AddressLookup, CONTROL_HEADER_LEN, Control, ControlHeader, Lookup, LookupReply, NatProbe,
    ROUTED_HEADER_LEN,
    RoutedHeader, TUNNEL_OFFER_MAX, TopologyUpdate, TunnelOffer, parse_topology_ack,
};

/// Lookups, lookup replies and tunnel offers parse only what they emit again.
fn variable_roundtrip(b: &[u8]) {
    let mut out = vec![0u8; TUNNEL_OFFER_MAX];
    if let Ok(l) = Lookup::parse(b) {
        let n = l.emit(&mut out).expect("fits");
        assert_eq!(&out[..n], b);
    }
    if let Ok(l) = AddressLookup::parse(b) {
        let n = l.emit(&mut out).expect("fits");
        assert_eq!(&out[..n], b);
    }
    if let Ok(r) = LookupReply::parse(b) {
        let n = r.emit(&mut out).expect("fits");
        assert_eq!(&out[..n], b);
    }
    if let Ok(o) = TunnelOffer::parse(b) {
        let n = o.emit(&mut out).expect("fits");
        assert_eq!(&out[..n], b);
    }
    let mut out = vec![0u8; GATEWAY_MAX];
    if let Ok(g) = GatewayInit::parse(b) {
        let at = GatewayInit::emit_unsigned(&mut out, g.sender, &g.ephemeral, g.timestamp, g.cert)
            .expect("fits");
        assert_eq!(g.signed, &out[..at]);
        assert_eq!(at + 64, b.len());
        assert_eq!(GatewayInit::buffer_len(g.cert.len()), b.len());
    }
    if let Ok(g) = GatewayInitAck::parse(b) {
        let at = GatewayInitAck::emit_unsigned(&mut out, g.sender, g.receiver, &g.ephemeral, g.cert)
            .expect("fits");
        assert_eq!(g.signed, &out[..at]);
        assert_eq!(GatewayInitAck::buffer_len(g.cert.len()), b.len());
    }
}

fn control_roundtrip(b: &[u8]) {
    if let Ok(c) = Control::parse(b) {
        let mut out = [0u8; 256];
        let n = c.emit(&mut out).expect("fits");
        assert_eq!(&out[..n], b);
        assert_eq!(c.signed_part(b), &b[..n - 64]);
    }
}

fuzz_target!(|data: &[u8]| {
    // The update is the payload after the kind byte; try both with and without it.
    let _ = TopologyUpdate::parse(data);
    if let Some(rest) = data.get(1..) {
        let _ = TopologyUpdate::parse(rest);
    }
    let _ = parse_topology_ack(data);
    if let Ok(h) = RoutedHeader::parse(data) {
        let mut b = [0u8; ROUTED_HEADER_LEN];
        h.emit(&mut b);
        assert_eq!(&b[..], &data[..ROUTED_HEADER_LEN]);
    }
    if let Ok(h) = ControlHeader::parse(data) {
        let mut b = [0u8; CONTROL_HEADER_LEN];
        h.emit(&mut b);
        assert_eq!(&b[..], &data[..CONTROL_HEADER_LEN]);
        control_roundtrip(&data[CONTROL_HEADER_LEN..]);
    }
    control_roundtrip(data);
    variable_roundtrip(data);
    if let Ok(p) = NatProbe::parse(data) {
        let mut b = [0u8; 2];
        let n = p.emit(&mut b).expect("fits");
        assert_eq!(&b[..n], data);
        assert!(p.delay().as_secs() >= 13 && p.delay().as_secs() <= 1198);
    }
});
