//! A bounded queue of packets in one contiguous byte ring: outputs wait here until the
//! driver polls them. The ring grows only to the deepest the queue has been, so pushing
//! allocates nothing in steady state.
//!
//! Packets are stored back to back (a packet never wraps: when the end of the ring has no
//! room for a full slot, the next one starts at the beginning), so consecutive packets
//! can be lent out as one slice: [`PacketQueue::pop_batch`] hands a run of same-size
//! datagrams to one destination to the driver as a ready UDP GSO buffer, without a copy.

use alloc::vec;
use alloc::vec::Vec;

/// Where one queued packet lives in the ring.
#[derive(Clone, Copy)]
struct Entry<M> {
    start: usize,
    len: usize,
    meta: M,
}

/// A run of queued packets lent by [`PacketQueue::pop_batch`]: `bytes` holds `count`
/// packets back to back, each `segment` bytes long but the last, which may be shorter.
#[derive(Debug, PartialEq, Eq)]
pub struct Batch<'a, M> {
    /// The packets, contiguous.
    pub bytes: &'a [u8],
    /// Length of every packet but the last.
    pub segment: usize,
    /// Packets in `bytes`.
    pub count: usize,
    /// The metadata they share.
    pub meta: M,
}

/// At most `slots` packets of up to `slot_size` bytes each, with metadata `M` (for the
/// transmit queue: the destination).
pub struct PacketQueue<M: Copy> {
    /// Grows as packets are written up to `(slots + 1) * slot_size` bytes: one slot more
    /// than the packets it holds, so `slots` full-size packets always fit whatever the
    /// space lost where the ring wraps (less than a slot).
    mem: Vec<u8>,
    entries: Vec<Entry<M>>,
    /// Index in `entries` of the oldest packet.
    head: usize,
    len: usize,
    slot_size: usize,
    /// Byte offset [`next_slot`](Self::next_slot) last handed out.
    pending: usize,
}

impl<M: Copy + Default> PacketQueue<M> {
    /// A queue of `slots` (at least one) packets of up to `slot_size` bytes; the ring is
    /// allocated as it is first used and then reused.
    pub fn new(slots: usize, slot_size: usize) -> Self {
        let slots = slots.max(1);
        PacketQueue {
            mem: Vec::new(),
            entries: vec![
                Entry {
                    start: 0,
                    len: 0,
                    meta: M::default()
                };
                slots
            ],
            head: 0,
            len: 0,
            slot_size,
            pending: 0,
        }
    }

    /// Is every slot taken?
    pub fn is_full(&self) -> bool {
        self.len == self.entries.len()
    }

    /// Is no packet queued?
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Packets queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes the ring may grow to.
    fn cap(&self) -> usize {
        (self.entries.len() + 1) * self.slot_size
    }

    fn at(&self, i: usize) -> usize {
        (self.head + i) % self.entries.len()
    }

    /// Byte offset where the next packet can start with `slot_size` bytes of room.
    fn free_start(&self) -> Option<usize> {
        if self.len == 0 {
            return Some(0);
        }
        let first = self.entries[self.head];
        let last = self.entries[self.at(self.len - 1)];
        let tail = last.start + last.len;
        if last.start >= first.start {
            // Not wrapped: packets fill [first.start, tail).
            if self.mem.len() - tail >= self.slot_size || tail + self.slot_size <= self.cap() {
                Some(tail)
            } else if first.start >= self.slot_size {
                Some(0)
            } else {
                None
            }
        } else {
            // Wrapped: the newest packets fill [0, tail), the oldest start at first.start.
            (first.start - tail >= self.slot_size).then_some(tail)
        }
    }

    /// The `slot_size`-byte buffer the next packet is written into, if there is room.
    /// Nothing is queued until [`commit`](Self::commit).
    pub fn next_slot(&mut self) -> Option<&mut [u8]> {
        if self.is_full() {
            return None;
        }
        let start = self.free_start()?;
        if self.mem.len() < start + self.slot_size {
            // The ring grows to the deepest the queue has been, one slot at a time (like
            // the per-slot buffers it replaced): a node that never queues much keeps little.
            self.mem
                .reserve_exact(start + self.slot_size - self.mem.len());
            self.mem.resize(start + self.slot_size, 0);
        }
        self.pending = start;
        Some(&mut self.mem[start..start + self.slot_size])
    }

    /// Queues the packet written into [`next_slot`](Self::next_slot): its first `len`
    /// bytes, with `meta`. Call only after `next_slot` returned a buffer.
    pub fn commit(&mut self, len: usize, meta: M) {
        debug_assert!(!self.is_full() && len <= self.slot_size);
        let at = self.at(self.len);
        self.entries[at] = Entry {
            start: self.pending,
            len: len.min(self.slot_size),
            meta,
        };
        self.len += 1;
    }

    /// Removes the oldest `n` packets (`n <= len`).
    fn advance(&mut self, n: usize) {
        self.head = self.at(n);
        self.len -= n;
        if self.len == 0 {
            self.head = 0;
        }
    }

