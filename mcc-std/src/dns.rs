//! The built-in DNS server (default `127.0.0.1:8353`), as a pure function from one query
//! datagram to one response datagram: [`answer`]. The node state is reached through
//! [`NameView`], so the event loop owns the socket and this module owns the protocol.
//!
//! Zones served, all authoritatively (AA set):
//! - `<name>.<domain>.` where `<name>` is a node/endpoint ID or a configured `dns-names`
//!   entry: `A`, `AAAA` (one record per provider, in the order [`NameView::lookup`] gives
//!   them) and `ANY` (all `A` then all `AAAA`). A known name with any other type is NODATA
//!   (NOERROR, empty answer); an unknown name is NXDOMAIN; the apex `<domain>.` is NODATA.
//! - `<name>.`, a single label without the domain, answered as `<name>.<domain>.` is: the
//!   docs' dnsmasq set-up sends such names here (`server=//127.0.0.1#8353`). A name of
//!   several labels outside the domain is not ours (REFUSED); a `dns-names` entry with a dot
//!   needs the domain.
//! - The reverse zones of [`DnsConfig::reverse_zones`] (the resolver's networks,
//!   `resolver.ipv4-network` and `resolver.ipv6-network`: `83.10.in-addr.arpa.` for
//!   10.83.0.0/16, `2.0.ip6.arpa.` and `3.0.ip6.arpa.` for 200::/7; and
//!   `115.10.in-addr.arpa.` for the static addresses, 10.115.0.0/16): `PTR` (and `ANY`) of a
//!   full address answers `<name>.<domain>.`; an address without a name is NXDOMAIN, other
//!   types are NODATA, partial (shorter) names inside these zones are NODATA, and malformed
//!   ones NXDOMAIN. A prefix that does not end on a label boundary (10.83.0.0/20) serves the
//!   names of its addresses only: `0.83.10.in-addr.arpa.` is inside it, `16.83.10...` not.
//!
//! Everything else (other names, classes other than IN/ANY) is REFUSED, with AA clear.
//!
//! Protocol choices: input shorter than a header or with QR set is dropped (`None`); a
//! header-parseable query whose body does not parse (e.g. truncated) gets FORMERR without a
//! question section; a query with zero or several questions gets FORMERR (RFC 9619); opcodes
//! other than QUERY get NOTIMP. EDNS is echoed (payload [`EDNS_PAYLOAD`]) and EDNS versions
//! above 0 get BADVERS. Responses are for UDP: one larger than 512 bytes (or the client's
//! EDNS payload, at most [`EDNS_PAYLOAD`]) is sent with TC set and no records. No SOA is
//! added to negative answers, so resolvers do not cache them (names come and go).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Edns, Header, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use ipnet::IpNet;

/// What the DNS server asks of the node.
pub trait NameView {
    /// Addresses for a name *without* the domain suffix, lowercase: either a node/endpoint ID
    /// text or a dns-name. Empty if unknown. Each entry is (ipv4, ipv6) of one provider.
    fn lookup(&mut self, name: &str) -> Vec<(Ipv4Addr, Ipv6Addr)>;
    /// The name (without domain) for an overlay address, for PTR.
    fn reverse(&mut self, addr: IpAddr) -> Option<String>;
}

/// Settings of the DNS server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsConfig {
    /// The overlay domain, e.g. `home.arpa` or `staex`. Leading/trailing dots are ignored
    /// (the CLI docs write `.staex`); matching is case-insensitive.
    pub domain: String,
    /// TTL of every record served, in seconds (`resolver.ttl`).
    pub ttl: u32,
    /// Networks whose reverse names (`in-addr.arpa`, `ip6.arpa`) are served: the
    /// resolver's IPv4 and IPv6 networks, and the static addresses' 10.115.0.0/16.
    pub reverse_zones: Vec<IpNet>,
}

impl Default for DnsConfig {
    /// The documented defaults: `.home.arpa`, TTL 0, 10.83.0.0/16 and 200::/7, and the
    /// static addresses.
    fn default() -> Self {
        DnsConfig {
            domain: "home.arpa".into(),
            ttl: 0,
            reverse_zones: vec![
                IpNet::new_assert(Ipv4Addr::new(10, 83, 0, 0).into(), 16),
                IpNet::new_assert(Ipv6Addr::new(0x200, 0, 0, 0, 0, 0, 0, 0).into(), 7),
                STATIC_ZONE,
            ],
        }
    }
}

/// Largest UDP payload advertised to and accepted from EDNS clients (the DNS flag day 2020
/// value, safe from fragmentation).
pub const EDNS_PAYLOAD: u16 = 1232;
/// UDP payload limit without EDNS (RFC 1035).
const PLAIN_PAYLOAD: usize = 512;

/// The static addresses' network, 10.115.0.0/16: served whatever the resolver's networks
/// are, since certificates sign these addresses network-wide.
pub const STATIC_ZONE: IpNet = IpNet::V4(ipnet::Ipv4Net::new_assert(
    mcc_core::resolver::STATIC_NETWORK,
    mcc_core::resolver::STATIC_PREFIX,
));

