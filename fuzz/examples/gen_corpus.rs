//! Writes the seed corpus: a few valid inputs per fuzz target, built with mcc-core's own
//! issue/emit functions so that the fuzzer starts from deep inside every parser.
//! Run from fuzz/: `cargo run --example gen_corpus`. Output is deterministic.

use mcc_core::cert::{self, Proto, Revocation, Target, TunnelInfo};
use mcc_core::crypto::{Identity, sha256};
use mcc_core::filter;
use mcc_core::id::NodeId;
use mcc_core::wire::link::{
    ACK_CONTEXT, Cookie, DATA_HEADER_LEN, DataHeader, INIT_CONTEXT, Init, InitAck, InitFields,
    NatKeepalive,
};
use mcc_core::wire::rpc::{
    AddressLookup, CONTROL_HEADER_LEN, Control, ControlHeader, Entry, KIND_TOPOLOGY, NatProbe,
    ROUTED_HEADER_LEN, Record, RecordKind, RoutedHeader, TopologyUpdate,
};
use mcc_core::wire::gateway::{GATEWAY_MAX, GatewayInitAck};
use mcc_core::wire::tunnel::{HEADER_LEN, TunnelHeader};
use mcc_core::crypto::Ephemeral;
use mcc_core::handshake::gateway::GatewayInitiator;
use rand_core::SeedableRng;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    std::fs::create_dir_all(&dir).expect("create corpus dir");
    std::fs::write(dir.join(name), bytes).expect("write corpus file");
}