    /// Removes the oldest packet and lends it, valid until the queue is next changed.
    pub fn pop(&mut self) -> Option<(&mut [u8], M)> {
        if self.len == 0 {
            return None;
        }
        let e = self.entries[self.head];
        self.advance(1);
        Some((&mut self.mem[e.start..e.start + e.len], e.meta))
    }

    /// Copies the oldest packet into `out`. A packet longer than `out` is dropped and
    /// reported with its length so the driver can size its buffer (`Err(len)`).
    pub fn pop_into(&mut self, out: &mut [u8]) -> Option<Result<(usize, M), usize>> {
        let (p, m) = self.pop()?;
        match out.get_mut(..p.len()) {
            Some(o) => {
                o.copy_from_slice(p);
                Some(Ok((p.len(), m)))
            }
            None => Some(Err(p.len())),
        }
    }

    /// Removes the oldest packet and the packets after it that can go out with it as one
    /// UDP GSO send, and lends them as one slice: the same metadata, stored back to back,
    /// all as long as the first but the last (which may be shorter), at most
    /// `max_packets` of them (at least one) and `max_bytes` in all (unless the first alone
    /// is longer).
    pub fn pop_batch(&mut self, max_packets: usize, max_bytes: usize) -> Option<Batch<'_, M>>
    where
        M: PartialEq,
    {
        if self.len == 0 {
            return None;
        }
        let first = self.entries[self.head];
        let (mut count, mut end) = (1, first.start + first.len);
        let mut last_len = first.len;
        while count < self.len.min(max_packets) && last_len == first.len && first.len > 0 {
            let e = self.entries[self.at(count)];
            if e.meta != first.meta
                || e.start != end
                || e.len > first.len
                || end + e.len - first.start > max_bytes
            {
                break;
            }
            end += e.len;
            last_len = e.len;
            count += 1;
        }
        self.advance(count);
        Some(Batch {
            bytes: &self.mem[first.start..end],
            segment: first.len,
            count,
            meta: first.meta,
        })
    }

