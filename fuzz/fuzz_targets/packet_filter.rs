//! The tunnel packet filter: `parse` never panics on any packet, and a packet it accepts can
//! be rewritten to other addresses of its family and still parses to the same transport info.
#![no_main]

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use libfuzzer_sys::fuzz_target;
use mcc_core::filter::{PacketInfo, parse, rewrite};

fuzz_target!(|data: &[u8]| {
    let Ok(before) = parse(data) else { return };
    let (src, dst) = match before.src {
        IpAddr::V4(_) => (
            IpAddr::V4(Ipv4Addr::new(10, 115, 0, 9)),
            IpAddr::V4(Ipv4Addr::new(10, 115, 1, 2)),
        ),
        IpAddr::V6(_) => (
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0x73, 0, 0, 0, 0, 0, 9)),
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0x73, 0, 0, 0, 0, 1, 2)),
        ),
    };
    let mut packet = data.to_vec();
    rewrite(&mut packet, src, dst).expect("a packet that parses can be rewritten");
    let after = parse(&packet).expect("a rewritten packet still parses");
    assert_eq!(after, PacketInfo { src, dst, ..before });
});
