//! The glibc NSS entry points, `_nss_mcc_*` (glibc manual, "Adding another Service to
//! NSS"; `<nss.h>`): the only unsafe code of the module besides four libc calls in
//! [`crate::client`]. Each entry point reads its arguments, asks the daemon, packs the
//! answer with [`crate::pack`] and only then writes the caller's result, so a failed call
//! leaves `*result` and `*pat` as they were.
//!
//! Status and error conventions, as glibc's callers read them:
//! - found: `NSS_STATUS_SUCCESS`;
//! - no such host: `NSS_STATUS_NOTFOUND`, `errno` ENOENT, `h_errno` HOST_NOT_FOUND (a known
//!   host without an address of the family asked: NO_DATA);
//! - the buffer is too small: `NSS_STATUS_TRYAGAIN`, ERANGE, NETDB_INTERNAL (the caller
//!   retries with a larger buffer; getaddrinfo checks all three);
//! - the daemon is down, stuck, refuses or is not trusted: `NSS_STATUS_UNAVAIL`, the cause's
//!   errno, NO_RECOVERY, so nsswitch.conf's next source (`dns`) is asked.
//!
//! A panic (a bug) never unwinds into the caller's C frames: it is caught and reported as
//! UNAVAIL.

use crate::client;
use crate::host::{HostEntry, Outcome, Request};
use crate::pack::{self, GaihAddrtuple, Packer, TooSmall};
use std::ffi::{CStr, c_char, c_int, c_void};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

// enum nss_status
const NSS_STATUS_TRYAGAIN: c_int = -2;
const NSS_STATUS_UNAVAIL: c_int = -1;
const NSS_STATUS_NOTFOUND: c_int = 0;
const NSS_STATUS_SUCCESS: c_int = 1;
// h_errno values (<netdb.h>)
const NETDB_INTERNAL: c_int = -1;
const HOST_NOT_FOUND: c_int = 1;
const NO_RECOVERY: c_int = 3;
const NO_DATA: c_int = 4;

/// Why a lookup did not succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fail {
    NotFound,
    NoData,
    TooSmall,
    Unavailable(c_int),
}

impl From<TooSmall> for Fail {
    fn from(_: TooSmall) -> Self {
        Fail::TooSmall
    }
}

/// The caller's error slots.
struct Errors {
    errnop: *mut c_int,
    h_errnop: *mut c_int,
}

impl Errors {
    /// Runs `f` (catching a panic) and reports its result the NSS way.
    fn report(self, f: impl FnOnce() -> Result<(), Fail>) -> c_int {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            .unwrap_or(Err(Fail::Unavailable(libc::EIO)));
        let (status, errno, h_errno) = match r {
            Ok(()) => return NSS_STATUS_SUCCESS,
            Err(Fail::NotFound) => (NSS_STATUS_NOTFOUND, libc::ENOENT, HOST_NOT_FOUND),
            Err(Fail::NoData) => (NSS_STATUS_NOTFOUND, libc::ENOENT, NO_DATA),
            Err(Fail::TooSmall) => (NSS_STATUS_TRYAGAIN, libc::ERANGE, NETDB_INTERNAL),
            Err(Fail::Unavailable(e)) => (NSS_STATUS_UNAVAIL, e, NO_RECOVERY),
        };
        // SAFETY: glibc passes valid `int *` slots (checked for NULL all the same).
        unsafe {
            if !self.errnop.is_null() {
                *self.errnop = errno;
            }
            if !self.h_errnop.is_null() {
                *self.h_errnop = h_errno;
            }
        }
        status
    }
}

/// Asks the daemon; an answer without a host is NotFound.
fn lookup(path: &Path, req: &Request) -> Result<HostEntry, Fail> {
    match client::ask(path, req) {
        Outcome::Found(e) => Ok(e),
        Outcome::NotFound => Err(Fail::NotFound),
        Outcome::Unavailable(errno) => Err(Fail::Unavailable(errno)),
    }
}

