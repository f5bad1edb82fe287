//! The plaintext inside a link `Data` frame. First byte = message kind; an empty plaintext
//! is a keepalive (29 B on the wire, the smallest authenticated frame possible).
//!
//! ```text
//! (empty)                                             keepalive (child → parent)
//! | 0x01 |                                            pong (parent → child)
//! | 0x02 | postcard(TopologyUpdate)                   child → parent, differential, signed records
//! | 0x03 | upto u64                                   parent → child, acknowledges updates
//! | 0x04 | tunnel frame                               tunnel data for this very neighbour
//! | 0x05 | ttl | dst short id 6 | tunnel frame        tunnel data routed further
//! | 0x06 | ttl | dst id 32 | src id 32 | control      routed control (tunnel handshakes)
//! | 0x07 | revocation 144                             flooded to every neighbour, paced
//! | 0x08 | ttl | origin 32 | query u64 | len | name     name lookup, up the tree
//! | 0x09 |                                            child leaves this parent
//! | 0x0A | ttl | origin 32 | query u64 | addr 4       static address lookup, up the tree
//! | 0x0B | head 260                                   SSL CA set summary (`crate::ssl::Head`)
//! | 0x0C | 0 | digest 32 | offset u32                 SSL set pull
//! | 0x0C | 1 | digest 32 | offset u32 | data          SSL set chunk
//! | 0x0E | address                                  reflexive address (`wire::direct`)
//! | 0x10 + rung |                                     NAT probe: "answer after delay[rung]"
//! | 0x18 + rung |                                     the delayed answer to a NAT probe
//! ```

use super::{Error, Result, arr_at, u64_at};
use crate::id::{NodeId, SHORT_ID_LEN, ShortId};
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// `| 0x01 |`: the parent's answer to a keepalive.
pub const KIND_PONG: u8 = 1;
/// `| 0x02 | postcard(TopologyUpdate) |`: child → parent (see [`TopologyUpdate`]).
pub const KIND_TOPOLOGY: u8 = 2;
/// `| 0x03 | upto u64 |`: parent → child (see [`parse_topology_ack`]).
pub const KIND_TOPOLOGY_ACK: u8 = 3;
/// `| 0x04 | tunnel frame |`: tunnel data for this very neighbour.
pub const KIND_TUNNEL_DIRECT: u8 = 4;
/// `| 0x05 | ttl | dst short id | tunnel frame |`: tunnel data routed further (see [`RoutedHeader`]).
pub const KIND_TUNNEL_ROUTED: u8 = 5;
/// `| 0x06 | ttl | dst | src | control |`: routed control (see [`ControlHeader`]).
pub const KIND_CONTROL: u8 = 6;
/// `| 0x07 | revocation |`: flooded to every neighbour.
pub const KIND_REVOCATION: u8 = 7;
/// `| 0x0B | head |`: the SSL CA set a neighbour holds, sent when it changes.
pub const KIND_SSL_HEAD: u8 = 0x0B;
/// `| 0x0C | 0 pull / 1 chunk | digest | offset | data? |`: an SSL set body, paced.
pub const KIND_SSL_DATA: u8 = 0x0C;
/// Bytes of an SSL data message before its chunk data.
pub const SSL_DATA_HEADER_LEN: usize = 1 + 1 + 32 + 4;

/// A parsed `0x0C` message: `(is_chunk, digest, offset, data)`.
pub fn parse_ssl_data(b: &[u8]) -> Result<(bool, [u8; 32], u32, &[u8])> {
    if b.len() < SSL_DATA_HEADER_LEN || b[0] != KIND_SSL_DATA || b[1] > 1 {
        return Err(Error);
    }
    let chunk = b[1] == 1;
    let data = &b[SSL_DATA_HEADER_LEN..];
    if chunk == data.is_empty() {
        return Err(Error);
    }
    let digest = b[2..34].try_into().map_err(|_| Error)?;
    let offset = u32::from_le_bytes(b[34..38].try_into().map_err(|_| Error)?);
    Ok((chunk, digest, offset, data))
}

/// Writes a `0x0C` message; returns its length.
pub fn emit_ssl_data(out: &mut [u8], digest: &[u8; 32], offset: u32, data: Option<&[u8]>) -> usize {
    let n = SSL_DATA_HEADER_LEN + data.map_or(0, |d| d.len());
    if out.len() < n {
        return 0;
    }
    out[0] = KIND_SSL_DATA;
    out[1] = data.is_some() as u8;
    out[2..34].copy_from_slice(digest);
    out[34..38].copy_from_slice(&offset.to_le_bytes());
    if let Some(d) = data {
        out[SSL_DATA_HEADER_LEN..n].copy_from_slice(d);
    }
    n
}

/// `| 0x09 |`: a child leaves this parent for another (rejoin); sent once, best effort.
pub const KIND_LEAVE: u8 = 9;

/// `| 0x10 + rung |`, child → parent: answer with [`KIND_NAT_PROBE_REPLY`] after
/// [`NAT_PROBE_DELAYS`]`[rung]` seconds. See [`NatProbe`].
pub const KIND_NAT_PROBE: u8 = 0x10;
/// `| 0x18 + rung |`, parent → child: the delayed answer to a NAT probe.
pub const KIND_NAT_PROBE_REPLY: u8 = 0x18;
/// The delays (seconds) a NAT probe can ask for, by rung. Each is 2 s below a common UDP
/// binding timeout (15, 30, 60, 120, 180, 300, 600, 1200 s; RFC 4787 asks for at least
/// 120 s), so the answer's own trip fits when the binding lasts that long.
pub const NAT_PROBE_DELAYS: [u16; 8] = [13, 28, 58, 118, 178, 298, 598, 1198];

