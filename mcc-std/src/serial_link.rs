//! Links over serial lines (`serial-links = /dev/ttyUSB0@115200, ...`): each device is
//! opened in raw mode at its baud rate and handed to [`StreamLinks`] as a byte stream
//! standing for a synthetic address, [`serial_addr`]`(i)` for the `i`-th line. The node
//! at the other end (a microcontroller without an IP stack, `examples/mcu-node --serial`)
//! links exactly as over UDP: the core sees its datagrams from that address and replies
//! to it, and the link layer's authentication decides as for any datagram.
//!
//! A line that fails (a USB adapter unplugged, an I/O error) is reopened every second
//! until it opens again; the link then recovers as after any silence.

use crate::stream_links::StreamLinks;
use std::io;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tracing::{info, warn};

/// One `serial-links` entry: `DEVICE@BAUD`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SerialLink {
    pub device: PathBuf,
    pub baud: u32,
}

/// The baud rates `serial-links` accepts (the standard termios rates).
pub const BAUDS: &[u32] = &[
    1200, 2400, 4800, 9600, 19_200, 38_400, 57_600, 115_200, 230_400, 460_800, 921_600, 1_000_000,
    2_000_000, 3_000_000, 4_000_000,
];

/// The address the core uses for serial line `i` (its index in `serial-links`):
/// `[fe80::6d63:5300:i]:1`. Link-local, so never a real UDP peer of the node (the core
/// accepts any address for a link peer; it only needs this one stable); `6d63:53` spells
/// "mcS".
pub fn serial_addr(i: usize) -> SocketAddr {
    let low = u16::try_from(i).unwrap_or(u16::MAX);
    SocketAddr::V6(SocketAddrV6::new(
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0x6d63, 0x5300, low),
        1,
        0,
        0,
    ))
}

/// Whether `addr` stands for a serial line.
pub fn is_serial_addr(addr: SocketAddr) -> bool {
    matches!(addr, SocketAddr::V6(a) if a.port() == 1
        && a.ip().segments()[..7] == [0xfe80, 0, 0, 0, 0, 0x6d63, 0x5300])
}

/// Sets both speeds of `t`. On Linux by hand, as glibc's `cfset[io]speed` do: the
/// static OpenWrt build cannot link those (their versioned symbols have no static
/// definition).
#[cfg(target_os = "linux")]
fn set_speed(t: &mut libc::termios, speed: libc::speed_t) -> io::Result<()> {
    t.c_cflag = (t.c_cflag & !libc::CBAUD) | speed;
    t.c_ispeed = speed;
    t.c_ospeed = speed;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn set_speed(t: &mut libc::termios, speed: libc::speed_t) -> io::Result<()> {
    // SAFETY: `t` is a valid termios the caller owns.
    if unsafe { libc::cfsetispeed(t, speed) != 0 || libc::cfsetospeed(t, speed) != 0 } {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A serial device in raw mode, non-blocking, driven by tokio's reactor.
pub struct SerialPort(AsyncFd<OwnedFd>);

#[cfg(any(target_os = "linux", target_os = "android"))]
fn speed(baud: u32) -> Option<libc::speed_t> {
    Some(match baud {
        1200 => libc::B1200,
        2400 => libc::B2400,
        4800 => libc::B4800,
        9600 => libc::B9600,
        19_200 => libc::B19200,
        38_400 => libc::B38400,
        57_600 => libc::B57600,
        115_200 => libc::B115200,
        230_400 => libc::B230400,
        460_800 => libc::B460800,
        921_600 => libc::B921600,
        1_000_000 => libc::B1000000,
        2_000_000 => libc::B2000000,
        3_000_000 => libc::B3000000,
        4_000_000 => libc::B4000000,
        _ => return None,
    })
}

/// BSD termios (macOS) takes the rate itself.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn speed(baud: u32) -> Option<libc::speed_t> {
    BAUDS.contains(&baud).then_some(baud as libc::speed_t)
}

impl SerialPort {
    /// Opens `device` read-write, non-blocking, not as the controlling terminal, and sets
    /// it raw: 8 data bits, no parity, one stop bit, no flow control, no echo or line
    /// editing, `baud` both ways. Must run inside the tokio runtime.
    pub fn open(device: &Path, baud: u32) -> io::Result<SerialPort> {
        let speed = speed(baud).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("baud rate {baud}"))
        })?;
        let path = std::ffi::CString::new(device.as_os_str().as_encoded_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in the path"))?;
        let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC;
        // SAFETY: a NUL-terminated path; the descriptor is owned from here on.
        let fd = unsafe { libc::open(path.as_ptr(), flags) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and belongs to nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: `t` is filled by tcgetattr before it is read; `fd` is open.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd.as_raw_fd(), &mut t) != 0 {
                return Err(io::Error::last_os_error());
            }
            libc::cfmakeraw(&mut t);
            t.c_cflag |= libc::CLOCAL | libc::CREAD;
            t.c_cflag &= !libc::CSTOPB;
            #[cfg(any(target_os = "linux", target_os = "android"))]
            {
                t.c_cflag &= !libc::CRTSCTS;
            }
            t.c_cc[libc::VMIN] = 1;
            t.c_cc[libc::VTIME] = 0;
            set_speed(&mut t, speed)?;
            if libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, &t) != 0 {
                return Err(io::Error::last_os_error());
            }
            // What arrived before the line was ours is noise to us.
            libc::tcflush(fd.as_raw_fd(), libc::TCIOFLUSH);
        }
        // SAFETY: the AsyncFd owns `fd`, which nothing else can close or replace.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(io::Error::from)?;
        Ok(SerialPort(fd))
    }
}

