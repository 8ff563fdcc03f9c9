//! Pipeline tests over heap memory: bytes in on a vif or the uplink →
//! descriptors staged on which interface, with which bytes, and which
//! counters moved. Every path, every drop reason, and the malformed suite.

use std::net::Ipv4Addr;

use geneve::decap::decapsulate;

use super::*;
use crate::{
    ids::{Mac, PortId, TepId},
    packet::{parse, ParseError},
    testing::*,
    wire::*,
};

fn port(rig: &Rig, name: &str) -> Endpoint {
    Endpoint::Port(rig.port(name))
}

/// `a` (vm1, VLAN 10) sends `frame` (untagged as the pod sent it).
fn from_a(rig: &mut Rig, frame: &[u8]) {
    rig.input(Some(VM1), &[tagged(frame, 10)]);
}

fn udp_a_to(dst: char) -> Vec<u8> {
    udp4_frame(mac(dst), mac('a'), ip4('a'), ip4(dst), b"hello")
}

/// Exactly one drop anywhere: this reason on this endpoint; nothing staged.
#[track_caller]
fn assert_only_drop(rig: &Rig, at: Endpoint, reason: DropReason) {
    assert_eq!(rig.all_drops(), vec![(at, reason, 1)]);
    assert_eq!(rig.staged_count(), 0, "nothing staged");
    rig.check_accounting();
}

// ---- paths -------------------------------------------------------------

#[test]
fn local_unicast_to_an_untagged_port_on_another_vif() {
    let mut rig = Rig::new();
    let frame = udp_a_to('c');
    from_a(&mut rig, &frame);
    let staged = rig.staged(Some(VM2));
    assert_eq!(staged.len(), 1);
    assert_eq!(staged[0].0, frame, "untagged, bytes as sent");
    assert_eq!(
        staged[0].1,
        TxMeta {
            owner: port(&rig, "c"),
            bytes: frame.len() as u32,
            cast: Cast::Unicast
        }
    );
    assert_eq!(rig.staged_count(), 1);
    let a = rig.counters.port(rig.port("a"));
    assert_eq!(
        (a.rx_packets.get(), a.rx_bytes.get()),
        (1, frame.len() as u64),
        "port rx counts untagged bytes"
    );
    let vm1 = rig.counters.vif(VM1);
    assert_eq!(
        (vm1.rx_packets.get(), vm1.rx_bytes.get()),
        (1, frame.len() as u64 + 4)
    );
    assert!(rig.all_drops().is_empty());
    rig.check_accounting();
}

#[test]
fn hairpin_to_another_vlan_of_the_same_vif_is_retagged() {
    let mut rig = Rig::new();
    let frame = udp_a_to('b');
    from_a(&mut rig, &frame);
    let staged = rig.staged(Some(VM1));
    assert_eq!(staged.len(), 1);
    assert_eq!(staged[0].0, tagged(&frame, 11), "tagged with b's VLAN");
    assert_eq!(staged[0].1.owner, port(&rig, "b"));
    assert_eq!(
        staged[0].1.bytes,
        frame.len() as u32,
        "owner bytes untagged"
    );
    rig.check_accounting();
}

#[test]
fn remote_mac_is_geneve_encapsulated_to_its_tep() {
    let mut rig = Rig::new();
    let frame = udp_a_to('r');
    from_a(&mut rig, &frame);
    let staged = rig.staged(None);
    assert_eq!(staged.len(), 1);
    let (outer, meta) = &staged[0];
    let d = decapsulate(outer).expect("valid Geneve");
    assert_eq!(d.vni, 5001);
    assert!(!d.oam);
    assert_eq!((d.outer_src_ip, d.outer_dst_ip), (LOCAL_TEP, REMOTE_TEP));
    assert_eq!(&outer[..6], &REMOTE_NEXT_HOP, "to the next hop");
    assert_eq!(&outer[6..12], &UPLINK_MAC);
    assert!(d.udp_src_port >= 49152, "source port in the dynamic range");
    let h = parse(&frame).unwrap();
    assert_eq!(
        d.udp_src_port,
        geneve::encap::source_port_from_hash(h.hash),
        "source port from the context's flow hash"
    );
    assert_eq!(
        &outer[d.inner_offset..d.inner_offset + d.inner_len],
        &frame[..]
    );
    assert_eq!(meta.owner, Endpoint::Uplink);
    assert_eq!(meta.bytes as usize, outer.len());
    rig.check_accounting();
}