/// A NAT probe or its answer: one byte, the rung in the low 3 bits. The child sends the
/// probe and then stays silent toward its parent; the answer comes back only if its NAT
/// binding survived that much silence. One byte keeps the link session "idle" (it never
/// carries more than a keepalive's worth), so probing does not speed up rekeys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NatProbe {
    /// `false`: the probe (child → parent); `true`: the answer (parent → child).
    pub reply: bool,
    /// Index into [`NAT_PROBE_DELAYS`], `0..8`.
    pub rung: u8,
}

impl NatProbe {
    /// Encoded length.
    pub const LEN: usize = 1;

    /// Is `kind` one of the 16 NAT probe kinds?
    pub fn is_kind(kind: u8) -> bool {
        kind & 0xF0 == KIND_NAT_PROBE
    }

    /// Parses a one-byte probe or answer.
    pub fn parse(b: &[u8]) -> Result<NatProbe> {
        match b {
            &[k] if Self::is_kind(k) => Ok(NatProbe {
                reply: k & 0x08 != 0,
                rung: k & 0x07,
            }),
            _ => Err(Error),
        }
    }

    /// Writes the byte; fails for a rung outside [`NAT_PROBE_DELAYS`] or an empty buffer.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize> {
        if self.rung as usize >= NAT_PROBE_DELAYS.len() {
            return Err(Error);
        }
        let base = if self.reply {
            KIND_NAT_PROBE_REPLY
        } else {
            KIND_NAT_PROBE
        };
        *out.first_mut().ok_or(Error)? = base | self.rung;
        Ok(Self::LEN)
    }

    /// The silence this probe asks for.
    pub fn delay(&self) -> crate::time::Duration {
        let s = NAT_PROBE_DELAYS[self.rung as usize % NAT_PROBE_DELAYS.len()];
        crate::time::Duration::from_secs(s as u64)
    }
}

/// Bytes between the link header and a directly delivered tunnel frame.
pub const DIRECT_HEADER_LEN: usize = 1;
/// Bytes between the link header and a routed tunnel frame.
pub const ROUTED_HEADER_LEN: usize = 1 + 1 + SHORT_ID_LEN;
/// Bytes between the link header and a routed control message.
pub const CONTROL_HEADER_LEN: usize = 1 + 1 + 32 + 32;
/// Upper bound of entries in one topology update.
pub const MAX_UPDATE_ENTRIES: usize = 64;

/// What a node says about itself (or a tunnel endpoint it hosts) to its parent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The node or endpoint described.
    pub id: NodeId,
    /// The active parent (for an endpoint: the node hosting it).
    pub parent: Option<NodeId>,
    /// Bumped by the node whenever the record changes; newer wins across paths.
    pub seq: u32,
    /// What `id` is.
    pub kind: RecordKind,
    /// DNS names it answers to.
    pub names: Vec<String>,
    /// Tags (`tags`): labels a node claims for itself and the server endpoints it hosts,
    /// resolvable as the name `<tag>._tag` (`routing::Topology::names`). Claims, never
    /// certified: a tag groups IDs, it grants nothing.
    pub tags: Vec<String>,
    /// Its static address (inside 10.115.0.0/16): a node's own claim (`static-addr`), or a
    /// server endpoint's address as its tunnel certificate signs it.
    pub static_addr: Option<[u8; 4]>,
    /// What proves the record (see [`Proof`]). Always present on the wire; a root, which
    /// never forwards records, drops it once it has verified it.
    pub proof: Option<alloc::boxed::Box<Proof>>,
}

/// The signature and certificate that make a [`Record`] believable to every ancestor, not
/// only to the parent that heard it first (see `routing::record`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    /// Ed25519 signature by the record's `id` (64 bytes, as two halves: serde's arrays stop
    /// at 32) over `"mcc-record-v3" ‖ postcard(id, parent, seq, kind, names, tags, static_addr)`.
    pub sig: [[u8; 32]; 2],
    /// The encoded certificate of `id`: its node certificate, or for an endpoint the tunnel
    /// certificate that names it and its hosting node.
    pub cert: Vec<u8>,
}

impl Proof {
    /// The signature as one 64-byte array.
    pub fn signature(&self) -> [u8; 64] {
        let mut s = [0u8; 64];
        s[..32].copy_from_slice(&self.sig[0]);
        s[32..].copy_from_slice(&self.sig[1]);
        s
    }

    /// A proof from a 64-byte signature and certificate bytes.
    pub fn new(signature: [u8; 64], cert: Vec<u8>) -> Proof {
        let mut sig = [[0u8; 32]; 2];
        sig[0].copy_from_slice(&signature[..32]);
        sig[1].copy_from_slice(&signature[32..]);
        Proof { sig, cert }
    }
}

/// What a [`Record`] describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordKind {
    /// A node.
    Node,
    /// The server endpoint of a tunnel, hosted by `parent`.
    ServerEndpoint,
    /// The client endpoint of a tunnel, hosted by `parent`.
    ClientEndpoint,
}

/// One change in a [`TopologyUpdate`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Entry {
    /// The record is new or changed.
    Upsert(Record),
    /// The record is gone (a tombstone).
    Remove {
        /// The record removed.
        id: NodeId,
        /// The `seq` of the record it cancels (and every older one).
        seq: u32,
    },
}

