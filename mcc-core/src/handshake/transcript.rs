//! The one place that says what each handshake signature covers. Every signed handshake
//! message is `Ed25519(key, context ‖ binding ‖ message bytes before the signature)`; the
//! binding ties an answer to the message it answers (the hash of the `Init`) or a tunnel
//! handshake to the two nodes that carry it. See docs/PROTOCOL.md.

use crate::crypto::{self, Identity};
use crate::id::NodeId;
use crate::wire::link::{ACK_CONTEXT, INIT_CONTEXT};
use alloc::vec::Vec;

/// Context string of a `TunnelInit` signature.
pub const TUNNEL_INIT_CONTEXT: &[u8] = b"mcc-tunnel-init";
/// Context string of a `TunnelInitAck` signature.
pub const TUNNEL_ACK_CONTEXT: &[u8] = b"mcc-tunnel-ack";
/// Context string of a `GatewayInit` signature.
pub const GATEWAY_INIT_CONTEXT: &[u8] = b"mcc-gateway-init";
/// Context string of a `GatewayInitAck` signature.
pub const GATEWAY_ACK_CONTEXT: &[u8] = b"mcc-gateway-ack";

/// A handshake message as its signature sees it.
#[derive(Clone, Copy, Debug)]
pub enum Signed<'a> {
    /// A link `Init`: `"mcc-init" ‖ Init[..sig]`.
    Init {
        /// The frame up to its signature.
        unsigned: &'a [u8],
    },
    /// A link `InitAck`: `"mcc-initack" ‖ SHA-256(Init without cookie) ‖ InitAck[..sig]`.
    InitAck {
        /// Hash of the `Init` answered.
        init_hash: &'a [u8; 32],
        /// The frame up to its signature.
        unsigned: &'a [u8],
    },
    /// A `TunnelInit`: `"mcc-tunnel-init" ‖ client node ‖ server node ‖ TunnelInit[..sig]`.
    TunnelInit {
        /// The node of the client endpoint (the sender of the control message).
        client_node: &'a NodeId,
        /// The node of the server endpoint (its destination).
        server_node: &'a NodeId,
        /// The message up to its signature.
        unsigned: &'a [u8],
    },
    /// A `TunnelInitAck`: `"mcc-tunnel-ack" ‖ SHA-256(TunnelInit) ‖ TunnelInitAck[..sig]`.
    TunnelInitAck {
        /// Hash of the whole `TunnelInit` answered.
        init_hash: &'a [u8; 32],
        /// The message up to its signature.
        unsigned: &'a [u8],
    },
    /// A `GatewayInit`: `"mcc-gateway-init" ‖ client node ‖ exit node ‖ GatewayInit[..sig]`.
    GatewayInit {
        /// The client node (the signer, the control message's source).
        client: &'a NodeId,
        /// The exit node it is meant for.
        exit: &'a NodeId,
        /// The message up to its signature.
        unsigned: &'a [u8],
    },
    /// A `GatewayInitAck`: `"mcc-gateway-ack" ‖ SHA-256(GatewayInit) ‖ GatewayInitAck[..sig]`.
    GatewayInitAck {
        /// Hash of the whole `GatewayInit` answered.
        init_hash: &'a [u8; 32],
        /// The message up to its signature.
        unsigned: &'a [u8],
    },
}