#[test]
fn same_flow_same_source_port_other_flow_may_differ() {
    let mut rig = Rig::new();
    let f1 = udp_a_to('r');
    let mut f2 = udp4_frame(mac('r'), mac('a'), ip4('a'), ip4('r'), b"x");
    f2[14 + 20..14 + 22].copy_from_slice(&4242u16.to_be_bytes());
    from_a(&mut rig, &f1);
    from_a(&mut rig, &f1);
    from_a(&mut rig, &f2);
    let ports: Vec<u16> = rig
        .staged(None)
        .iter()
        .map(|(o, _)| decapsulate(o).unwrap().udp_src_port)
        .collect();
    assert_eq!(ports[0], ports[1]);
    assert_ne!(ports[0], ports[2], "another source port hashes elsewhere");
}

#[test]
fn broadcast_from_a_port_floods_other_ports_and_remote_teps_not_back() {
    let mut rig = Rig::new();
    let frame = eth(
        BROADCAST,
        mac('a'),
        ETHERTYPE_ARP,
        &arp(1, mac('a'), ip4('a'), ip4('c')),
    );
    from_a(&mut rig, &frame);
    let vm1 = rig.staged(Some(VM1));
    assert_eq!(vm1.len(), 1, "b only: never back to a, never to green g");
    assert_eq!(vm1[0].0, tagged(&frame, 11));
    assert_eq!(vm1[0].1.cast, Cast::Broadcast);
    let vm2 = rig.staged(Some(VM2));
    assert_eq!(vm2.len(), 1);
    assert_eq!(vm2[0].0, frame);
    let up = rig.staged(None);
    assert_eq!(up.len(), 1, "head-end replication to the one remote TEP");
    let d = decapsulate(&up[0].0).unwrap();
    assert_eq!(&up[0].0[d.inner_offset..], &frame[..]);
    let a = rig.counters.port(rig.port("a"));
    assert_eq!(a.rx_broadcast.get(), 1);
    assert!(rig.all_drops().is_empty());
    rig.check_accounting();
}

#[test]
fn unknown_unicast_floods_like_broadcast() {
    let mut rig = Rig::new();
    let frame = udp4_frame([2, 0, 0, 0, 9, 9], mac('a'), ip4('a'), ip4('b'), b"?");
    from_a(&mut rig, &frame);
    assert_eq!(rig.staged(Some(VM1)).len(), 1);
    assert_eq!(rig.staged(Some(VM2)).len(), 1);
    assert_eq!(rig.staged(None).len(), 1);
    rig.check_accounting();
}

#[test]
fn uplink_unicast_is_decapsulated_to_its_port() {
    let mut rig = Rig::new();
    let inner = udp4_frame(mac('a'), mac('r'), ip4('r'), ip4('a'), b"from afar");
    rig.input(None, &[geneve(5001, &inner)]);
    let staged = rig.staged(Some(VM1));
    assert_eq!(staged.len(), 1);
    assert_eq!(staged[0].0, tagged(&inner, 10));
    assert_eq!(staged[0].1.owner, port(&rig, "a"));
    assert_eq!(rig.staged_count(), 1);
    assert_eq!(rig.counters.uplink.rx_packets.get(), 1);
    rig.check_accounting();
}

#[test]
fn uplink_broadcast_floods_local_ports_only_split_horizon() {
    let mut rig = Rig::new();
    let inner = eth(
        BROADCAST,
        mac('r'),
        ETHERTYPE_ARP,
        &arp(1, mac('r'), ip4('r'), ip4('a')),
    );
    rig.input(None, &[geneve(5001, &inner)]);
    let vm1: Vec<Vec<u8>> = rig.staged(Some(VM1)).into_iter().map(|s| s.0).collect();
    assert_eq!(vm1, vec![tagged(&inner, 10), tagged(&inner, 11)]);
    assert_eq!(rig.staged(Some(VM2)).len(), 1);
    assert_eq!(rig.staged(None).len(), 0, "never back to the uplink");
    rig.check_accounting();
}

#[test]
fn switches_are_isolated() {
    let mut rig = Rig::new();
    // g is alone on green: its broadcast has nowhere to go.
    let frame = eth(
        BROADCAST,
        mac('g'),
        ETHERTYPE_ARP,
        &arp(1, mac('g'), ip4('g'), ip4('a')),
    );
    rig.input(Some(VM1), &[tagged(&frame, 12)]);
    assert_only_drop(&rig, port(&rig, "g"), DropReason::NoDestination);
    // a's unicast to g's MAC is unknown on blue: flooded on blue only.
    let mut rig = Rig::new();
    from_a(&mut rig, &udp_a_to('g'));
    let vm1 = rig.staged(Some(VM1));
    assert_eq!(vm1.len(), 1);
    assert_eq!(vm1[0].1.owner, port(&rig, "b"));
}

