#!/usr/bin/env bash
# Type-checks (clippy) the macOS-only code of mcc-macos on Linux, and runs its utun I/O
# path over a Unix datagram socket pair. Linux's libc lacks the macOS items (PF_SYSTEM,
# ctl_info, sockaddr_ctl, CTLIOCGINFO, UTUN_OPT_IFNAME...), so a copy of the sources is
# built against a shim that adds them with macOS's values (from libc's
# src/unix/bsd/apple/mod.rs). This is a check on a best effort basis, not a macOS build:
# it cannot catch differences between Linux's and macOS's libc beyond those items.
# Usage: bash mcc-macos/scripts/check-macos-on-linux.sh
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "$src/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src/bin"
cp "$root/Cargo.lock" "$tmp/"
sed -n '/^\[package\]/,$p' "$src/Cargo.toml" \
  | sed -e '/^\[target\./d' -e '/^\[dev-dependencies\]/,$d' \
        -e 's/\.workspace = true//' -e '/^\(edition\|version\|license\|rust-version\)$/d' \
        -e "s#path = \"\.\./mcc-std\"#path = \"$root/mcc-std\"#" \
  > "$tmp/Cargo.toml"
sed -i -e 's/^\[package\]/[package]\nedition = "2024"\nversion = "0.1.0"/' "$tmp/Cargo.toml"
printf '\n[workspace]\n' >> "$tmp/Cargo.toml"
cp "$src"/src/{frame,commands,resolver,launchd}.rs "$tmp/src/"
sed 's/\blibc::/crate::shim::libc::/g' "$src/src/utun.rs" > "$tmp/src/utun.rs"
cp "$src/src/platform.rs" "$tmp/src/"
sed -e 's/#\[cfg(target_os = "macos")\]/#[cfg(all())]/' \
    -e 's/^pub mod utun;/pub mod utun;\n#[path = "shim.rs"]\npub mod shim;/' \
    "$src/src/lib.rs" > "$tmp/src/lib.rs"
sed -e 's/#\[cfg(target_os = "macos")\]/#[cfg(all())]/' \
    -e 's/#\[cfg(not(target_os = "macos"))\]/#[cfg(any())]/' \
    "$src/src/bin/mccd-macos.rs" > "$tmp/src/bin/mccd-macos.rs"
# Unit tests of the portable modules need dev-dependencies; they run in the real crate.
for f in "$tmp"/src/{frame,commands,resolver,launchd}.rs; do
  perl -0pi -e 's/\n#\[cfg\(test\)\]\nmod tests \{.*\z/\n/s' "$f"
done
cat > "$tmp/src/shim.rs" <<'RS'
// macOS definitions from libc 0.2 src/unix/bsd/apple/mod.rs.
#[allow(non_camel_case_types, dead_code)]
pub mod libc {
    pub use ::libc::*;
    pub const AF_SYSTEM: c_int = 32;
    pub const PF_SYSTEM: c_int = AF_SYSTEM;
    pub const AF_SYS_CONTROL: c_int = 2;
    pub const SYSPROTO_CONTROL: c_int = 2;
    pub const UTUN_OPT_IFNAME: c_int = 2;
    pub const CTLIOCGINFO: c_ulong = 0xc0644e03;
    pub const MAX_KCTL_NAME: usize = 96;
    #[repr(C)]
    pub struct sockaddr_ctl {
        pub sc_len: c_uchar,
        pub sc_family: c_uchar,
        pub ss_sysaddr: u16,
        pub sc_id: u32,
        pub sc_unit: u32,
        pub sc_reserved: [u32; 5],
    }
    #[repr(C)]
    pub struct ctl_info {
        pub ctl_id: u32,
        pub ctl_name: [c_char; MAX_KCTL_NAME],
    }
}
RS
cat >> "$tmp/src/utun.rs" <<'RS'

#[cfg(test)]
mod shim_tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    /// The utun I/O path (readv/writev through AsyncFd, header added and checked) over a
    /// datagram pair standing in for the kernel control socket.
    #[tokio::test]
    async fn recv_send_over_a_datagram_pair() {
        let (a, b) = UnixDatagram::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let fd: OwnedFd = a.into();
        let tun = UtunTun {
            fd: unsafe { AsyncFd::register(fd) }.unwrap(),
            name: "utun9".into(),
        };
        let v4 = [
            0x45u8, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 83, 0, 1, 10, 83, 0, 2,
        ];
        assert_eq!(tun.send(&v4).await.unwrap(), 20);
        let mut got = [0u8; 64];
        let n = b.recv(&mut got).unwrap();
        assert_eq!(&got[..n], [&[0, 0, 0, 2][..], &v4[..]].concat());
        assert!(tun.send(&[0x10]).await.is_err());
        let mut v6 = vec![0u8; 40];
        v6[0] = 0x60;
        assert_eq!(tun.send(&v6).await.unwrap(), 40);
        let n = b.recv(&mut got).unwrap();
        assert_eq!((n, &got[..4]), (44, &[0u8, 0, 0, 30][..]));
        // A frame whose header does not match its packet is dropped, not an error.
        b.send(&[0, 0, 0, 30, 0x45, 1, 2]).unwrap();
        b.send(&[0, 0, 0, 2, 0x45, 9, 9]).unwrap();
        let mut buf = [0u8; 64];
        let n = tun.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], [0x45, 9, 9]);
    }
}
RS
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}/macos-shim"
cd "$tmp"
# The shim's cfg(all()) stand-ins for cfg(target_os = "macos") are not the code's own.
cargo clippy --all-targets -- -D warnings -A clippy::non_minimal_cfg
cargo test --lib shim_tests
echo "macOS code type-checks against the shim; utun I/O test passed"
