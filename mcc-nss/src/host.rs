//! What the daemon answers to `host-by-name` and `host-by-address`: this crate's copy of
//! mcc-std's `control::HostEntry` and `control::Response` (a test checks that they agree),
//! so the module needs neither mcc-std nor its runtime.

use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The control protocol version spoken (mcc-std's `control::PROTOCOL_VERSION`).
pub const PROTOCOL_VERSION: u32 = 1;

/// A host: what a `struct hostent` holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostEntry {
    pub name: String,
    pub aliases: Vec<String>,
    pub ipv4: Vec<Ipv4Addr>,
    pub ipv6: Vec<Ipv6Addr>,
    pub ttl: u32,
}

impl HostEntry {
    /// Whether every name can be a C string (no NUL inside) and the entry is not empty.
    pub fn is_well_formed(&self) -> bool {
        let ok = |s: &String| !s.is_empty() && !s.contains('\0');
        ok(&self.name) && self.aliases.iter().all(ok)
    }
}

/// A request line of the control protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request<'a> {
    HostByName { name: &'a str },
    HostByAddress { address: &'a str },
}

#[derive(Serialize)]
struct Envelope<'a> {
    version: u32,
    #[serde(flatten)]
    request: &'a Request<'a>,
}

impl Request<'_> {
    /// The request as one line, newline included.
    pub fn line(&self) -> String {
        let mut line = serde_json::to_string(&Envelope {
            version: PROTOCOL_VERSION,
            request: self,
        })
        .unwrap_or_default(); // two string fields and a number: serializing cannot fail
        line.push('\n');
        line
    }
}

/// A response line.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub result: serde_json::Value,
}

/// What a lookup came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Found(HostEntry),
    /// The daemon knows no such host.
    NotFound,
    /// No answer from a trusted daemon (down, stuck, another user's socket, an error):
    /// the next NSS source should be asked. The `errno` to report.
    Unavailable(i32),
}

impl Outcome {
    /// Reads a response line.
    pub fn from_line(line: &[u8]) -> Outcome {
        let Ok(r) = serde_json::from_slice::<Response>(line) else {
            return Outcome::Unavailable(libc::EPROTO);
        };
        if !r.ok {
            // E.g. a daemon without these requests, or a busy socket.
            return Outcome::Unavailable(libc::EPROTO);
        }
        if r.result.is_null() {
            return Outcome::NotFound;
        }
        match serde_json::from_value::<HostEntry>(r.result) {
            Ok(e) if e.is_well_formed() => Outcome::Found(e),
            _ => Outcome::Unavailable(libc::EPROTO),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_what_the_daemon_parses_and_answers_what_it_sends() {
        for (ours, theirs) in [
            (
                Request::HostByName { name: "web.\"x" },
                mcc_std::control::Request::HostByName {
                    name: "web.\"x".into(),
                },
            ),
            (
                Request::HostByAddress {
                    address: "10.83.0.5",
                },
                mcc_std::control::Request::HostByAddress {
                    address: "10.83.0.5".into(),
                },
            ),
        ] {
            let line = ours.line();
            assert!(line.ends_with('\n'));
            assert_eq!(mcc_std::control::parse_request(&line), Ok(theirs));
        }
        let entry = mcc_std::control::HostEntry {
            name: "web".into(),
            aliases: vec!["web.home.arpa".into()],
            ipv4: vec![Ipv4Addr::new(10, 83, 0, 5)],
            ipv6: vec!["200::5".parse().unwrap()],
            ttl: 9,
        };
        let line =
            serde_json::to_vec(&mcc_std::control::Response::ok(serde_json::json!(entry))).unwrap();
        assert_eq!(
            Outcome::from_line(&line),
            Outcome::Found(HostEntry {
                name: "web".into(),
                aliases: vec!["web.home.arpa".into()],
                ipv4: entry.ipv4.clone(),
                ipv6: entry.ipv6.clone(),
                ttl: 9,
            })
        );
        let none =
            serde_json::to_vec(&mcc_std::control::Response::ok(serde_json::Value::Null)).unwrap();
        assert_eq!(Outcome::from_line(&none), Outcome::NotFound);
        let err = serde_json::to_vec(&mcc_std::control::Response::err("busy")).unwrap();
        assert_eq!(Outcome::from_line(&err), Outcome::Unavailable(libc::EPROTO));
    }

    #[test]
    fn malformed_answers_are_unavailable_not_hosts() {
        for line in [
            &b"{"[..],
            br#"{"version":1,"ok":true,"result":{"name":"a\u0000b","aliases":[],"ipv4":[],"ipv6":[],"ttl":0}}"#,
            br#"{"version":1,"ok":true,"result":{"name":"","aliases":[],"ipv4":[],"ipv6":[],"ttl":0}}"#,
            br#"{"version":1,"ok":true,"result":{"name":"a","aliases":[],"ipv4":["x"],"ipv6":[],"ttl":0}}"#,
            br#"{"version":1,"ok":true,"result":7}"#,
        ] {
            assert_eq!(
                Outcome::from_line(line),
                Outcome::Unavailable(libc::EPROTO),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }
}