#[test]
fn a_batch_keeps_order_and_mixes_paths() {
    let mut rig = Rig::new();
    let frames = vec![
        tagged(&udp_a_to('c'), 10),
        tagged(&udp_a_to('r'), 10),
        vec![2u8; 10],
        tagged(&udp_a_to('b'), 10),
        tagged(&udp_a_to('c'), 99),
    ];
    rig.input(Some(VM1), &frames);
    assert_eq!(rig.staged(Some(VM2)).len(), 1);
    assert_eq!(rig.staged(None).len(), 1);
    assert_eq!(rig.staged(Some(VM1)).len(), 1);
    assert_eq!(rig.drops(Endpoint::Vif(VM1), DropReason::Malformed), 1);
    assert_eq!(rig.drops(Endpoint::Vif(VM1), DropReason::UnknownVlan), 1);
    assert_eq!(rig.counters.vif(VM1).rx_packets.get(), 5);
    rig.check_accounting();
}

/// The L2 lookup's answer is remembered from one frame to the next: for
/// the same MAC on the same switch only (a MAC known on blue is unknown on
/// green), and the hairpin check still applies to each frame.
#[test]
fn l2_lookups_in_a_batch_keep_switches_and_hairpins_apart() {
    let mut rig = Rig::new();
    let from = |src: char, dst: char, vlan: u16| {
        let f = udp4_frame(mac(dst), mac(src), ip4(src), ip4(dst), b"l2");
        tagged(&f, vlan)
    };
    let frames = vec![
        from('a', 'c', 10),
        from('g', 'c', 12),
        from('a', 'c', 10),
        from('b', 'b', 11),
        from('a', 'b', 10),
        from('b', 'b', 11),
        from('g', 'c', 12),
        from('a', 'r', 10),
    ];
    rig.input(Some(VM1), &frames);
    assert_eq!(rig.staged(Some(VM2)).len(), 2, "a -> c twice");
    let vm1 = rig.staged(Some(VM1));
    assert_eq!(vm1.len(), 1, "a -> b");
    assert_eq!(vm1[0].1.owner, port(&rig, "b"));
    assert_eq!(rig.staged(None).len(), 1, "a -> r");
    let (b, g) = (port(&rig, "b"), port(&rig, "g"));
    assert_eq!(rig.drops(b, DropReason::NoDestination), 2, "b's hairpins");
    assert_eq!(
        rig.drops(g, DropReason::NoDestination),
        2,
        "c is unknown on green"
    );
    rig.check_accounting();
}

/// Port rx counters, added once per run of one port's frames: exact for
/// interleaved ports, broadcasts and a frame dropped as malformed.
#[test]
fn port_rx_counters_are_exact_for_interleaved_ports() {
    let mut rig = Rig::new();
    let from = |src: char, dst: char, vlan: u16| {
        let f = udp4_frame(mac(dst), mac(src), ip4(src), ip4(dst), b"rx");
        tagged(&f, vlan)
    };
    let bcast = eth(
        BROADCAST,
        mac('b'),
        ETHERTYPE_ARP,
        &arp(1, mac('b'), ip4('b'), ip4('a')),
    );
    let mut short = from('a', 'c', 10);
    short.truncate(30);
    let frames = vec![
        from('a', 'c', 10),
        from('b', 'c', 11),
        from('a', 'c', 10),
        from('a', 'c', 10),
        tagged(&bcast, 11),
        short,
        from('b', 'c', 11),
    ];
    let untagged_len = |f: &Vec<u8>| (f.len() - 4) as u64;
    let sum = |idx: &[usize]| idx.iter().map(|&i| untagged_len(&frames[i])).sum::<u64>();
    rig.input(Some(VM1), &frames);
    let (a, b) = (rig.port("a"), rig.port("b"));
    let ca = rig.counters.port(a);
    let cb = rig.counters.port(b);
    assert_eq!(ca.rx_packets.get(), 4);
    assert_eq!(ca.rx_bytes.get(), sum(&[0, 2, 3, 5]));
    assert_eq!(cb.rx_packets.get(), 3);
    assert_eq!(cb.rx_bytes.get(), sum(&[1, 4, 6]));
    assert_eq!(cb.rx_broadcast.get(), 1);
    assert_eq!(ca.rx_broadcast.get(), 0);
    assert_eq!(rig.drops(Endpoint::Port(a), DropReason::Malformed), 1);
    assert_eq!(rig.counters.vif(VM1).rx_packets.get(), 7);
    rig.check_accounting();
}

#[test]
fn more_than_a_batch_is_processed_in_batches() {
    let mut rig = Rig::new();
    let frames = vec![tagged(&udp_a_to('c'), 10); BATCH * 2 + 5];
    rig.input(Some(VM1), &frames);
    assert_eq!(rig.staged(Some(VM2)).len(), BATCH * 2 + 5);
    rig.check_accounting();
}

