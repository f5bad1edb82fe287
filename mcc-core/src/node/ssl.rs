//! The node's side of SSL CA distribution (see [`crate::ssl`]): it feeds neighbours' heads,
//! pulls and chunks to the store, seals what the store wants sent, re-signs the head when
//! this node is the granted publisher, and tells the driver when the held set changed.

use super::{CommandError, Node};
use crate::crypto::Cipher;
use crate::event::{DropReason, Event};
use crate::ssl::{self, Grant, Head, Outgoing, SslError};
use crate::time::Instant;
use crate::wire::link::DATA_HEADER_LEN;
use crate::wire::rpc;
use alloc::vec::Vec;

/// Link framing around an RPC plaintext (header + AEAD tag), for the SSL byte counter.
const FRAME_OVERHEAD: u64 = DATA_HEADER_LEN as u64 + 16;

impl<C: Cipher> Node<C> {
    /// The SSL CA set this node holds (`(head, body)`), if any.
    pub fn ssl_set(&self) -> Option<(&Head, &[u8])> {
        self.ssl.held().map(|h| (h.head, h.body))
    }

    fn ssl_refused(&mut self, from: Option<usize>, reason: SslError) {
        self.stats.ssl_refused += 1;
        self.ssl.refused += 1;
        let from = from.and_then(|s| self.peers.get(s)).map(|p| p.id);
        self.emit(Event::SslRefused { from, reason });
    }

    fn ssl_note_change(&mut self) {
        if self.ssl.take_changed() {
            let (version, certificates) = self.ssl.held().map_or((0, 0), |h| {
                let n = ssl::decode_body(h.body).map_or(0, |c| c.len());
                (h.head.version, n)
            });
            self.emit(Event::SslSetChanged {
                version,
                certificates,
            });
        }
    }

    /// `| 0x0B | head |` from neighbour slot `ps`.
    pub(crate) fn handle_ssl_head(&mut self, now: Instant, ps: usize, body: &[u8]) {
        let Some(net) = self.trust.own_network else {
            return;
        };
        let unix = self.unix_time();
        match self.ssl.handle_head(now, &net, unix, ps, body) {
            Ok(()) => {}
            // Old heads arrive from every neighbour after each change: not a refusal.
            Err(SslError::Stale) => {}
            Err(e) => self.ssl_refused(Some(ps), e),
        }
        self.ssl_note_change();
        self.pump_ssl(now);
    }

    /// `| 0x0C | ... |` from neighbour slot `ps`.
    pub(crate) fn handle_ssl_data(&mut self, now: Instant, ps: usize, plain: &[u8]) {
        let Ok((chunk, digest, offset, data)) = rpc::parse_ssl_data(plain) else {
            return self.drop_packet(DropReason::Malformed);
        };
        let r = if chunk {
            self.ssl.handle_chunk(now, ps, &digest, offset, data)
        } else {
            self.ssl.handle_pull(ps, &digest, offset)
        };
        match r {
            Ok(()) | Err(SslError::Stale) => {}
            Err(e) => self.ssl_refused(Some(ps), e),
        }
        self.ssl_note_change();
        self.pump_ssl(now);
    }

    /// Seals what the store wants sent to each established neighbour, into at most half of
    /// the transmit queue; returns whether anything was queued.
    pub(crate) fn pump_ssl(&mut self, now: Instant) -> bool {
        let mut queued = false;
        for ps in self.peers.slots() {
            // A direct-path peer is not in the tree: SSL sets travel the tree.
            if !self.peers.is_established(ps) || self.peers.get(ps).is_some_and(|p| p.direct) {
                continue;
            }
            while self.ssl.has_work(ps) && self.tx.len() < (self.limits.tx_queue / 2).max(1) {
                let Some(m) = self.ssl.next_message(now, ps) else {
                    break;
                };
                let mut n = 0;
                let sent = self.send_rpc(ps, |b| {
                    n = match &m {
                        Outgoing::Head(h) => {
                            b[0] = rpc::KIND_SSL_HEAD;
                            b[1..1 + h.len()].copy_from_slice(h);
                            1 + h.len()
                        }
                        Outgoing::Pull { digest, offset } => {
                            rpc::emit_ssl_data(b, digest, *offset, None)
                        }
                        Outgoing::Chunk {
                            digest,
                            offset,
                            data,
                        } => rpc::emit_ssl_data(b, digest, *offset, Some(data)),
                    };
                    n
                });
                if sent {
                    queued = true;
                    self.stats.ssl_bytes_out += n as u64 + FRAME_OVERHEAD;
                }
            }
        }
        if queued {
            // Also called from `poll_transmit`: a used-up batch moves the SSL deadline.
            self.refresh_deadlines();
        }
        queued
    }