/// Parses a query and builds the response bytes. Returns None for input that is not a DNS
/// query at all (drop it silently, e.g. a response or garbage shorter than a header);
/// malformed-but-header-parseable queries get FORMERR.
pub fn answer(query: &[u8], cfg: &DnsConfig, view: &mut dyn NameView) -> Option<Vec<u8>> {
    let header = Header::read(&mut BinDecoder::new(query)).ok()?;
    if header.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut resp = Message::response(header.metadata.id, header.metadata.op_code);
    resp.metadata.recursion_desired = header.metadata.recursion_desired;
    resp.metadata.checking_disabled = header.metadata.checking_disabled;
    if header.metadata.op_code != OpCode::Query {
        resp.metadata.response_code = ResponseCode::NotImp;
        return encode(resp, PLAIN_PAYLOAD);
    }
    let Ok(msg) = Message::from_vec(query) else {
        resp.metadata.response_code = ResponseCode::FormErr;
        return encode(resp, PLAIN_PAYLOAD);
    };
    let mut limit = PLAIN_PAYLOAD;
    if let Some(edns) = &msg.edns {
        let mut ours = Edns::new();
        ours.set_max_payload(EDNS_PAYLOAD);
        resp.edns = Some(ours);
        if edns.version() > 0 {
            resp.metadata.response_code = ResponseCode::BADVERS;
            return encode(resp, PLAIN_PAYLOAD);
        }
        limit = usize::from(edns.max_payload().clamp(512, EDNS_PAYLOAD));
    }
    let [q] = msg.queries.as_slice() else {
        resp.metadata.response_code = ResponseCode::FormErr;
        return encode(resp, limit);
    };
    resp.add_query(q.clone());
    resolve(q, cfg, view, &mut resp);
    encode(resp, limit)
}

/// Serializes `resp`; if it exceeds `limit`, drops all records and sets TC instead.
fn encode(mut resp: Message, limit: usize) -> Option<Vec<u8>> {
    let bytes = resp.to_vec().ok()?;
    if bytes.len() <= limit {
        return Some(bytes);
    }
    resp.answers.clear();
    resp.authorities.clear();
    resp.additionals.clear();
    resp.metadata.truncation = true;
    resp.to_vec().ok()
}

/// Fills the answer section and the response code for one question.
fn resolve(q: &Query, cfg: &DnsConfig, view: &mut dyn NameView, resp: &mut Message) {
    if !matches!(q.query_class, DNSClass::IN | DNSClass::ANY) {
        resp.metadata.response_code = ResponseCode::Refused;
        return;
    }
    // Lowercase labels, or None for a label that cannot be part of any name we serve.
    let labels: Vec<Option<String>> = q.name.iter().map(text_label).collect();
    let domain = domain_labels(&cfg.domain);
    let ttl = cfg.ttl;
    let name = q.name.clone();
    let qtype = q.query_type;

    let reverse = reverse_name(&labels, &cfg.reverse_zones);
    if reverse != Reverse::Outside {
        resp.metadata.authoritative = true;
        let target = match reverse {
            Reverse::Address(ip) => view.reverse(ip),
            Reverse::Partial => return, // inside the zone but not an address: NODATA
            Reverse::Outside | Reverse::Malformed => None,
        };
        let Some(target) = target else {
            resp.metadata.response_code = ResponseCode::NXDomain;
            return;
        };
        if matches!(qtype, RecordType::PTR | RecordType::ANY) {
            match Name::from_ascii(fqdn(&target, &domain)) {
                Ok(n) => {
                    resp.add_answer(Record::from_rdata(name, ttl, RData::PTR(PTR(n))));
                }
                Err(_) => resp.metadata.response_code = ResponseCode::ServFail,
            }
        }
        return;
    }

    let key = match relative_name(&labels, &domain) {
        Relative::Outside => {
            resp.metadata.response_code = ResponseCode::Refused;
            return;
        }
        Relative::Apex => {
            resp.metadata.authoritative = true;
            return; // NODATA
        }
        Relative::Unknown => None,
        Relative::Name(k) => Some(k),
    };
    resp.metadata.authoritative = true;
    let providers = key.map(|k| view.lookup(&k)).unwrap_or_default();
    if providers.is_empty() {
        resp.metadata.response_code = ResponseCode::NXDomain;
        return;
    }
    if matches!(qtype, RecordType::A | RecordType::ANY) {
        for (v4, _) in &providers {
            resp.add_answer(Record::from_rdata(name.clone(), ttl, RData::A(A(*v4))));
        }
    }
    if matches!(qtype, RecordType::AAAA | RecordType::ANY) {
        for (_, v6) in &providers {
            resp.add_answer(Record::from_rdata(
                name.clone(),
                ttl,
                RData::AAAA(AAAA(*v6)),
            ));
        }
    }
}

/// `<name>.<domain>.` (`<name>.` without a domain).
pub fn fqdn(name: &str, domain: &[String]) -> String {
    if domain.is_empty() {
        format!("{name}.")
    } else {
        format!("{name}.{}.", domain.join("."))
    }
}

