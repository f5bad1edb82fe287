//! The utun device (macOS only): a `PF_SYSTEM`/`SYSPROTO_CONTROL` socket connected to the
//! `com.apple.net.utun_control` kernel control at unit N + 1 for `utunN`, read and written
//! through tokio's `AsyncFd` with the 4-byte address-family header of [`crate::frame`].
//! The kernel removes the interface and its routes when the socket closes, so a stopped
//! daemon leaves nothing behind.
//!
//! Not compiled or run on the Linux machines this crate is developed on; see the README.

use crate::commands::{self, TunSpec};
use crate::frame::{self, HEADER_LEN};
use mcc_std::tun::TunDevice;
use std::ffi::CStr;
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::Command;
use tokio::io::unix::AsyncFd;

/// The kernel control that creates utun interfaces.
pub const UTUN_CONTROL_NAME: &str = "com.apple.net.utun_control";

pub struct UtunTun {
    fd: AsyncFd<OwnedFd>,
    /// The interface's name as the kernel reports it.
    pub name: String,
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn cvt_size(r: libc::ssize_t) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// Opens `utun<unit>` as a non-blocking, close-on-exec socket.
fn open_utun(unit: u32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscalls on a descriptor this function owns; every pointer passed
    // points to a live local of the size passed with it.
    unsafe {
        let raw = cvt(libc::socket(
            libc::PF_SYSTEM,
            libc::SOCK_DGRAM,
            libc::SYSPROTO_CONTROL,
        ))?;
        let fd = OwnedFd::from_raw_fd(raw);
        cvt(libc::fcntl(raw, libc::F_SETFD, libc::FD_CLOEXEC))?;

        let mut info: libc::ctl_info = zeroed();
        for (dst, &src) in info.ctl_name.iter_mut().zip(UTUN_CONTROL_NAME.as_bytes()) {
            *dst = src as libc::c_char;
        }
        cvt(libc::ioctl(
            raw,
            libc::CTLIOCGINFO,
            &mut info as *mut libc::ctl_info,
        ))?;

        let mut addr: libc::sockaddr_ctl = zeroed();
        addr.sc_len = size_of::<libc::sockaddr_ctl>() as libc::c_uchar;
        addr.sc_family = libc::AF_SYSTEM as libc::c_uchar;
        addr.ss_sysaddr = libc::AF_SYS_CONTROL as u16;
        addr.sc_id = info.ctl_id;
        addr.sc_unit = unit + 1;
        cvt(libc::connect(
            raw,
            &addr as *const libc::sockaddr_ctl as *const libc::sockaddr,
            size_of::<libc::sockaddr_ctl>() as libc::socklen_t,
        ))?;

        let flags = cvt(libc::fcntl(raw, libc::F_GETFL))?;
        cvt(libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK))?;
        Ok(fd)
    }
}

/// The interface name the kernel gave the socket (`UTUN_OPT_IFNAME`).
fn ifname(fd: RawFd) -> io::Result<String> {
    let mut buf = [0u8; 64];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: buf and len are live locals; the kernel writes at most len bytes.
    cvt(unsafe {
        libc::getsockopt(
            fd,
            libc::SYSPROTO_CONTROL,
            libc::UTUN_OPT_IFNAME,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    })?;
    let name = CStr::from_bytes_until_nul(&buf)
        .map_err(|_| io::Error::other("UTUN_OPT_IFNAME: name not terminated"))?;
    Ok(name.to_string_lossy().into_owned())
}

/// Runs one command (an argv list from [`commands::commands`]); its stderr becomes the error.
pub fn run_command(argv: &[String]) -> io::Result<()> {
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| io::Error::other("empty command"))?;
    let out = Command::new(prog).args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{}: {}",
            argv.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl UtunTun {
    /// Opens `utunN` without configuring it. Must be called inside a tokio runtime.
    pub fn open(name: &str) -> io::Result<Self> {
        let unit = commands::utun_unit(name).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name}: not a utunN name"),
            )
        })?;
        let fd = open_utun(unit).map_err(|e| match e.raw_os_error() {
            Some(libc::EBUSY) => io::Error::other(format!("{name} is in use: {e}")),
            Some(libc::EPERM) | Some(libc::EACCES) => {
                io::Error::other(format!("{name}: needs root: {e}"))
            }
            _ => io::Error::other(format!("utun device {name}: {e}")),
        })?;
        let name = ifname(fd.as_raw_fd()).unwrap_or_else(|_| name.to_string());
        // SAFETY: the OwnedFd is an open socket that the AsyncFd owns until it drops.
        let fd = unsafe { AsyncFd::register(fd) }?;
        Ok(UtunTun { fd, name })
    }

    /// Opens the device and runs [`commands::commands`] for it: addresses, MTU, routes.
    pub fn create(s: &TunSpec) -> io::Result<Self> {
        let tun = Self::open(&s.name)?;
        let mut s = s.clone();
        s.name = tun.name.clone();
        for argv in commands::commands(&s) {
            run_command(&argv)?;
        }
        Ok(tun)
    }
}

impl TunDevice for UtunTun {
    /// The next IPv4/IPv6 packet, header stripped. Frames whose header does not match
    /// their packet are dropped (an error here would stop the daemon).
    async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            let mut hdr = [0u8; HEADER_LEN];
            let res = guard.try_io(|fd| {
                let iov = [
                    libc::iovec {
                        iov_base: hdr.as_mut_ptr().cast(),
                        iov_len: HEADER_LEN,
                    },
                    libc::iovec {
                        iov_base: buf.as_mut_ptr().cast(),
                        iov_len: buf.len(),
                    },
                ];
                // SAFETY: both iovecs point to live, writable buffers of the given length.
                cvt_size(unsafe { libc::readv(fd.as_raw_fd(), iov.as_ptr(), 2) })
            });
            let n = match res {
                Ok(Ok(n)) => n,
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            };
            let len = n.saturating_sub(HEADER_LEN);
            match frame::check(hdr, &buf[..len]) {
                Ok(()) => return Ok(len),
                Err(e) => tracing::debug!("{}: dropped frame: {e}", self.name),
            }
        }
    }

    /// Sends one IPv4/IPv6 packet with its address-family header; returns the packet's
    /// length (without the header).
    async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        let hdr = frame::header(buf).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "not an IPv4/IPv6 packet")
        })?;
        loop {
            let mut guard = self.fd.writable().await?;
            let res = guard.try_io(|fd| {
                let iov = [
                    libc::iovec {
                        iov_base: hdr.as_ptr() as *mut libc::c_void,
                        iov_len: HEADER_LEN,
                    },
                    libc::iovec {
                        iov_base: buf.as_ptr() as *mut libc::c_void,
                        iov_len: buf.len(),
                    },
                ];
                // SAFETY: both iovecs point to live buffers of the given length; writev
                // only reads them.
                cvt_size(unsafe { libc::writev(fd.as_raw_fd(), iov.as_ptr(), 2) })
            });
            match res {
                Ok(Ok(n)) => return Ok(n.saturating_sub(HEADER_LEN)),
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}