/// The name argument as text; a name that is not UTF-8 is no name of ours.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string that outlives the call.
unsafe fn name_arg<'a>(name: *const c_char) -> Result<&'a str, Fail> {
    if name.is_null() {
        return Err(Fail::NotFound);
    }
    // SAFETY: per this function's contract.
    let name = unsafe { CStr::from_ptr(name) };
    name.to_str().map_err(|_| Fail::NotFound)
}

/// The caller's buffer as a slice.
///
/// # Safety
/// `buffer` is NULL or valid for writes of `buflen` bytes for the call, used by nothing
/// else meanwhile.
unsafe fn buffer_arg<'a>(buffer: *mut c_char, buflen: usize) -> &'a mut [u8] {
    if buffer.is_null() || buflen == 0 {
        return &mut [];
    }
    // SAFETY: per this function's contract.
    unsafe { std::slice::from_raw_parts_mut(buffer.cast::<u8>(), buflen) }
}

/// Packs `addrs` (of family `af`) of `e` into `buffer` and fills `*result`.
///
/// # Safety
/// As [`buffer_arg`]; `result` is valid for writes.
unsafe fn fill_hostent(
    e: &HostEntry,
    addrs: &[IpAddr],
    af: c_int,
    result: *mut libc::hostent,
    buffer: *mut c_char,
    buflen: usize,
) -> Result<*mut c_char, Fail> {
    if addrs.is_empty() {
        return Err(Fail::NoData);
    }
    // SAFETY: per this function's contract.
    let buf = unsafe { buffer_arg(buffer, buflen) };
    let mut p = Packer::new(buf, buffer as usize);
    let h = pack::hostent(&mut p, &e.name, &e.aliases, addrs)?;
    let at = |off: usize| buffer.wrapping_add(off);
    // SAFETY: `result` is valid for writes; the offsets are inside the buffer just packed.
    unsafe {
        *result = libc::hostent {
            h_name: at(h.name),
            h_aliases: at(h.aliases).cast(),
            h_addrtype: af,
            h_length: if af == libc::AF_INET6 { 16 } else { 4 },
            h_addr_list: at(h.addr_list).cast(),
        };
    }
    Ok(at(h.name))
}

/// `gethostbyname4_r`, against the daemon at `path`.
///
/// # Safety
/// glibc's contract for `_nss_*_gethostbyname4_r`: `name` a C string, `pat` valid and
/// `*pat` NULL or a tuple to fill first, `buffer` valid for `buflen` bytes, `errnop` and
/// `h_errnop` valid, `ttlp` NULL or valid.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gethostbyname4(
    path: &Path,
    name: *const c_char,
    pat: *mut *mut GaihAddrtuple,
    buffer: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
    h_errnop: *mut c_int,
    ttlp: *mut i32,
) -> c_int {
    Errors { errnop, h_errnop }.report(|| {
        // SAFETY: per this function's contract.
        let name = unsafe { name_arg(name) }?;
        let e = lookup(path, &Request::HostByName { name })?;
        // IPv6 first, as getaddrinfo asks the older interfaces; it sorts them anyway.
        let addrs: Vec<IpAddr> = (e.ipv6.iter().copied().map(IpAddr::V6))
            .chain(e.ipv4.iter().copied().map(IpAddr::V4))
            .collect();
        if addrs.is_empty() {
            return Err(Fail::NoData);
        }
        // SAFETY: per this function's contract.
        let buf = unsafe { buffer_arg(buffer, buflen) };
        let mut p = Packer::new(buf, buffer as usize);
        let first = pack::addrtuples(&mut p, &e.name, &addrs)?;
        let first = buffer.wrapping_add(first).cast::<GaihAddrtuple>();
        // SAFETY: `pat` is valid; a non-NULL `*pat` is a tuple the caller owns (older glibc
        // passes one and expects the first answer in it); `first` is the aligned tuple just
        // packed, which does not overlap the caller's.
        unsafe {
            if (*pat).is_null() {
                *pat = first;
            } else {
                std::ptr::copy_nonoverlapping(first, *pat, 1);
            }
            if !ttlp.is_null() {
                *ttlp = ttl(&e);
            }
        }
        Ok(())
    })
}

