//! Packing an answer into the caller's buffer, as glibc's reentrant NSS interface requires:
//! every string, address and pointer array a `struct hostent` or a `struct gaih_addrtuple`
//! list points to lives in the `buffer`/`buflen` the caller passed, and an answer that does
//! not fit is [`TooSmall`] (the caller retries with a larger buffer after `ERANGE`).
//!
//! All of it is safe code over a byte slice: pointers are written as the address of the
//! buffer's first byte (`base`) plus an offset, at the alignment a C reader needs. Only the
//! FFI layer ([`crate::ffi`]) turns the caller's pointer into the slice and the returned
//! offsets into pointers.

use std::ffi::{c_char, c_int};
use std::mem::{align_of, offset_of, size_of};
use std::net::IpAddr;

/// The answer does not fit the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooSmall;

/// glibc's `struct gaih_addrtuple` (`<nss.h>`): one address of a `gethostbyname4_r` answer.
#[repr(C)]
#[derive(Debug)]
pub struct GaihAddrtuple {
    pub next: *mut GaihAddrtuple,
    pub name: *mut c_char,
    pub family: c_int,
    /// The address in network byte order (4 bytes used for AF_INET).
    pub addr: [u32; 4],
    pub scopeid: u32,
}

/// Space in the buffer, handed out front to back.
pub struct Packer<'a> {
    buf: &'a mut [u8],
    /// The address of `buf[0]` in the caller's memory.
    base: usize,
    used: usize,
}

impl<'a> Packer<'a> {
    /// `base` is the address of `buf[0]`: alignment is counted in the caller's memory, and
    /// pointers written into the buffer are `base + offset`.
    pub fn new(buf: &'a mut [u8], base: usize) -> Self {
        Packer { buf, base, used: 0 }
    }

    /// The caller's address of offset `off`.
    pub fn addr(&self, off: usize) -> usize {
        self.base.wrapping_add(off)
    }

    /// Bytes used so far, padding included.
    pub fn used(&self) -> usize {
        self.used
    }

    /// `len` zeroed bytes at an address that is a multiple of `align`; their offset.
    fn alloc(&mut self, len: usize, align: usize) -> Result<usize, TooSmall> {
        let misalign = self.addr(self.used) % align;
        let pad = if misalign == 0 { 0 } else { align - misalign };
        let start = self.used.checked_add(pad).ok_or(TooSmall)?;
        let end = start.checked_add(len).ok_or(TooSmall)?;
        let slot = self.buf.get_mut(start..end).ok_or(TooSmall)?;
        slot.fill(0);
        self.used = end;
        Ok(start)
    }

    /// A copy of `b`, aligned to `align`.
    pub fn bytes(&mut self, b: &[u8], align: usize) -> Result<usize, TooSmall> {
        let off = self.alloc(b.len(), align)?;
        self.buf[off..off + b.len()].copy_from_slice(b);
        Ok(off)
    }

    /// `s` as a C string (the caller checked that it holds no NUL).
    pub fn cstr(&mut self, s: &str) -> Result<usize, TooSmall> {
        let off = self.alloc(s.len() + 1, 1)?;
        self.buf[off..off + s.len()].copy_from_slice(s.as_bytes());
        Ok(off)
    }

    /// A NULL-terminated array of pointers to the offsets `targets`.
    pub fn ptr_array(&mut self, targets: &[usize]) -> Result<usize, TooSmall> {
        let width = size_of::<usize>();
        let off = self.alloc((targets.len() + 1) * width, align_of::<usize>())?;
        for (i, t) in targets.iter().enumerate() {
            self.put_ptr(off + i * width, *t);
        }
        Ok(off)
    }

    /// Writes a pointer to offset `target` at offset `at`.
    fn put_ptr(&mut self, at: usize, target: usize) {
        let v = self.addr(target).to_ne_bytes();
        self.buf[at..at + v.len()].copy_from_slice(&v);
    }
}

/// Where a packed `struct hostent`'s pointers point (offsets into the buffer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hostent {
    pub name: usize,
    pub aliases: usize,
    pub addr_list: usize,
}