fn main() {
    let ca = Identity::from_secret([1; 32]);
    let net = Identity::from_secret([2; 32]);
    let node = Identity::from_secret([3; 32]);
    let peer = Identity::from_secret([4; 32]);
    let endpoint = Identity::from_secret([5; 32]);
    let node_cert = cert::issue::node(&net, &node.id(), 1_700_000_000, 1_900_000_000);

    // cert_decode
    write(
        "cert_decode",
        "ca",
        cert::issue::ca(&ca, "example-ca", 0, u64::MAX).encoded(),
    );
    let network_cert = cert::issue::network(&ca, &net.id(), "home", 1_700_000_000, 1_900_000_000);
    write("cert_decode", "network", network_cert.encoded());
    write("cert_decode", "node", node_cert.encoded());
    let info = TunnelInfo {
        client_endpoint: Identity::from_secret([6; 32]).id(),
        client_node: peer.id(),
        server_node: node.id(),
        targets: vec![
            Target {
                proto: Proto::Tcp,
                port: 22,
            },
            Target {
                proto: Proto::Udp,
                port: 53,
            },
            Target {
                proto: Proto::Icmp,
                port: 0,
            },
        ],
        dns_names: vec!["nas.home".into(), "files".into()],
        static_addr: Some([10, 115, 0, 7]),
        external_addr: Some([192, 168, 1, 20]),
    };
    let tunnel_cert = cert::issue::tunnel(&net, &endpoint.id(), info, 1_700_000_000, 1_900_000_000)
        .expect("in bounds");
    write("cert_decode", "tunnel", tunnel_cert.encoded());
    write(
        "cert_decode",
        "revocation",
        &Revocation::sign(&net, tunnel_cert.fingerprint(), 1_800_000_000, 1_900_000_000).encode(),
    );

    // link_frames
    let mut data = [0x5au8; DATA_HEADER_LEN + 20 + 16];
    let mut h = [0u8; DATA_HEADER_LEN];
    DataHeader {
        receiver: 0x0102_0304,
        counter: 77,
    }
    .emit(&mut h);
    data[..DATA_HEADER_LEN].copy_from_slice(&h);
    write("link_frames", "data", &data);
    write("link_frames", "keepalive", &data[..DATA_HEADER_LEN + 16]);
    let mut init = vec![0u8; Init::buffer_len(node_cert.encoded().len())];
    let fields = InitFields {
        sender: 11,
        ephemeral: [0x11; 32],
        timestamp: 1_750_000_000_000,
        responder: [0x22; 8],
    };
    let sig_at = Init::emit_unsigned(&mut init, &fields, node_cert.encoded()).expect("fits");
    let sig = node.sign(&[INIT_CONTEXT, &init[..sig_at]].concat());
    init[sig_at..sig_at + 64].copy_from_slice(&sig);
    write("link_frames", "init", &init);
    // The responder signs the hash of the Init without its cookie, then its own frame.
    let init_hash = sha256(&[&init[..init.len() - 16]]);
    let peer_cert = cert::issue::node(&net, &peer.id(), 1_700_000_000, 1_900_000_000);
    let mut ack = vec![0u8; InitAck::buffer_len(peer_cert.encoded().len())];
    let sig_at =
        InitAck::emit_unsigned(&mut ack, 12, 11, &[0x22; 32], peer_cert.encoded()).expect("fits");
    let sig = peer.sign(&[ACK_CONTEXT, &init_hash, &ack[..sig_at]].concat());
    ack[sig_at..].copy_from_slice(&sig);
    write("link_frames", "init_ack", &ack);
    let mut cookie = [0u8; 64];
    let n = Cookie {
        receiver: 11,
        cookie: [0xc0; 16],
    }
    .emit(&mut cookie)
    .expect("fits");
    write("link_frames", "cookie", &cookie[..n]);
    let mut nat = [0u8; 1];
    NatKeepalive.emit(&mut nat).expect("fits");
    write("link_frames", "nat_keepalive", &nat);
    // node_input: the first byte 0x00 selects "datagram from the network".
    write("node_input", "nat_keepalive", &[0, nat[0]]);

    // rpc_messages
    // Signed records, as nodes send them: the node's with its certificate, the endpoint's
    // with the tunnel certificate.
    let mut own = Record {
        id: node.id(),
        parent: Some(peer.id()),
        seq: 1_700_000_003,
        kind: RecordKind::Node,
        names: vec!["laptop".into()],
        static_addr: None,
        proof: None,
    };
    mcc_core::routing::record::sign(&mut own, &node, node_cert.encoded().to_vec());
    let mut ep = Record {
        id: endpoint.id(),
        parent: Some(node.id()),
        seq: 1_700_000_001,
        kind: RecordKind::ServerEndpoint,
        names: vec![],
        static_addr: None,
        proof: None,
    };
    mcc_core::routing::record::sign(&mut ep, &endpoint, tunnel_cert.encoded().to_vec());
    let update = TopologyUpdate {
        upto: 9,
        entries: vec![
            Entry::Upsert(own),
            Entry::Upsert(ep),
            Entry::Remove {
                id: NodeId([9; 32]),
                seq: 4,
            },
        ],
    };
    let body = postcard::to_allocvec(&update).expect("encodes");
    write("rpc_messages", "topology_body", &body);
    write(
        "rpc_messages",
        "topology",
        &[&[KIND_TOPOLOGY][..], &body].concat(),
    );
    write(
        "rpc_messages",
        "topology_ack",
        &[&[3u8][..], &9u64.to_le_bytes()].concat(),
    );
    write("rpc_messages", "pong", &[1]);
    let mut b = [0u8; 64];
    let n = AddressLookup {
        ttl: 64,
        origin: node.id(),
        query: 0x0123_4567_89ab_cdef,
        addr: [10, 115, 7, 9],
    }
    .emit(&mut b)
    .expect("fits");
    write("rpc_messages", "address_lookup", &b[..n]);
    for (name, reply) in [("nat_probe", false), ("nat_probe_reply", true)] {
        let mut b = [0u8; 1];
        NatProbe { reply, rung: 3 }.emit(&mut b).expect("fits");
        write("rpc_messages", name, &b);
    }
    let mut routed = [0u8; ROUTED_HEADER_LEN];
    RoutedHeader {
        ttl: 16,
        dst: [1, 2, 3, 4, 5, 6],
    }
    .emit(&mut routed);
    write(
        "rpc_messages",
        "routed",
        &[&routed[..], &[0u8; HEADER_LEN + 16 + 8]].concat(),
    );
    let controls = [
        (
            "tunnel_init",
            Control::TunnelInit {
                tunnel: [0xaa; 32],
                sender: 5,
                ephemeral: [0x33; 32],
                signature: [0x44; 64],
            },
        ),
        (
            "tunnel_init_ack",
            Control::TunnelInitAck {
                tunnel: [0xaa; 32],
                sender: 6,
                receiver: 5,
                ephemeral: [0x55; 32],
                signature: [0x66; 64],
            },
        ),
    ];
    for (name, c) in controls {
        let mut msg = vec![0u8; CONTROL_HEADER_LEN + c.buffer_len()];
        ControlHeader {
            ttl: 16,
            dst: peer.id(),
            src: node.id(),
        }
        .emit(&mut msg);
        c.emit(&mut msg[CONTROL_HEADER_LEN..]).expect("fits");
        write("rpc_messages", &format!("routed_{name}"), &msg);
        write("rpc_messages", name, &msg[CONTROL_HEADER_LEN..]);
    }
    // The gateway channel handshake, signed as nodes send it.
    let mut init = vec![0u8; GATEWAY_MAX];
    let eph = Ephemeral::generate(&mut rand_chacha::ChaCha20Rng::from_seed([8; 32]));
    let (_, n) = GatewayInitiator::initiate(
        eph,
        5,
        1_800_000_000_000,
        &node,
        node_cert.encoded(),
        &peer.id(),
        &mut init,
    )
    .expect("fits");
    write("rpc_messages", "gateway_init", &init[..n]);
    let peer_cert = cert::issue::node(&net, &peer.id(), 1_700_000_000, 1_900_000_000);
    let mut ack = vec![0u8; GATEWAY_MAX];
    let at = GatewayInitAck::emit_unsigned(&mut ack, 6, 5, &[0x55; 32], peer_cert.encoded())
        .expect("fits");
    write("rpc_messages", "gateway_init_ack", &ack[..at + 64]);
    let mut routed_init = vec![0u8; CONTROL_HEADER_LEN];
    ControlHeader {
        ttl: 16,
        dst: peer.id(),
        src: node.id(),
    }
    .emit(&mut routed_init);
    routed_init.extend_from_slice(&init[..n]);
    write("rpc_messages", "routed_gateway_init", &routed_init);

    // tunnel_frame
    let mut frame = vec![0x77u8; HEADER_LEN + 28 + 16];
    TunnelHeader {
        receiver: 3,
        counter: 1 << 40,
    }
    .emit(&mut frame);
    write("tunnel_frame", "frame", &frame);
    write("tunnel_frame", "empty_payload", &frame[..HEADER_LEN + 16]);

    // packet_filter
    let (a4, b4) = (Ipv4Addr::new(10, 115, 0, 1), Ipv4Addr::new(10, 115, 0, 2));
    let (a6, b6) = (
        Ipv6Addr::new(0xfd00, 0x73, 0, 0, 0, 0, 0, 1),
        Ipv6Addr::new(0xfd00, 0x73, 0, 0, 0, 0, 0, 2),
    );
    let packets = [
        ("ipv4_udp", ipv4(a4, b4, 17, &udp(40000, 53, b"dns?"))),
        ("ipv4_tcp_syn", ipv4(a4, b4, 6, &tcp(40001, 22))),
        ("ipv4_icmp_echo", ipv4(a4, b4, 1, &icmp4_echo(8, 0x1234))),
        ("ipv4_icmp_reply", ipv4(b4, a4, 1, &icmp4_echo(0, 0x1234))),
        ("ipv6_udp", ipv6(a6, b6, 17, &udp(40000, 53, b"dns?"))),
        ("ipv6_tcp_syn", ipv6(a6, b6, 6, &tcp(40001, 443))),
        ("ipv6_icmp_echo", ipv6(a6, b6, 58, &icmp6_echo(128, 0x4321))),
    ];
    for (name, p) in packets {
        let info = filter::parse(&p).unwrap_or_else(|e| panic!("seed {name} must parse: {e:?}"));
        println!("{name}: {info:?}");
        write("packet_filter", name, &p);
    }
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 8];
    b[0..2].copy_from_slice(&sport.to_be_bytes());
    b[2..4].copy_from_slice(&dport.to_be_bytes());
    b[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    b.extend_from_slice(payload);
    b
}

