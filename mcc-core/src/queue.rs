//! A bounded ring of packet buffers allocated once: outputs wait here until the driver
//! polls them, and pushing never allocates.

use alloc::vec;
use alloc::vec::Vec;

/// A ring of `slots` buffers of `slot_size` bytes, each with a length and metadata `M` (for the transmit queue: the destination).
pub struct PacketQueue<M: Copy> {
    bufs: Vec<Vec<u8>>,
    meta: Vec<(usize, M)>,
    head: usize,
    len: usize,
    slot_size: usize,
}

impl<M: Copy + Default> PacketQueue<M> {
    /// A queue of `slots` (at least one) buffers of `slot_size` bytes; buffers are allocated on first use and then reused.
    pub fn new(slots: usize, slot_size: usize) -> Self {
        let slots = slots.max(1);
        PacketQueue {
            bufs: vec![Vec::new(); slots],
            slot_size,
            meta: vec![(0, M::default()); slots],
            head: 0,
            len: 0,
        }
    }

    /// Is every slot taken?
    pub fn is_full(&self) -> bool {
        self.len == self.bufs.len()
    }

    /// Is no packet queued?
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Packets queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The buffer the next packet is written into, if there is room. Nothing is queued
    /// until [`commit`](Self::commit).
    pub fn next_slot(&mut self) -> Option<&mut [u8]> {
        if self.is_full() {
            return None;
        }
        let at = (self.head + self.len) % self.bufs.len();
        if self.bufs[at].is_empty() {
            self.bufs[at] = vec![0u8; self.slot_size];
        }
        Some(&mut self.bufs[at])
    }

    /// Queues the packet written into [`next_slot`](Self::next_slot): its first `len` bytes, with `meta`. Call only after `next_slot` returned a buffer.
    pub fn commit(&mut self, len: usize, meta: M) {
        debug_assert!(!self.is_full());
        let at = (self.head + self.len) % self.bufs.len();
        self.meta[at] = (len, meta);
        self.len += 1;
    }

    /// Copies the oldest packet into `out`. A packet longer than `out` is dropped and
    /// reported with its length so the driver can size its buffer (`Err(len)`).
    pub fn pop_into(&mut self, out: &mut [u8]) -> Option<Result<(usize, M), usize>> {
        if self.len == 0 {
            return None;
        }
        let at = self.head;
        self.head = (self.head + 1) % self.bufs.len();
        self.len -= 1;
        if self.len == 0 {
            self.head = 0;
        }
        let (len, m) = self.meta[at];
        match out.get_mut(..len) {
            Some(o) => {
                o.copy_from_slice(&self.bufs[at][..len]);
                Some(Ok((len, m)))
            }
            None => Some(Err(len)),
        }
    }

    /// Looks at queued packets without removing them (tests, simulator taps).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], M)> {
        (0..self.len).map(move |i| {
            let at = (self.head + i) % self.bufs.len();
            (&self.bufs[at][..self.meta[at].0], self.meta[at].1)
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
