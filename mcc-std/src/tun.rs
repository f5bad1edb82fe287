//! The TUN device as the event loop sees it: whole IP packets in and out, one at a time
//! or in batches. A device with offloads (Linux `IFF_VNET_HDR`) hands over a TCP
//! super-packet of up to 64 KiB split into MTU-size packets in one read, and takes a
//! batch of packets that it coalesces into as few writes as it can; a plain device moves
//! one packet per call through the default methods.

use std::future::Future;
use std::io;

/// Largest read from a device with offloads: a virtio header and a 64 KiB super-packet.
pub const TUN_SCRATCH: usize = 10 + 65_535;

/// Packets per batch; a 64 KiB super-packet at a 1280-byte MTU is about 52 packets.
pub const TUN_BATCH: usize = 128;

/// Packets read from the device in one go: [`TunRead::packets`]. One allocation holds the
/// scratch read and every packet buffer; it is large enough for the allocator to map it
/// lazily, so an idle node keeps only the pages a read touched resident.
pub struct TunRead {
    mem: Vec<u8>,
    /// Bytes of the raw read before it is split (devices with offloads; 0 otherwise).
    scratch: usize,
    size: usize,
    pub sizes: [usize; TUN_BATCH],
    pub count: usize,
}

impl TunRead {
    /// Buffers for packets of up to `mtu` bytes; `offload` adds the 64 KiB scratch read
    /// and [`TUN_BATCH`] packet buffers instead of one.
    pub fn new(mtu: usize, offload: bool) -> Self {
        let (scratch, slots) = if offload {
            (TUN_SCRATCH, TUN_BATCH)
        } else {
            (0, 1)
        };
        TunRead {
            mem: vec![0; scratch + slots * mtu],
            scratch,
            size: mtu,
            sizes: [0; TUN_BATCH],
            count: 0,
        }
    }

    /// The only buffer of a device without offloads.
    pub fn first(&mut self) -> &mut [u8] {
        &mut self.mem[self.scratch..self.scratch + self.size]
    }

    /// The scratch read and [`TUN_BATCH`] packet buffers, for a device with offloads.
    pub fn split(&mut self) -> (&mut [u8], [&mut [u8]; TUN_BATCH], &mut [usize; TUN_BATCH]) {
        let (scratch, rest) = self.mem.split_at_mut(self.scratch);
        let mut chunks = rest.chunks_mut(self.size);
        let bufs = std::array::from_fn(|_| chunks.next().unwrap_or_default());
        (scratch, bufs, &mut self.sizes)
    }

    pub fn packets(&self) -> impl Iterator<Item = &[u8]> {
        let base = self.scratch;
        self.sizes[..self.count]
            .iter()
            .enumerate()
            .map(move |(i, &n)| &self.mem[base + i * self.size..base + i * self.size + n])
    }
}

/// Room in each [`TunWrite`] buffer for packets a device with offloads coalesces into one
/// write (a TCP super-packet of up to 64 KiB). Pages are only made resident as written.
pub const TUN_COALESCE: usize = 65_535;

/// Packets for the device. Each buffer holds `headroom` spare bytes (where a device with
/// offloads writes its virtio header), then one packet; the buffer's length ends it.
/// Buffers keep their capacity from batch to batch, so a packet costs one copy and no
/// zero fill.
pub struct TunWrite {
    pub bufs: Vec<Vec<u8>>,
    pub count: usize,
    pub headroom: usize,
}

impl TunWrite {
    pub fn new(headroom: usize) -> Self {
        TunWrite {
            bufs: (0..TUN_BATCH).map(|_| Vec::new()).collect(),
            count: 0,
            headroom,
        }
    }

    pub fn is_full(&self) -> bool {
        self.count == self.bufs.len()
    }

    /// Appends `packet` to the batch (call only when not [full](Self::is_full)).
    pub fn push(&mut self, packet: &[u8]) {
        let b = &mut self.bufs[self.count];
        if b.capacity() < self.headroom + TUN_COALESCE {
            // Once per buffer: a device with offloads coalesces the following packets
            // of a flow into this one only if the buffer can hold them without growing.
            b.reserve_exact(self.headroom + TUN_COALESCE - b.len());
        }
        // The device may have written its header into the headroom, or coalesced other
        // packets after it: both are overwritten or cut off here.
        b.resize(self.headroom, 0);
        b.extend_from_slice(packet);
        self.count += 1;
    }
}

pub trait TunDevice {
    fn recv(&self, buf: &mut [u8]) -> impl Future<Output = io::Result<usize>>;
    fn send(&self, buf: &[u8]) -> impl Future<Output = io::Result<usize>>;

    /// Whether [`TunDevice::recv_batch`] may return more than one packet per read, so the
    /// loop allocates batch buffers.
    fn offload(&self) -> bool {
        false
    }

    /// Spare bytes the device wants in front of each packet given to `send_batch`.
    fn headroom(&self) -> usize {
        0
    }

    /// Reads one or more packets into `r`.
    fn recv_batch(&self, r: &mut TunRead) -> impl Future<Output = io::Result<()>> {
        async move {
            r.sizes[0] = self.recv(r.first()).await?;
            r.count = 1;
            Ok(())
        }
    }

    /// Writes the first `w.count` packets. A packet the device refuses is dropped (and
    /// logged by the caller), like a full queue on a real interface.
    fn send_batch(&self, w: &mut TunWrite) -> impl Future<Output = io::Result<()>> {
        async move {
            let mut result = Ok(());
            for b in &w.bufs[..w.count] {
                if let Err(e) = self.send(&b[w.headroom..]).await {
                    result = Err(e);
                }
            }
            result
        }
    }
}