fn tcp(sport: u16, dport: u16) -> Vec<u8> {
    let mut b = vec![0u8; 20];
    b[0..2].copy_from_slice(&sport.to_be_bytes());
    b[2..4].copy_from_slice(&dport.to_be_bytes());
    b[4..8].copy_from_slice(&0x0102_0304u32.to_be_bytes());
    b[12] = 5 << 4; // data offset: 5 words
    b[13] = 0x02; // SYN
    b[14..16].copy_from_slice(&64240u16.to_be_bytes());
    b
}

fn icmp4_echo(kind: u8, ident: u16) -> Vec<u8> {
    let mut b = vec![kind, 0, 0, 0];
    b.extend_from_slice(&ident.to_be_bytes());
    b.extend_from_slice(&1u16.to_be_bytes());
    b.extend_from_slice(b"ping");
    let sum = !fold(
        b.chunks(2)
            .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
            .sum(),
    );
    b[2..4].copy_from_slice(&sum.to_be_bytes());
    b
}

fn icmp6_echo(kind: u8, ident: u16) -> Vec<u8> {
    let mut b = vec![kind, 0, 0, 0];
    b.extend_from_slice(&ident.to_be_bytes());
    b.extend_from_slice(&1u16.to_be_bytes());
    b.extend_from_slice(b"ping");
    b // checksum (over the pseudo-header) is filled by filter::rewrite
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// IPv4 header without options; `filter::rewrite` fills the IP and transport checksums.
fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 20];
    b[0] = 0x45;
    b[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    b[6] = 0x40; // don't fragment
    b[8] = 64;
    b[9] = proto;
    b.extend_from_slice(payload);
    filter::rewrite(&mut b, IpAddr::V4(src), IpAddr::V4(dst)).expect("valid IPv4 packet");
    b
}

fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, next: u8, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 40];
    b[0] = 0x60;
    b[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
    b[6] = next;
    b[7] = 64;
    b.extend_from_slice(payload);
    filter::rewrite(&mut b, IpAddr::V6(src), IpAddr::V6(dst)).expect("valid IPv6 packet");
    b
}
