//! Attacks on certificate renewal (docs/RENEWAL.md): a certified insider asks the service
//! to renew a certificate it does not hold, one from another network, a revoked one, one
//! not yet halfway through its life (farming), a widened one, or replays a request; and a
//! reply that is not a renewal of what a node holds is not swapped in.
use mcc_core::Command;
use mcc_core::cert::renewal::{
    RENEW_REPLY_KIND, RenewRefusal, RenewRequest, RenewalService, write_reply,
};
use mcc_core::cert::{Certificate, Revocation, Target, TunnelInfo, issue};
use mcc_core::crypto::Identity;
use mcc_core::event::Event;
use mcc_core::id::NodeId;
use mcc_core::time::Duration;
use mcc_core::wire::rpc::{CONTROL_HEADER_LEN, ControlHeader};
use mcc_sim::World;

const LIFETIME: u64 = 120;

/// A service for the world's network, and the world's clock.
fn service(w: &World) -> (RenewalService, NodeId, u64) {
    let s = RenewalService::new(w.pki.network.clone(), 16);
    let id = Identity::from_secret([9; 32]).id();
    (s, id, w.unix_now())
}

fn node_cert(w: &World, key: &Identity, nb: u64) -> Certificate {
    issue::node(&w.pki.network, &key.id(), nb, nb + LIFETIME)
}

/// The request `key` signs for `cert` as node `requester` at `stamp`, answered at `unix`.
#[allow(clippy::too_many_arguments)]
fn ask(
    s: &mut RenewalService,
    w: &World,
    svc: &NodeId,
    requester: &NodeId,
    cert: &Certificate,
    key: &Identity,
    stamp: u64,
    unix: u64,
) -> Result<Certificate, RenewRefusal> {
    let b = RenewRequest::write(cert, key, svc, requester, stamp);
    let req = RenewRequest::parse(&b).expect("well formed");
    s.answer(&w.trust_store(), svc, requester, &req, unix)
}

#[test]
fn an_insider_cannot_renew_another_nodes_certificate() {
    let mut w = World::new(201);
    let now = w.unix_now();
    w.cert_period = (now - 70, now - 70 + LIFETIME);
    let root = w.add_node(&[]);
    let victim = w.add_node(&[root]);
    let insider = w.add_node(&[root]);
    w.run_for_secs(5);
    let key = w.pki.network.clone();
    w.act(root, |n, now| {
        n.handle_command(now, Command::ServeRenewals(key))
    })
    .expect("service");
    // The insider has the victim's certificate (it is public) but not its key: it signs
    // with its own, as itself and posing as the victim.
    let victim_cert = w.node(victim).certificate().clone();
    let own = Identity::from_secret([77; 32]);
    let root_id = w.node(root).id();
    for src in [w.node(insider).id(), w.node(victim).id()] {
        let req = RenewRequest::write(&victim_cert, &own, &root_id, &src, w.unix_now());
        let mut m = vec![0u8; CONTROL_HEADER_LEN];
        ControlHeader {
            ttl: 8,
            dst: root_id,
            src,
        }
        .emit(&mut m);
        m.extend_from_slice(&req);
        assert!(w.send_insider_rpc(insider, root, &m));
        w.run_for_secs(1);
    }
    let refused = w
        .take_events(root)
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::RenewalRefused {
                    reason: RenewRefusal::NotHolder,
                    ..
                }
            )
        })
        .count();
    assert_eq!(refused, 2, "both forged requests refused");
    assert_eq!(w.node(victim).certificate(), &victim_cert, "nothing issued");

    // The same at the policy: the subject's key on the wrong node is refused too.
    let (mut s, svc, unix) = service(&w);
    let k = Identity::from_secret([5; 32]);
    let c = node_cert(&w, &k, unix - 70);
    let other = Identity::from_secret([6; 32]).id();
    assert_eq!(
        ask(&mut s, &w, &svc, &other, &c, &k, unix, unix),
        Err(RenewRefusal::NotHolder)
    );
    assert!(ask(&mut s, &w, &svc, &k.id(), &c, &k, unix, unix).is_ok());
}

#[test]
fn another_networks_certificate_is_refused() {
    let mut w = World::new(202);
    let other = w.add_network(true);
    let (mut s, svc, unix) = service(&w);
    let k = Identity::from_secret([5; 32]);
    let c = issue::node(&other, &k.id(), unix - 70, unix - 70 + LIFETIME);
    assert_eq!(
        ask(&mut s, &w, &svc, &k.id(), &c, &k, unix, unix),
        Err(RenewRefusal::ForeignNetwork)
    );
}

