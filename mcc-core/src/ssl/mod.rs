//! SSL CA distribution (`ssl-*` keys): the network grants one node the right to publish a
//! set of CA certificates; that publisher signs versioned *full sets*; every node keeps the
//! newest valid set and hands it to its neighbours, hop by hop, only when it changed.
//!
//! ```text
//! Grant (144 B)  network 32 | publisher 32 | not_before 8 | not_after 8 | sig 64
//!                sig by network over "mcc-ssl-grant-v1" ‖ network ‖ publisher ‖ nb ‖ na
//! Head  (260 B)  grant 144 | version 8 | issued_at 8 | body_len 4 | digest 32 | sig 64
//!                sig by grant.publisher over "mcc-ssl-set-v1" ‖ grant ‖ version ‖ issued_at
//!                ‖ body_len ‖ digest; digest = SHA-256(body)
//! Body           count u16 | (len u16 | DER certificate)*      at most MAX_BODY bytes
//! ```
//!
//! Why a grant and not "any node of the network": every node holds a network certificate,
//! and a trust anchor injected into every device's TLS store is worth more than any link.
//! Only the network key (kept offline, like for node certificates) can name who publishes.
//! A newer set withdraws whatever it leaves out, so withdrawal needs no extra message.
//! The publisher re-signs the head (same body) every [`SslConfig::refresh`]: the refresh
//! costs one head per link, and a set nobody refreshes expires after `storage_timeout`.
//!
//! Sans-IO: [`SslStore`] decides what to send to which neighbour slot and when; the node
//! seals and queues it.

mod set;

pub use set::{
    CHUNK, GRANT_LEN, Grant, HEAD_LEN, Head, MAX_BODY, MAX_CERTS, MAX_SKEW, SslError, decode_body,
    encode_body,
};

use crate::crypto;
use crate::id::NodeId;
use crate::time::{Duration, Instant, earliest};
use alloc::vec;
use alloc::vec::Vec;

/// Timing and pacing (`ssl-update-batch-size`, `ssl-update-send-period`,
/// `ssl-storage-timeout`, `ssl-storage-cleanup-period`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SslConfig {
    /// Chunks sent to one neighbour per `send_period`.
    pub batch: usize,
    /// Pacing period of chunk batches.
    pub send_period: Duration,
    /// A set not refreshed for this long is dropped, seconds.
    pub storage_timeout: u64,
    /// How often expiry is checked.
    pub cleanup_period: Duration,
    /// The publisher re-signs its head this often (at most half the storage timeout).
    pub refresh: Duration,
}

impl Default for SslConfig {
    fn default() -> Self {
        SslConfig {
            batch: 10,
            send_period: Duration::from_secs(30),
            storage_timeout: 24 * 3600,
            cleanup_period: Duration::from_secs(3600),
            refresh: Duration::from_secs(12 * 3600),
        }
    }
}

/// What the store wants sent next: see [`SslStore::next_message`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// The held head, to announce the set.
    Head([u8; HEAD_LEN]),
    /// Ask for the body `digest` from `offset` on.
    Pull {
        /// Body digest.
        digest: [u8; 32],
        /// First byte wanted.
        offset: u32,
    },
    /// Body bytes at `offset`.
    Chunk {
        /// Body digest.
        digest: [u8; 32],
        /// Where `data` starts.
        offset: u32,
        /// At most [`CHUNK`] bytes.
        data: Vec<u8>,
    },
}

#[derive(Clone, Debug, Default)]
struct PeerSync {
    /// Send it our head.
    announce: bool,
    /// Ask it for the pending body.
    pull: bool,
    /// It asked for our body from this offset.
    serve: Option<u32>,
    /// Chunks sent in the current batch, and when the batch started.
    sent_in_batch: usize,
    batch_started: Option<Instant>,
}

struct Pending {
    head: Head,
    from: usize,
    buf: Vec<u8>,
    asked_at: Instant,
    /// Other neighbours that announced the same head: asked next if `from` goes away.
    alternates: Vec<usize>,
}

/// Alternate sources remembered per pending body.
const MAX_ALTERNATES: usize = 4;

/// What changed after an input: see [`SslStore::take_changed`].
pub struct Held<'a> {
    /// The head held.
    pub head: &'a Head,
    /// Its body.
    pub body: &'a [u8],
}