/// What a forward name is relative to the overlay's domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Relative {
    /// Not ours: several labels, not under the domain (or the root).
    Outside,
    /// The domain itself.
    Apex,
    /// Ours, but with a label no served name has (a dot or a control character in it).
    Unknown,
    /// The name to look up, lowercase, without the domain: `<id>`, `web`, `db.eu`.
    Name(String),
}

/// Classifies a name given as lowercase labels, leftmost first (None for a label no served
/// name can hold), against the domain's labels: a name under the domain is looked up
/// without it; a single label outside it is looked up as it is (a name without the domain,
/// as `mcc resolve web` and dnsmasq's `server=//` send them); anything else is not ours.
pub fn relative_name(labels: &[Option<String>], domain: &[String]) -> Relative {
    let domain_refs: Vec<&str> = domain.iter().map(String::as_str).collect();
    if has_suffix(labels, &domain_refs) {
        let relative = &labels[..labels.len() - domain.len()];
        if relative.is_empty() {
            return Relative::Apex;
        }
        return match relative.iter().cloned().collect::<Option<Vec<String>>>() {
            Some(k) => Relative::Name(k.join(".")),
            None => Relative::Unknown,
        };
    }
    match labels {
        [Some(bare)] => Relative::Name(bare.clone()),
        [None] => Relative::Unknown,
        _ => Relative::Outside,
    }
}

/// Splits a text name (`web.home.arpa`, `WEB.`, `<id>`) into labels for [`relative_name`].
pub fn text_labels(name: &str) -> Vec<Option<String>> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Vec::new();
    }
    name.split('.').map(|l| text_label(l.as_bytes())).collect()
}

/// Where a name falls among the reverse zones.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Reverse {
    /// In none of them.
    Outside,
    /// Inside one, but shorter than an address: NODATA.
    Partial,
    /// Inside one, with a label that is not a canonical octet or nibble (or too many).
    Malformed,
    /// The name of an address of a served network.
    Address(IpAddr),
}

/// Finds the zone of `labels` (lowercase, leftmost first) among `zones`. A zone's apex is
/// its network's name cut at the first label boundary at or past the prefix (`/16` →
/// `83.10.in-addr.arpa`, `/7` → `2.0.ip6.arpa` and `3.0.ip6.arpa`); a name belongs to it when
/// its labels down to that depth are canonical and inside the network.
fn reverse_name(labels: &[Option<String>], zones: &[IpNet]) -> Reverse {
    let (v6, digits) = if has_suffix(labels, &["in-addr", "arpa"]) {
        (false, &labels[..labels.len() - 2])
    } else if has_suffix(labels, &["ip6", "arpa"]) {
        (true, &labels[..labels.len() - 2])
    } else {
        return Reverse::Outside;
    };
    // Bits per label and labels per address.
    let (width, full) = if v6 { (4u32, 32usize) } else { (8, 4) };
    let value = |l: &Option<String>| -> Option<u128> {
        let l = l.as_deref()?;
        if v6 {
            let [c] = l.as_bytes() else { return None };
            char::from(*c).to_digit(16).map(u128::from)
        } else {
            let canonical = !l.is_empty()
                && l.len() <= 3
                && l.bytes().all(|b| b.is_ascii_digit())
                && (l == "0" || !l.starts_with('0'));
            canonical.then(|| l.parse::<u8>().ok().map(u128::from))?
        }
    };
    // Most significant first.
    let parsed: Vec<Option<u128>> = digits.iter().rev().map(value).collect();
    for zone in zones {
        let (network, prefix, bits) = match zone {
            IpNet::V4(n) if !v6 => (u128::from(u32::from(n.network())), n.prefix_len(), 32),
            IpNet::V6(n) if v6 => (u128::from(n.network()), n.prefix_len(), 128),
            _ => continue,
        };
        let apex = (u32::from(prefix)).div_ceil(width) as usize;
        let Some(head) = parsed.get(..apex) else {
            continue;
        };
        let Some(head) = head.iter().copied().collect::<Option<Vec<u128>>>() else {
            continue;
        };
        // The apex's labels hold the prefix and `extra` bits below it.
        let head_value = head.iter().fold(0u128, |acc, d| (acc << width) | d);
        let extra = apex as u32 * width - u32::from(prefix);
        let top = network.checked_shr(bits - u32::from(prefix)).unwrap_or(0);
        if head_value >> extra != top {
            continue;
        }
        if parsed.len() > full || parsed[apex..].iter().any(Option::is_none) {
            return Reverse::Malformed;
        }
        if parsed.len() < full {
            return Reverse::Partial;
        }
        let addr = parsed
            .iter()
            .fold(0u128, |acc, d| (acc << width) | d.unwrap_or(0));
        return Reverse::Address(if v6 {
            IpAddr::V6(Ipv6Addr::from(addr))
        } else {
            IpAddr::V4(Ipv4Addr::from(addr as u32))
        });
    }
    Reverse::Outside
}