/// `gethostbyname3_r` (and 2 and 1) for family `af`, against the daemon at `path`.
///
/// # Safety
/// glibc's contract for `_nss_*_gethostbyname3_r`: `name` a C string, `result` valid,
/// `buffer` valid for `buflen` bytes, `errnop`, `h_errnop` valid, `ttlp`, `canonp` NULL or
/// valid.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gethostbyname3(
    path: &Path,
    name: *const c_char,
    af: c_int,
    result: *mut libc::hostent,
    buffer: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
    h_errnop: *mut c_int,
    ttlp: *mut i32,
    canonp: *mut *mut c_char,
) -> c_int {
    Errors { errnop, h_errnop }.report(|| {
        if af != libc::AF_INET && af != libc::AF_INET6 {
            return Err(Fail::Unavailable(libc::EAFNOSUPPORT));
        }
        // SAFETY: per this function's contract.
        let name = unsafe { name_arg(name) }?;
        let e = lookup(path, &Request::HostByName { name })?;
        let addrs: Vec<IpAddr> = if af == libc::AF_INET6 {
            e.ipv6.iter().copied().map(IpAddr::V6).collect()
        } else {
            e.ipv4.iter().copied().map(IpAddr::V4).collect()
        };
        // SAFETY: per this function's contract.
        let canon = unsafe { fill_hostent(&e, &addrs, af, result, buffer, buflen) }?;
        // SAFETY: NULL or valid, per this function's contract.
        unsafe {
            if !ttlp.is_null() {
                *ttlp = ttl(&e);
            }
            if !canonp.is_null() {
                *canonp = canon;
            }
        }
        Ok(())
    })
}

/// `gethostbyaddr2_r` (and 1), against the daemon at `path`.
///
/// # Safety
/// glibc's contract for `_nss_*_gethostbyaddr2_r`: `addr` valid for `len` bytes, `result`
/// valid, `buffer` valid for `buflen` bytes, `errnop`, `h_errnop` valid, `ttlp` NULL or
/// valid.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gethostbyaddr2(
    path: &Path,
    addr: *const c_void,
    len: libc::socklen_t,
    af: c_int,
    result: *mut libc::hostent,
    buffer: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
    h_errnop: *mut c_int,
    ttlp: *mut i32,
) -> c_int {
    Errors { errnop, h_errnop }.report(|| {
        let want = match af {
            libc::AF_INET => 4,
            libc::AF_INET6 => 16,
            _ => return Err(Fail::Unavailable(libc::EAFNOSUPPORT)),
        };
        if addr.is_null() || (len as usize) < want {
            return Err(Fail::Unavailable(libc::EINVAL));
        }
        // SAFETY: `addr` is valid for `len` bytes, at least `want`.
        let bytes = unsafe { std::slice::from_raw_parts(addr.cast::<u8>(), want) };
        let ip = if want == 4 {
            IpAddr::V4(Ipv4Addr::from(
                <[u8; 4]>::try_from(bytes).unwrap_or_default(),
            ))
        } else {
            IpAddr::V6(Ipv6Addr::from(
                <[u8; 16]>::try_from(bytes).unwrap_or_default(),
            ))
        };
        let text = ip.to_string();
        let e = lookup(path, &Request::HostByAddress { address: &text })?;
        // The address list is the address asked, as for every gethostbyaddr.
        // SAFETY: per this function's contract.
        unsafe { fill_hostent(&e, &[ip], af, result, buffer, buflen) }?;
        if !ttlp.is_null() {
            // SAFETY: valid, per this function's contract.
            unsafe { *ttlp = ttl(&e) };
        }
        Ok(())
    })
}

fn ttl(e: &HostEntry) -> i32 {
    i32::try_from(e.ttl).unwrap_or(i32::MAX)
}

// The exported symbols: the same with the socket of `MCC_UNIX_SOCKET_PATH`. Their safety
// contract is glibc's, as documented on the functions above.

/// # Safety
/// See [`gethostbyname4`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_mcc_gethostbyname4_r(
    name: *const c_char,
    pat: *mut *mut GaihAddrtuple,
    buffer: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
    h_errnop: *mut c_int,
    ttlp: *mut i32,
) -> c_int {
    let path = client::socket_path();
    // SAFETY: the caller's contract is glibc's, as `gethostbyname4` requires.
    unsafe { gethostbyname4(&path, name, pat, buffer, buflen, errnop, h_errnop, ttlp) }
}