impl Signed<'_> {
    /// The exact bytes the signature covers.
    pub fn message(&self) -> Vec<u8> {
        let parts: [&[u8]; 4] = match self {
            Signed::Init { unsigned } => [INIT_CONTEXT, unsigned, &[], &[]],
            Signed::InitAck {
                init_hash,
                unsigned,
            } => [ACK_CONTEXT, *init_hash, unsigned, &[]],
            Signed::TunnelInit {
                client_node,
                server_node,
                unsigned,
            } => [
                TUNNEL_INIT_CONTEXT,
                &client_node.0,
                &server_node.0,
                unsigned,
            ],
            Signed::TunnelInitAck {
                init_hash,
                unsigned,
            } => [TUNNEL_ACK_CONTEXT, *init_hash, unsigned, &[]],
            Signed::GatewayInit {
                client,
                exit,
                unsigned,
            } => [GATEWAY_INIT_CONTEXT, &client.0, &exit.0, unsigned],
            Signed::GatewayInitAck {
                init_hash,
                unsigned,
            } => [GATEWAY_ACK_CONTEXT, *init_hash, unsigned, &[]],
        };
        let mut m = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
        for p in parts {
            m.extend_from_slice(p);
        }
        m
    }

    /// Signs the message with `key`.
    pub fn sign(&self, key: &Identity) -> [u8; 64] {
        key.sign(&self.message())
    }

    /// Does `signature` by `signer` cover this message?
    pub fn verify(&self, signer: &NodeId, signature: &[u8; 64]) -> bool {
        crypto::verify(signer, &self.message(), signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_context_then_binding_then_bytes() {
        let a = NodeId([1; 32]);
        let b = NodeId([2; 32]);
        let h = [9u8; 32];
        assert_eq!(Signed::Init { unsigned: b"xy" }.message(), b"mcc-initxy");
        let m = Signed::InitAck {
            init_hash: &h,
            unsigned: b"z",
        }
        .message();
        assert_eq!(&m[..11], b"mcc-initack");
        assert_eq!(&m[11..43], &h);
        assert_eq!(&m[43..], b"z");
        let m = Signed::TunnelInit {
            client_node: &a,
            server_node: &b,
            unsigned: b"q",
        }
        .message();
        assert_eq!(m.len(), 15 + 64 + 1);
        assert_eq!(&m[15..47], &a.0);
        assert_eq!(&m[47..79], &b.0);
        let m = Signed::TunnelInitAck {
            init_hash: &h,
            unsigned: b"",
        }
        .message();
        assert_eq!(&m[..14], b"mcc-tunnel-ack");
        assert_eq!(m.len(), 14 + 32);
    }

    #[test]
    fn a_signature_does_not_carry_over_to_another_message_kind() {
        let k = Identity::from_secret([7; 32]);
        let h = [0u8; 32];
        let init = Signed::Init { unsigned: b"abc" };
        let sig = init.sign(&k);
        assert!(init.verify(&k.id(), &sig));
        assert!(!Signed::Init { unsigned: b"abd" }.verify(&k.id(), &sig));
        let ack = Signed::InitAck {
            init_hash: &h,
            unsigned: b"abc",
        };
        assert!(!ack.verify(&k.id(), &sig));
        assert!(!init.verify(&Identity::from_secret([8; 32]).id(), &sig));
    }

    #[test]
    fn gateway_signatures_bind_both_nodes_and_differ_from_tunnel_ones() {
        let k = Identity::from_secret([7; 32]);
        let (a, b) = (NodeId([1; 32]), NodeId([2; 32]));
        let s = Signed::GatewayInit {
            client: &a,
            exit: &b,
            unsigned: b"m",
        };
        assert_eq!(&s.message()[..16], b"mcc-gateway-init");
        let sig = s.sign(&k);
        assert!(s.verify(&k.id(), &sig));
        let swapped = Signed::GatewayInit {
            client: &b,
            exit: &a,
            unsigned: b"m",
        };
        assert!(!swapped.verify(&k.id(), &sig));
        let tunnel = Signed::TunnelInit {
            client_node: &a,
            server_node: &b,
            unsigned: b"m",
        };
        assert!(!tunnel.verify(&k.id(), &sig));
        let h = [3u8; 32];
        let ack = Signed::GatewayInitAck {
            init_hash: &h,
            unsigned: b"z",
        };
        assert_eq!(&ack.message()[..15], b"mcc-gateway-ack");
        assert!(
            !Signed::TunnelInitAck {
                init_hash: &h,
                unsigned: b"z"
            }
            .verify(&k.id(), &ack.sign(&k))
        );
    }

    #[test]
    fn tunnel_signatures_bind_both_nodes() {
        let k = Identity::from_secret([7; 32]);
        let (a, b) = (NodeId([1; 32]), NodeId([2; 32]));
        let s = Signed::TunnelInit {
            client_node: &a,
            server_node: &b,
            unsigned: b"m",
        };
        let sig = s.sign(&k);
        assert!(s.verify(&k.id(), &sig));
        let swapped = Signed::TunnelInit {
            client_node: &b,
            server_node: &a,
            unsigned: b"m",
        };
        assert!(!swapped.verify(&k.id(), &sig));
    }
}