/// The network-order bytes of an address.
pub fn octets(a: &IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

/// Packs the strings, addresses and arrays of a `struct hostent`: `h_name`, the
/// NULL-terminated `h_aliases` and `h_addr_list` (every address of one family).
pub fn hostent(
    p: &mut Packer,
    name: &str,
    aliases: &[String],
    addrs: &[IpAddr],
) -> Result<Hostent, TooSmall> {
    let name = p.cstr(name)?;
    let alias_offs = aliases
        .iter()
        .map(|a| p.cstr(a))
        .collect::<Result<Vec<_>, _>>()?;
    let addr_offs = addrs
        .iter()
        .map(|a| p.bytes(&octets(a), align_of::<u32>()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Hostent {
        name,
        aliases: p.ptr_array(&alias_offs)?,
        addr_list: p.ptr_array(&addr_offs)?,
    })
}

/// Packs a list of `struct gaih_addrtuple`, one per address, linked in order, each naming
/// `name`; returns the first one's offset. `addrs` must not be empty.
pub fn addrtuples(p: &mut Packer, name: &str, addrs: &[IpAddr]) -> Result<usize, TooSmall> {
    let name = p.cstr(name)?;
    let size = size_of::<GaihAddrtuple>();
    let first = p.alloc(addrs.len() * size, align_of::<GaihAddrtuple>())?;
    for (i, a) in addrs.iter().enumerate() {
        let at = first + i * size;
        if i + 1 < addrs.len() {
            p.put_ptr(at + offset_of!(GaihAddrtuple, next), at + size);
        }
        p.put_ptr(at + offset_of!(GaihAddrtuple, name), name);
        let family = match a {
            IpAddr::V4(_) => libc::AF_INET,
            IpAddr::V6(_) => libc::AF_INET6,
        };
        let f = at + offset_of!(GaihAddrtuple, family);
        p.buf[f..f + size_of::<c_int>()].copy_from_slice(&family.to_ne_bytes());
        let o = octets(a);
        let x = at + offset_of!(GaihAddrtuple, addr);
        p.buf[x..x + o.len()].copy_from_slice(&o);
        // `next` of the last and `scopeid` stay zero (no scope: overlay addresses are global).
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// Reads back what the packer wrote, the way a C reader follows the pointers.
    struct Reader<'a> {
        buf: &'a [u8],
        base: usize,
    }

    impl Reader<'_> {
        fn ptr(&self, at: usize) -> usize {
            let w = size_of::<usize>();
            usize::from_ne_bytes(self.buf[at..at + w].try_into().unwrap())
        }
        /// The offset a pointer points to (it must point into the buffer), or None for NULL.
        fn target(&self, at: usize) -> Option<usize> {
            let p = self.ptr(at);
            (p != 0).then(|| {
                assert!(
                    p >= self.base && p < self.base + self.buf.len(),
                    "{p:#x} outside"
                );
                p - self.base
            })
        }
        fn cstr(&self, off: usize) -> String {
            let end = self.buf[off..].iter().position(|b| *b == 0).unwrap();
            String::from_utf8(self.buf[off..off + end].to_vec()).unwrap()
        }
        /// A NULL-terminated pointer array, as offsets; checks its alignment.
        fn array(&self, off: usize) -> Vec<usize> {
            assert_eq!((self.base + off) % align_of::<usize>(), 0);
            let mut out = Vec::new();
            while let Some(t) = self.target(off + out.len() * size_of::<usize>()) {
                out.push(t);
            }
            out
        }
    }

    fn addrs() -> Vec<IpAddr> {
        vec![
            IpAddr::V6("200::5".parse::<Ipv6Addr>().unwrap()),
            IpAddr::V4(Ipv4Addr::new(10, 83, 0, 5)),
            IpAddr::V4(Ipv4Addr::new(10, 83, 1, 2)),
        ]
    }

    /// Every start alignment of the buffer, so padding is exercised.
    fn with_buffers(len: usize, mut f: impl FnMut(&mut [u8], usize)) {
        let mut storage = vec![0xa5u8; len + 16];
        for shift in 0..8 {
            let buf = &mut storage[shift..shift + len];
            buf.fill(0xa5);
            let base = buf.as_ptr() as usize;
            f(buf, base);
        }
    }

    #[test]
    fn hostent_round_trips_at_every_alignment() {
        let v4 = &addrs()[1..];
        let aliases = vec!["web.home.arpa".to_string(), "w".to_string()];
        with_buffers(256, |buf, base| {
            let mut p = Packer::new(buf, base);
            let h = hostent(&mut p, "web", &aliases, v4).unwrap();
            let r = Reader { buf, base };
            assert_eq!(r.cstr(h.name), "web");
            let al: Vec<String> = r.array(h.aliases).iter().map(|o| r.cstr(*o)).collect();
            assert_eq!(al, aliases);
            let got: Vec<IpAddr> = r
                .array(h.addr_list)
                .iter()
                .map(|o| {
                    assert_eq!((base + o) % align_of::<u32>(), 0);
                    let b: [u8; 4] = buf[*o..o + 4].try_into().unwrap();
                    IpAddr::V4(Ipv4Addr::from(b))
                })
                .collect();
            assert_eq!(got, v4);
        });
    }

    #[test]
    fn addrtuples_round_trip_at_every_alignment() {
        let all = addrs();
        with_buffers(512, |buf, base| {
            let mut p = Packer::new(buf, base);
            let first = addrtuples(&mut p, "web.home.arpa", &all).unwrap();
            let r = Reader { buf, base };
            let mut at = Some(first);
            let mut got = Vec::new();
            while let Some(t) = at {
                assert_eq!((base + t) % align_of::<GaihAddrtuple>(), 0);
                let name = r.target(t + offset_of!(GaihAddrtuple, name)).unwrap();
                assert_eq!(r.cstr(name), "web.home.arpa");
                let f = t + offset_of!(GaihAddrtuple, family);
                let family = c_int::from_ne_bytes(buf[f..f + 4].try_into().unwrap());
                let x = t + offset_of!(GaihAddrtuple, addr);
                let s = t + offset_of!(GaihAddrtuple, scopeid);
                assert_eq!(buf[s..s + 4], [0; 4]);
                got.push(match family {
                    libc::AF_INET => {
                        assert_eq!(buf[x + 4..x + 16], [0; 12], "the rest is zero");
                        IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(&buf[x..x + 4]).unwrap()))
                    }
                    libc::AF_INET6 => IpAddr::V6(Ipv6Addr::from(
                        <[u8; 16]>::try_from(&buf[x..x + 16]).unwrap(),
                    )),
                    f => panic!("family {f}"),
                });
                at = r.target(t + offset_of!(GaihAddrtuple, next));
            }
            assert_eq!(got, all);
        });
    }

    /// Every length short of what an answer needs is refused, whatever the alignment, and
    /// nothing is written past the buffer (the byte after it stays as it was).
    #[test]
    fn short_buffers_are_too_small_and_never_overrun() {
        let all = addrs();
        let aliases = vec!["web.home.arpa".to_string()];
        for tuples in [false, true] {
            let pack = |p: &mut Packer| {
                if tuples {
                    addrtuples(p, "web", &all).map(|_| ())
                } else {
                    hostent(p, "web", &aliases, &all[1..]).map(|_| ())
                }
            };
            for shift in 0..8 {
                // A start whose address is `shift` past a multiple of 8.
                let start = |v: &[u8]| (shift + 8 - v.as_ptr() as usize % 8) % 8;
                let mut big = vec![0u8; 1024];
                let s0 = start(&big);
                let base = big[s0..].as_ptr() as usize;
                let mut p = Packer::new(&mut big[s0..], base);
                pack(&mut p).unwrap();
                let need = p.used();
                for len in 0..=need {
                    let mut storage = vec![0x5au8; len + 9];
                    let s0 = start(&storage);
                    let (buf, guard) = storage[s0..].split_at_mut(len);
                    let base = buf.as_ptr() as usize;
                    let want = if len < need { Err(TooSmall) } else { Ok(()) };
                    assert_eq!(pack(&mut Packer::new(buf, base)), want, "{len}");
                    assert_eq!(guard[0], 0x5a);
                }
            }
        }
    }

    #[test]
    fn the_tuple_is_glibcs() {
        // <nss.h> on LP64: next, name, family, addr[4], scopeid.
        if size_of::<usize>() == 8 {
            assert_eq!(size_of::<GaihAddrtuple>(), 40);
            assert_eq!(offset_of!(GaihAddrtuple, family), 16);
            assert_eq!(offset_of!(GaihAddrtuple, addr), 20);
            assert_eq!(offset_of!(GaihAddrtuple, scopeid), 36);
        }
    }
}
