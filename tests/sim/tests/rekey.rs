//! Rekey under steady traffic loses nothing: link and tunnel sessions are replaced while
//! packets flow.
mod common;
use common::*;

#[test]
fn rekey_under_traffic_loses_nothing() {
    let (mut w, t) = chain();
    let mut delivered = 0;
    let n = 400;
    for i in 0..n {
        let p = client_udp(&w, &t, 7000, format!("packet-{i:05}").as_bytes());
        w.send_tun(t.client, &p);
        w.run_for(mcc_core::time::Duration::from_millis(1000));
        delivered += w.take_tun(t.server).len();
    }
    assert!(
        w.node(t.client).stats().rekeys >= 2,
        "link rekeys: {}",
        w.node(t.client).stats().rekeys
    );
    // The first packet starts nothing new; every packet goes through.
    assert_eq!(delivered, n, "lost {} packets across rekeys", n - delivered);
    let s = w.node(t.server).stats();
    assert_eq!(
        s.drop_replay + s.drop_forged + s.drop_unknown_session,
        0,
        "{s:?}"
    );
}