/// The apex names of the reverse zone of `zone`, cut as [`answer`] serves it: the network's
/// name cut at the first label boundary at or past the prefix, one name for each value of the
/// bits between the prefix and that boundary. `10.83.0.0/16` → `83.10.in-addr.arpa`;
/// `200::/7` → `2.0.ip6.arpa` and `3.0.ip6.arpa`; `10.99.0.0/20` → `0.99.10.in-addr.arpa`
/// to `15.99.10.in-addr.arpa`. In address order, without the final dot: what a forwarder
/// (dnsmasq's `server=/ZONE/...`) is given so that it sends these names here.
pub fn reverse_zone_apexes(zone: &IpNet) -> Vec<String> {
    let (network, prefix, bits, width, suffix) = match zone {
        IpNet::V4(n) => (
            u128::from(u32::from(n.network())),
            u32::from(n.prefix_len()),
            32,
            8u32,
            "in-addr.arpa",
        ),
        IpNet::V6(n) => (
            u128::from(n.network()),
            u32::from(n.prefix_len()),
            128,
            4u32,
            "ip6.arpa",
        ),
    };
    let apex = prefix.div_ceil(width);
    // Fewer than `width` bits: at most 128 names (IPv4) or 8 (IPv6).
    let extra = apex * width - prefix;
    let top = network.checked_shr(bits - prefix).unwrap_or(0);
    let digit_mask = (1u128 << width) - 1;
    (0..1u128 << extra)
        .map(|low| {
            let head = (top << extra) | low;
            // The least significant label comes first in a reverse name.
            let mut labels: Vec<String> = (0..apex)
                .map(|i| {
                    let d = (head >> (i * width)) & digit_mask;
                    if width == 4 {
                        format!("{d:x}")
                    } else {
                        d.to_string()
                    }
                })
                .collect();
            labels.push(suffix.into());
            labels.join(".")
        })
        .collect()
}

/// A wire label as lowercase text; None if it holds bytes no served name contains (a dot,
/// non-ASCII or control characters).
fn text_label(label: &[u8]) -> Option<String> {
    if label.iter().all(|b| b.is_ascii_graphic() && *b != b'.') {
        Some(String::from_utf8_lossy(label).to_ascii_lowercase())
    } else {
        None
    }
}