/// # Safety
/// See [`gethostbyname3`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_mcc_gethostbyname3_r(
    name: *const c_char,
    af: c_int,
    result: *mut libc::hostent,
    buffer: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
    h_errnop: *mut c_int,
    ttlp: *mut i32,
    canonp: *mut *mut c_char,
) -> c_int {
    let path = client::socket_path();
    // SAFETY: as required by `gethostbyname3`.
    unsafe {
        gethostbyname3(
            &path, name, af, result, buffer, buflen, errnop, h_errnop, ttlp, canonp,
        )
    }
}

/// # Safety
/// See [`gethostbyname3`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_mcc_gethostbyname2_r(
    name: *const c_char,
    af: c_int,
    result: *mut libc::hostent,
    buffer: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
    h_errnop: *mut c_int,
) -> c_int {
    let path = client::socket_path();
    let (ttlp, canonp) = (std::ptr::null_mut(), std::ptr::null_mut());
    // SAFETY: as required by `gethostbyname3`; the optional slots are NULL.
    unsafe {
        gethostbyname3(
            &path, name, af, result, buffer, buflen, errnop, h_errnop, ttlp, canonp,
        )
    }
}

/// # Safety
/// See [`gethostbyname3`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_mcc_gethostbyname_r(
    name: *const c_char,
    result: *mut libc::hostent,
    buffer: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
    h_errnop: *mut c_int,
) -> c_int {
    let path = client::socket_path();
    let (ttlp, canonp) = (std::ptr::null_mut(), std::ptr::null_mut());
    // SAFETY: as required by `gethostbyname3`; the optional slots are NULL.
    unsafe {
        gethostbyname3(
            &path,
            name,
            libc::AF_INET,
            result,
            buffer,
            buflen,
            errnop,
            h_errnop,
            ttlp,
            canonp,
        )
    }
}

/// # Safety
/// See [`gethostbyaddr2`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_mcc_gethostbyaddr2_r(
    addr: *const c_void,
    len: libc::socklen_t,
    af: c_int,
    result: *mut libc::hostent,
    buffer: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
    h_errnop: *mut c_int,
    ttlp: *mut i32,
) -> c_int {
    let path = client::socket_path();
    // SAFETY: as required by `gethostbyaddr2`.
    unsafe {
        gethostbyaddr2(
            &path, addr, len, af, result, buffer, buflen, errnop, h_errnop, ttlp,
        )
    }
}