// ---- transmit accounting -------------------------------------------------

/// A tx ring that takes at most `room` descriptors.
struct FakeRing {
    room: usize,
    taken: Vec<xdp_desc>,
}

impl DescRing for FakeRing {
    fn produce(&mut self, descs: &[xdp_desc]) -> usize {
        let n = descs.len().min(self.room);
        self.room -= n;
        self.taken.extend_from_slice(&descs[..n]);
        n
    }
}

#[test]
fn flush_counts_port_and_vif_tx_and_ring_full_drops() {
    let mut rig = Rig::new();
    let frame = udp_a_to('b');
    for _ in 0..3 {
        from_a(&mut rig, &frame);
    }
    let mut ring = FakeRing {
        room: 2,
        taken: Vec::new(),
    };
    let Rig {
        egress,
        counters,
        pool,
        ..
    } = &mut rig;
    let free_before = pool.len();
    egress.vifs[VM1.index()].flush(
        counters,
        pool,
        Some(VM1),
        Some(&mut ring),
        DropReason::TxRingFull,
    );
    assert_eq!(ring.taken.len(), 2);
    assert_eq!(
        pool.len(),
        free_before + 1,
        "the one that did not fit is freed"
    );
    let b = rig.counters.port(rig.port("b"));
    assert_eq!(
        (b.tx_packets.get(), b.tx_bytes.get()),
        (2, 2 * frame.len() as u64),
        "port tx bytes untagged"
    );
    assert_eq!(b.drops[DropReason::TxRingFull as usize].get(), 1);
    let vm1 = rig.counters.vif(VM1);
    assert_eq!(
        (vm1.tx_packets.get(), vm1.tx_bytes.get()),
        (2, 2 * (frame.len() as u64 + 4)),
        "vif tx bytes as sent, tagged"
    );
    assert_eq!(vm1.drops[DropReason::TxRingFull as usize].get(), 1);
    assert!(rig.egress.vifs[VM1.index()].is_empty());
}

// ---- every drop reason ---------------------------------------------------

#[test]
fn drop_unknown_vlan() {
    let mut rig = Rig::new();
    rig.input(Some(VM1), &[tagged(&udp_a_to('c'), 999)]);
    assert_only_drop(&rig, Endpoint::Vif(VM1), DropReason::UnknownVlan);
    let mut rig = Rig::new();
    rig.input(Some(VM1), &[udp_a_to('c')]);
    assert_only_drop(&rig, Endpoint::Vif(VM1), DropReason::UnknownVlan);
}

#[test]
fn drop_unknown_vni() {
    let mut rig = Rig::new();
    let inner = udp4_frame(mac('a'), mac('r'), ip4('r'), ip4('a'), b"x");
    rig.input(None, &[geneve(7777, &inner)]);
    assert_only_drop(&rig, Endpoint::Uplink, DropReason::UnknownVni);
}

#[test]
fn drop_no_route_to_tep() {
    let mut rig = Rig::new();
    rig.tep_headers = vec![None];
    from_a(&mut rig, &udp_a_to('r'));
    assert_only_drop(&rig, port(&rig, "a"), DropReason::NoRouteToTep);
}

#[test]
fn drop_too_big_for_uplink() {
    let mut rig = Rig::with_config(&RIG_CONFIG.replace("\"mtu\": 1600", "\"mtu\": 1400"), true);
    let frame = udp4_frame(mac('r'), mac('a'), ip4('a'), ip4('r'), &[7u8; 1400]);
    from_a(&mut rig, &frame);
    assert_only_drop(&rig, port(&rig, "a"), DropReason::TooBigForUplink);
}

#[test]
fn drop_no_destination() {
    // Unicast to its own MAC.
    let mut rig = Rig::new();
    from_a(&mut rig, &udp_a_to('a'));
    assert_only_drop(&rig, port(&rig, "a"), DropReason::NoDestination);
    // A remote MAC arriving from the uplink.
    let mut rig = Rig::new();
    let inner = udp4_frame(mac('r'), mac('a'), ip4('a'), ip4('r'), b"x");
    rig.input(None, &[geneve(5001, &inner)]);
    assert_only_drop(&rig, Endpoint::Uplink, DropReason::NoDestination);
}

