//! The end-to-end tunnel frame header: parsing never panics and round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcc_core::wire::tunnel::{HEADER_LEN, OVERHEAD, TunnelHeader};

fuzz_target!(|data: &[u8]| {
    match TunnelHeader::parse(data) {
        Ok(h) => {
            assert!(data.len() >= OVERHEAD);
            let mut b = [0u8; HEADER_LEN];
            h.emit(&mut b);
            assert_eq!(&b[..], &data[..HEADER_LEN]);
        }
        Err(_) => assert!(data.len() < OVERHEAD),
    }
});
