//! Certificate and revocation decoding: never panics, and what decodes re-decodes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcc_core::cert::{Certificate, Revocation};

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = Certificate::decode(data) {
        assert_eq!(c.encoded(), data);
        assert_eq!(Certificate::decode(c.encoded()).as_ref(), Ok(&c));
        // Signature checking on attacker bytes must not panic either.
        let _ = c.verify_signed_by(&c.body.issuer, c.body.not_before);
        let _ = c.fingerprint();
        let _ = c.tunnel();
    }
    if let Some(r) = Revocation::decode(data) {
        assert_eq!(&r.encode()[..], data);
        assert_eq!(Revocation::decode(&r.encode()).as_ref(), Some(&r));
        let _ = r.verify();
    }
});