#[test]
fn a_revoked_subject_is_refused() {
    let w = World::new(203);
    let (mut s, svc, unix) = service(&w);
    let k = Identity::from_secret([5; 32]);
    let c = node_cert(&w, &k, unix - 70);
    let mut trust = w.trust_store();
    trust
        .revoke(
            &Revocation::sign(&w.pki.network, k.id().0, unix, unix + 1000),
            unix,
        )
        .expect("revoked");
    let b = RenewRequest::write(&c, &k, &svc, &k.id(), unix);
    let req = RenewRequest::parse(&b).unwrap();
    assert_eq!(
        s.answer(&trust, &svc, &k.id(), &req, unix),
        Err(RenewRefusal::Revoked)
    );
    // A tunnel revoked by fingerprint, asked by its server endpoint.
    let (t, server, _client, server_node, _client_node) = tunnel(&w, unix - 70, "udp:7000");
    trust
        .revoke(
            &Revocation::sign(&w.pki.network, t.fingerprint(), unix, unix + 1000),
            unix,
        )
        .expect("revoked");
    let b = RenewRequest::write(&t, &server, &svc, &server_node, unix);
    let req = RenewRequest::parse(&b).unwrap();
    assert_eq!(
        s.answer(&trust, &svc, &server_node, &req, unix),
        Err(RenewRefusal::Revoked)
    );
}

/// A tunnel certificate from `nb` for `LIFETIME`: (cert, server key, client key, server
/// node, client node).
fn tunnel(w: &World, nb: u64, targets: &str) -> (Certificate, Identity, Identity, NodeId, NodeId) {
    let server = Identity::from_secret([11; 32]);
    let client = Identity::from_secret([12; 32]);
    let (sn, cn) = (
        Identity::from_secret([13; 32]).id(),
        Identity::from_secret([14; 32]).id(),
    );
    let info = TunnelInfo {
        client_endpoint: client.id(),
        client_node: cn,
        server_node: sn,
        targets: Target::parse_list(targets).unwrap(),
        dns_names: vec![],
        static_addr: None,
        external_addr: None,
    };
    let c = issue::tunnel(&w.pki.network, &server.id(), info, nb, nb + LIFETIME).unwrap();
    (c, server, client, sn, cn)
}

#[test]
fn renewals_cannot_be_farmed_before_the_midpoint() {
    let w = World::new(204);
    let (mut s, svc, unix) = service(&w);
    let k = Identity::from_secret([5; 32]);
    // 59 s into a 120 s life: too early; a renewal then would outlive the original by
    // a whole lifetime, and a chain of them would never need the service again.
    let c = node_cert(&w, &k, unix - 59);
    assert_eq!(
        ask(&mut s, &w, &svc, &k.id(), &c, &k, unix, unix),
        Err(RenewRefusal::TooEarly)
    );
    let r = ask(&mut s, &w, &svc, &k.id(), &c, &k, unix + 1, unix + 1).expect("at midpoint");
    // The renewal cannot be renewed again before its own midpoint.
    assert_eq!(
        ask(&mut s, &w, &svc, &k.id(), &r, &k, unix + 2, unix + 2),
        Err(RenewRefusal::TooEarly)
    );
    // An expired certificate is not renewed.
    assert!(matches!(
        ask(&mut s, &w, &svc, &k.id(), &c, &k, unix + 100, unix + 100),
        Err(RenewRefusal::Certificate(_))
    ));
}

