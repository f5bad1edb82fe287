//! Session IDs and CSRF tokens: 256 random bits, base64url. Session IDs are kept only as
//! their SHA-256 (the table is looked up by hash, so a lookup's timing says nothing about
//! a valid ID, and a memory dump does not hold usable cookies); CSRF tokens are compared in
//! constant time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A fresh random token, as sent to the client.
pub fn new_token() -> String {
    let mut b = [0u8; 32];
    // The OS CSPRNG failing is not something a web daemon can work around.
    getrandom::fill(&mut b).expect("no OS randomness");
    URL_SAFE_NO_PAD.encode(b)
}

/// The key a session is filed under: the hash of the cookie's value.
pub fn lookup_key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether two tokens are equal, in time independent of where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bits_and_differ() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert_ne!(a, b);
        assert!(same(&a, &a.clone()));
        assert!(!same(&a, &b));
        assert!(!same(&a, &a[1..]));
        assert_ne!(lookup_key(&a), lookup_key(&b));
    }
}