/// A batch of changes, child → parent. `upto` is the child's change counter of the last
/// entry; the parent acknowledges it and the child never sends those entries again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopologyUpdate {
    /// The child's change counter of the last entry.
    pub upto: u64,
    /// At most [`MAX_UPDATE_ENTRIES`] changes, oldest first.
    pub entries: Vec<Entry>,
}

impl TopologyUpdate {
    /// Parses the postcard encoding after the kind byte; rejects trailing bytes, more than [`MAX_UPDATE_ENTRIES`] entries, names over the certificate bounds and records without a [`Proof`] (or with a certificate over `MAX_CERT_LEN`).
    pub fn parse(b: &[u8]) -> Result<TopologyUpdate> {
        let (u, rest): (TopologyUpdate, _) = postcard::take_from_bytes(b).map_err(|_| Error)?;
        let names_ok = |r: &Record| {
            r.names.len() <= crate::cert::MAX_NAMES
                && r.names.iter().all(|n| n.len() <= crate::cert::MAX_NAME_LEN)
                && r.proof
                    .as_ref()
                    .is_some_and(|p| p.cert.len() <= crate::cert::MAX_CERT_LEN)
        };
        let ok = rest.is_empty()
            && u.entries.len() <= MAX_UPDATE_ENTRIES
            && u.entries.iter().all(|e| match e {
                Entry::Upsert(r) => names_ok(r),
                Entry::Remove { .. } => true,
            });
        if ok { Ok(u) } else { Err(Error) }
    }
}

/// Header of a routed tunnel frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoutedHeader {
    /// Hops left; the frame is dropped at zero.
    pub ttl: u8,
    /// Short ID of the destination endpoint.
    pub dst: ShortId,
}

impl RoutedHeader {
    /// Parses `| 0x05 | ttl | dst |` at the start of `b`.
    pub fn parse(b: &[u8]) -> Result<RoutedHeader> {
        if b.first() != Some(&KIND_TUNNEL_ROUTED) || b.len() < ROUTED_HEADER_LEN {
            return Err(Error);
        }
        Ok(RoutedHeader {
            ttl: b[1],
            dst: arr_at(b, 2)?,
        })
    }
    /// Writes the header into `b[..ROUTED_HEADER_LEN]` (which must be that long).
    pub fn emit(&self, b: &mut [u8]) {
        b[0] = KIND_TUNNEL_ROUTED;
        b[1] = self.ttl;
        b[2..ROUTED_HEADER_LEN].copy_from_slice(&self.dst);
    }
}

/// Header of a routed control message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlHeader {
    /// Hops left; the message is dropped at zero.
    pub ttl: u8,
    /// Destination node.
    pub dst: NodeId,
    /// Source node.
    pub src: NodeId,
}

impl ControlHeader {
    /// Parses `| 0x06 | ttl | dst | src |` at the start of `b`.
    pub fn parse(b: &[u8]) -> Result<ControlHeader> {
        if b.first() != Some(&KIND_CONTROL) || b.len() < CONTROL_HEADER_LEN {
            return Err(Error);
        }
        Ok(ControlHeader {
            ttl: b[1],
            dst: NodeId(arr_at(b, 2)?),
            src: NodeId(arr_at(b, 34)?),
        })
    }
    /// Writes the header into `b[..CONTROL_HEADER_LEN]` (which must be that long).
    pub fn emit(&self, b: &mut [u8]) {
        b[0] = KIND_CONTROL;
        b[1] = self.ttl;
        b[2..34].copy_from_slice(&self.dst.0);
        b[34..66].copy_from_slice(&self.src.0);
    }
}

/// Control messages carried end to end between nodes (inside [`ControlHeader`]).
///
/// ```text
/// TunnelInit    | 0x01 | fingerprint 32 | sender idx u16 | ephemeral 32 | signature 64 |     131 B
/// TunnelInitAck | 0x02 | fingerprint 32 | sender u16 | receiver u16 | ephemeral 32 | sig 64 | 133 B
/// ```
///
/// The other routed control kinds: 0x03 tunnel offer, 0x04 lookup reply, 0x05/0x06 gateway
/// handshake (`wire::gateway`), 0x07/0x08 certificate renewal request/reply
/// (`cert::renewal`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Client node → server node: start a tunnel session.
    TunnelInit {
        /// Fingerprint of the tunnel certificate.
        tunnel: [u8; 32],
        /// The sender's receiver index for this session.
        sender: u16,
        /// The sender's ephemeral X25519 key.
        ephemeral: [u8; 32],
        /// Signature by the client endpoint key.
        signature: [u8; 64],
    },
    /// Server node → client node: the answer to a `TunnelInit`.
    TunnelInitAck {
        /// Fingerprint of the tunnel certificate.
        tunnel: [u8; 32],
        /// The sender's receiver index for this session.
        sender: u16,
        /// The initiator's index, echoed.
        receiver: u16,
        /// The sender's ephemeral X25519 key.
        ephemeral: [u8; 32],
        /// Signature by the server endpoint key.
        signature: [u8; 64],
    },
}

/// Encoded length of [`Control::TunnelInit`].
pub const TUNNEL_INIT_LEN: usize = 1 + 32 + 2 + 32 + 64;
/// Encoded length of [`Control::TunnelInitAck`].
pub const TUNNEL_INIT_ACK_LEN: usize = 1 + 32 + 2 + 2 + 32 + 64;

