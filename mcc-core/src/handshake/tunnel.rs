//! The end-to-end tunnel handshake (docs/PROTOCOL.md, "Tunnel handshake"), carried in
//! control messages through the tree; relays cannot read or forge it.
//!
//! ```text
//! client endpoint                                   server endpoint
//!   TunnelInitiator::initiate    ── TunnelInit ──▶     verify_init → accept → write_ack
//!   TunnelInitiator::process_ack ◀── TunnelInitAck ──
//! ```
//!
//! The endpoints sign with their endpoint keys (the tunnel certificate's subject and its
//! client endpoint), so only the two holders of the tunnel's keys can complete it.

use super::transcript::Signed;
use super::{HandshakeError, SessionSecrets};
use crate::crypto::{self, Ephemeral, Identity};
use crate::id::NodeId;
use crate::wire::rpc::{Control, TUNNEL_INIT_ACK_LEN, TUNNEL_INIT_LEN};

/// HKDF labels of the two directions of a tunnel session.
const C2S: &[u8] = b"mcc tunnel c2s";
const S2C: &[u8] = b"mcc tunnel s2c";

/// What one side knows of the tunnel it handshakes for.
#[derive(Clone, Copy)]
pub struct TunnelSide<'a> {
    /// The tunnel certificate's fingerprint.
    pub fingerprint: [u8; 32],
    /// This side's endpoint key.
    pub key: &'a Identity,
    /// The other endpoint's ID (it signs the other message).
    pub remote_endpoint: NodeId,
    /// The node that holds the other endpoint (the control message's other end).
    pub remote_node: NodeId,
    /// This node.
    pub me: NodeId,
}

/// A finished tunnel handshake.
#[derive(Debug)]
pub struct TunnelEstablished {
    /// Receiver index chosen by this side.
    pub local: u16,
    /// Receiver index chosen by the other endpoint.
    pub remote: u16,
    /// The session keys, oriented for this side.
    pub secrets: SessionSecrets,
}

/// Client side of a tunnel handshake in flight.
pub struct TunnelInitiator {
    eph: Ephemeral,
    sender: u16,
    init_hash: [u8; 32],
}

impl TunnelInitiator {
    /// Writes a signed `TunnelInit` into `out` (the client endpoint signs over both nodes'
    /// IDs and the message) and returns the attempt in flight.
    pub fn initiate(
        eph: Ephemeral,
        sender: u16,
        side: &TunnelSide<'_>,
        out: &mut [u8; TUNNEL_INIT_LEN],
    ) -> Self {
        let unsigned = Control::TunnelInit {
            tunnel: side.fingerprint,
            sender,
            ephemeral: eph.public,
            signature: [0; 64],
        };
        let _ = unsigned.emit(out);
        let sig = Signed::TunnelInit {
            client_node: &side.me,
            server_node: &side.remote_node,
            unsigned: unsigned.signed_part(out),
        }
        .sign(side.key);
        out[TUNNEL_INIT_LEN - 64..].copy_from_slice(&sig);
        TunnelInitiator {
            eph,
            sender,
            init_hash: crypto::sha256(&[out]),
        }
    }

    /// The index the `TunnelInitAck` must carry as its receiver.
    pub fn sender(&self) -> u16 {
        self.sender
    }