/// The node's SSL state: the newest valid set, a body being assembled, and per neighbour
/// slot what to send it. Bounded: one set, one pending body of at most [`MAX_BODY`].
pub struct SslStore {
    /// The configuration in force.
    pub config: SslConfig,
    current: Option<(Head, Vec<u8>)>,
    pending: Option<Pending>,
    peers: Vec<PeerSync>,
    /// False only while no neighbour is being served (no `serve` set): then
    /// [`Self::next_deadline`], which runs after every datagram, skips the walk over all
    /// neighbour slots. Set by a pull, recomputed when a transfer ends.
    serving: bool,
    changed: bool,
    next_cleanup: Option<Instant>,
    /// Heads, pulls and chunks refused.
    pub refused: u64,
}

impl SslStore {
    /// An empty store for `max_peers` neighbour slots.
    pub fn new(max_peers: usize) -> Self {
        SslStore {
            config: SslConfig::default(),
            current: None,
            pending: None,
            peers: vec![PeerSync::default(); max_peers],
            serving: false,
            changed: false,
            next_cleanup: None,
            refused: 0,
        }
    }

    /// The set held.
    pub fn held(&self) -> Option<Held<'_>> {
        self.current
            .as_ref()
            .map(|(head, body)| Held { head, body })
    }

    /// Did the held set change since the last call? (The driver then installs it.)
    pub fn take_changed(&mut self) -> bool {
        core::mem::take(&mut self.changed)
    }

    /// Neighbour slot `slot`'s link came up: it is told which set we hold.
    pub fn link_up(&mut self, slot: usize) {
        if let Some(p) = self.peers.get_mut(slot) {
            *p = PeerSync {
                announce: self.current.is_some(),
                ..PeerSync::default()
            };
        }
    }

    /// Neighbour slot `slot` is gone.
    pub fn link_down(&mut self, slot: usize) {
        if let Some(p) = self.peers.get_mut(slot) {
            *p = PeerSync::default();
        }
        let Some(pd) = self.pending.as_mut() else {
            return;
        };
        pd.alternates.retain(|&a| a != slot);
        if pd.from == slot {
            // Start again from another neighbour that has it, or wait for the next head.
            match pd.alternates.pop() {
                Some(a) => {
                    pd.from = a;
                    pd.buf.clear();
                    if let Some(p) = self.peers.get_mut(a) {
                        p.pull = true;
                    }
                }
                None => self.pending = None,
            }
        }
    }

    fn newer(&self, h: &Head) -> bool {
        self.current
            .as_ref()
            .is_none_or(|(c, _)| h.version > c.version)
    }

    fn install(&mut self, head: Head, body: Vec<u8>, from: Option<usize>) {
        let same_body = self
            .current
            .as_ref()
            .is_some_and(|(c, _)| c.digest == head.digest);
        self.current = Some((head, body));
        if !same_body {
            self.changed = true;
        }
        for (i, p) in self.peers.iter_mut().enumerate() {
            p.announce = Some(i) != from;
        }
        if self
            .pending
            .as_ref()
            .is_some_and(|p| !self.newer_than_held(&p.head))
        {
            self.pending = None;
        }
    }

    fn newer_than_held(&self, h: &Head) -> bool {
        self.newer(h)
    }

    /// A set given locally (the publisher's own, or restored from disk). Checked like a
    /// received one, so a stale file or a wrong grant is refused here too.
    pub fn offer_local(
        &mut self,
        network: &NodeId,
        unix: u64,
        head: Head,
        body: Vec<u8>,
    ) -> Result<(), SslError> {
        head.check(network, unix, self.config.storage_timeout)?;
        if !self.newer(&head) {
            return Err(SslError::Stale);
        }
        if crypto::sha256(&[&body]) != head.digest || body.len() != head.body_len as usize {
            return Err(SslError::BadDigest);
        }
        decode_body(&body)?;
        self.install(head, body, None);
        Ok(())
    }

    /// A head from neighbour `from`.
    pub fn handle_head(
        &mut self,
        now: Instant,
        network: &NodeId,
        unix: u64,
        from: usize,
        bytes: &[u8],
    ) -> Result<(), SslError> {
        let head = Head::decode(bytes).ok_or(SslError::Malformed)?;
        // Cheap before any signature: a flood of old or repeated heads costs no Ed25519.
        if !self.newer(&head) {
            return Err(SslError::Stale);
        }
        if let Some(p) = self.pending.as_mut()
            && p.head == head
        {
            if p.from != from
                && !p.alternates.contains(&from)
                && p.alternates.len() < MAX_ALTERNATES
            {
                p.alternates.push(from);
            }
            return Ok(());
        }
        head.check(network, unix, self.config.storage_timeout)?;
        if let Some((c, body)) = &self.current
            && c.digest == head.digest
        {
            // A refresh: same body, newer signature.
            let body = body.clone();
            self.install(head, body, Some(from));
            return Ok(());
        }
        self.pending = Some(Pending {
            head,
            from,
            buf: Vec::new(),
            asked_at: now,
            alternates: Vec::new(),
        });
        if let Some(p) = self.peers.get_mut(from) {
            p.pull = true;
        }
        Ok(())
    }

    /// A pull from neighbour `from`: it is served from `offset` if it asks for the set held.
    pub fn handle_pull(
        &mut self,
        from: usize,
        digest: &[u8; 32],
        offset: u32,
    ) -> Result<(), SslError> {
        let Some((c, _)) = &self.current else {
            return Err(SslError::Stale);
        };
        if c.digest != *digest || offset > c.body_len {
            return Err(SslError::Stale);
        }
        if let Some(p) = self.peers.get_mut(from) {
            p.serve = Some(offset);
            self.serving = true;
        }
        Ok(())
    }

    /// Body bytes from neighbour `from`. Taken only from the neighbour asked, for the body
    /// pending, in order; the complete body must hash to the signed digest.
    pub fn handle_chunk(
        &mut self,
        now: Instant,
        from: usize,
        digest: &[u8; 32],
        offset: u32,
        data: &[u8],
    ) -> Result<(), SslError> {
        let Some(p) = self.pending.as_mut() else {
            return Err(SslError::Stale);
        };
        if p.from != from || p.head.digest != *digest || offset as usize != p.buf.len() {
            return Err(SslError::Stale);
        }
        if data.is_empty()
            || data.len() > CHUNK
            || p.buf.len() + data.len() > p.head.body_len as usize
        {
            return Err(SslError::Malformed);
        }
        p.buf.extend_from_slice(data);
        p.asked_at = now;
        if p.buf.len() < p.head.body_len as usize {
            return Ok(());
        }
        let p = self.pending.take().expect("checked above");
        if crypto::sha256(&[&p.buf]) != p.head.digest {
            return Err(SslError::BadDigest);
        }
        decode_body(&p.buf)?;
        self.install(p.head, p.buf, Some(from));
        Ok(())
    }

    /// Is the periodic expiry check due? Only while a set is held: a node without one has
    /// no timer for it.
    pub fn cleanup_due(&self, now: Instant) -> bool {
        self.current.is_some() && self.next_cleanup.is_none_or(|at| now >= at)
    }

    /// Drops a set issued longer than the storage timeout ago or whose grant ended; returns
    /// whether one was dropped. Run every `cleanup_period`.
    pub fn cleanup(&mut self, now: Instant, unix: u64) -> bool {
        self.next_cleanup = Some(now + self.config.cleanup_period);
        let expired = self.current.as_ref().is_some_and(|(h, _)| {
            h.issued_at.saturating_add(self.config.storage_timeout) < unix
                || !h.grant.valid_at(unix)
        });
        if expired {
            self.current = None;
            self.changed = true;
            for p in &mut self.peers {
                p.announce = false;
                p.serve = None;
            }
        }
        expired
    }

    /// The next message for neighbour `slot` at `now`, if any is due. Heads and pulls go at
    /// once (one per change); chunks go `batch` per `send_period`.
    pub fn next_message(&mut self, now: Instant, slot: usize) -> Option<Outgoing> {
        let cfg = self.config;
        let p = self.peers.get_mut(slot)?;
        if p.announce {
            p.announce = false;
            if let Some((h, _)) = &self.current {
                return Some(Outgoing::Head(h.encode()));
            }
        }
        if p.pull {
            p.pull = false;
            if let Some(pd) = self.pending.as_ref().filter(|pd| pd.from == slot) {
                return Some(Outgoing::Pull {
                    digest: pd.head.digest,
                    offset: pd.buf.len() as u32,
                });
            }
        }
        let offset = p.serve?;
        let (h, body) = self.current.as_ref()?;
        if p.batch_started.is_none_or(|s| now >= s + cfg.send_period) {
            p.batch_started = Some(now);
            p.sent_in_batch = 0;
        }
        if p.sent_in_batch >= cfg.batch.max(1) {
            return None;
        }
        let start = offset as usize;
        let end = (start + CHUNK).min(body.len());
        p.serve = (end < body.len()).then_some(end as u32);
        p.sent_in_batch += 1;
        let done = p.serve.is_none();
        let chunk = Outgoing::Chunk {
            digest: h.digest,
            offset,
            data: body[start..end].to_vec(),
        };
        if done {
            self.serving = self.peers.iter().any(|p| p.serve.is_some());
        }
        Some(chunk)
    }

    /// A pending body stalled (a lost chunk): ask again from where it stopped.
    pub fn retry(&mut self, now: Instant) {
        let wait = self.config.send_period + self.config.send_period;
        if let Some(pd) = self.pending.as_mut()
            && now >= pd.asked_at + wait
        {
            pd.asked_at = now;
            if let Some(p) = self.peers.get_mut(pd.from) {
                p.pull = true;
            }
        }
    }

    /// Slots with something to send now or later.
    pub fn has_work(&self, slot: usize) -> bool {
        self.peers
            .get(slot)
            .is_some_and(|p| p.announce || p.pull || p.serve.is_some())
    }

    /// When the store next needs [`Self::next_message`], [`Self::retry`] or
    /// [`Self::cleanup`] (`refresh_at`: the publisher's next re-signing).
    pub fn next_deadline(&self, refresh_at: Option<Instant>) -> Option<Instant> {
        let cleanup = self.current.as_ref().and(self.next_cleanup);
        let mut next = earliest(cleanup, refresh_at);
        if let Some(pd) = &self.pending {
            next = earliest(
                next,
                Some(pd.asked_at + self.config.send_period + self.config.send_period),
            );
        }
        // Nobody served: no batch can be waiting (the common case, and cheap).
        if !self.serving {
            return next;
        }
        for p in &self.peers {
            if p.serve.is_some() && p.sent_in_batch >= self.config.batch.max(1) {
                next = earliest(next, p.batch_started.map(|s| s + self.config.send_period));
            }
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Identity;

    fn id(b: u8) -> Identity {
        Identity::from_secret([b; 32])
    }

    #[test]
    fn grant_and_head_round_trip_and_verify() {
        let net = id(1);
        let publ = id(2);
        let g = Grant::sign(&net, publ.id(), 10, 100);
        assert_eq!(Grant::decode(&g.encode()), Some(g.clone()));
        assert!(g.verify());
        let body = encode_body(&[vec![1, 2, 3]]).unwrap();
        let h = Head::sign(&publ, g, 5, 50, &body);
        assert_eq!(Head::decode(&h.encode()), Some(h.clone()));
        assert_eq!(h.check(&net.id(), 50, 3600), Ok(()));
        assert_eq!(
            h.check(&id(9).id(), 50, 3600),
            Err(SslError::ForeignNetwork)
        );
        assert_eq!(h.check(&net.id(), 50 + 3601, 3600), Err(SslError::Expired));
        assert_eq!(decode_body(&body).unwrap(), vec![vec![1, 2, 3]]);
        assert_eq!(decode_body(&body[..4]), Err(SslError::Malformed));
    }

    #[test]
    fn chunks_are_paced_per_batch() {
        let net = id(1);
        let publ = id(2);
        let g = Grant::sign(&net, publ.id(), 0, u64::MAX);
        let body = encode_body(&[vec![7; 3000]]).unwrap();
        let h = Head::sign(&publ, g, 1, 100, &body);
        let mut s = SslStore::new(2);
        s.config.batch = 2;
        s.offer_local(&net.id(), 100, h.clone(), body).unwrap();
        s.handle_pull(1, &h.digest, 0).unwrap();
        let t = Instant::ZERO;
        assert!(matches!(s.next_message(t, 1), Some(Outgoing::Head(_))));
        assert!(matches!(
            s.next_message(t, 1),
            Some(Outgoing::Chunk { offset: 0, .. })
        ));
        assert!(matches!(s.next_message(t, 1), Some(Outgoing::Chunk { .. })));
        assert_eq!(s.next_message(t, 1), None, "batch used up");
        let later = t + s.config.send_period;
        assert_eq!(s.next_deadline(None), Some(later));
        assert!(matches!(
            s.next_message(later, 1),
            Some(Outgoing::Chunk { .. })
        ));
    }

    #[test]
    fn a_pending_body_moves_to_another_source_when_its_link_goes() {
        let net = id(1);
        let publ = id(2);
        let g = Grant::sign(&net, publ.id(), 0, u64::MAX);
        let body = encode_body(&[vec![7; 100]]).unwrap();
        let h = Head::sign(&publ, g, 1, 100, &body);
        let mut s = SslStore::new(3);
        let t = Instant::ZERO;
        s.handle_head(t, &net.id(), 100, 0, &h.encode()).unwrap();
        s.handle_head(t, &net.id(), 100, 2, &h.encode()).unwrap();
        assert!(matches!(s.next_message(t, 0), Some(Outgoing::Pull { .. })));
        s.link_down(0);
        assert!(matches!(
            s.next_message(t, 2),
            Some(Outgoing::Pull { offset: 0, .. })
        ));
        s.handle_chunk(t, 2, &h.digest, 0, &body).unwrap();
        assert_eq!(s.held().map(|h| h.body.to_vec()), Some(body));
        assert!(s.take_changed());
    }
}
