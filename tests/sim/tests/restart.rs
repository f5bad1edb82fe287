//! A restarted tunnel server loses its sessions; the client notices the silence and
//! handshakes again, so traffic resumes without waiting for the rekey timer.
mod common;
use common::*;

#[test]
fn tunnel_recovers_after_the_server_restarts() {
    let (mut w, t) = chain();
    assert_eq!(roundtrip(&mut w, &t, 7000, b"before").len(), 1);
    w.crash(t.server);
    w.run_for_secs(1);
    w.restart(t.server);
    let mut waited = 0;
    loop {
        if roundtrip(&mut w, &t, 7000, b"after restart").len() == 1 {
            break;
        }
        waited += 2;
        assert!(
            waited < 40,
            "tunnel still down {waited} s after the server restarted"
        );
    }
    eprintln!("tunnel back {waited} s after the restart");
    assert!(waited <= 30);
}
