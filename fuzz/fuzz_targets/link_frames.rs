//! Link-layer frames (`Data` header, `Init`, `InitAck`, `Cookie`, NAT keepalive): parsing
//! never panics, whatever parses is emitted back to the same bytes, and no datagram parses
//! as two frame types.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcc_core::wire::link::{
    Cookie, DATA_HEADER_LEN, DataHeader, Init, InitAck, InitFields, NatKeepalive,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = DataHeader::parse(data) {
        let mut b = [0u8; DATA_HEADER_LEN];
        h.emit(&mut b);
        assert_eq!(&b[..], &data[..DATA_HEADER_LEN]);
    }
    if let Ok(i) = Init::parse(data) {
        let mut b = vec![0u8; Init::buffer_len(i.cert.len())];
        assert_eq!(b.len(), data.len());
        let fields = InitFields {
            sender: i.sender,
            ephemeral: i.ephemeral,
            timestamp: i.timestamp,
            responder: i.responder,
        };
        let sig_at = Init::emit_unsigned(&mut b, &fields, i.cert).expect("fits");
        b[sig_at..sig_at + 64].copy_from_slice(&i.signature);
        b[sig_at + 64..].copy_from_slice(&i.cookie);
        assert_eq!(b, data);
        assert_eq!(i.signed, &data[..sig_at]);
        assert_eq!(i.without_cookie, &data[..sig_at + 64]);
    }
    if let Ok(a) = InitAck::parse(data) {
        let mut b = vec![0u8; InitAck::buffer_len(a.cert.len())];
        assert_eq!(b.len(), data.len());
        let sig_at = InitAck::emit_unsigned(&mut b, a.sender, a.receiver, &a.ephemeral, a.cert)
            .expect("fits");
        b[sig_at..].copy_from_slice(&a.signature);
        assert_eq!(b, data);
        assert_eq!(a.signed, &data[..sig_at]);
    }
    if let Ok(c) = Cookie::parse(data) {
        let mut b = [0u8; 64];
        let n = c.emit(&mut b).expect("fits");
        assert_eq!(&b[..n], data);
    }
    if let Ok(k) = NatKeepalive::parse(data) {
        let mut b = [0u8; 4];
        let n = k.emit(&mut b).expect("fits");
        assert_eq!(&b[..n], data);
    }
    let kinds = [
        DataHeader::parse(data).is_ok(),
        Init::parse(data).is_ok(),
        InitAck::parse(data).is_ok(),
        Cookie::parse(data).is_ok(),
        NatKeepalive::parse(data).is_ok(),
    ];
    assert!(kinds.iter().filter(|&&k| k).count() <= 1, "{kinds:?}");
});