/// # Safety
/// See [`gethostbyaddr2`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_mcc_gethostbyaddr_r(
    addr: *const c_void,
    len: libc::socklen_t,
    af: c_int,
    result: *mut libc::hostent,
    buffer: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
    h_errnop: *mut c_int,
) -> c_int {
    let path = client::socket_path();
    // SAFETY: as required by `gethostbyaddr2`; no TTL slot.
    unsafe {
        gethostbyaddr2(
            &path,
            addr,
            len,
            af,
            result,
            buffer,
            buflen,
            errnop,
            h_errnop,
            std::ptr::null_mut(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::tests::fake_daemon;
    use std::ffi::CString;
    use std::path::PathBuf;
    use std::ptr::null_mut;

    /// A daemon that knows `web` (one provider, both families), and `10.83.0.5`.
    fn daemon(dir: &Path) -> PathBuf {
        let path = dir.join("mcc.sock");
        fake_daemon(&path, |line| {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            let found = match (v["cmd"].as_str(), v["name"].as_str(), v["address"].as_str()) {
                (Some("host-by-name"), Some("web"), _) => Some(serde_json::json!({
                    "name": "web", "aliases": [], "ipv4": ["10.83.0.5"],
                    "ipv6": ["200::5"], "ttl": 9,
                })),
                (Some("host-by-address"), _, Some("10.83.0.5")) => Some(serde_json::json!({
                    "name": "n.home.arpa", "aliases": ["web.home.arpa"],
                    "ipv4": ["10.83.0.5"], "ipv6": ["200::5"], "ttl": 9,
                })),
                _ => None,
            };
            let result = found.unwrap_or(serde_json::Value::Null);
            Some(format!(
                "{}\n",
                serde_json::json!({"version": 1, "ok": true, "result": result})
            ))
        });
        path
    }

    fn zeroed_hostent() -> libc::hostent {
        libc::hostent {
            h_name: null_mut(),
            h_aliases: null_mut(),
            h_addrtype: 0,
            h_length: 0,
            h_addr_list: null_mut(),
        }
    }

    /// The C strings of a NULL-terminated array.
    unsafe fn strings(mut p: *mut *mut c_char) -> Vec<String> {
        let mut out = Vec::new();
        // SAFETY: the caller passes an array packed by this module.
        unsafe {
            while !(*p).is_null() {
                out.push(CStr::from_ptr(*p).to_str().unwrap().to_string());
                p = p.add(1);
            }
        }
        out
    }

    unsafe fn tuples(mut t: *const GaihAddrtuple) -> Vec<(String, IpAddr)> {
        let mut out = Vec::new();
        // SAFETY: the caller passes a list packed by this module.
        unsafe {
            while !t.is_null() {
                let name = CStr::from_ptr((*t).name).to_str().unwrap().to_string();
                let bytes: [u8; 16] = std::mem::transmute((*t).addr);
                let ip = match (*t).family {
                    libc::AF_INET => {
                        IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(&bytes[..4]).unwrap()))
                    }
                    _ => IpAddr::V6(Ipv6Addr::from(bytes)),
                };
                out.push((name, ip));
                t = (*t).next;
            }
        }
        out
    }

    fn want_both() -> Vec<(String, IpAddr)> {
        vec![
            ("web".into(), "200::5".parse().unwrap()),
            ("web".into(), "10.83.0.5".parse().unwrap()),
        ]
    }

    #[test]
    fn gethostbyname4_fills_a_list_or_the_callers_first_tuple() {
        let dir = tempfile::tempdir().unwrap();
        let path = daemon(dir.path());
        let name = CString::new("web").unwrap();
        let mut buf = vec![0 as c_char; 1024];
        let (mut errno, mut herr, mut ttl) = (0, 0, 0);
        let mut pat: *mut GaihAddrtuple = null_mut();
        // SAFETY: every pointer is valid for the call.
        let s = unsafe {
            gethostbyname4(
                &path,
                name.as_ptr(),
                &mut pat,
                buf.as_mut_ptr(),
                buf.len(),
                &mut errno,
                &mut herr,
                &mut ttl,
            )
        };
        assert_eq!(s, NSS_STATUS_SUCCESS);
        assert_eq!(ttl, 9);
        // SAFETY: packed by the call.
        assert_eq!(unsafe { tuples(pat) }, want_both());
        // Older glibc hands over a tuple of its own for the first address.
        let mut own = GaihAddrtuple {
            next: null_mut(),
            name: null_mut(),
            family: 0,
            addr: [0; 4],
            scopeid: 7,
        };
        let mut pat: *mut GaihAddrtuple = &mut own;
        // SAFETY: as above; `own` outlives the call.
        let s = unsafe {
            gethostbyname4(
                &path,
                name.as_ptr(),
                &mut pat,
                buf.as_mut_ptr(),
                buf.len(),
                &mut errno,
                &mut herr,
                null_mut(),
            )
        };
        assert_eq!(s, NSS_STATUS_SUCCESS);
        assert!(std::ptr::eq(pat, &own));
        assert_eq!(own.scopeid, 0);
        // SAFETY: `own` now heads the packed list.
        assert_eq!(unsafe { tuples(&own) }, want_both());
    }

    #[test]
    fn short_buffers_ask_for_more_and_touch_no_result() {
        let dir = tempfile::tempdir().unwrap();
        let path = daemon(dir.path());
        let name = CString::new("web").unwrap();
        let (mut errno, mut herr) = (0, 0);
        // gethostbyname4_r, as getaddrinfo calls it: grow until it fits.
        let mut len = 1;
        let fitted = loop {
            let mut buf = vec![0 as c_char; len];
            let mut pat: *mut GaihAddrtuple = null_mut();
            // SAFETY: every pointer is valid for the call.
            let s = unsafe {
                gethostbyname4(
                    &path,
                    name.as_ptr(),
                    &mut pat,
                    buf.as_mut_ptr(),
                    len,
                    &mut errno,
                    &mut herr,
                    null_mut(),
                )
            };
            if s == NSS_STATUS_SUCCESS {
                // SAFETY: packed by the call into `buf`, still alive.
                assert_eq!(unsafe { tuples(pat) }, want_both());
                break len;
            }
            assert_eq!(
                (s, errno, herr),
                (NSS_STATUS_TRYAGAIN, libc::ERANGE, NETDB_INTERNAL)
            );
            assert!(pat.is_null());
            len += 1;
        };
        assert!(fitted > 80 && fitted < 200, "{fitted}");
        // gethostbyname3_r: the same with a hostent, which keeps its old contents.
        let mut h = zeroed_hostent();
        h.h_length = 99;
        let mut buf = vec![0 as c_char; 8];
        // SAFETY: every pointer is valid for the call.
        let s = unsafe {
            gethostbyname3(
                &path,
                name.as_ptr(),
                libc::AF_INET,
                &mut h,
                buf.as_mut_ptr(),
                buf.len(),
                &mut errno,
                &mut herr,
                null_mut(),
                null_mut(),
            )
        };
        assert_eq!(
            (s, errno, herr),
            (NSS_STATUS_TRYAGAIN, libc::ERANGE, NETDB_INTERNAL)
        );
        assert_eq!(h.h_length, 99);
        assert!(h.h_name.is_null());
    }

    #[test]
    fn gethostbyname3_answers_one_family() {
        let dir = tempfile::tempdir().unwrap();
        let path = daemon(dir.path());
        let name = CString::new("web").unwrap();
        let mut buf = vec![0 as c_char; 512];
        let (mut errno, mut herr, mut ttl) = (0, 0, 0);
        for (af, len, want) in [
            (libc::AF_INET6, 16, "200::5"),
            (libc::AF_INET, 4, "10.83.0.5"),
        ] {
            let mut h = zeroed_hostent();
            let mut canon: *mut c_char = null_mut();
            // SAFETY: every pointer is valid for the call.
            let s = unsafe {
                gethostbyname3(
                    &path,
                    name.as_ptr(),
                    af,
                    &mut h,
                    buf.as_mut_ptr(),
                    buf.len(),
                    &mut errno,
                    &mut herr,
                    &mut ttl,
                    &mut canon,
                )
            };
            assert_eq!(s, NSS_STATUS_SUCCESS);
            assert_eq!((h.h_addrtype, h.h_length, ttl), (af, len, 9));
            assert_eq!(canon, h.h_name);
            // SAFETY: packed by the call.
            unsafe {
                assert_eq!(CStr::from_ptr(h.h_name).to_str().unwrap(), "web");
                assert!(strings(h.h_aliases).is_empty());
                let a = *h.h_addr_list;
                let ip = if af == libc::AF_INET6 {
                    IpAddr::V6(Ipv6Addr::from(*a.cast::<[u8; 16]>()))
                } else {
                    IpAddr::V4(Ipv4Addr::from(*a.cast::<[u8; 4]>()))
                };
                assert_eq!(ip, want.parse::<IpAddr>().unwrap());
                assert!((*h.h_addr_list.add(1)).is_null());
            }
        }
        let mut h = zeroed_hostent();
        // SAFETY: every pointer is valid for the call.
        let s = unsafe {
            gethostbyname3(
                &path,
                name.as_ptr(),
                libc::AF_UNIX,
                &mut h,
                buf.as_mut_ptr(),
                buf.len(),
                &mut errno,
                &mut herr,
                null_mut(),
                null_mut(),
            )
        };
        assert_eq!(
            (s, errno, herr),
            (NSS_STATUS_UNAVAIL, libc::EAFNOSUPPORT, NO_RECOVERY)
        );
    }

    #[test]
    fn unknown_names_are_not_found_and_a_missing_daemon_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let path = daemon(dir.path());
        let mut buf = vec![0 as c_char; 512];
        let (mut errno, mut herr) = (0, 0);
        for (path, name, want) in [
            (
                path.clone(),
                "nope",
                (NSS_STATUS_NOTFOUND, libc::ENOENT, HOST_NOT_FOUND),
            ),
            (
                dir.path().join("gone"),
                "web",
                (NSS_STATUS_UNAVAIL, libc::ENOENT, NO_RECOVERY),
            ),
        ] {
            let name = CString::new(name).unwrap();
            let mut pat: *mut GaihAddrtuple = null_mut();
            // SAFETY: every pointer is valid for the call.
            let s = unsafe {
                gethostbyname4(
                    &path,
                    name.as_ptr(),
                    &mut pat,
                    buf.as_mut_ptr(),
                    buf.len(),
                    &mut errno,
                    &mut herr,
                    null_mut(),
                )
            };
            assert_eq!((s, errno, herr), want);
            assert!(pat.is_null());
        }
        // A name that is not UTF-8 is none of ours, and the daemon is not asked.
        let name = CString::new(vec![0xff, 0xfe]).unwrap();
        let mut h = zeroed_hostent();
        // SAFETY: every pointer is valid for the call.
        let s = unsafe {
            gethostbyname3(
                &dir.path().join("gone"),
                name.as_ptr(),
                libc::AF_INET,
                &mut h,
                buf.as_mut_ptr(),
                buf.len(),
                &mut errno,
                &mut herr,
                null_mut(),
                null_mut(),
            )
        };
        assert_eq!((s, herr), (NSS_STATUS_NOTFOUND, HOST_NOT_FOUND));
    }

    #[test]
    fn gethostbyaddr_names_the_address() {
        let dir = tempfile::tempdir().unwrap();
        let path = daemon(dir.path());
        let mut buf = vec![0 as c_char; 512];
        let (mut errno, mut herr, mut ttl) = (0, 0, 0);
        let a = [10u8, 83, 0, 5];
        let mut h = zeroed_hostent();
        // SAFETY: every pointer is valid for the call.
        let s = unsafe {
            gethostbyaddr2(
                &path,
                a.as_ptr().cast(),
                4,
                libc::AF_INET,
                &mut h,
                buf.as_mut_ptr(),
                buf.len(),
                &mut errno,
                &mut herr,
                &mut ttl,
            )
        };
        assert_eq!(s, NSS_STATUS_SUCCESS);
        assert_eq!((h.h_addrtype, h.h_length, ttl), (libc::AF_INET, 4, 9));
        // SAFETY: packed by the call.
        unsafe {
            assert_eq!(CStr::from_ptr(h.h_name).to_str().unwrap(), "n.home.arpa");
            assert_eq!(strings(h.h_aliases), ["web.home.arpa"]);
            assert_eq!(*(*h.h_addr_list).cast::<[u8; 4]>(), a);
            assert!((*h.h_addr_list.add(1)).is_null());
        }
        let other = [10u8, 83, 0, 6];
        // SAFETY: every pointer is valid for the call.
        let s = unsafe {
            gethostbyaddr2(
                &path,
                other.as_ptr().cast(),
                4,
                libc::AF_INET,
                &mut h,
                buf.as_mut_ptr(),
                buf.len(),
                &mut errno,
                &mut herr,
                null_mut(),
            )
        };
        assert_eq!((s, herr), (NSS_STATUS_NOTFOUND, HOST_NOT_FOUND));
        // Too short for the family.
        // SAFETY: every pointer is valid for the call (3 bytes are read at most).
        let s = unsafe {
            gethostbyaddr2(
                &path,
                a.as_ptr().cast(),
                3,
                libc::AF_INET,
                &mut h,
                buf.as_mut_ptr(),
                buf.len(),
                &mut errno,
                &mut herr,
                null_mut(),
            )
        };
        assert_eq!((s, errno), (NSS_STATUS_UNAVAIL, libc::EINVAL));
    }
}
