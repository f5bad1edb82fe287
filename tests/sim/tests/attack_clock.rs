//! Certificates against a wall clock that is wrong or moves. A device that boots with its
//! clock in 1970 must run, say so, make no link, and join once the clock is set; a
//! certificate that expires while in use must stop being honoured at its expiry, not at
//! the next restart.
use mcc_core::cert::CertError;
use mcc_core::event::Event;
use mcc_core::time::Duration;
use mcc_sim::World;

#[test]
fn a_node_booted_in_1970_waits_for_the_clock_then_joins() {
    let mut w = World::new(1);
    let root = w.add_node(&[]);
    w.boot_unix = Some(0);
    let child = w.add_node(&[root]);
    w.boot_unix = None;
    w.run_for_secs(60);
    let events = w.take_events(child);
    assert!(
        events.contains(&Event::OwnCertificateInvalid {
            reason: CertError::NotYetValid,
            unix_secs: 0
        }),
        "a clear event, not a refusal to start: {events:?}"
    );
    assert_eq!(w.node(child).parent(), None);
    assert_eq!(w.node(root).peers().count(), 0);
    assert_eq!(
        w.node(root).stats().datagrams_in,
        0,
        "a node that knows its clock is wrong sends no Init for its parent to answer"
    );

    let unix = w.unix_now();
    w.set_wall_clock(child, unix);
    assert!(
        w.take_events(child)
            .contains(&Event::OwnCertificateValid { unix_secs: unix })
    );
    let took = w
        .run_until(Duration::from_secs(2), |w| w.converged())
        .expect("joins at once when the clock is right");
    assert!(took < Duration::from_secs(1), "dialled at once: {took:?}");
    assert_eq!(w.node(child).parent(), Some(w.node(root).id()));
}

#[test]
fn a_neighbour_whose_certificate_expires_is_dropped_at_expiry() {
    let mut w = World::new(2);
    let root = w.add_node(&[]);
    let period = w.cert_period;
    let expiry = w.unix_now() + 100;
    w.cert_period = (period.0, expiry);
    let child = w.add_node(&[root]);
    w.cert_period = period;
    w.run_for_secs(5);
    assert!(w.converged());
    let child_id = w.node(child).id();

    w.run_for_secs(expiry - w.unix_now());
    assert_eq!(
        w.node(root).peers().count(),
        1,
        "valid up to its last second"
    );
    w.run_for_secs(2);
    assert_eq!(
        w.node(root).peers().count(),
        0,
        "dropped when the clock passed its expiry"
    );
    assert!(w.node(root).topology().get(&child_id).is_none());
    let events = w.take_events(root);
    assert!(events.contains(&Event::PeerCertificateLapsed {
        id: child_id,
        reason: CertError::Expired
    }));
    assert!(events.contains(&Event::PeerDown { id: child_id }));
    assert!(w.take_events(child).iter().any(|e| matches!(
        e,
        Event::OwnCertificateInvalid {
            reason: CertError::Expired,
            ..
        }
    )));

    // It does not come back: it knows its certificate expired and sends no Init.
    w.run_for_secs(300);
    assert_eq!(w.node(root).peers().count(), 0);
    assert_eq!(w.node(child).parent(), None);
}

#[test]
fn an_expired_parent_is_dropped_and_the_child_fails_over() {
    let mut w = World::new(3);
    let root = w.add_node(&[]);
    let period = w.cert_period;
    let expiry = w.unix_now() + 100;
    w.cert_period = (period.0, expiry);
    let mid = w.add_node(&[root]);
    w.cert_period = period;
    let leaf = w.add_node(&[mid, root]);
    w.run_for_secs(5);
    assert_eq!(w.node(leaf).parent(), Some(w.node(mid).id()));
    w.run_for_secs(expiry - w.unix_now() + 2);
    let events = w.take_events(leaf);
    assert!(events.contains(&Event::PeerCertificateLapsed {
        id: w.node(mid).id(),
        reason: CertError::Expired
    }));
    w.run_until(Duration::from_secs(30), |w| {
        w.node(leaf).parent() == Some(w.node(root).id())
    })
    .expect("fails over to the next parent");
}

#[test]
fn a_clock_jump_past_a_tunnel_certificate_removes_the_tunnel() {
    let mut w = World::new(4);
    let root = w.add_node(&[]);
    let a = w.add_node(&[root]);
    let b = w.add_node(&[root]);
    w.run_for_secs(5);
    let period = w.cert_period;
    let expiry = w.unix_now() + 3600;
    w.cert_period = (period.0, expiry);
    let t = w.add_tunnel(a, b, "udp:7000");
    w.cert_period = period;
    w.run_for_secs(3);
    assert!(w.node(a).tunnels().all(|t| t.established));

    // NTP corrects the client's clock forward past the tunnel's expiry.
    let late = expiry + 60;
    w.set_wall_clock(a, late);
    assert_eq!(w.node(a).tunnels().count(), 0);
    let events = w.take_events(a);
    assert!(events.contains(&Event::TunnelCertificateLapsed {
        remote_endpoint: t.server_endpoint,
        reason: CertError::Expired
    }));
    assert!(events.contains(&Event::TunnelDown {
        remote_endpoint: t.server_endpoint
    }));

    // The server's clock is right: it removes its side when the clock reaches the expiry,
    // without any correction.
    assert_eq!(w.node(b).tunnels().count(), 1);
    w.run_for_secs(expiry - w.unix_now() + 1);
    assert_eq!(w.node(b).tunnels().count(), 0);
}

#[test]
fn a_clock_set_back_before_a_neighbour_certificate_drops_the_link() {
    let mut w = World::new(5);
    let root = w.add_node(&[]);
    let child = w.add_node(&[root]);
    w.run_for_secs(5);
    assert!(w.converged());
    let child_id = w.node(child).id();
    // A bad correction to 1970: every certificate is "not valid yet" at the root.
    w.set_wall_clock(root, 0);
    assert_eq!(w.node(root).peers().count(), 0);
    let events = w.take_events(root);
    assert!(events.contains(&Event::PeerCertificateLapsed {
        id: child_id,
        reason: CertError::NotYetValid
    }));
    assert!(events.contains(&Event::OwnCertificateInvalid {
        reason: CertError::NotYetValid,
        unix_secs: 0
    }));
    // Set right again: the child rejoins on its own, once its parent check finds the old
    // session dead (as after a parent restart: within idle_check + parent_timeout).
    let unix = w.unix_now();
    w.set_wall_clock(root, unix);
    let t = w.timers;
    w.run_until(t.idle_check + t.parent_timeout.mul(2), |w| {
        w.node(child).parent() == Some(w.node(root).id()) && w.node(root).peers().count() == 1
    })
    .expect("the child rejoins once the root's clock is right");
}