impl Control {
    /// Parses a control message; the length must be exactly that of its kind.
    pub fn parse(b: &[u8]) -> Result<Control> {
        match (b.first(), b.len()) {
            (Some(1), TUNNEL_INIT_LEN) => Ok(Control::TunnelInit {
                tunnel: arr_at(b, 1)?,
                sender: super::u16_at(b, 33)?,
                ephemeral: arr_at(b, 35)?,
                signature: arr_at(b, 67)?,
            }),
            (Some(2), TUNNEL_INIT_ACK_LEN) => Ok(Control::TunnelInitAck {
                tunnel: arr_at(b, 1)?,
                sender: super::u16_at(b, 33)?,
                receiver: super::u16_at(b, 35)?,
                ephemeral: arr_at(b, 37)?,
                signature: arr_at(b, 69)?,
            }),
            _ => Err(Error),
        }
    }

    /// Encoded length of this message.
    pub fn buffer_len(&self) -> usize {
        match self {
            Control::TunnelInit { .. } => TUNNEL_INIT_LEN,
            Control::TunnelInitAck { .. } => TUNNEL_INIT_ACK_LEN,
        }
    }

    /// The bytes the signature covers (everything before it).
    pub fn signed_part<'a>(&self, encoded: &'a [u8]) -> &'a [u8] {
        &encoded[..self.buffer_len() - 64]
    }

    /// Writes the message; fails if `out` is shorter than [`Control::buffer_len`].
    pub fn emit(&self, out: &mut [u8]) -> Result<usize> {
        let n = self.buffer_len();
        let out = out.get_mut(..n).ok_or(Error)?;
        match self {
            Control::TunnelInit {
                tunnel,
                sender,
                ephemeral,
                signature,
            } => {
                out[0] = 1;
                out[1..33].copy_from_slice(tunnel);
                out[33..35].copy_from_slice(&sender.to_le_bytes());
                out[35..67].copy_from_slice(ephemeral);
                out[67..].copy_from_slice(signature);
            }
            Control::TunnelInitAck {
                tunnel,
                sender,
                receiver,
                ephemeral,
                signature,
            } => {
                out[0] = 2;
                out[1..33].copy_from_slice(tunnel);
                out[33..35].copy_from_slice(&sender.to_le_bytes());
                out[35..37].copy_from_slice(&receiver.to_le_bytes());
                out[37..69].copy_from_slice(ephemeral);
                out[69..].copy_from_slice(signature);
            }
        }
        Ok(n)
    }
}

/// A name lookup travelling up the tree, hop by hop, until a node knows the name (a root
/// knows every name). The answer comes back as a routed [`LookupReply`].
///
/// ```text
/// | 0x08 | ttl | origin id 32 | query u64 | name len u8 | name |
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lookup<'a> {
    /// Hops left; the lookup is dropped at zero.
    pub ttl: u8,
    /// The node asking (where the reply is routed).
    pub origin: NodeId,
    /// The origin's query number, echoed in the reply: random, so that a node off the
    /// path cannot guess it.
    pub query: u64,
    /// The name, 1 to [`MAX_NAME_LEN`](crate::cert::MAX_NAME_LEN) bytes.
    pub name: &'a [u8],
}

/// Kind byte of a [`Lookup`].
pub const KIND_LOOKUP: u8 = 8;
const LOOKUP_FIXED: usize = 1 + 1 + 32 + 8 + 1;

impl<'a> Lookup<'a> {
    /// Parses a lookup; the name length must match the frame and be 1 to 63 bytes.
    pub fn parse(b: &'a [u8]) -> Result<Lookup<'a>> {
        if b.first() != Some(&KIND_LOOKUP) || b.len() < LOOKUP_FIXED {
            return Err(Error);
        }
        let len = b[LOOKUP_FIXED - 1] as usize;
        if b.len() != LOOKUP_FIXED + len || len == 0 || len > crate::cert::MAX_NAME_LEN {
            return Err(Error);
        }
        Ok(Lookup {
            ttl: b[1],
            origin: NodeId(arr_at(b, 2)?),
            query: super::u64_at(b, 34)?,
            name: &b[LOOKUP_FIXED..],
        })
    }

    /// Writes the lookup; fails for a name over 63 bytes or a short buffer.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize> {
        let n = LOOKUP_FIXED + self.name.len();
        if self.name.len() > crate::cert::MAX_NAME_LEN {
            return Err(Error);
        }
        let out = out.get_mut(..n).ok_or(Error)?;
        out[0] = KIND_LOOKUP;
        out[1] = self.ttl;
        out[2..34].copy_from_slice(&self.origin.0);
        out[34..42].copy_from_slice(&self.query.to_le_bytes());
        out[LOOKUP_FIXED - 1] = self.name.len() as u8;
        out[LOOKUP_FIXED..].copy_from_slice(self.name);
        Ok(n)
    }
}

/// A static address lookup travelling up the tree, hop by hop, to the root (which decides
/// who holds an address: the first claimant it heard of, a certified claim before any
/// other). The answer comes back as a routed [`LookupReply`] with at most one ID.
///
/// ```text
/// | 0x0A | ttl | origin id 32 | query u64 | address 4 |      46 B
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressLookup {
    /// Hops left; the lookup is dropped at zero.
    pub ttl: u8,
    /// The node asking (where the reply is routed).
    pub origin: NodeId,
    /// The origin's query number, echoed in the reply: random, as for [`Lookup`].
    pub query: u64,
    /// The static address asked about (any IPv4 address parses; the receiver checks it).
    pub addr: [u8; 4],
}

/// Kind byte of an [`AddressLookup`].
pub const KIND_ADDRESS_LOOKUP: u8 = 0x0A;
/// Encoded length of an [`AddressLookup`].
pub const ADDRESS_LOOKUP_LEN: usize = 1 + 1 + 32 + 8 + 4;