#[test]
fn a_widened_certificate_is_not_renewed_and_the_renewal_is_not_wider() {
    let w = World::new(205);
    let (mut s, svc, unix) = service(&w);
    let (t, server, client, sn, cn) = tunnel(&w, unix - 70, "udp:7000");
    // Both endpoints may renew (each on its own node), and get the same bytes.
    let a = ask(&mut s, &w, &svc, &sn, &t, &server, unix, unix).expect("server end");
    let b = ask(&mut s, &w, &svc, &cn, &t, &client, unix + 1, unix + 1).expect("client end");
    assert_eq!(a, b);
    assert_eq!(a.tunnel(), t.tunnel(), "same targets, names, endpoints");
    assert_eq!(
        a.body.not_after - a.body.not_before,
        LIFETIME,
        "same lifetime"
    );
    // A body with more targets or a longer life, signed by anything but the network.
    let mut wide = t.body.clone();
    if let mcc_core::cert::Extension::Tunnel(i) = &mut wide.ext {
        i.targets = Target::parse_list("udp:7000,tcp:22").unwrap();
    }
    wide.not_after += 10 * LIFETIME;
    wide.issuer = server.id();
    let forged = Certificate::sign(wide.clone(), &server).unwrap();
    assert_eq!(
        ask(&mut s, &w, &svc, &sn, &forged, &server, unix + 2, unix + 2),
        Err(RenewRefusal::ForeignNetwork)
    );
    // Claiming the network as issuer with a bad signature.
    wide.issuer = w.pki.network.id();
    let mut bytes = Certificate::sign(t.body.clone(), &w.pki.network)
        .unwrap()
        .encoded()
        .to_vec();
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    let bad = Certificate::decode(&bytes).unwrap();
    assert!(matches!(
        ask(&mut s, &w, &svc, &sn, &bad, &server, unix + 3, unix + 3),
        Err(RenewRefusal::Certificate(_))
    ));
}

#[test]
fn a_replayed_request_is_refused() {
    let w = World::new(206);
    let (mut s, svc, unix) = service(&w);
    let k = Identity::from_secret([5; 32]);
    let c = node_cert(&w, &k, unix - 70);
    let b = RenewRequest::write(&c, &k, &svc, &k.id(), unix);
    let req = RenewRequest::parse(&b).unwrap();
    let trust = w.trust_store();
    assert!(s.answer(&trust, &svc, &k.id(), &req, unix).is_ok());
    assert_eq!(
        s.answer(&trust, &svc, &k.id(), &req, unix + 1),
        Err(RenewRefusal::Stale),
        "the same request again"
    );
    // A request recorded long ago (or for another service) is refused too, even by a
    // service that never saw it (restarted, or its memory full).
    let (mut fresh, _, _) = service(&w);
    assert_eq!(
        ask(&mut fresh, &w, &svc, &k.id(), &c, &k, unix - 400, unix),
        Err(RenewRefusal::Stale)
    );
    let elsewhere = Identity::from_secret([8; 32]).id();
    let b = RenewRequest::write(&c, &k, &elsewhere, &k.id(), unix + 5);
    let req = RenewRequest::parse(&b).unwrap();
    assert_eq!(
        s.answer(&trust, &svc, &k.id(), &req, unix + 5),
        Err(RenewRefusal::NotHolder),
        "signed for another service"
    );
}

#[test]
fn a_reply_that_is_not_a_renewal_is_not_swapped_in() {
    let mut w = World::new(207);
    let now = w.unix_now();
    w.cert_period = (now - 70, now - 70 + LIFETIME);
    let root = w.add_node(&[]);
    let node = w.add_node(&[root]);
    let insider = w.add_node(&[root]);
    w.run_for_secs(5);
    let held = w.node(node).certificate().clone();
    let id = w.node(node).id();
    // Network-signed, but a longer life (an old long certificate, say), an older one,
    // and a stranger's: none replaces what the node holds.
    let u = w.unix_now();
    let longer = issue::node(&w.pki.network, &id, u - 70, u + 10 * LIFETIME);
    let older = issue::node(&w.pki.network, &id, u - 200, u - 200 + LIFETIME);
    let stranger = issue::node(
        &w.pki.network,
        &Identity::from_secret([3; 32]).id(),
        u,
        u + 120,
    );
    for c in [&longer, &older, &stranger] {
        let mut m = vec![0u8; CONTROL_HEADER_LEN];
        ControlHeader {
            ttl: 8,
            dst: id,
            src: w.node(insider).id(),
        }
        .emit(&mut m);
        m.extend_from_slice(&write_reply(Ok(c)));
        assert_eq!(m[CONTROL_HEADER_LEN], RENEW_REPLY_KIND);
        assert!(w.send_insider_rpc(insider, root, &m));
        w.run_for_secs(1);
    }
    assert_eq!(w.node(node).certificate(), &held);
    // The node still drops out at its certificate's end: nothing extended it.
    w.run_for(Duration::from_secs(LIFETIME));
    assert!(!w.node(root).peers().any(|p| p.id == id));
}
