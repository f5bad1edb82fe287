//! Proves that `mcc-core` builds without `std`: this staticlib brings its own panic handler
//! and allocator, so any `std` in the dependency graph is a duplicate lang item and the
//! build fails. `mcc_probe` touches the ID, crypto and certificate APIs so that they are
//! compiled and linked in, not just type-checked, and the `embedded-io` stream framing.

#![no_std]

extern crate alloc;

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};
use mcc_core::cert::{self, Certificate};
use mcc_core::crypto::{Cipher, Identity, RustCryptoChaCha};
use mcc_core::id::NodeId;
use mcc_core::stream_io::{FrameReader, FrameWriter};
use mcc_core::wire::stream;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}

const HEAP_SIZE: usize = 64 * 1024;

/// A bump allocator over a static array: never frees, which is fine for a probe.
struct Bump {
    heap: UnsafeCell<[u8; HEAP_SIZE]>,
    next: AtomicUsize,
}

// SAFETY: `next` is advanced atomically, so no two allocations overlap.
unsafe impl Sync for Bump {}

unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let base = self.heap.get() as usize;
        let mut start = 0;
        let claimed = self
            .next
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |next| {
                start = (base + next).next_multiple_of(layout.align()) - base;
                let end = start.checked_add(layout.size())?;
                (end <= HEAP_SIZE).then_some(end)
            });
        match claimed {
            Ok(_) => (base + start) as *mut u8,
            Err(_) => core::ptr::null_mut(),
        }
    }
    unsafe fn dealloc(&self, _: *mut u8, _: Layout) {}
}

#[global_allocator]
static ALLOC: Bump = Bump {
    heap: UnsafeCell::new([0; HEAP_SIZE]),
    next: AtomicUsize::new(0),
};

/// Returns 0 when every step worked, else the number of the step that failed.
#[unsafe(no_mangle)]
pub extern "C" fn mcc_probe() -> u32 {
    let Ok(id) = "3zb3xe4gh757dnhdsyrzxxv6efvpgkzg82m08a8w88a5sf48w7x0".parse::<NodeId>() else {
        return 1;
    };

    let cipher = RustCryptoChaCha::new(&[7; 32]);
    let mut buf = *b"probe payload";
    let tag = cipher.seal(1, b"aad", &mut buf);
    if cipher.open(1, b"aad", &mut buf, &tag).is_err() || &buf != b"probe payload" {
        return 2;
    }

    let network = Identity::from_secret([1; 32]);
    let node = cert::issue::node(&network, &id, 0, 1000);
    let Ok(decoded) = Certificate::decode(node.encoded()) else {
        return 3;
    };
    if decoded.subject() != id || decoded.verify_signed_by(&network.id(), 10).is_err() {
        return 4;
    }

    // Link frames over an embedded-io byte stream (what a UART driver would use).
    let mut line = [0u8; 128];
    let mut w = FrameWriter::new(&mut line[..]);
    if w.write_frame(b"probe frame").is_err() {
        return 5;
    }
    let mut r: FrameReader<&[u8], { stream::deframer_len(64) }, 16> = FrameReader::new(&line[..]);
    if !matches!(r.read_frame(), Ok(f) if f == b"probe frame") {
        return 6;
    }
    0
}