    /// Looks at queued packets without removing them (tests, simulator taps).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], M)> {
        (0..self.len).map(move |i| {
            let e = self.entries[self.at(i)];
            (&self.mem[e.start..e.start + e.len], e.meta)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_wraps_and_bounds() {
        let mut q: PacketQueue<u8> = PacketQueue::new(2, 8);
        for round in 0..5u8 {
            q.next_slot().unwrap()[0] = round;
            q.commit(1, round);
            q.next_slot().unwrap()[0] = round + 100;
            q.commit(1, round);
            assert!(q.next_slot().is_none());
            let mut out = [0u8; 8];
            assert_eq!(q.pop_into(&mut out), Some(Ok((1, round))));
            assert_eq!(out[0], round);
            assert_eq!(q.pop_into(&mut out), Some(Ok((1, round))));
            assert_eq!(out[0], round + 100);
            assert_eq!(q.pop_into(&mut out), None);
        }
    }

    #[test]
    fn a_short_buffer_drops_the_packet_and_reports_its_length() {
        let mut q: PacketQueue<u16> = PacketQueue::new(4, 100);
        q.next_slot().unwrap()[..50].fill(0xAB);
        q.commit(50, 7);
        q.next_slot().unwrap()[..3].copy_from_slice(b"abc");
        q.commit(3, 8);
        let mut small = [0u8; 10];
        assert_eq!(q.pop_into(&mut small), Some(Err(50)));
        assert_eq!(small, [0; 10], "nothing copied");
        assert_eq!(q.pop_into(&mut small), Some(Ok((3, 8))));
        assert_eq!(&small[..3], b"abc");
        assert!(q.is_empty());
    }

    #[test]
    fn next_slot_without_commit_queues_nothing() {
        let mut q: PacketQueue<()> = PacketQueue::new(1, 8);
        q.next_slot().unwrap()[0] = 1;
        assert!(q.is_empty() && !q.is_full());
        q.next_slot().unwrap()[0] = 2;
        q.commit(1, ());
        assert!(q.is_full() && q.len() == 1);
        let mut out = [0u8; 8];
        assert_eq!(q.pop_into(&mut out), Some(Ok((1, ()))));
        assert_eq!(out[0], 2, "the slot was rewritten before the commit");
    }

    #[test]
    fn iter_sees_fifo_order_without_removing() {
        let mut q: PacketQueue<u8> = PacketQueue::new(3, 4);
        for m in 1..=3u8 {
            q.next_slot().unwrap()[..m as usize].fill(m);
            q.commit(m as usize, m);
        }
        let mut out = [0u8; 4];
        q.pop_into(&mut out).unwrap().unwrap();
        q.next_slot().unwrap()[0] = 9;
        q.commit(1, 4);
        let seen: alloc::vec::Vec<(alloc::vec::Vec<u8>, u8)> =
            q.iter().map(|(b, m)| (b.to_vec(), m)).collect();
        assert_eq!(
            seen,
            alloc::vec![
                (alloc::vec![2, 2], 2),
                (alloc::vec![3, 3, 3], 3),
                (alloc::vec![9], 4)
            ]
        );
        assert_eq!(q.len(), 3);
    }

    fn push(q: &mut PacketQueue<u8>, len: usize, fill: u8, meta: u8) {
        q.next_slot().expect("room")[..len].fill(fill);
        q.commit(len, meta);
    }

    #[test]
    fn a_batch_is_a_run_of_same_size_packets_to_one_destination() {
        let mut q: PacketQueue<u8> = PacketQueue::new(8, 10);
        push(&mut q, 4, 1, 7);
        push(&mut q, 4, 2, 7);
        push(&mut q, 3, 3, 7); // shorter: ends the batch
        push(&mut q, 3, 4, 7);
        push(&mut q, 3, 5, 9); // another destination
        let b = q.pop_batch(64, 1000).unwrap();
        assert_eq!(
            (b.bytes, b.segment, b.count, b.meta),
            (&[1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3][..], 4, 3, 7)
        );
        let b = q.pop_batch(64, 1000).unwrap();
        assert_eq!((b.bytes, b.segment, b.count), (&[4, 4, 4][..], 3, 1));
        let b = q.pop_batch(64, 1000).unwrap();
        assert_eq!((b.bytes, b.meta), (&[5, 5, 5][..], 9));
        assert!(q.pop_batch(64, 1000).is_none());
    }

    #[test]
    fn a_batch_is_bounded_by_count_and_bytes() {
        let mut q: PacketQueue<u8> = PacketQueue::new(8, 10);
        for i in 0..6 {
            push(&mut q, 5, i, 1);
        }
        assert_eq!(q.pop_batch(2, 1000).unwrap().count, 2);
        assert_eq!(
            q.pop_batch(64, 14).unwrap().count,
            2,
            "a third would make 15 bytes"
        );
        assert_eq!(
            q.pop_batch(64, 3).unwrap().count,
            1,
            "the first goes out alone"
        );
        assert_eq!(q.pop_batch(0, 0).unwrap().count, 1);
        assert!(q.is_empty());
    }

    #[test]
    fn a_batch_stops_where_the_ring_wraps_and_full_slots_always_fit() {
        let mut q: PacketQueue<u8> = PacketQueue::new(3, 10);
        for round in 0..20u8 {
            // Three full-size packets always fit, wherever the ring's start is now.
            for i in 0..3 {
                push(&mut q, 10, round.wrapping_add(i), 1);
            }
            assert!(q.next_slot().is_none());
            let mut seen = 0;
            while let Some(b) = q.pop_batch(64, 1000) {
                for (k, p) in b.bytes.chunks(10).enumerate() {
                    assert_eq!(p, &[round.wrapping_add((seen + k) as u8); 10]);
                }
                seen += b.count;
            }
            assert_eq!(seen, 3);
            // Leave one short packet behind so the next round starts elsewhere.
            push(&mut q, 1 + round as usize % 9, 0, 2);
            assert_eq!(q.pop().unwrap().1, 2);
            push(&mut q, 7, 0, 2);
            let mut out = [0u8; 10];
            assert_eq!(q.pop_into(&mut out), Some(Ok((7, 2))));
        }
    }

    #[test]
    fn packets_are_never_split_across_the_wrap() {
        // 50 bytes of ring for four packets of up to 10 bytes.
        let mut q: PacketQueue<u8> = PacketQueue::new(4, 10);
        for (len, fill) in [(10, 1), (10, 2), (10, 3), (7, 4)] {
            push(&mut q, len, fill, 1);
        }
        assert_eq!(q.pop().unwrap().0, &[1; 10][..]);
        assert_eq!(q.pop().unwrap().0, &[2; 10][..]);
        push(&mut q, 10, 5, 1); // at 37..47: the end still had room
        push(&mut q, 10, 6, 1); // 3 bytes left at the end: restarts at 0
        let seen: Vec<(u8, usize)> = q.iter().map(|(p, _)| (p[0], p.len())).collect();
        assert_eq!(seen, [(3, 10), (4, 7), (5, 10), (6, 10)]);
        let b = q.pop_batch(64, 1000).unwrap();
        assert_eq!(
            (b.count, b.bytes.len()),
            (2, 17),
            "the shorter 4 ends the batch"
        );
        let b = q.pop_batch(64, 1000).unwrap();
        assert_eq!(
            (b.count, b.bytes),
            (1, &[5; 10][..]),
            "6 is not after 5 in memory"
        );
        let b = q.pop_batch(64, 1000).unwrap();
        assert_eq!((b.count, b.bytes), (1, &[6; 10][..]));
        assert!(q.is_empty());
    }

    #[test]
    fn zero_slots_means_one() {
        let mut q: PacketQueue<()> = PacketQueue::new(0, 4);
        assert!(q.next_slot().is_some());
        q.commit(0, ());
        assert!(q.next_slot().is_none());
        let mut out = [0u8; 0];
        assert_eq!(
            q.pop_into(&mut out),
            Some(Ok((0, ()))),
            "an empty packet fits"
        );
    }
}