impl AddressLookup {
    /// Parses a lookup; the length must be exactly [`ADDRESS_LOOKUP_LEN`].
    pub fn parse(b: &[u8]) -> Result<AddressLookup> {
        if b.first() != Some(&KIND_ADDRESS_LOOKUP) || b.len() != ADDRESS_LOOKUP_LEN {
            return Err(Error);
        }
        Ok(AddressLookup {
            ttl: b[1],
            origin: NodeId(arr_at(b, 2)?),
            query: super::u64_at(b, 34)?,
            addr: arr_at(b, 42)?,
        })
    }

    /// Writes the lookup; fails for a buffer shorter than [`ADDRESS_LOOKUP_LEN`].
    pub fn emit(&self, out: &mut [u8]) -> Result<usize> {
        let out = out.get_mut(..ADDRESS_LOOKUP_LEN).ok_or(Error)?;
        out[0] = KIND_ADDRESS_LOOKUP;
        out[1] = self.ttl;
        out[2..34].copy_from_slice(&self.origin.0);
        out[34..42].copy_from_slice(&self.query.to_le_bytes());
        out[42..46].copy_from_slice(&self.addr);
        Ok(ADDRESS_LOOKUP_LEN)
    }
}

/// Kind byte of a [`LookupReply`] control message.
pub const LOOKUP_REPLY_KIND: u8 = 4;
/// Most IDs one reply carries (providers of one name).
pub const MAX_LOOKUP_IDS: usize = 32;
/// Bytes of a [`LookupReply`] before its IDs: kind, query, count.
pub const LOOKUP_REPLY_FIXED: usize = 1 + 8 + 1;
/// Longest [`LookupReply`].
pub const MAX_LOOKUP_REPLY_LEN: usize = LOOKUP_REPLY_FIXED + 32 * MAX_LOOKUP_IDS;

/// The answer to a [`Lookup`], routed to its origin: every ID known under the name
/// (none = the name does not exist).
///
/// ```text
/// | 0x04 | query u64 | count u8 | ids 32 × count |
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupReply {
    /// The query number of the [`Lookup`] answered.
    pub query: u64,
    /// Every ID known under the name.
    pub ids: heapless::Vec<NodeId, MAX_LOOKUP_IDS>,
}

impl LookupReply {
    /// Parses a reply; the length must match the count.
    pub fn parse(b: &[u8]) -> Result<LookupReply> {
        if b.first() != Some(&LOOKUP_REPLY_KIND) || b.len() < LOOKUP_REPLY_FIXED {
            return Err(Error);
        }
        let count = b[LOOKUP_REPLY_FIXED - 1] as usize;
        if count > MAX_LOOKUP_IDS || b.len() != LOOKUP_REPLY_FIXED + 32 * count {
            return Err(Error);
        }
        let mut ids = heapless::Vec::new();
        for i in 0..count {
            let _ = ids.push(NodeId(arr_at(b, LOOKUP_REPLY_FIXED + 32 * i)?));
        }
        Ok(LookupReply {
            query: super::u64_at(b, 1)?,
            ids,
        })
    }

    /// Writes the reply; fails for a short buffer.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize> {
        let n = LOOKUP_REPLY_FIXED + 32 * self.ids.len();
        let out = out.get_mut(..n).ok_or(Error)?;
        out[0] = LOOKUP_REPLY_KIND;
        out[1..9].copy_from_slice(&self.query.to_le_bytes());
        out[9] = self.ids.len() as u8;
        for (i, id) in self.ids.iter().enumerate() {
            let at = LOOKUP_REPLY_FIXED + 32 * i;
            out[at..at + 32].copy_from_slice(&id.0);
        }
        Ok(n)
    }
}

/// Kind byte of a [`TunnelOffer`] control message.
pub const TUNNEL_OFFER_KIND: u8 = 3;
/// Largest encoded [`TunnelOffer`].
pub const TUNNEL_OFFER_MAX: usize = 1 + 32 + 48 + 2 + crate::cert::MAX_CERT_LEN;

/// Server node → client node: the tunnel certificate and the client endpoint's secret key,
/// sealed (ChaCha20-Poly1305, counter 0, AAD = certificate fingerprint) under
/// HKDF(salt = fingerprint, X25519(ephemeral, client node key), "mcc tunnel offer").
///
/// ```text
/// | 0x03 | ephemeral 32 | sealed key 32 + tag 16 | cert len u16 | cert |
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelOffer<'a> {
    /// The server node's ephemeral X25519 key.
    pub ephemeral: [u8; 32],
    /// The client endpoint's secret key, sealed, with its tag.
    pub sealed_key: [u8; 48],
    /// The tunnel certificate.
    pub cert: &'a [u8],
}

impl<'a> TunnelOffer<'a> {
    /// Parses an offer; the certificate length must match the frame.
    pub fn parse(b: &'a [u8]) -> Result<TunnelOffer<'a>> {
        if b.first() != Some(&TUNNEL_OFFER_KIND) || b.len() < 83 {
            return Err(Error);
        }
        let len = super::u16_at(b, 81)? as usize;
        if b.len() != 83 + len {
            return Err(Error);
        }
        Ok(TunnelOffer {
            ephemeral: arr_at(b, 1)?,
            sealed_key: arr_at(b, 33)?,
            cert: &b[83..],
        })
    }

    /// Writes the offer; fails for a short buffer.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize> {
        let n = 83 + self.cert.len();
        let out = out.get_mut(..n).ok_or(Error)?;
        out[0] = TUNNEL_OFFER_KIND;
        out[1..33].copy_from_slice(&self.ephemeral);
        out[33..81].copy_from_slice(&self.sealed_key);
        out[81..83].copy_from_slice(&(self.cert.len() as u16).to_le_bytes());
        out[83..].copy_from_slice(self.cert);
        Ok(n)
    }
}

