//! Tunnel offers: the server node delivers a tunnel's client endpoint key to the client
//! node, sealed to the client node's X25519 key, until the client starts its handshake.

use super::Node;
use crate::cert::Certificate;
use crate::crypto::{self, Cipher, Ephemeral, Identity};
use crate::event::{DropReason, Event};
use crate::id::NodeId;
use crate::time::Instant;
use crate::wire::rpc::{self};

impl<C: Cipher> Node<C> {
    /// Sends (or resends) a tunnel offer; backs off, and gives up after 12 tries.
    pub(crate) fn send_offer(&mut self, slot: usize, now: Instant) {
        let eph = Ephemeral::generate(&mut self.rng);
        let base = self.timers.handshake_retry;
        let retry = |tries: u32| base.mul(1 << tries.min(4));
        let Some(t) = self.tunnels.get_mut(slot) else {
            return;
        };
        let Some(o) = t.offer.as_mut() else { return };
        if o.tries >= 12 {
            t.offer = None;
            return;
        }
        o.next_at = now + retry(o.tries);
        o.tries += 1;
        let Some(client_x) = crypto::x25519_public(&t.remote_node) else {
            return;
        };
        let Some(shared) = eph.agree(&client_x.to_bytes()) else {
            return;
        };
        let (key, _) = crypto::derive_pair(&shared, &t.fingerprint, b"mcc tunnel offer", b"");
        let mut sealed = [0u8; 48];
        sealed[..32].copy_from_slice(&o.client_key.secret());
        let tag = C::new(&key).seal(0, &t.fingerprint, &mut sealed[..32]);
        sealed[32..].copy_from_slice(&tag);
        let offer = rpc::TunnelOffer {
            ephemeral: eph.public,
            sealed_key: sealed,
            cert: t.cert.encoded(),
        };
        let mut body = [0u8; rpc::TUNNEL_OFFER_MAX];
        let Ok(n) = offer.emit(&mut body) else { return };
        let dst = t.remote_node;
        self.send_control_bytes(dst, &body[..n]);
    }

    /// Client side: a server node delivers a tunnel (certificate + our endpoint key).
    pub(crate) fn handle_offer(&mut self, now: Instant, src: NodeId, body: &[u8]) {
        let Ok(offer) = rpc::TunnelOffer::parse(body) else {
            return self.drop_packet(DropReason::Malformed);
        };
        let Ok(cert) = Certificate::decode(offer.cert) else {
            return self.drop_packet(DropReason::BadCertificate);
        };
        let unix = self.unix_time();
        if self.trust.verify_tunnel(&cert, unix).is_err() {
            return self.drop_packet(DropReason::BadCertificate);
        }
        let info = cert.tunnel().expect("verified tunnel");
        if info.client_node != self.me || info.server_node != src {
            return self.drop_packet(DropReason::BadHandshake);
        }
        let fingerprint = cert.fingerprint();
        if let Some(slot) = self.tunnels.slot_of_fingerprint(&fingerprint) {
            // Already installed: the server offers again only when it lost the tunnel's
            // state (it restarted), so our session is dead there: handshake anew.
            if self.tunnels.get(slot).is_some_and(|t| t.hs.is_none()) {
                self.start_tunnel_handshake(slot, now);
            }
            return;
        }
        let shared = self
            .identity
            .x25519_secret()
            .diffie_hellman(&x25519_dalek::PublicKey::from(offer.ephemeral));
        if !shared.was_contributory() {
            return self.drop_packet(DropReason::BadHandshake);
        }
        let (key, _) =
            crypto::derive_pair(shared.as_bytes(), &fingerprint, b"mcc tunnel offer", b"");
        let mut secret = [0u8; 32];
        secret.copy_from_slice(&offer.sealed_key[..32]);
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&offer.sealed_key[32..]);
        if C::new(&key)
            .open(0, &fingerprint, &mut secret, &tag)
            .is_err()
        {
            return self.drop_packet(DropReason::Forged);
        }
        let endpoint_key = Identity::from_secret(secret);
        if endpoint_key.id() != info.client_endpoint {
            return self.drop_packet(DropReason::BadHandshake);
        }
        if self.add_tunnel(now, cert, endpoint_key).is_ok() {
            self.emit(Event::TunnelInstalled { fingerprint });
        }
    }
}