#[test]
fn drop_no_buffer_when_flooding_with_an_empty_pool() {
    let mut rig = Rig::new();
    let frame = eth(
        BROADCAST,
        mac('a'),
        ETHERTYPE_ARP,
        &arp(1, mac('a'), ip4('a'), ip4('c')),
    );
    let chunk = rig.pool.pop().unwrap();
    let addr = rig.mem.receive(chunk, &tagged(&frame, 10));
    let spare = std::mem::take(&mut rig.pool);
    rig.run(
        Some(VM1),
        &[xdp_desc {
            addr,
            len: frame.len() as u32 + 4,
            options: 0,
        }],
    );
    // Three targets (b, c, the TEP): two copies failed, the last got the original.
    assert_eq!(rig.drops(port(&rig, "a"), DropReason::NoBuffer), 2);
    assert_eq!(rig.staged_count(), 1);
    rig.pool.extend(spare);
    rig.check_accounting();
}

#[test]
fn drop_no_local_tep() {
    let mut rig = Rig::with_config(RIG_CONFIG, false);
    from_a(&mut rig, &udp_a_to('r'));
    assert_only_drop(&rig, port(&rig, "a"), DropReason::NoLocalTep);
}

#[test]
fn drop_spoofguard_mac_ip_arp_nd() {
    let mut rig = Rig::new();
    from_a(
        &mut rig,
        &udp4_frame(mac('c'), mac('b'), ip4('a'), ip4('c'), b"x"),
    );
    assert_only_drop(&rig, port(&rig, "a"), DropReason::SpoofguardMac);

    let mut rig = Rig::new();
    from_a(
        &mut rig,
        &udp4_frame(mac('c'), mac('a'), ip4('b'), ip4('c'), b"x"),
    );
    assert_only_drop(&rig, port(&rig, "a"), DropReason::SpoofguardIp);

    let mut rig = Rig::new();
    let garp = eth(
        BROADCAST,
        mac('a'),
        ETHERTYPE_ARP,
        &arp(2, mac('a'), ip4('b'), ip4('b')),
    );
    from_a(&mut rig, &garp);
    assert_only_drop(&rig, port(&rig, "a"), DropReason::SpoofguardArp);

    let mut rig = Rig::new();
    from_a(&mut rig, &na_frame(ip6('a'), ip6('b'), mac('a')));
    assert_only_drop(&rig, port(&rig, "a"), DropReason::SpoofguardNd);
}

fn na_frame(src: std::net::Ipv6Addr, target: std::net::Ipv6Addr, ll: Mac) -> Vec<u8> {
    let mut m = vec![0x20, 0, 0, 0];
    m.extend_from_slice(&target.octets());
    m.extend_from_slice(&[ND_OPT_TARGET_LL, 1]);
    m.extend_from_slice(&ll);
    ipv6_frame(
        [0x33, 0x33, 0, 0, 0, 1],
        mac('a'),
        src,
        "ff02::1".parse().unwrap(),
        IPPROTO_ICMPV6,
        &icmp(ICMPV6_NA, 0, &m),
    )
}