/// `| 0x03 | upto |`
pub fn parse_topology_ack(b: &[u8]) -> Result<u64> {
    if b.len() != 9 || b[0] != KIND_TOPOLOGY_ACK {
        return Err(Error);
    }
    u64_at(b, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nat_probe_roundtrip() {
        let mut b = [0u8; 2];
        for reply in [false, true] {
            for rung in 0..8 {
                let p = NatProbe { reply, rung };
                assert_eq!(p.emit(&mut b), Ok(1));
                assert_eq!(NatProbe::parse(&b[..1]), Ok(p));
                assert!(NatProbe::parse(&b).is_err());
            }
        }
        assert_eq!(
            NatProbe {
                reply: false,
                rung: 3
            }
            .delay()
            .as_secs(),
            118
        );
        assert!(
            NatProbe {
                reply: false,
                rung: 8
            }
            .emit(&mut b)
            .is_err()
        );
        for k in [0u8, KIND_PONG, KIND_LEAVE, 0x20, 0x0F] {
            assert!(NatProbe::parse(&[k]).is_err());
        }
    }

    #[test]
    fn control_roundtrip() {
        let c = Control::TunnelInitAck {
            tunnel: [1; 32],
            sender: 7,
            receiver: 9,
            ephemeral: [2; 32],
            signature: [3; 64],
        };
        let mut b = [0u8; 200];
        let n = c.emit(&mut b).unwrap();
        assert_eq!(Control::parse(&b[..n]), Ok(c));
        assert!(Control::parse(&b[..n - 1]).is_err());
    }

    #[test]
    fn topology_roundtrip_and_bounds() {
        let r = Record {
            id: NodeId([1; 32]),
            parent: Some(NodeId([2; 32])),
            seq: 3,
            kind: RecordKind::Node,
            names: alloc::vec!["a".into()],
            tags: Vec::new(),
            static_addr: Some([10, 115, 1, 2]),
            proof: Some(alloc::boxed::Box::new(Proof::new(
                [9; 64],
                alloc::vec![7; 140],
            ))),
        };
        assert_eq!(r.proof.as_ref().unwrap().signature(), [9; 64]);
        let mut bare = r.clone();
        bare.proof = None;
        let no_proof = TopologyUpdate {
            upto: 1,
            entries: alloc::vec![Entry::Upsert(bare)],
        };
        assert!(
            TopologyUpdate::parse(&postcard::to_allocvec(&no_proof).unwrap()).is_err(),
            "an unproven record"
        );
        let mut huge = r.clone();
        huge.proof.as_mut().unwrap().cert = alloc::vec![0; crate::cert::MAX_CERT_LEN + 1];
        let huge = TopologyUpdate {
            upto: 1,
            entries: alloc::vec![Entry::Upsert(huge)],
        };
        assert!(TopologyUpdate::parse(&postcard::to_allocvec(&huge).unwrap()).is_err());
        let u = TopologyUpdate {
            upto: 5,
            entries: alloc::vec![
                Entry::Upsert(r),
                Entry::Remove {
                    id: NodeId([4; 32]),
                    seq: 1
                }
            ],
        };
        let b = postcard::to_allocvec(&u).unwrap();
        assert_eq!(TopologyUpdate::parse(&b), Ok(u));
        assert!(TopologyUpdate::parse(&b[..b.len() - 1]).is_err());
    }

    #[test]
    fn routed_header_roundtrip_truncation_and_kind() {
        let h = RoutedHeader {
            ttl: 31,
            dst: [1, 2, 3, 4, 5, 6],
        };
        let mut b = [0u8; ROUTED_HEADER_LEN + 30];
        h.emit(&mut b);
        assert_eq!(
            &b[..ROUTED_HEADER_LEN],
            &[KIND_TUNNEL_ROUTED, 31, 1, 2, 3, 4, 5, 6]
        );
        assert_eq!(RoutedHeader::parse(&b), Ok(h));
        for cut in 0..ROUTED_HEADER_LEN {
            assert!(RoutedHeader::parse(&b[..cut]).is_err());
        }
        b[0] = KIND_TUNNEL_DIRECT;
        assert!(RoutedHeader::parse(&b).is_err());
    }

    #[test]
    fn control_header_roundtrip_truncation_and_kind() {
        let h = ControlHeader {
            ttl: 7,
            dst: NodeId([0xD5; 32]),
            src: NodeId([0x5C; 32]),
        };
        let mut b = [0u8; CONTROL_HEADER_LEN + TUNNEL_INIT_LEN];
        h.emit(&mut b);
        assert_eq!(ControlHeader::parse(&b), Ok(h));
        assert_eq!(ControlHeader::parse(&b[..CONTROL_HEADER_LEN]), Ok(h));
        for cut in 0..CONTROL_HEADER_LEN {
            assert!(ControlHeader::parse(&b[..cut]).is_err());
        }
        b[0] = KIND_TUNNEL_ROUTED;
        assert!(ControlHeader::parse(&b).is_err());
    }

    #[test]
    fn tunnel_init_roundtrip_every_length_and_signed_part() {
        let c = Control::TunnelInit {
            tunnel: [0x11; 32],
            sender: 0xBEEF,
            ephemeral: [0x22; 32],
            signature: [0x33; 64],
        };
        let mut b = [0u8; 200];
        assert_eq!(c.emit(&mut b), Ok(TUNNEL_INIT_LEN));
        assert_eq!(Control::parse(&b[..TUNNEL_INIT_LEN]), Ok(c));
        // Only the exact length parses: shorter and longer are both refused.
        for len in 0..b.len() {
            if len != TUNNEL_INIT_LEN {
                assert!(Control::parse(&b[..len]).is_err(), "len {len}");
            }
        }
        assert_eq!(c.signed_part(&b), &b[..TUNNEL_INIT_LEN - 64]);
        assert!(c.emit(&mut b[..TUNNEL_INIT_LEN - 1]).is_err());
        // An Init's bytes under the InitAck kind have the wrong length for it.
        b[0] = 2;
        assert!(Control::parse(&b[..TUNNEL_INIT_LEN]).is_err());
        b[0] = LOOKUP_REPLY_KIND;
        assert!(Control::parse(&b[..TUNNEL_INIT_LEN]).is_err());
    }

    #[test]
    fn tunnel_init_ack_fields_land_where_drawn() {
        let c = Control::TunnelInitAck {
            tunnel: [0xAA; 32],
            sender: 0x0102,
            receiver: 0x0304,
            ephemeral: [0xBB; 32],
            signature: [0xCC; 64],
        };
        let mut b = [0u8; TUNNEL_INIT_ACK_LEN];
        c.emit(&mut b).unwrap();
        assert_eq!(b[0], 2);
        assert_eq!(&b[33..37], &[0x02, 0x01, 0x04, 0x03]);
        assert_eq!(&b[37..69], &[0xBB; 32]);
        assert_eq!(&b[69..], &[0xCC; 64]);
        assert_eq!(c.signed_part(&b).len(), TUNNEL_INIT_ACK_LEN - 64);
    }

    #[test]
    fn lookup_roundtrip_and_name_bounds() {
        let l = Lookup {
            ttl: 64,
            origin: NodeId([4; 32]),
            query: 0x0102_0304_0A0B_0C0D,
            name: b"printer.lan",
        };
        let mut b = [0u8; 128];
        let n = l.emit(&mut b).unwrap();
        assert_eq!(n, 43 + 11);
        assert_eq!(&b[34..42], &0x0102_0304_0A0B_0C0Du64.to_le_bytes());
        assert_eq!(Lookup::parse(&b[..n]), Ok(l));
        for cut in 0..n {
            assert!(Lookup::parse(&b[..cut]).is_err(), "cut at {cut}");
        }
        assert!(Lookup::parse(&b[..n + 1]).is_err(), "trailing byte");
        let long = [b'a'; 64];
        let too_long = Lookup { name: &long, ..l };
        assert!(too_long.emit(&mut b).is_err());
        let ok = Lookup {
            name: &long[..63],
            ..l
        };
        let n = ok.emit(&mut b).unwrap();
        assert_eq!(Lookup::parse(&b[..n]).unwrap().name.len(), 63);
        // An empty name is refused by the parser.
        let empty = Lookup { name: b"", ..l };
        let n = empty.emit(&mut b).unwrap();
        assert!(Lookup::parse(&b[..n]).is_err());
        assert!(l.emit(&mut b[..20]).is_err());
    }

    #[test]
    fn address_lookup_roundtrip_and_exact_length() {
        let l = AddressLookup {
            ttl: 64,
            origin: NodeId([3; 32]),
            query: 0x0102_0304_0506_0708,
            addr: [10, 115, 7, 9],
        };
        let mut b = [0u8; 64];
        assert_eq!(l.emit(&mut b), Ok(ADDRESS_LOOKUP_LEN));
        assert_eq!(ADDRESS_LOOKUP_LEN, 46);
        assert_eq!(AddressLookup::parse(&b[..46]), Ok(l));
        assert_eq!(&b[42..46], &[10, 115, 7, 9]);
        assert_eq!(&b[34..42], &0x0102_0304_0506_0708u64.to_le_bytes());
        assert!(AddressLookup::parse(&b[..45]).is_err(), "short");
        assert!(AddressLookup::parse(&b[..47]).is_err(), "long");
        b[0] = KIND_LOOKUP;
        assert!(AddressLookup::parse(&b[..46]).is_err(), "another kind");
        assert!(l.emit(&mut [0u8; 45]).is_err());
    }

    #[test]
    fn lookup_reply_roundtrip_and_count_bounds() {
        let mut ids = heapless::Vec::new();
        for i in 0..MAX_LOOKUP_IDS as u8 {
            ids.push(NodeId([i; 32])).unwrap();
        }
        let r = LookupReply {
            query: u64::MAX - 77,
            ids,
        };
        let mut b = [0u8; LOOKUP_REPLY_FIXED + 32 * (MAX_LOOKUP_IDS + 1)];
        let n = r.emit(&mut b).unwrap();
        assert_eq!(n, MAX_LOOKUP_REPLY_LEN);
        assert_eq!(&b[1..9], &(u64::MAX - 77).to_le_bytes());
        assert_eq!(LookupReply::parse(&b[..n]), Ok(r.clone()));
        for cut in 0..n {
            assert!(LookupReply::parse(&b[..cut]).is_err(), "cut at {cut}");
        }
        // A count over the bound is refused even with the bytes present.
        b[9] = MAX_LOOKUP_IDS as u8 + 1;
        assert!(LookupReply::parse(&b[..LOOKUP_REPLY_FIXED + 32 * (MAX_LOOKUP_IDS + 1)]).is_err());
        let none = LookupReply {
            query: 1,
            ids: heapless::Vec::new(),
        };
        let n = none.emit(&mut b).unwrap();
        assert_eq!(n, LOOKUP_REPLY_FIXED);
        assert_eq!(LookupReply::parse(&b[..n]).unwrap().ids.len(), 0);
    }

    #[test]
    fn tunnel_offer_roundtrip_and_length_field() {
        let cert = [0x77u8; 140];
        let o = TunnelOffer {
            ephemeral: [1; 32],
            sealed_key: [2; 48],
            cert: &cert,
        };
        let mut b = [0u8; TUNNEL_OFFER_MAX];
        let n = o.emit(&mut b).unwrap();
        assert_eq!(n, 83 + 140);
        assert_eq!(TunnelOffer::parse(&b[..n]), Ok(o));
        for cut in 0..n {
            assert!(TunnelOffer::parse(&b[..cut]).is_err(), "cut at {cut}");
        }
        assert!(TunnelOffer::parse(&b[..n + 1]).is_err());
        b[0] = TUNNEL_OFFER_KIND + 1;
        assert!(TunnelOffer::parse(&b[..n]).is_err());
        assert!(o.emit(&mut b[..n - 1]).is_err());
    }

    #[test]
    fn topology_ack_is_exactly_nine_bytes() {
        let mut b = [0u8; 10];
        b[0] = KIND_TOPOLOGY_ACK;
        b[1..9].copy_from_slice(&0x1122_3344_5566_7788u64.to_le_bytes());
        assert_eq!(parse_topology_ack(&b[..9]), Ok(0x1122_3344_5566_7788));
        assert!(parse_topology_ack(&b).is_err());
        assert!(parse_topology_ack(&b[..8]).is_err());
        b[0] = KIND_TOPOLOGY;
        assert!(parse_topology_ack(&b[..9]).is_err());
    }

    #[test]
    fn topology_update_refuses_oversized_content() {
        let rec = |names: alloc::vec::Vec<String>| Record {
            id: NodeId([1; 32]),
            parent: None,
            seq: 1,
            kind: RecordKind::ServerEndpoint,
            names,
            tags: Vec::new(),
            static_addr: None,
            proof: Some(alloc::boxed::Box::new(Proof::new([0; 64], alloc::vec![]))),
        };
        let enc = |u: &TopologyUpdate| postcard::to_allocvec(u).unwrap();
        let many = TopologyUpdate {
            upto: 1,
            entries: (0..=MAX_UPDATE_ENTRIES)
                .map(|i| Entry::Remove {
                    id: NodeId([i as u8; 32]),
                    seq: 1,
                })
                .collect(),
        };
        assert!(TopologyUpdate::parse(&enc(&many)).is_err());
        let mut full = many.clone();
        full.entries.pop();
        assert_eq!(TopologyUpdate::parse(&enc(&full)), Ok(full.clone()));
        let long_name = TopologyUpdate {
            upto: 1,
            entries: alloc::vec![Entry::Upsert(rec(alloc::vec!["x".repeat(64)]))],
        };
        assert!(TopologyUpdate::parse(&enc(&long_name)).is_err());
        let names = TopologyUpdate {
            upto: 1,
            entries: alloc::vec![Entry::Upsert(rec((0..9).map(|_| "n".into()).collect()))],
        };
        assert!(TopologyUpdate::parse(&enc(&names)).is_err());
        let mut trailing = enc(&full);
        trailing.push(0);
        assert!(TopologyUpdate::parse(&trailing).is_err());
        assert!(TopologyUpdate::parse(&[]).is_err());
    }

    #[test]
    fn nat_probe_kinds_do_not_overlap_other_kinds() {
        for k in [
            KIND_PONG,
            KIND_TOPOLOGY,
            KIND_TOPOLOGY_ACK,
            KIND_TUNNEL_DIRECT,
            KIND_TUNNEL_ROUTED,
            KIND_CONTROL,
            KIND_REVOCATION,
            KIND_LOOKUP,
            KIND_LEAVE,
            KIND_SSL_HEAD,
            KIND_SSL_DATA,
        ] {
            assert!(!NatProbe::is_kind(k), "kind {k}");
        }
        assert_eq!(
            (0..=255u8).filter(|&k| NatProbe::is_kind(k)).count(),
            16,
            "8 probes + 8 answers"
        );
        let delays: alloc::vec::Vec<u64> = (0..8)
            .map(|rung| NatProbe { reply: true, rung }.delay().as_secs())
            .collect();
        assert!(delays.windows(2).all(|w| w[0] < w[1]), "{delays:?}");
    }

    #[test]
    fn ssl_data_round_trips_and_refuses_mixed_forms() {
        let mut b = [0u8; 64];
        let n = emit_ssl_data(&mut b, &[7; 32], 480, None);
        assert_eq!(parse_ssl_data(&b[..n]), Ok((false, [7; 32], 480, &[][..])));
        let n = emit_ssl_data(&mut b, &[7; 32], 0, Some(&[1, 2]));
        assert_eq!(parse_ssl_data(&b[..n]), Ok((true, [7; 32], 0, &[1, 2][..])));
        b[1] = 0;
        assert!(parse_ssl_data(&b[..n]).is_err(), "a pull with data");
        b[1] = 2;
        assert!(parse_ssl_data(&b[..n]).is_err());
    }
}
