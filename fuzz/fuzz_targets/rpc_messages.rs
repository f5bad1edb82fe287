//! The plaintext inside `Data` frames: topology updates and acks, routed and control headers,
//! control messages. Parsing never panics; headers and control messages round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcc_core::wire::rpc::{
    CONTROL_HEADER_LEN, Control, ControlHeader, ROUTED_HEADER_LEN, RoutedHeader, TopologyUpdate,
    parse_topology_ack,
};

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
});