    /// The server's `TunnelInitAck`, from node `src`: verifies it and derives the session.
    pub fn process_ack(
        &self,
        body: &[u8],
        src: &NodeId,
        side: &TunnelSide<'_>,
    ) -> Result<TunnelEstablished, HandshakeError> {
        let msg = Control::parse(body).map_err(|_| HandshakeError::Malformed)?;
        let Control::TunnelInitAck {
            tunnel,
            sender,
            receiver,
            ephemeral,
            signature,
        } = msg
        else {
            return Err(HandshakeError::Malformed);
        };
        if receiver != self.sender {
            return Err(HandshakeError::UnknownSession);
        }
        if tunnel != side.fingerprint || *src != side.remote_node {
            return Err(HandshakeError::WrongPeer);
        }
        let signed = Signed::TunnelInitAck {
            init_hash: &self.init_hash,
            unsigned: msg.signed_part(body),
        };
        if !signed.verify(&side.remote_endpoint, &signature) {
            return Err(HandshakeError::BadSignature);
        }
        let shared = self
            .eph
            .agree(&ephemeral)
            .ok_or(HandshakeError::BadSignature)?;
        let transcript = crypto::sha256(&[&self.init_hash, body]);
        let ikm = crypto::session_ikm(&shared, side.key, &side.remote_endpoint)
            .ok_or(HandshakeError::BadSignature)?;
        let (c2s, s2c) = crypto::derive_pair(&ikm, &transcript, C2S, S2C);
        Ok(TunnelEstablished {
            local: receiver,
            remote: sender,
            secrets: SessionSecrets {
                send: c2s,
                recv: s2c,
            },
        })
    }
}

/// Server side, step 1: a `TunnelInit` from the right node, signed by the client endpoint,
/// and not the one answered last.
#[derive(Clone, Copy, Debug)]
pub struct VerifiedTunnelInit {
    /// The client's index: the `TunnelInitAck`'s receiver.
    pub sender: u16,
    ephemeral: [u8; 32],
    /// SHA-256 of the whole `TunnelInit`: binds the answer and detects a replay.
    pub init_hash: [u8; 32],
}

/// Verifies a `TunnelInit` that arrived from node `src`. `last_init` is the hash of the
/// last one accepted for this tunnel: a copy of it is a replay.
pub fn verify_init(
    body: &[u8],
    src: &NodeId,
    side: &TunnelSide<'_>,
    last_init: &[u8; 32],
) -> Result<VerifiedTunnelInit, HandshakeError> {
    let msg = Control::parse(body).map_err(|_| HandshakeError::Malformed)?;
    let Control::TunnelInit {
        tunnel,
        sender,
        ephemeral,
        signature,
    } = msg
    else {
        return Err(HandshakeError::Malformed);
    };
    if tunnel != side.fingerprint || *src != side.remote_node {
        return Err(HandshakeError::WrongPeer);
    }
    let signed = Signed::TunnelInit {
        client_node: src,
        server_node: &side.me,
        unsigned: msg.signed_part(body),
    };
    if !signed.verify(&side.remote_endpoint, &signature) {
        return Err(HandshakeError::BadSignature);
    }
    let init_hash = crypto::sha256(&[body]);
    if init_hash == *last_init {
        return Err(HandshakeError::Replay);
    }
    Ok(VerifiedTunnelInit {
        sender,
        ephemeral,
        init_hash,
    })
}

impl VerifiedTunnelInit {
    /// Step 2: the key exchange with the server's fresh ephemeral key.
    pub fn accept(self, eph: Ephemeral) -> Result<AcceptedTunnelInit, HandshakeError> {
        let shared = eph
            .agree(&self.ephemeral)
            .ok_or(HandshakeError::BadSignature)?;
        Ok(AcceptedTunnelInit {
            init: self,
            eph,
            shared,
        })
    }
}

/// Server side, key exchange done: waiting for the node to pick a receiver index.
pub struct AcceptedTunnelInit {
    /// The verified `TunnelInit`.
    pub init: VerifiedTunnelInit,
    eph: Ephemeral,
    shared: [u8; 32],
}