fn ra_body() -> Vec<u8> {
    icmp(ICMPV6_RA, 0, &[64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
}

fn ll_a() -> std::net::Ipv6Addr {
    crate::tables::link_local(&mac('a'))
}

const ALL_NODES: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];

#[test]
fn drop_dhcp_guard_v4_and_v6() {
    let mut rig = Rig::new();
    let offer = eth(
        BROADCAST,
        mac('a'),
        ETHERTYPE_IPV4,
        &ipv4(
            ip4('a'),
            Ipv4Addr::BROADCAST,
            IPPROTO_UDP,
            &udp(67, 68, &[0; 20]),
        ),
    );
    from_a(&mut rig, &offer);
    assert_only_drop(&rig, port(&rig, "a"), DropReason::DhcpGuard);

    // A DHCPv6 ADVERTISE (server → client) is dropped.
    let mut rig = Rig::new();
    from_a(
        &mut rig,
        &dhcpv6_from_a(DHCPV6_SERVER_PORT, DHCPV6_CLIENT_PORT, 2),
    );
    assert_only_drop(&rig, port(&rig, "a"), DropReason::DhcpGuard);

    // A DHCPv6 SOLICIT (client → servers) is fine.
    let mut rig = Rig::new();
    from_a(
        &mut rig,
        &dhcpv6_from_a(DHCPV6_CLIENT_PORT, DHCPV6_SERVER_PORT, 1),
    );
    assert!(rig.all_drops().is_empty());
}

/// A DHCPv6 message of `kind` from a's link-local address to
/// All_DHCP_Relay_Agents_and_Servers.
fn dhcpv6_from_a(sport: u16, dport: u16, kind: u8) -> Vec<u8> {
    ipv6_frame(
        [0x33, 0x33, 0, 1, 0, 2],
        mac('a'),
        ll_a(),
        "ff02::1:2".parse().unwrap(),
        IPPROTO_UDP,
        &udp(sport, dport, &[kind, 0, 0, 1]),
    )
}

#[test]
fn drop_ra_guard_plain_behind_extension_headers_and_in_a_first_fragment() {
    let ra = ra_body();
    let plain = ipv6_frame(
        ALL_NODES,
        mac('a'),
        ll_a(),
        "ff02::1".parse().unwrap(),
        IPPROTO_ICMPV6,
        &ra,
    );
    // RFC 7113's evasions: destination options, a chain of them, hop-by-hop.
    let mut behind_dst = ipv6_ext8(IPPROTO_ICMPV6);
    behind_dst.extend_from_slice(&ra);
    let dst_opts = ipv6_frame(
        ALL_NODES,
        mac('a'),
        ll_a(),
        "ff02::1".parse().unwrap(),
        60,
        &behind_dst,
    );
    let mut chain = ipv6_ext8(60);
    chain.extend(ipv6_ext8(60));
    chain.extend(ipv6_ext8(IPPROTO_ICMPV6));
    chain.extend_from_slice(&ra);
    let chained = ipv6_frame(
        ALL_NODES,
        mac('a'),
        ll_a(),
        "ff02::1".parse().unwrap(),
        0,
        &chain,
    );
    // In a first fragment.
    let mut frag = ipv6_frag_header(IPPROTO_ICMPV6, 0, true);
    frag.extend_from_slice(&ra);
    let fragmented = ipv6_frame(
        ALL_NODES,
        mac('a'),
        ll_a(),
        "ff02::1".parse().unwrap(),
        44,
        &frag,
    );
    for (name, f) in [
        ("plain", plain),
        ("behind destination options", dst_opts),
        ("behind hop-by-hop + 2 destination options", chained),
        ("in a first fragment", fragmented),
    ] {
        let mut rig = Rig::new();
        from_a(&mut rig, &f);
        assert_eq!(
            rig.all_drops(),
            vec![(port(&rig, "a"), DropReason::RaGuard, 1)],
            "{name}"
        );
    }
}

#[test]
fn ra_whose_header_is_pushed_out_of_the_first_fragment_is_malformed() {
    // RFC 7112: the first fragment must hold the whole header chain; here a
    // destination-options header runs into the second fragment.
    let mut frag = ipv6_frag_header(60, 0, true);
    frag.extend_from_slice(&[IPPROTO_ICMPV6, 4, 0, 0, 0, 0, 0, 0]);
    let f = ipv6_frame(
        ALL_NODES,
        mac('a'),
        ll_a(),
        "ff02::1".parse().unwrap(),
        44,
        &frag,
    );
    let mut rig = Rig::new();
    from_a(&mut rig, &f);
    assert_only_drop(&rig, port(&rig, "a"), DropReason::Malformed);
}

fn geneve_refused(mutate: impl Fn(&mut Vec<u8>, usize)) -> Rig {
    let inner = udp4_frame(mac('a'), mac('r'), ip4('r'), ip4('a'), b"x");
    let mut outer = geneve(5001, &inner);
    mutate(&mut outer, 14 + 20 + 8);
    let mut rig = Rig::new();
    rig.input(None, &[outer]);
    rig
}

#[test]
fn drop_each_geneve_refusal_under_its_own_reason() {
    type Mutation = Box<dyn Fn(&mut Vec<u8>, usize)>;
    let cases: Vec<(&str, DropReason, Mutation)> = vec![
        (
            "O bit (control packet)",
            DropReason::GeneveOam,
            Box::new(|o, g| o[g + 1] |= 0x80),
        ),
        (
            "version 1",
            DropReason::GeneveVersion,
            Box::new(|o, g| o[g] |= 0x40),
        ),
        (
            "protocol IPv4",
            DropReason::GeneveProtocol,
            Box::new(|o, g| o[g + 2..g + 4].copy_from_slice(&[8, 0])),
        ),
        (
            "options length past the packet",
            DropReason::GeneveTruncated,
            Box::new(|o, g| {
                o[g] |= 0x3f;
            }),
        ),
        (
            "truncated Geneve header",
            DropReason::GeneveTruncated,
            Box::new(|o, g| {
                o.truncate(g + 4);
                let udp_len = 12u16;
                o[14 + 20 + 4..14 + 20 + 6].copy_from_slice(&udp_len.to_be_bytes());
                let total = (20 + 12) as u16;
                o[16..18].copy_from_slice(&total.to_be_bytes());
                o[24..26].copy_from_slice(&[0, 0]);
                let sum = geneve::ipv4_header_checksum(&o[14..34]);
                o[24..26].copy_from_slice(&sum.to_be_bytes());
            }),
        ),
        (
            "outer IPv4 checksum",
            DropReason::GeneveChecksum,
            Box::new(|o, _| o[24] ^= 0xff),
        ),
        (
            "outer not IPv4",
            DropReason::GeneveOuter,
            Box::new(|o, _| o[12..14].copy_from_slice(&[0x86, 0xdd])),
        ),
        (
            "outer fragment",
            DropReason::GeneveFragment,
            Box::new(|o, _| {
                o[20] |= 0x20; // MF
                o[24..26].copy_from_slice(&[0, 0]);
                let sum = geneve::ipv4_header_checksum(&o[14..34]);
                o[24..26].copy_from_slice(&sum.to_be_bytes());
            }),
        ),
        (
            "outer UDP length",
            DropReason::GeneveOuter,
            Box::new(|o, _| o[14 + 20 + 5] = o[14 + 20 + 5].wrapping_add(1)),
        ),
    ];
    for (name, reason, mutate) in cases {
        let rig = geneve_refused(mutate);
        assert_eq!(
            rig.all_drops(),
            vec![(Endpoint::Uplink, reason, 1)],
            "{name}"
        );
        assert_eq!(rig.staged_count(), 0, "{name}");
        rig.check_accounting();
    }
}

#[test]
fn drop_geneve_unknown_critical_option() {
    use geneve::wire::{self, Packet, Repr};
    let inner = udp4_frame(mac('a'), mac('r'), ip4('r'), ip4('a'), b"x");
    // Build Geneve with one 4-byte critical option by hand around the inner frame.
    let mut g = vec![0u8; 8 + 4];
    Repr {
        oam: false,
        critical: true,
        protocol_type: geneve::ETHERTYPE_TEB,
        vni: 5001,
        options_len: 4,
    }
    .emit(&mut Packet::new_unchecked(&mut g[..]));
    wire::emit_option(&mut g[8..], 0x0102, 0x80 | 5, &[]).unwrap();
    g.extend_from_slice(&inner);
    let mut payload = udp(40000, geneve::GENEVE_UDP_PORT, &g);
    payload[6..8].copy_from_slice(&[0, 0]);
    let outer = eth(
        UPLINK_MAC,
        REMOTE_NEXT_HOP,
        ETHERTYPE_IPV4,
        &ipv4(REMOTE_TEP, LOCAL_TEP, IPPROTO_UDP, &payload),
    );
    let mut rig = Rig::new();
    rig.input(None, &[outer]);
    assert_only_drop(&rig, Endpoint::Uplink, DropReason::GeneveCriticalOption);
}

#[test]
fn every_drop_reason_is_covered_by_a_test_here() {
    // The reasons above, plus tx_ring_full (flush test) and malformed (the
    // suite below). A new reason fails this until it gets its test.
    let tested = [
        "unknown_vlan",
        "unknown_vni",
        "malformed",
        "no_route_to_tep",
        "too_big_for_uplink",
        "no_destination",
        "tx_ring_full",
        "no_buffer",
        "no_local_tep",
        "spoofguard_mac",
        "spoofguard_ip",
        "spoofguard_arp",
        "spoofguard_nd",
        "dhcp_guard",
        "ra_guard",
        "geneve_outer",
        "geneve_checksum",
        "geneve_fragment",
        "geneve_truncated",
        "geneve_version",
        "geneve_critical_option",
        "geneve_protocol",
        "geneve_oam",
        // tests_firewall.rs
        "firewall_drop",
        "firewall_reject",
        "conntrack_invalid",
        "conntrack_full",
        "conntrack_strict",
        "fragment_no_first",
        // tests_handoff.rs
        "handoff_ring_full",
    ];
    let mut all: Vec<&str> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
    all.sort_unstable();
    let mut t = tested.to_vec();
    t.sort_unstable();
    assert_eq!(all, t);
}

// ---- the malformed suite ---------------------------------------------------

#[test]
fn malformed_suite_every_class_is_dropped_as_malformed_where_it_entered() {
    let classes = malformed_classes();
    assert!(classes.len() >= 40, "{} classes", classes.len());
    for (name, bytes, via) in &classes {
        let mut rig = Rig::new();
        let (at, input) = match via {
            Via::Vif => (Endpoint::Vif(VM1), (Some(VM1), bytes.clone())),
            Via::PortA => (port(&rig, "a"), (Some(VM1), tagged(bytes, 10))),
            Via::Uplink => (Endpoint::Uplink, (None, geneve(5001, bytes))),
        };
        rig.input(input.0, &[input.1]);
        assert_eq!(
            rig.all_drops(),
            vec![(at, DropReason::Malformed, 1)],
            "{name} ({via:?})"
        );
        assert_eq!(rig.staged_count(), 0, "{name}");
        rig.check_accounting();
    }
}

#[test]
fn malformed_classes_are_refused_by_the_parser_itself() {
    // The same bytes, untagged: the parser (or the tag check) says why.
    for (name, bytes, via) in malformed_classes() {
        let refused = match via {
            Via::Vif => crate::packet::vlan_tag(&bytes).is_err(),
            _ => parse(&bytes).is_err(),
        };
        assert!(refused, "{name}");
    }
}

#[test]
fn a_descriptor_past_its_chunk_is_malformed() {
    let mut rig = Rig::new();
    let chunk = rig.pool.pop().unwrap();
    let addr = rig.mem.receive(chunk, &tagged(&udp_a_to('c'), 10));
    rig.run(
        Some(VM1),
        &[xdp_desc {
            addr,
            len: (crate::frames::FRAME_SIZE - 100) as u32,
            options: 0,
        }],
    );
    assert_only_drop(&rig, Endpoint::Vif(VM1), DropReason::Malformed);
}

// ---- valid edge cases that must pass -------------------------------------

#[test]
fn valid_edge_cases_are_forwarded() {
    let cases = valid_edge_cases();
    for (name, f) in cases {
        let mut rig = Rig::new();
        from_a(&mut rig, &f);
        if parse(&f).unwrap().frag == crate::packet::Fragment::Later {
            // Valid, but the firewall takes a later fragment's verdict
            // from its first fragment (tests_firewall.rs).
            assert_only_drop(&rig, port(&rig, "a"), DropReason::FragmentNoFirst);
            continue;
        }
        assert!(rig.all_drops().is_empty(), "{name}: {:?}", rig.all_drops());
        assert_eq!(rig.staged(Some(VM2)).len(), 1, "{name}");
    }
}

#[test]
fn parser_fills_the_context() {
    let f = eth(
        mac('c'),
        mac('a'),
        ETHERTYPE_IPV6,
        &ipv6(
            ip6('a'),
            ip6('c'),
            60,
            &cat(&[&ipv6_ext8(IPPROTO_TCP), &tcp(4000, 443, 0x12, b"hi")]),
        ),
    );
    let h = parse(&f).unwrap();
    assert_eq!(h.l3, crate::packet::L3::Ipv6);
    assert_eq!(h.l3_off, 14);
    assert_eq!(h.l4_off, 14 + 40 + 8);
    assert_eq!(h.l4_len, 22);
    assert_eq!(
        (h.proto, h.sport, h.dport, h.tcp_flags),
        (IPPROTO_TCP, 4000, 443, 0x12)
    );
    assert_eq!(h.src_ip, ip6('a').octets());
    assert_eq!(h.frag, crate::packet::Fragment::Whole);
    let f4 = v4_frag(IPPROTO_UDP, 5, false, &[0; 8]);
    let h4 = parse(&f4).unwrap();
    assert_eq!(h4.frag, crate::packet::Fragment::Later);
    assert!(!h4.has_l4());
    assert_eq!(h4.src_v4(), ip4('a'));
    assert_eq!(
        parse(&v4(IPPROTO_TCP, &with(tcp(1, 2, 0, &[]), |t| t[12] = 0x40))),
        Err(ParseError::Tcp("data offset below 5"))
    );
    let _ = (PortId(0), TepId(0));
}

#[test]
fn a_tagged_frame_parses_as_its_untagged_self() {
    // The pipeline parses a frame as it arrived and strips its tag after:
    // the headers (offsets into the untagged frame, hash, every field) and
    // every refusal must be those of the untagged frame.
    let frames = valid_edge_cases()
        .into_iter()
        .chain(malformed_classes().into_iter().map(|(n, b, _)| (n, b)))
        .chain([
            ("arp", arp(1, mac('a'), ip4('a'), ip4('c'))),
            ("non-IP", eth(mac('c'), mac('a'), 0x88b5, &[0; 46])),
        ]);
    let mut checked = 0;
    for (name, untagged) in frames {
        if crate::packet::vlan_tag(&untagged) != Ok(None) {
            continue;
        }
        let mut stale = parse(&v4(IPPROTO_TCP, &tcp(9, 9, 0x10, b"stale"))).unwrap();
        let got = crate::packet::parse_tagged_into(&tagged(&untagged, 10), &mut stale);
        match parse(&untagged) {
            Ok(h) => {
                assert_eq!(got, Ok(()), "{name}");
                assert_eq!(stale, h, "{name}");
            }
            Err(e) => assert_eq!(got, Err(e), "{name}"),
        }
        checked += 1;
    }
    assert!(checked > 50, "only {checked} frames checked");
}