/// The configured domain as lowercase labels, leftmost first.
fn domain_labels(domain: &str) -> Vec<String> {
    domain
        .trim_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Whether `labels` ends with the lowercase labels `suffix` (both leftmost first).
fn has_suffix(labels: &[Option<String>], suffix: &[&str]) -> bool {
    labels.len() >= suffix.len()
        && labels[labels.len() - suffix.len()..]
            .iter()
            .zip(suffix)
            .all(|(a, b)| a.as_deref() == Some(*b))
}

/// Parses a reverse-lookup name: `d.c.b.a.in-addr.arpa` → `a.b.c.d`, or 32 hex nibble labels
/// followed by `ip6.arpa` → the IPv6 address. Case-insensitive, the trailing dot is optional.
/// Only full addresses in canonical form are accepted (decimal octets without leading zeros,
/// single-digit nibbles); any address is returned, not only overlay ones.
pub fn ptr_name_to_ip(name: &str) -> Option<IpAddr> {
    let everything = [
        IpNet::new_assert(Ipv4Addr::UNSPECIFIED.into(), 0),
        IpNet::new_assert(Ipv6Addr::UNSPECIFIED.into(), 0),
    ];
    match reverse_name(&text_labels(name), &everything) {
        Reverse::Address(ip) => Some(ip),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Metadata;
    use mcc_core::id::NodeId;
    use std::collections::HashMap;

    #[derive(Default)]
    struct FakeView {
        names: HashMap<String, Vec<(Ipv4Addr, Ipv6Addr)>>,
        rev: HashMap<IpAddr, String>,
    }

    impl NameView for FakeView {
        fn lookup(&mut self, name: &str) -> Vec<(Ipv4Addr, Ipv6Addr)> {
            self.names.get(name).cloned().unwrap_or_default()
        }
        fn reverse(&mut self, addr: IpAddr) -> Option<String> {
            self.rev.get(&addr).cloned()
        }
    }

    fn id() -> String {
        NodeId([7; 32]).to_string()
    }

    fn v4(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 83, 0, last)
    }

    fn v6(last: u16) -> Ipv6Addr {
        Ipv6Addr::new(0x200, 0, 0, 0, 0, 0, 0, last)
    }

    fn view() -> FakeView {
        let mut v = FakeView::default();
        v.names.insert(id(), vec![(v4(5), v6(5))]);
        v.names
            .insert("light1".into(), vec![(v4(10), v6(10)), (v4(11), v6(11))]);
        v.rev.insert(IpAddr::V4(v4(5)), id());
        v.rev.insert(IpAddr::V6(v6(5)), id());
        v
    }

    fn cfg() -> DnsConfig {
        DnsConfig {
            domain: "home.arpa".into(),
            ttl: 60,
            ..DnsConfig::default()
        }
    }

    fn query_msg(name: &str, qtype: RecordType) -> Message {
        let mut m = Message::new(0x1234, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
        m
    }

    /// Runs `answer` on `m` and checks what every response must satisfy.
    fn ask_msg(m: &Message, cfg: &DnsConfig, view: &mut FakeView) -> Message {
        let bytes = answer(&m.to_vec().unwrap(), cfg, view).expect("a response");
        let r = Message::from_vec(&bytes).unwrap();
        let md: &Metadata = &r.metadata;
        assert_eq!(md.id, m.metadata.id);
        assert_eq!(md.message_type, MessageType::Response);
        assert_eq!(md.recursion_desired, m.metadata.recursion_desired);
        assert!(!md.recursion_available);
        r
    }

    fn ask(name: &str, qtype: RecordType) -> Message {
        ask_msg(&query_msg(name, qtype), &cfg(), &mut view())
    }

    fn a_records(r: &Message) -> Vec<Ipv4Addr> {
        let f = |rec: &Record| match rec.data {
            RData::A(a) => Some(a.0),
            _ => None,
        };
        r.answers.iter().filter_map(f).collect()
    }

    fn aaaa_records(r: &Message) -> Vec<Ipv6Addr> {
        let f = |rec: &Record| match rec.data {
            RData::AAAA(a) => Some(a.0),
            _ => None,
        };
        r.answers.iter().filter_map(f).collect()
    }

    fn ptr_records(r: &Message) -> Vec<String> {
        let f = |rec: &Record| match &rec.data {
            RData::PTR(p) => Some(p.0.to_ascii()),
            _ => None,
        };
        r.answers.iter().filter_map(f).collect()
    }

    #[test]
    fn a_for_node_id() {
        let r = ask(&format!("{}.home.arpa.", id()), RecordType::A);
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert!(r.metadata.authoritative);
        assert_eq!(a_records(&r), vec![v4(5)]);
        assert_eq!(r.answers.len(), 1);
        assert_eq!(r.queries.len(), 1);
        assert_eq!(r.answers[0].name, r.queries[0].name);
    }

    #[test]
    fn aaaa_for_node_id() {
        let r = ask(&format!("{}.home.arpa.", id()), RecordType::AAAA);
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert_eq!(aaaa_records(&r), vec![v6(5)]);
        assert_eq!(r.answers.len(), 1);
    }

    #[test]
    fn any_gives_a_and_aaaa() {
        let r = ask("light1.home.arpa.", RecordType::ANY);
        assert_eq!(a_records(&r), vec![v4(10), v4(11)]);
        assert_eq!(aaaa_records(&r), vec![v6(10), v6(11)]);
        assert_eq!(r.answers.len(), 4);
    }

    #[test]
    fn uppercase_name_matches_and_case_is_preserved() {
        let name = format!("{}.HOME.Arpa.", id().to_uppercase());
        let r = ask(&name, RecordType::A);
        assert_eq!(a_records(&r), vec![v4(5)]);
        assert_eq!(r.queries[0].name.to_ascii(), name);
        assert_eq!(r.answers[0].name.to_ascii(), name);
    }

    #[test]
    fn dns_name_with_two_providers_gives_two_records_in_order() {
        let r = ask("light1.home.arpa.", RecordType::A);
        assert_eq!(a_records(&r), vec![v4(10), v4(11)]);
        let r = ask("light1.home.arpa.", RecordType::AAAA);
        assert_eq!(aaaa_records(&r), vec![v6(10), v6(11)]);
    }

    #[test]
    fn unknown_name_in_domain_is_nxdomain() {
        for name in ["nope.home.arpa.", "a.light1.home.arpa."] {
            let r = ask(name, RecordType::A);
            assert_eq!(r.metadata.response_code, ResponseCode::NXDomain, "{name}");
            assert!(r.metadata.authoritative);
            assert!(r.answers.is_empty());
        }
    }

    #[test]
    fn outside_domain_is_refused() {
        for name in ["example.com.", "light1.home.arpa.example.com.", "."] {
            let r = ask(name, RecordType::A);
            assert_eq!(r.metadata.response_code, ResponseCode::Refused, "{name}");
            assert!(!r.metadata.authoritative);
            assert!(r.answers.is_empty());
        }
        let r = ask("1.1.168.192.in-addr.arpa.", RecordType::PTR);
        assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    }

    /// dnsmasq's `server=//127.0.0.1#8353` (the docs' set-up) sends names without dots.
    #[test]
    fn names_without_the_domain_are_answered() {
        let r = ask("light1.", RecordType::A);
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert!(r.metadata.authoritative);
        assert_eq!(a_records(&r), vec![v4(10), v4(11)]);
        assert_eq!(r.answers[0].name.to_ascii(), "light1.");
        let r = ask(&format!("{}.", id().to_uppercase()), RecordType::AAAA);
        assert_eq!(aaaa_records(&r), vec![v6(5)]);
        let r = ask("nope.", RecordType::A);
        assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
        assert!(r.metadata.authoritative);
        // Several labels without the domain are not ours, even when the first is known.
        let r = ask("light1.example.", RecordType::A);
        assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    }

    #[test]
    fn reverse_zone_apexes_are_the_zones_answer_serves() {
        let apexes = |n: &str| reverse_zone_apexes(&n.parse().unwrap());
        assert_eq!(apexes("10.83.0.0/16"), ["83.10.in-addr.arpa"]);
        assert_eq!(apexes("10.115.0.0/16"), ["115.10.in-addr.arpa"]);
        assert_eq!(apexes("200::/7"), ["2.0.ip6.arpa", "3.0.ip6.arpa"]);
        assert_eq!(
            apexes("fd99::/64"),
            ["0.0.0.0.0.0.0.0.0.0.0.0.9.9.d.f.ip6.arpa"]
        );
        let twenty = apexes("10.99.0.0/20");
        assert_eq!(twenty.len(), 16);
        assert_eq!(twenty[0], "0.99.10.in-addr.arpa");
        assert_eq!(twenty[15], "15.99.10.in-addr.arpa");
        // Past the last label boundary: whole addresses.
        assert_eq!(
            apexes("10.99.4.8/30"),
            [8, 9, 10, 11].map(|o| format!("{o}.4.99.10.in-addr.arpa"))
        );
        assert_eq!(apexes("10.99.4.0/25").len(), 128);
        assert_eq!(apexes("fd00::/126").len(), 4);
        // Each apex is inside its zone for `answer` (a partial name, or a whole address
        // when the prefix is that long), its parent is outside, and every address of the
        // network is named under one of them.
        for net in [
            "10.83.0.0/16",
            "10.99.0.0/20",
            "10.64.0.0/10",
            "10.99.4.0/25",
            "10.99.4.0/30",
            "200::/7",
            "fd99::/64",
            "fd00:cc::/30",
            "fd00::/126",
        ] {
            let zone: IpNet = net.parse().unwrap();
            let names = reverse_zone_apexes(&zone);
            for a in &names {
                let inside = reverse_name(&text_labels(a), &[zone]);
                assert!(
                    matches!(inside, Reverse::Partial | Reverse::Address(_)),
                    "{net}: {a} is {inside:?}"
                );
                let parent = a.split_once('.').unwrap().1;
                assert_eq!(
                    reverse_name(&text_labels(parent), &[zone]),
                    Reverse::Outside,
                    "{net}: {parent}"
                );
            }
            for addr in [zone.network(), zone.broadcast()] {
                let name = match addr {
                    IpAddr::V4(a) => {
                        let o = a.octets();
                        format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
                    }
                    IpAddr::V6(a) => {
                        let hex = format!("{:032x}", u128::from(a));
                        let mut n: Vec<String> = hex.chars().rev().map(String::from).collect();
                        n.push("ip6.arpa".into());
                        n.join(".")
                    }
                };
                assert!(
                    names
                        .iter()
                        .any(|a| name.ends_with(&format!(".{a}")) || name == *a),
                    "{net}: {name} is under none of {names:?}"
                );
            }
        }
    }

    #[test]
    fn reverse_zones_follow_the_resolver_networks() {
        let zones = |z: &[&str]| DnsConfig {
            reverse_zones: z.iter().map(|n| n.parse().unwrap()).collect(),
            ..cfg()
        };
        let mut v = view();
        let addr = Ipv4Addr::new(10, 99, 0, 5);
        v.rev.insert(IpAddr::V4(addr), id());
        let v6 = "fd00:cc::5".parse::<Ipv6Addr>().unwrap();
        v.rev.insert(IpAddr::V6(v6), id());
        let cfg = zones(&["10.99.0.0/16", "fd00:cc::/32"]);
        let code = |name: &str, v: &mut FakeView, cfg: &DnsConfig| {
            let r = ask_msg(&query_msg(name, RecordType::PTR), cfg, v);
            (
                r.metadata.response_code,
                r.metadata.authoritative,
                ptr_records(&r),
            )
        };
        let ours = format!("{}.home.arpa.", id());
        let v6_name = "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.c.c.0.0.0.0.d.f.ip6.arpa.";
        for (name, want, aa, ptr) in [
            (
                "5.0.99.10.in-addr.arpa.",
                ResponseCode::NoError,
                true,
                Some(&ours),
            ),
            (v6_name, ResponseCode::NoError, true, Some(&ours)),
            (
                "6.0.99.10.in-addr.arpa.",
                ResponseCode::NXDomain,
                true,
                None,
            ),
            ("0.99.10.in-addr.arpa.", ResponseCode::NoError, true, None),
            ("99.10.in-addr.arpa.", ResponseCode::NoError, true, None),
            (
                "c.c.0.0.0.0.d.f.ip6.arpa.",
                ResponseCode::NoError,
                true,
                None,
            ),
            (
                "x.0.99.10.in-addr.arpa.",
                ResponseCode::NXDomain,
                true,
                None,
            ),
            (
                "1.5.0.99.10.in-addr.arpa.",
                ResponseCode::NXDomain,
                true,
                None,
            ),
            // The default networks are not served any more, nor what is above the apex.
            (
                "5.0.83.10.in-addr.arpa.",
                ResponseCode::Refused,
                false,
                None,
            ),
            ("2.0.ip6.arpa.", ResponseCode::Refused, false, None),
            ("10.in-addr.arpa.", ResponseCode::Refused, false, None),
            (
                "c.0.0.0.0.d.f.ip6.arpa.",
                ResponseCode::Refused,
                false,
                None,
            ),
        ] {
            let (code, auth, records) = code(name, &mut v, &cfg);
            assert_eq!((code, auth), (want, aa), "{name}");
            assert_eq!(
                records,
                ptr.into_iter().cloned().collect::<Vec<_>>(),
                "{name}"
            );
        }
        // A prefix off the label boundary: 10.83.16.0/20 is 16.83.10 to 31.83.10.
        let cfg = zones(&["10.83.16.0/20"]);
        for (name, want) in [
            ("5.16.83.10.in-addr.arpa.", ResponseCode::NXDomain),
            ("5.31.83.10.in-addr.arpa.", ResponseCode::NXDomain),
            ("31.83.10.in-addr.arpa.", ResponseCode::NoError),
            ("5.32.83.10.in-addr.arpa.", ResponseCode::Refused),
            ("5.15.83.10.in-addr.arpa.", ResponseCode::Refused),
            ("83.10.in-addr.arpa.", ResponseCode::Refused),
        ] {
            assert_eq!(code(name, &mut v, &cfg).0, want, "{name}");
        }
        // The default /7: 2.0 and 3.0, not 4.0; the apex itself is one label deeper.
        let cfg = DnsConfig::default();
        for (name, want) in [
            ("2.0.ip6.arpa.", ResponseCode::NoError),
            ("3.0.ip6.arpa.", ResponseCode::NoError),
            ("4.0.ip6.arpa.", ResponseCode::Refused),
            ("0.ip6.arpa.", ResponseCode::Refused),
            ("83.10.in-addr.arpa.", ResponseCode::NoError),
            ("84.10.in-addr.arpa.", ResponseCode::Refused),
        ] {
            assert_eq!(code(name, &mut v, &cfg).0, want, "{name}");
        }
    }

    #[test]
    fn known_name_with_other_type_is_nodata() {
        for (name, t) in [
            ("light1.home.arpa.", RecordType::MX),
            ("home.arpa.", RecordType::A),
        ] {
            let r = ask(name, t);
            assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{name}");
            assert!(r.metadata.authoritative);
            assert!(r.answers.is_empty());
        }
    }

    #[test]
    fn ptr_ipv4() {
        let r = ask("5.0.83.10.in-addr.arpa.", RecordType::PTR);
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert!(r.metadata.authoritative);
        assert_eq!(ptr_records(&r), vec![format!("{}.home.arpa.", id())]);
        // Unassigned address: NXDOMAIN; other type: NODATA; partial name: NODATA.
        let r = ask("6.0.83.10.in-addr.arpa.", RecordType::PTR);
        assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
        let r = ask("5.0.83.10.in-addr.arpa.", RecordType::A);
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert!(r.answers.is_empty());
        let r = ask("0.83.10.in-addr.arpa.", RecordType::PTR);
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert!(r.answers.is_empty());
    }

    #[test]
    fn ptr_of_a_static_address() {
        let mut v = view();
        v.rev.insert(IpAddr::V4(Ipv4Addr::new(10, 115, 4, 4)), id());
        let q =
            |name: &str, v: &mut FakeView| ask_msg(&query_msg(name, RecordType::PTR), &cfg(), v);
        let r = q("4.4.115.10.in-addr.arpa.", &mut v);
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert!(r.metadata.authoritative);
        assert_eq!(ptr_records(&r), vec![format!("{}.home.arpa.", id())]);
        let r = q("5.4.115.10.in-addr.arpa.", &mut v);
        assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
        assert!(r.metadata.authoritative, "our zone: no name is an answer");
    }

    #[test]
    fn ptr_ipv6() {
        let name = "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.ip6.arpa.";
        let r = ask(name, RecordType::PTR);
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert_eq!(ptr_records(&r), vec![format!("{}.home.arpa.", id())]);
        let r = ask(&name.to_uppercase(), RecordType::PTR);
        assert_eq!(ptr_records(&r).len(), 1);
        let r = ask(&name.replacen('5', "6", 1), RecordType::PTR);
        assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    }

    #[test]
    fn ttl_and_custom_domain_are_honoured() {
        let cfg = DnsConfig {
            domain: ".Staex".into(),
            ttl: 1234,
            ..DnsConfig::default()
        };
        let r = ask_msg(
            &query_msg("light1.staex.", RecordType::A),
            &cfg,
            &mut view(),
        );
        assert_eq!(a_records(&r).len(), 2);
        assert!(r.answers.iter().all(|rec| rec.ttl == 1234));
        let r = ask_msg(
            &query_msg("5.0.83.10.in-addr.arpa.", RecordType::PTR),
            &cfg,
            &mut view(),
        );
        assert_eq!(ptr_records(&r), vec![format!("{}.staex.", id())]);
        assert_eq!(r.answers[0].ttl, 1234);
        let r = ask_msg(
            &query_msg("light1.home.arpa.", RecordType::A),
            &cfg,
            &mut view(),
        );
        assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    }

    #[test]
    fn garbage_and_responses_are_dropped() {
        assert_eq!(answer(&[], &cfg(), &mut view()), None);
        assert_eq!(
            answer(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], &cfg(), &mut view()),
            None
        );
        let mut m = query_msg("light1.home.arpa.", RecordType::A);
        m.metadata.message_type = MessageType::Response;
        assert_eq!(answer(&m.to_vec().unwrap(), &cfg(), &mut view()), None);
    }

    /// A query cut inside its question parses as a header but not as a message: FORMERR,
    /// with the query's ID and no question section.
    #[test]
    fn truncated_query_is_formerr() {
        let bytes = query_msg("light1.home.arpa.", RecordType::A)
            .to_vec()
            .unwrap();
        for cut in [12, 15, bytes.len() - 2] {
            let out = answer(&bytes[..cut], &cfg(), &mut view()).expect("a response");
            let r = Message::from_vec(&out).unwrap();
            assert_eq!(r.metadata.id, 0x1234);
            assert_eq!(r.metadata.response_code, ResponseCode::FormErr);
            assert!(r.metadata.recursion_desired);
            assert!(r.queries.is_empty() && r.answers.is_empty());
        }
    }

    #[test]
    fn several_questions_are_formerr() {
        let mut m = query_msg("light1.home.arpa.", RecordType::A);
        m.add_query(Query::query(
            Name::from_ascii("light1.home.arpa.").unwrap(),
            RecordType::AAAA,
        ));
        let r = ask_msg(&m, &cfg(), &mut view());
        assert_eq!(r.metadata.response_code, ResponseCode::FormErr);
        assert!(r.answers.is_empty());
    }

    #[test]
    fn other_opcode_is_notimp() {
        let mut m = query_msg("light1.home.arpa.", RecordType::A);
        m.metadata.op_code = OpCode::Status;
        m.metadata.recursion_desired = false;
        let r = ask_msg(&m, &cfg(), &mut view());
        assert_eq!(r.metadata.response_code, ResponseCode::NotImp);
    }

    #[test]
    fn response_id_and_rd_follow_the_query() {
        for (id, rd) in [(0, false), (0xbeef, true), (u16::MAX, false)] {
            let mut m = query_msg("light1.home.arpa.", RecordType::A);
            m.metadata.id = id;
            m.metadata.recursion_desired = rd;
            ask_msg(&m, &cfg(), &mut view()); // asserts ID, RD, RA
        }
    }

    #[test]
    fn edns_is_echoed_and_large_answers_truncate() {
        let mut v = view();
        let many: Vec<_> = (0..50).map(|i| (v4(i), v6(u16::from(i)))).collect();
        v.names.insert("many".into(), many);
        // Without EDNS: 50 A records (16 bytes each) do not fit 512 bytes.
        let r = ask_msg(&query_msg("many.home.arpa.", RecordType::A), &cfg(), &mut v);
        assert!(r.metadata.truncation);
        assert!(r.answers.is_empty());
        assert!(r.edns.is_none());
        // With EDNS and a 4096-byte buffer they fit our 1232 bytes.
        let mut m = query_msg("many.home.arpa.", RecordType::A);
        let mut e = Edns::new();
        e.set_max_payload(4096);
        m.edns = Some(e);
        let r = ask_msg(&m, &cfg(), &mut v);
        assert!(!r.metadata.truncation);
        assert_eq!(a_records(&r).len(), 50);
        assert_eq!(r.edns.as_ref().map(Edns::max_payload), Some(EDNS_PAYLOAD));
        // EDNS version 1: BADVERS.
        let mut e = Edns::new();
        e.set_version(1);
        m.edns = Some(e);
        let r = ask_msg(&m, &cfg(), &mut v);
        assert_eq!(u16::from(r.metadata.response_code), 16); // BADVERS (decodes as BADSIG)
    }

    #[test]
    fn ptr_name_parsing() {
        let p = |s: &str| ptr_name_to_ip(s);
        assert_eq!(
            p("5.0.83.10.in-addr.arpa"),
            Some("10.83.0.5".parse().unwrap())
        );
        assert_eq!(
            p("255.1.83.10.IN-ADDR.ARPA."),
            Some("10.83.1.255".parse().unwrap())
        );
        let v6 = "b.a.9.8.7.6.5.4.3.2.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.2.0.ip6.arpa.";
        assert_eq!(p(v6), Some("201::123:4567:89ab".parse().unwrap()));
        assert_eq!(p(&v6.to_uppercase()), p(v6));
        for bad in [
            "0.83.10.in-addr.arpa",
            "1.5.0.83.10.in-addr.arpa",
            "256.0.83.10.in-addr.arpa",
            "05.0.83.10.in-addr.arpa",
            "-1.0.83.10.in-addr.arpa",
            "a.0.83.10.in-addr.arpa",
            ".0.83.10.in-addr.arpa",
            "in-addr.arpa",
            "5.0.83.10.in-addr.arpa.com",
            "5.0.83.10.home.arpa",
            &v6[2..],
            &format!("0.{v6}"),
            &v6.replacen('b', "g", 1),
            &v6.replacen('b', "bb", 1),
            "ip6.arpa",
            "",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }
}
