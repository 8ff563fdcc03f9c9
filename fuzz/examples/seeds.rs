//! Writes the seed corpus of every target into `fuzz/corpus/<target>/`
//! (replacing what is there): valid and edge-case frames built with
//! `datapath::testing`, and malformed ones of each class the pipeline tests
//! name. In `fuzz/`: `cargo run --release --example seeds` (an example, so
//! that `cargo fuzz build` leaves it alone).

use std::{fs, net::Ipv4Addr, path::Path};

use datapath::{
    tables::{link_local, PortGuard},
    testing::*,
    wire::{ETHERTYPE_ARP, ETHERTYPE_IPV4, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP},
};
use xvswitch_fuzz::{encode_guard, pipeline};

/// ICMPv6 neighbour discovery (NS 135 / NA 136) for `target` with one
/// link-layer address option of `opt` carrying `ll`.
fn nd(kind: u8, target: std::net::Ipv6Addr, opt: u8, ll: [u8; 6]) -> Vec<u8> {
    let mut rest = vec![0; 4];
    rest.extend_from_slice(&target.octets());
    rest.extend_from_slice(&[opt, 1]);
    rest.extend_from_slice(&ll);
    icmp(kind, 0, &rest)
}

/// Untagged frames, valid and edge cases: what a port sends.
fn valid_frames() -> Vec<(&'static str, Vec<u8>)> {
    let tcp_ok = tcp(1000, 80, 0x02, &[]);
    let udp_ok = udp(1000, 2000, b"abcd");
    vec![
        (
            "udp4",
            udp4_frame(mac('c'), mac('a'), ip4('a'), ip4('c'), b"payload!"),
        ),
        (
            "udp4_padded",
            with(v4(IPPROTO_UDP, &udp_ok), |f| f.extend_from_slice(&[0; 10])),
        ),
        ("tcp4_syn", v4(IPPROTO_TCP, &tcp_ok)),
        (
            "tcp4_options",
            v4(
                IPPROTO_TCP,
                &with(tcp(1, 2, 0x12, &[1, 1, 1, 0]), |t| t[12] = 0x60),
            ),
        ),
        ("icmp4_echo", v4(IPPROTO_ICMP, &icmp(8, 0, &[0, 1, 0, 1]))),
        (
            "ipv4_ah",
            v4(51, &cat(&[&[IPPROTO_UDP, 4, 0, 0], &[0; 20], &udp_ok])),
        ),
        (
            "ipv4_later_frag_udp",
            v4_frag(IPPROTO_UDP, 1, true, &[0; 16]),
        ),
        ("ipv4_other_proto", v4(47, &[0; 12])),
        (
            "dhcp4_discover",
            eth(
                BROADCAST,
                mac('a'),
                ETHERTYPE_IPV4,
                &ipv4(
                    Ipv4Addr::UNSPECIFIED,
                    Ipv4Addr::BROADCAST,
                    IPPROTO_UDP,
                    &udp(68, 67, b"discover"),
                ),
            ),
        ),
        (
            "dhcp4_offer",
            eth(
                BROADCAST,
                mac('a'),
                ETHERTYPE_IPV4,
                &ipv4(
                    ip4('a'),
                    Ipv4Addr::BROADCAST,
                    IPPROTO_UDP,
                    &udp(67, 68, b"offer"),
                ),
            ),
        ),
        ("udp6", v6(IPPROTO_UDP, &udp_ok)),
        ("tcp6", v6(IPPROTO_TCP, &tcp_ok)),
        (
            "icmp6_echo",
            v6(IPPROTO_ICMPV6, &icmp(128, 0, &[0, 1, 0, 1])),
        ),
        (
            "ipv6_hbh_routing_udp",
            v6(0, &cat(&[&ipv6_ext8(43), &ipv6_ext8(IPPROTO_UDP), &udp_ok])),
        ),
        (
            "ipv6_ah_tcp",
            v6(
                51,
                &cat(&[&[IPPROTO_TCP, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], &tcp_ok]),
            ),
        ),
        (
            "ipv6_ra_behind_dstopts",
            ipv6_frame(
                mac('c'),
                mac('a'),
                link_local(&mac('a')),
                ip6('c'),
                60,
                &cat(&[
                    &ipv6_ext8(IPPROTO_ICMPV6),
                    &icmp(134, 0, &[64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
                ]),
            ),
        ),
        ("dhcp6_reply", v6(IPPROTO_UDP, &udp(547, 546, b"reply"))),
        (
            "nd_ns_dad",
            ipv6_frame(
                BROADCAST,
                mac('a'),
                "::".parse().expect("v6"),
                ip6('c'),
                IPPROTO_ICMPV6,
                &icmp(135, 0, &cat(&[&[0; 4], &ip6('a').octets()])),
            ),
        ),
        ("nd_ns", v6(IPPROTO_ICMPV6, &nd(135, ip6('c'), 1, mac('a')))),
        ("nd_na", v6(IPPROTO_ICMPV6, &nd(136, ip6('a'), 2, mac('a')))),
        (
            "nd_na_spoofed",
            v6(IPPROTO_ICMPV6, &nd(136, ip6('c'), 2, mac('c'))),
        ),
        (
            "arp_request",
            eth(
                BROADCAST,
                mac('a'),
                ETHERTYPE_ARP,
                &arp(1, mac('a'), ip4('a'), ip4('c')),
            ),
        ),
        (
            "arp_probe",
            eth(
                BROADCAST,
                mac('a'),
                ETHERTYPE_ARP,
                &arp(1, mac('a'), Ipv4Addr::UNSPECIFIED, ip4('a')),
            ),
        ),
        (
            "arp_gratuitous_other",
            eth(
                BROADCAST,
                mac('a'),
                ETHERTYPE_ARP,
                &arp(2, mac('a'), ip4('c'), ip4('c')),
            ),
        ),
        ("other_ethertype", eth(mac('b'), mac('a'), 0x88cc, &[0; 32])),
        (
            "multicast_v6",
            ipv6_frame(
                [0x33, 0x33, 0, 0, 0, 1],
                mac('a'),
                ip6('a'),
                "ff02::1".parse().expect("v6"),
                IPPROTO_UDP,
                &udp_ok,
            ),
        ),
        (
            "to_remote",
            udp4_frame(mac('r'), mac('a'), ip4('a'), ip4('r'), b"remote"),
        ),
        (
            "to_b",
            udp4_frame(mac('b'), mac('a'), ip4('a'), ip4('b'), b"hairpin"),
        ),
        (
            "unknown_unicast",
            udp4_frame(mac('z'), mac('a'), ip4('a'), ip4('z'), b"unknown"),
        ),
        (
            "big_udp4",
            udp4_frame(mac('r'), mac('a'), ip4('a'), ip4('r'), &[0x55; 1600]),
        ),
    ]
}

/// Malformed untagged frames, one of each class of the pipeline tests.
fn malformed_frames() -> Vec<(String, Vec<u8>)> {
    // The pipeline tests' malformed classes, by a file-friendly name.
    malformed_classes()
        .into_iter()
        .map(|(name, bytes, _)| (slug(name), bytes))
        .collect()
}

/// "IPv4 total length past the frame" → "ipv4_total_length_past_the_frame".
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_string()
}

/// Geneve frames (outer + inner), valid and not, for the uplink.
fn geneve_frames() -> Vec<(&'static str, Vec<u8>)> {
    let to_a = udp4_frame(mac('a'), mac('r'), ip4('r'), ip4('a'), b"from remote");
    let to_c = udp4_frame(mac('c'), mac('r'), ip4('r'), ip4('c'), b"from remote");
    let bcast = eth(
        BROADCAST,
        mac('r'),
        ETHERTYPE_ARP,
        &arp(1, mac('r'), ip4('r'), ip4('a')),
    );
    let v6_to_a = ipv6_frame(
        mac('a'),
        mac('r'),
        ip6('c'),
        ip6('a'),
        IPPROTO_TCP,
        &tcp(1, 2, 0x10, b"x"),
    );
    // Options: set the Geneve header's option length and insert them.
    let with_options = |frame: Vec<u8>, opts: &[u8]| {
        let mut f = frame;
        let gnv = 14 + 20 + 8;
        f[gnv] = (opts.len() / 4) as u8;
        f.splice(gnv + 8..gnv + 8, opts.iter().copied());
        let total = (f.len() - 14) as u16;
        f[16..18].copy_from_slice(&total.to_be_bytes());
        f[38..40].copy_from_slice(&(total - 20).to_be_bytes());
        f[24..26].copy_from_slice(&[0, 0]);
        let sum = geneve::ipv4_header_checksum(&f[14..34]);
        f[24..26].copy_from_slice(&sum.to_be_bytes());
        f
    };
    vec![
        ("to_a", geneve(5001, &to_a)),
        ("to_c", geneve(5001, &to_c)),
        ("broadcast", geneve(5001, &bcast)),
        ("v6_to_a", geneve(5001, &v6_to_a)),
        (
            "to_g_green",
            geneve(
                5002,
                &udp4_frame(mac('g'), mac('r'), ip4('r'), ip4('g'), b"green"),
            ),
        ),
        (
            "to_remote_mac",
            geneve(
                5001,
                &udp4_frame(mac('r'), mac('r'), ip4('r'), ip4('r'), b"back"),
            ),
        ),
        ("unknown_vni", geneve(7777, &to_a)),
        (
            "oam",
            with(geneve(5001, &to_a), |f| f[14 + 20 + 8 + 1] |= 0x80),
        ),
        (
            "version_1",
            with(geneve(5001, &to_a), |f| f[14 + 20 + 8] |= 0x40),
        ),
        (
            "protocol_ipv4",
            with(geneve(5001, &to_a), |f| {
                f[14 + 20 + 8 + 2..14 + 20 + 8 + 4].copy_from_slice(&[8, 0])
            }),
        ),
        (
            "option_noncritical",
            with_options(geneve(5001, &to_a), &[0x01, 0x02, 0x03, 1, 0, 0, 0, 0]),
        ),
        (
            "option_critical",
            with_options(geneve(5001, &to_a), &[0x01, 0x02, 0x83, 1, 0, 0, 0, 0]),
        ),
        (
            "option_truncated",
            with_options(geneve(5001, &to_a), &[0x01, 0x02, 0x03, 5, 0, 0, 0, 0]),
        ),
        ("udp_checksum", {
            let mut f = geneve(5001, &to_a);
            let s = geneve::checksum::udp_checksum(REMOTE_TEP, LOCAL_TEP, &f[34..]);
            f[40..42].copy_from_slice(&s.to_be_bytes());
            f
        }),
        (
            "bad_ip_checksum",
            with(geneve(5001, &to_a), |f| f[24] ^= 0xff),
        ),
        (
            "fragment",
            with(geneve(5001, &to_a), |f| {
                f[20] = 0x20;
                xvswitch_fuzz::fix_outer(f, 2);
            }),
        ),
        (
            "not_geneve_port",
            with(geneve(5001, &to_a), |f| f[36..38].copy_from_slice(&[0, 53])),
        ),
        (
            "inner_malformed",
            geneve(5001, &with(to_a.clone(), |f| f[14] = 0x44)),
        ),
        ("inner_tagged", geneve(5001, &tagged(&to_a, 10))),
        ("inner_14_bytes", geneve(5001, &to_a[..14])),
        ("truncated_udp", geneve(5001, &to_a)[..38].to_vec()),
        (
            "padded",
            with(geneve(5001, &to_a), |f| f.extend_from_slice(&[0; 8])),
        ),
    ]
}

fn write(dir: &Path, target: &str, seeds: &[(String, Vec<u8>)]) {
    let d = dir.join(target);
    if d.exists() {
        fs::remove_dir_all(&d).expect("remove the old seeds");
    }
    fs::create_dir_all(&d).expect("corpus dir");
    for (name, bytes) in seeds {
        assert!(
            bytes.len() <= 8192,
            "{target}/{name} is {} bytes",
            bytes.len()
        );
        fs::write(d.join(name), bytes).expect("write a seed");
    }
    println!("{target}: {} seeds", seeds.len());
}

fn named(items: Vec<(&str, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
    items.into_iter().map(|(n, b)| (n.to_string(), b)).collect()
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut valid = valid_frames();
    valid.extend(valid_edge_cases());
    let malformed = malformed_frames();
    let gnv = geneve_frames();

    // parse: untagged frames, a few tagged ones (vlan_tag), the malformed.
    let mut parse = named(valid.clone());
    parse.extend(
        malformed
            .clone()
            .into_iter()
            .map(|(n, b)| (format!("bad_{n}"), b)),
    );
    parse.push(("tagged_udp4".into(), tagged(&valid[0].1, 10)));
    parse.push((
        "qinq".into(),
        with(tagged(&valid[0].1, 10), |f| {
            f[12..14].copy_from_slice(&[0x88, 0xa8])
        }),
    ));
    parse.push(("tagged_twice".into(), tagged(&tagged(&valid[0].1, 10), 11)));
    parse.push((
        "tagged_truncated".into(),
        tagged(&valid[0].1, 10)[..16].to_vec(),
    ));
    write(&dir, "parse", &parse);

    // geneve_decap: fix-up byte, then the outer frame.
    let decap: Vec<(String, Vec<u8>)> = gnv
        .iter()
        .enumerate()
        .map(|(i, (n, f))| {
            let ctrl = if i % 3 == 0 { 0x0f } else { 0 };
            (n.to_string(), cat(&[&[ctrl], f]))
        })
        .collect();
    write(&dir, "geneve_decap", &decap);

    // guards: port a's guard (all on, or some off), then a frame from a.
    let guard = |spoof: bool, dhcp: bool, ra: bool| PortGuard {
        mac: mac('a'),
        ipv4: vec![ip4('a')],
        ipv6: vec![ip6('a')],
        link_local: link_local(&mac('a')),
        spoofguard: spoof,
        dhcp_guard: dhcp,
        ra_guard: ra,
    };
    let mut guards = Vec::new();
    for (i, (n, f)) in valid.iter().enumerate() {
        let g = match i % 4 {
            0 => guard(true, true, true),
            1 => guard(true, false, false),
            2 => guard(false, true, true),
            _ => guard(true, true, true),
        };
        guards.push((n.to_string(), cat(&[&encode_guard(&g, i % 5 == 4), f])));
    }
    let spoofed = udp4_frame(mac('c'), mac('b'), ip4('b'), ip4('c'), b"spoof");
    guards.push((
        "spoofed_mac".into(),
        cat(&[&encode_guard(&guard(true, true, true), false), &spoofed]),
    ));
    let mut many = guard(true, true, true);
    many.ipv4 = vec![ip4('a'), ip4('b'), Ipv4Addr::new(192, 0, 2, 1)];
    many.ipv6 = vec![ip6('a'), ip6('b'), ip6('c')];
    guards.push((
        "many_addresses".into(),
        cat(&[&encode_guard(&many, true), &valid[0].1]),
    ));
    write(&dir, "guards", &guards);

    // pipeline_vif: port a's frames tagged (VLAN 10) on vm1, c's untagged
    // on vm2, single and in batches.
    let from_a = |f: &[u8]| tagged(f, 10);
    let mut vif = Vec::new();
    for (i, (n, f)) in valid.iter().enumerate() {
        // Mostly the full rig; every third frame one without a local TEP or
        // a next hop (the large frame: the full rig, for the MTU check).
        let rig = if n.starts_with("big") {
            0
        } else {
            (i % 3) as u8
        };
        vif.push((format!("a_{n}"), pipeline::encode(rig, &[(0, from_a(f))])));
    }
    for (n, f) in malformed.iter().filter(|(_, f)| f.len() >= 14).take(12) {
        vif.push((format!("bad_{n}"), pipeline::encode(0, &[(0, from_a(f))])));
    }
    let c_to_a = udp4_frame(mac('a'), mac('c'), ip4('c'), ip4('a'), b"from c");
    vif.push((
        "c_untagged_vm2".into(),
        pipeline::encode(0, &[(1, c_to_a.clone())]),
    ));
    vif.push((
        "untagged_on_vm1".into(),
        pipeline::encode(0, &[(0, c_to_a.clone())]),
    ));
    vif.push((
        "unknown_vlan".into(),
        pipeline::encode(0, &[(0, tagged(&valid[0].1, 99))]),
    ));
    vif.push((
        "priority_tag".into(),
        pipeline::encode(0, &[(1, tagged(&c_to_a, 0))]),
    ));
    vif.push((
        "green_g".into(),
        pipeline::encode(
            0,
            &[(
                0,
                tagged(
                    &udp4_frame(BROADCAST, mac('g'), ip4('g'), Ipv4Addr::BROADCAST, b"g"),
                    12,
                ),
            )],
        ),
    ));
    let mixed: Vec<(u8, Vec<u8>)> = valid
        .iter()
        .take(12)
        .enumerate()
        .map(|(i, (_, f))| {
            if i % 4 == 3 {
                (1, c_to_a.clone())
            } else {
                (0, from_a(f))
            }
        })
        .collect();
    vif.push(("mixed_batch".into(), pipeline::encode(0, &mixed)));
    // More than a batch, and a flood storm that runs out of free chunks.
    let small = from_a(&eth(mac('c'), mac('a'), 0x88b5, &[]));
    vif.push((
        "over_one_batch".into(),
        pipeline::encode(0, &vec![(0, small); 70]),
    ));
    let storm = from_a(&eth(BROADCAST, mac('a'), 0x88b5, &[]));
    vif.push((
        "flood_storm".into(),
        pipeline::encode(0, &vec![(0, storm); 200]),
    ));
    write(&dir, "pipeline_vif", &vif);

    // pipeline_uplink: Geneve frames, single and in batches.
    let mut uplink = Vec::new();
    for (i, (n, f)) in gnv.iter().enumerate() {
        let rig = if i < 6 { (i % 3) as u8 } else { 0 };
        uplink.push((n.to_string(), pipeline::encode(rig, &[(0, f.clone())])));
    }
    let batch: Vec<(u8, Vec<u8>)> = gnv.iter().take(8).map(|(_, f)| (0x1e, f.clone())).collect();
    uplink.push(("batch_fixed".into(), pipeline::encode(0, &batch)));
    let bcast = geneve(5001, &eth(BROADCAST, mac('r'), 0x88b5, &[]));
    uplink.push((
        "flood_storm".into(),
        pipeline::encode(0, &vec![(0, bcast); 60]),
    ));
    write(&dir, "pipeline_uplink", &uplink);
}
