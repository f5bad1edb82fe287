//! glibc's allocator tuned for a small daemon. Once a large block (argon2's 7 MiB of a
//! login) is freed, glibc raises its mmap threshold so that later ones come from the heap
//! and stay resident, one heap per thread: 30 failed logins left mcc-web at 58 MB RSS
//! instead of 7.5 MB. A fixed threshold gives every large block back when it is freed, and
//! two arenas bound the per-thread heaps. musl (the static OpenWrt build) maps large
//! blocks anyway and has no such knobs.

/// Blocks from this size on are mapped and unmapped on their own (glibc's initial value).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

/// Sets the allocator's options; call before any thread starts.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
