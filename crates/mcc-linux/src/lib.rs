//! The Linux node: a TUN device and routes for the overlay ranges, driven by
//! `mcc_std::driver`. The binaries are `mccd` (the daemon) and `mcc` (the client).

pub mod tun_device;

/// An error and its causes on one line, skipping a cause whose text its parent already
/// includes (typed errors here name their cause in their own message).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        cur = c.source();
    }
    out
}
