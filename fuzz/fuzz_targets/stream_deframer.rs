//! The byte-stream deframer (`wire::stream`): whatever arrives, in whatever pieces, it never
//! panics, never delivers more than its buffer, delivers the same frames and counters as
//! one feed of the same bytes, and a good frame after garbage and a delimiter comes back
//! intact (resynchronisation).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcc_core::wire::stream::{Deframer, encode, encoded_len_max};

const N: usize = 1412;

fn frames(bytes: &[u8], cuts: &[u8]) -> (Vec<Vec<u8>>, mcc_core::wire::stream::DeframeStats) {
    let mut d: Deframer<N> = Deframer::new();
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut i = 0;
    while !rest.is_empty() {
        // Pieces of 1..=64 bytes, as a UART or socket hands them out.
        let take = cuts.get(i).map_or(rest.len(), |c| usize::from(c % 64) + 1).min(rest.len());
        i += 1;
        let mut piece = &rest[..take];
        rest = &rest[take..];
        while let Some(f) = d.feed(&mut piece) {
            assert!(f.len() <= Deframer::<N>::MAX_DATAGRAM);
            out.push(f.to_vec());
        }
    }
    (out, d.stats())
}

fuzz_target!(|data: &[u8]| {
    let (split, rest) = data.split_at(data.len() / 4);
    let whole = frames(rest, &[]);
    assert_eq!(frames(rest, split), whole, "pieces change nothing");
    // A frame made from the input, after the input as garbage and a delimiter.
    let payload = &rest[..rest.len().min(Deframer::<N>::MAX_DATAGRAM)];
    let mut stream = rest.to_vec();
    stream.push(0);
    let mut enc = vec![0u8; encoded_len_max(payload.len())];
    let n = encode(payload, &mut enc).expect("sized by encoded_len_max");
    stream.extend_from_slice(&enc[..n]);
    let (got, _) = frames(&stream, split);
    assert_eq!(got.last().map(Vec::as_slice), Some(payload), "resynchronised");
});
