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

/// Packets read from the device in one go: `bufs[i][..sizes[i]]` for `i < count`.
pub struct TunRead {
    /// The raw read before it is split (devices with offloads only; empty otherwise).
    pub scratch: Vec<u8>,
    pub bufs: Vec<Vec<u8>>,
    pub sizes: Vec<usize>,
    pub count: usize,
}

impl TunRead {
    /// Buffers for packets of up to `mtu` bytes; `offload` adds the 64 KiB scratch read.
    pub fn new(mtu: usize, offload: bool) -> Self {
        let n = if offload { TUN_BATCH } else { 1 };
        TunRead {
            scratch: if offload {
                vec![0; TUN_SCRATCH]
            } else {
                Vec::new()
            },
            bufs: vec![vec![0; mtu]; n],
            sizes: vec![0; n],
            count: 0,
        }
    }

    pub fn packets(&self) -> impl Iterator<Item = &[u8]> {
        self.bufs[..self.count]
            .iter()
            .zip(&self.sizes)
            .map(|(b, &n)| &b[..n])
    }
}

/// Packets for the device. Each buffer holds `headroom` spare bytes (where a device with
/// offloads writes its virtio header), then one packet; the buffer's length ends it.
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

    /// The next free buffer, sized for a packet of up to `max` bytes after the headroom.
    pub fn next_buf(&mut self, max: usize) -> &mut [u8] {
        let b = &mut self.bufs[self.count];
        b.resize(self.headroom + max, 0);
        &mut b[self.headroom..]
    }

    /// Keeps the `n` bytes just written to [`TunWrite::next_buf`] as the next packet.
    pub fn commit(&mut self, n: usize) {
        self.bufs[self.count].truncate(self.headroom + n);
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
            r.sizes[0] = self.recv(&mut r.bufs[0]).await?;
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