impl AcceptedTunnelInit {
    /// Step 3: writes the signed `TunnelInitAck` (receiver index `local`) into `out` and
    /// derives the session.
    pub fn write_ack(
        &self,
        side: &TunnelSide<'_>,
        local: u16,
        out: &mut [u8; TUNNEL_INIT_ACK_LEN],
    ) -> Result<TunnelEstablished, HandshakeError> {
        let unsigned = Control::TunnelInitAck {
            tunnel: side.fingerprint,
            sender: local,
            receiver: self.init.sender,
            ephemeral: self.eph.public,
            signature: [0; 64],
        };
        let _ = unsigned.emit(out);
        let sig = Signed::TunnelInitAck {
            init_hash: &self.init.init_hash,
            unsigned: unsigned.signed_part(out),
        }
        .sign(side.key);
        out[TUNNEL_INIT_ACK_LEN - 64..].copy_from_slice(&sig);
        let transcript = crypto::sha256(&[&self.init.init_hash, out]);
        let ikm = crypto::session_ikm(&self.shared, side.key, &side.remote_endpoint)
            .ok_or(HandshakeError::BadSignature)?;
        let (c2s, s2c) = crypto::derive_pair(&ikm, &transcript, C2S, S2C);
        Ok(TunnelEstablished {
            local,
            remote: self.init.sender,
            secrets: SessionSecrets {
                send: s2c,
                recv: c2s,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    struct Ends {
        client_key: Identity,
        server_key: Identity,
        client_node: NodeId,
        server_node: NodeId,
        fp: [u8; 32],
    }

    fn ends() -> Ends {
        Ends {
            client_key: Identity::from_secret([41; 32]),
            server_key: Identity::from_secret([42; 32]),
            client_node: Identity::from_secret([43; 32]).id(),
            server_node: Identity::from_secret([44; 32]).id(),
            fp: [0xf9; 32],
        }
    }

    impl Ends {
        fn client(&self) -> TunnelSide<'_> {
            TunnelSide {
                fingerprint: self.fp,
                key: &self.client_key,
                remote_endpoint: self.server_key.id(),
                remote_node: self.server_node,
                me: self.client_node,
            }
        }
        fn server(&self) -> TunnelSide<'_> {
            TunnelSide {
                fingerprint: self.fp,
                key: &self.server_key,
                remote_endpoint: self.client_key.id(),
                remote_node: self.client_node,
                me: self.server_node,
            }
        }
    }

    fn eph(seed: u8) -> Ephemeral {
        Ephemeral::generate(&mut rand_chacha::ChaCha20Rng::from_seed([seed; 32]))
    }

    fn initiate(e: &Ends) -> (TunnelInitiator, [u8; TUNNEL_INIT_LEN]) {
        let mut out = [0u8; TUNNEL_INIT_LEN];
        let hs = TunnelInitiator::initiate(eph(1), 0x1234, &e.client(), &mut out);
        (hs, out)
    }

    fn answer(
        e: &Ends,
        init: &[u8],
    ) -> Result<([u8; TUNNEL_INIT_ACK_LEN], TunnelEstablished), HandshakeError> {
        let v = verify_init(init, &e.client_node, &e.server(), &[0; 32])?;
        let acc = v.accept(eph(2))?;
        let mut out = [0u8; TUNNEL_INIT_ACK_LEN];
        let est = acc.write_ack(&e.server(), 0x5678, &mut out)?;
        Ok((out, est))
    }

    #[test]
    fn happy_path_agrees_on_mirrored_keys() {
        let e = ends();
        let (hs, init) = initiate(&e);
        assert_eq!(hs.sender(), 0x1234);
        let (ack, srv) = answer(&e, &init).unwrap();
        let cli = hs.process_ack(&ack, &e.server_node, &e.client()).unwrap();
        assert_eq!((cli.local, cli.remote), (0x1234, 0x5678));
        assert_eq!((srv.local, srv.remote), (0x5678, 0x1234));
        assert_eq!(cli.secrets.send, srv.secrets.recv);
        assert_eq!(cli.secrets.recv, srv.secrets.send);
    }

    #[test]
    fn initiating_twice_from_the_same_state_gives_the_same_bytes() {
        // What made the old code's "rebuild the Init to hash it" correct: Ed25519 is
        // deterministic. The machine now keeps the hash instead.
        let e = ends();
        let (_, a) = initiate(&e);
        let (_, b) = initiate(&e);
        assert_eq!(a, b);
        assert_eq!(a[0], 1);
        assert_eq!(&a[1..33], &e.fp);
        assert_eq!(&a[33..35], &0x1234u16.to_le_bytes());
    }

    #[test]
    fn every_tampered_byte_of_a_tunnel_init_is_refused() {
        let e = ends();
        let (_, good) = initiate(&e);
        for i in 0..good.len() {
            let mut bad = good;
            bad[i] ^= 0x01;
            let r = answer(&e, &bad).map(|_| ());
            let ok = match i {
                0 => r == Err(HandshakeError::Malformed),
                1..=32 => r == Err(HandshakeError::WrongPeer),
                _ => r == Err(HandshakeError::BadSignature),
            };
            assert!(ok, "byte {i}: {r:?}");
        }
    }

    #[test]
    fn every_tampered_byte_of_a_tunnel_init_ack_is_refused() {
        let e = ends();
        let (hs, init) = initiate(&e);
        let (good, _) = answer(&e, &init).unwrap();
        for i in 0..good.len() {
            let mut bad = good;
            bad[i] ^= 0x01;
            let r = hs
                .process_ack(&bad, &e.server_node, &e.client())
                .map(|_| ());
            let ok = match i {
                0 => r == Err(HandshakeError::Malformed),
                1..=32 => r == Err(HandshakeError::WrongPeer),
                35..=36 => r == Err(HandshakeError::UnknownSession),
                _ => r == Err(HandshakeError::BadSignature),
            };
            assert!(ok, "byte {i}: {r:?}");
        }
    }

    #[test]
    fn a_tunnel_init_via_another_node_or_for_another_server_is_refused() {
        let e = ends();
        let (_, init) = initiate(&e);
        let relay = Identity::from_secret([50; 32]).id();
        assert_eq!(
            verify_init(&init, &relay, &e.server(), &[0; 32]).err(),
            Some(HandshakeError::WrongPeer)
        );
        // Delivered to another server node: the signature binds the server node's ID.
        let mut elsewhere = e.server();
        elsewhere.me = relay;
        assert_eq!(
            verify_init(&init, &e.client_node, &elsewhere, &[0; 32]).err(),
            Some(HandshakeError::BadSignature)
        );
    }

    #[test]
    fn a_replayed_tunnel_init_is_refused() {
        let e = ends();
        let (_, init) = initiate(&e);
        let v = verify_init(&init, &e.client_node, &e.server(), &[0; 32]).unwrap();
        assert_eq!(
            verify_init(&init, &e.client_node, &e.server(), &v.init_hash).err(),
            Some(HandshakeError::Replay)
        );
    }

    #[test]
    fn an_ack_signed_by_another_key_or_from_another_node_is_refused() {
        let e = ends();
        let (hs, init) = initiate(&e);
        let v = verify_init(&init, &e.client_node, &e.server(), &[0; 32]).unwrap();
        let acc = v.accept(eph(2)).unwrap();
        let impostor = Identity::from_secret([60; 32]);
        let mut side = e.server();
        side.key = &impostor;
        let mut out = [0u8; TUNNEL_INIT_ACK_LEN];
        acc.write_ack(&side, 9, &mut out).unwrap();
        assert_eq!(
            hs.process_ack(&out, &e.server_node, &e.client()).err(),
            Some(HandshakeError::BadSignature)
        );
        let (ack, _) = answer(&e, &init).unwrap();
        assert_eq!(
            hs.process_ack(&ack, &e.client_node, &e.client()).err(),
            Some(HandshakeError::WrongPeer)
        );
        // A TunnelInit is not an ack.
        assert_eq!(
            hs.process_ack(&init, &e.server_node, &e.client()).err(),
            Some(HandshakeError::Malformed)
        );
    }

    #[test]
    fn a_small_order_ephemeral_is_refused() {
        let e = ends();
        let (_, init) = initiate(&e);
        let v = verify_init(&init, &e.client_node, &e.server(), &[0; 32]).unwrap();
        // The server's own key exchange is fine; a forged all-zero client share is not.
        let mut zero = v;
        zero.ephemeral = [0; 32];
        assert!(matches!(
            zero.accept(eph(2)),
            Err(HandshakeError::BadSignature)
        ));
    }
}