    /// Expiry, stalled pulls, the publisher's refresh and paced batches.
    pub(crate) fn ssl_timers(&mut self, now: Instant) {
        let unix = self.unix_time();
        if self.ssl.cleanup_due(now) {
            self.ssl.cleanup(now, unix);
        }
        self.ssl.retry(now);
        if self.ssl_refresh_at.is_some_and(|at| now >= at) {
            self.ssl_refresh_at = Some(now + self.ssl.config.refresh);
            let mine = self
                .ssl
                .held()
                .filter(|h| h.head.grant.publisher == self.me)
                .map(|h| (h.head.version, h.body.to_vec()));
            if let (Some((version, body)), Some(grant)) = (mine, self.ssl_grant.clone()) {
                let head = Head::sign(&self.identity, grant, version + 1, unix, &body);
                if let Err(e) = self.ssl_offer(head, body) {
                    self.ssl_refused(None, e);
                }
            }
        }
        self.ssl_note_change();
        self.pump_ssl(now);
    }

    /// When the SSL timers next have work.
    pub(crate) fn ssl_deadline(&self) -> Option<Instant> {
        self.ssl.next_deadline(self.ssl_refresh_at)
    }

    fn ssl_offer(&mut self, head: Head, body: Vec<u8>) -> Result<(), SslError> {
        let net = self.trust.own_network.ok_or(SslError::ForeignNetwork)?;
        let unix = self.unix_time();
        self.ssl.offer_local(&net, unix, head, body)
    }

    /// `Command::SslPublish`: this node, named by `grant`, publishes `certs` (DER) as the
    /// network's full set. Nothing is signed or sent when the set held already has them.
    pub(crate) fn ssl_publish(
        &mut self,
        now: Instant,
        grant: Grant,
        certs: Vec<Vec<u8>>,
    ) -> Result<(), CommandError> {
        if grant.publisher != self.me {
            return Err(CommandError::Ssl(SslError::NotPublisher));
        }
        let body = ssl::encode_body(&certs).map_err(CommandError::Ssl)?;
        let unix = self.unix_time();
        let digest = crate::crypto::sha256(&[&body]);
        let held = self.ssl.held().map(|h| {
            (
                h.head.version,
                h.head.digest == digest && h.head.grant == grant,
                h.head.issued_at,
            )
        });
        self.ssl_grant = Some(grant.clone());
        let refresh = self.ssl.config.refresh.as_secs();
        self.ssl_refresh_at = Some(now + self.ssl.config.refresh);
        if let Some((_, true, issued)) = held
            && issued.saturating_add(refresh) > unix
        {
            // Already published (restored from disk): refresh on schedule.
            let left = issued.saturating_add(refresh) - unix;
            self.ssl_refresh_at = Some(now + crate::time::Duration::from_secs(left));
            return Ok(());
        }
        // Versions follow the wall clock so a publisher that lost its state still moves on.
        let version = held.map_or(0, |h| h.0 + 1).max(unix);
        let head = Head::sign(&self.identity, grant, version, unix, &body);
        self.ssl_offer(head, body).map_err(CommandError::Ssl)?;
        self.ssl_note_change();
        self.pump_ssl(now);
        Ok(())
    }

    /// `Command::SslRestore`: a set saved by the driver, checked like a received one.
    pub(crate) fn ssl_restore(
        &mut self,
        now: Instant,
        head: Head,
        body: Vec<u8>,
    ) -> Result<(), CommandError> {
        self.ssl_offer(head, body).map_err(CommandError::Ssl)?;
        // Restored, not changed: the driver installed it before it saved it.
        self.ssl.take_changed();
        self.pump_ssl(now);
        Ok(())
    }
}