impl AsyncRead for SerialPort {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.0.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            let r = guard.try_io(|fd| {
                // SAFETY: `unfilled` is valid for its length.
                let n = unsafe {
                    libc::read(fd.as_raw_fd(), unfilled.as_mut_ptr().cast(), unfilled.len())
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match r {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for SerialPort {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.0.poll_write_ready(cx))?;
            let r = guard.try_io(|fd| {
                // SAFETY: `data` is valid for its length.
                let n = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match r {
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The serial lines of `serial-links` and what is known of each.
pub struct SerialLinks {
    lines: Vec<Line>,
}

struct Line {
    link: SerialLink,
    addr: SocketAddr,
    /// The damaged-frame count last logged (per stream: it restarts when reopened).
    damaged_logged: u64,
    /// Whether the last reopening failed (logged once, not every second).
    failing: bool,
}

impl SerialLinks {
    /// Opens every line and attaches it to `streams`; the error names the device.
    pub fn open(
        links: &[SerialLink],
        streams: &mut StreamLinks,
    ) -> Result<Self, (String, io::Error)> {
        let mut lines = Vec::with_capacity(links.len());
        for (i, link) in links.iter().enumerate() {
            let addr = serial_addr(i);
            let port = SerialPort::open(&link.device, link.baud)
                .map_err(|e| (format!("{}@{}", link.device.display(), link.baud), e))?;
            attach(streams, addr, port);
            info!(
                "serial link {}@{} up as {addr}",
                link.device.display(),
                link.baud
            );
            lines.push(Line {
                link: link.clone(),
                addr,
                damaged_logged: 0,
                failing: false,
            });
        }
        Ok(SerialLinks { lines })
    }

    /// Every second: reopens a line whose stream ended, and logs the damaged frames the
    /// deframer dropped since the last report (line noise; each one a resynchronisation).
    pub fn tick(&mut self, streams: &mut StreamLinks) {
        if self.lines.is_empty() {
            return;
        }
        let stats: Vec<_> = streams.stats().collect();
        for line in &mut self.lines {
            let name = line.link.device.display();
            match stats.iter().find(|(a, _)| *a == line.addr) {
                Some((_, s)) => {
                    if s.damaged > line.damaged_logged {
                        info!(
                            "serial link {name}: {} damaged frames dropped, resynchronised at the next delimiter ({} good in, {} out)",
                            s.damaged - line.damaged_logged,
                            s.frames_in,
                            s.frames_out
                        );
                        line.damaged_logged = s.damaged;
                    }
                }
                None => match SerialPort::open(&line.link.device, line.link.baud) {
                    Ok(port) => {
                        attach(streams, line.addr, port);
                        info!("serial link {name} reopened");
                        line.damaged_logged = 0;
                        line.failing = false;
                    }
                    Err(e) if !line.failing => {
                        warn!("serial link {name}: cannot reopen: {e}; retrying every second");
                        line.failing = true;
                    }
                    Err(_) => {}
                },
            }
        }
    }
}

fn attach(streams: &mut StreamLinks, addr: SocketAddr, port: SerialPort) {
    let (r, w) = tokio::io::split(port);
    streams.attach(addr, "serial", r, w);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn serial_addresses_are_distinct_and_recognised() {
        let a: Vec<_> = (0..4).map(serial_addr).collect();
        assert_eq!(a[0].to_string(), "[fe80::6d63:5300:0]:1");
        assert_eq!(a[3].to_string(), "[fe80::6d63:5300:3]:1");
        for (i, x) in a.iter().enumerate() {
            assert!(is_serial_addr(*x));
            assert!(a[i + 1..].iter().all(|y| y != x));
        }
        assert!(!is_serial_addr("[fe80::6d63:5300:0]:9376".parse().unwrap()));
        assert!(!is_serial_addr("10.0.0.1:1".parse().unwrap()));
    }

    #[test]
    fn every_accepted_baud_has_a_termios_speed() {
        for b in BAUDS {
            assert!(speed(*b).is_some(), "{b}");
        }
        assert!(speed(115_201).is_none());
    }

    /// A pty pair stands in for the cable: bytes written to the opened device reach the
    /// master and back, in raw mode (a cooked tty would echo and translate them).
    #[tokio::test]
    async fn a_pty_opens_raw_and_carries_bytes_both_ways() {
        // SAFETY: plain libc calls on descriptors owned here.
        let master = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY) };
        assert!(master >= 0);
        let name = unsafe {
            assert_eq!(libc::grantpt(master), 0);
            assert_eq!(libc::unlockpt(master), 0);
            std::ffi::CStr::from_ptr(libc::ptsname(master))
                .to_string_lossy()
                .into_owned()
        };
        let mut m = unsafe { tokio::fs::File::from_raw_fd(master) };
        let mut port = SerialPort::open(Path::new(&name), 115_200).unwrap();
        // Bytes a cooked line would change: CR, ^C, ^D, NUL, 0xFF.
        let data = [b'\r', 3, 4, 0, 0xff, b'\n', 0x11, 0x13];
        port.write_all(&data).await.unwrap();
        let mut got = [0u8; 8];
        m.read_exact(&mut got).await.unwrap();
        assert_eq!(got, data);
        m.write_all(&data).await.unwrap();
        m.flush().await.unwrap();
        let mut got = [0u8; 8];
        port.read_exact(&mut got).await.unwrap();
        assert_eq!(got, data);
        assert!(SerialPort::open(Path::new(&name), 115_201).is_err());
        assert!(SerialPort::open(Path::new("/nonexistent/tty"), 115_200).is_err());
    }
}
