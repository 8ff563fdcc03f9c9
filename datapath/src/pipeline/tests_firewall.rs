//! The firewall stage over plain memory: bytes in, staged frames, drops
//! (by reason and port), rule hits and connection-table state out.

use std::time::Duration;

use super::*;
use crate::{
    fwlog::LogSink,
    packet::{parse, reject::ICMP_ADMIN_PROHIBITED, Fragment},
    testing::*,
    wire::*,
};

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const RST: u8 = 0x04;
const PSH_ACK: u8 = 0x18;

/// [`RIG_CONFIG`] with firewall objects added (`extra` is JSON members).
fn config(extra: &str) -> String {
    let base = RIG_CONFIG.trim_end();
    format!("{},\n{extra}\n}}", &base[..base.len() - 1])
}

fn rig(extra: &str) -> Rig {
    Rig::with_config(&config(extra), true)
}

/// A TCP segment between two rig ports.
#[allow(clippy::too_many_arguments)]
fn tcp4(
    src: char,
    dst: char,
    sport: u16,
    dport: u16,
    flags: u8,
    seq: u32,
    ack: u32,
    data: &[u8],
) -> Vec<u8> {
    let mut t = tcp(sport, dport, flags, data);
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    eth(
        mac(dst),
        mac(src),
        ETHERTYPE_IPV4,
        &ipv4(ip4(src), ip4(dst), IPPROTO_TCP, &t),
    )
}

fn tcp6(src: char, dst: char, sport: u16, dport: u16, flags: u8, seq: u32, ack: u32) -> Vec<u8> {
    let mut t = tcp(sport, dport, flags, &[]);
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    ipv6_frame(mac(dst), mac(src), ip6(src), ip6(dst), IPPROTO_TCP, &t)
}

fn udp4(src: char, dst: char, sport: u16, dport: u16) -> Vec<u8> {
    eth(
        mac(dst),
        mac(src),
        ETHERTYPE_IPV4,
        &ipv4(ip4(src), ip4(dst), IPPROTO_UDP, &udp(sport, dport, b"data")),
    )
}

fn echo4(src: char, dst: char, kind: u8, id: u16) -> Vec<u8> {
    let rest = [(id >> 8) as u8, id as u8, 0, 1];
    eth(
        mac(dst),
        mac(src),
        ETHERTYPE_IPV4,
        &ipv4(ip4(src), ip4(dst), IPPROTO_ICMP, &icmp(kind, 0, &rest)),
    )
}

/// Sends `frame` from port `from` (a, b: vm1 tagged; c: vm2 untagged).
fn send(rig: &mut Rig, from: char, frame: &[u8]) {
    match from {
        'a' => rig.input(Some(VM1), &[tagged(frame, 10)]),
        'b' => rig.input(Some(VM1), &[tagged(frame, 11)]),
        'c' => rig.input(Some(VM2), &[frame.to_vec()]),
        _ => panic!("no port {from}"),
    }
}

/// Sends and says whether the frame was staged anywhere (then completes).
fn passes(rig: &mut Rig, from: char, frame: &[u8]) -> bool {
    send(rig, from, frame);
    let n = rig.staged_count();
    rig.check_accounting();
    rig.complete();
    n > 0
}

fn drops(rig: &Rig, port: char, reason: DropReason) -> u64 {
    rig.drops(Endpoint::Port(rig.port(&port.to_string())), reason)
}

/// A full TCP handshake a → b on (40000 → dport); returns the next
/// sequence numbers (a's, b's).
fn handshake(rig: &mut Rig, dport: u16) -> (u32, u32) {
    assert!(
        passes(rig, 'a', &tcp4('a', 'b', 40000, dport, SYN, 100, 0, &[])),
        "SYN"
    );
    assert!(
        passes(
            rig,
            'b',
            &tcp4('b', 'a', dport, 40000, SYN | ACK, 500, 101, &[])
        ),
        "SYN-ACK"
    );
    assert!(
        passes(rig, 'a', &tcp4('a', 'b', 40000, dport, ACK, 101, 501, &[])),
        "ACK"
    );
    (101, 501)
}

const SECTION: &str =
    r#""sections": [{"name": "s", "position": 10}, {"name": "t", "position": 20}]"#;

#[test]
fn default_allow_tracks_each_connection_in_both_ports_zones() {
    let mut r = Rig::new();
    handshake(&mut r, 80);
    // Out of a and into b: two entries, each found from both directions.
    assert_eq!(r.fw.ct.len(), 2);
    let zones: Vec<u32> = r.fw.ct.iter().map(|e| e.zone).collect();
    assert!(zones.contains(&r.port("a").0) && zones.contains(&r.port("b").0));
    assert!(passes(
        &mut r,
        'b',
        &tcp4('b', 'a', 80, 40000, PSH_ACK, 501, 101, b"reply")
    ));
    assert!(r.all_drops().is_empty());
}

#[test]
fn a_drop_rule_blocks_tcp_80_while_8080_passes_and_counts_hits() {
    let mut r = rig(&format!(
        r#"{SECTION}, "rules": [{{"id": "no-web", "section": "s", "priority": 1,
            "applied_to": [{{"port": "b"}}], "direction": "in",
            "service": {{"protocol": "tcp", "dst_ports": ["80"]}}, "action": "drop"}}]"#
    ));
    assert!(!passes(
        &mut r,
        'a',
        &tcp4('a', 'b', 40000, 80, SYN, 1, 0, &[])
    ));
    assert_eq!(
        drops(&r, 'b', DropReason::FirewallDrop),
        1,
        "counted on b, where the check was"
    );
    assert!(passes(
        &mut r,
        'a',
        &tcp4('a', 'b', 40001, 8080, SYN, 1, 0, &[])
    ));
    let slot = r
        .tables
        .firewall
        .rules
        .iter()
        .position(|x| x.as_ref().is_some_and(|x| x.id == "no-web"))
        .unwrap();
    let hits = &r.counters.rules[slot];
    assert_eq!((hits.packets.get(), hits.connections.get()), (1, 1));
    // To c (not b) the rule does not apply.
    assert!(passes(
        &mut r,
        'a',
        &tcp4('a', 'c', 40002, 80, SYN, 1, 0, &[])
    ));
}

#[test]
fn reject_answers_tcp_with_a_reset_and_udp_with_admin_prohibited() {
    let mut r = rig(&format!(
        r#"{SECTION}, "rules": [{{"id": "rej", "section": "s", "priority": 1,
            "applied_to": [{{"port": "b"}}], "direction": "in", "action": "reject"}}]"#
    ));
    send(&mut r, 'a', &tcp4('a', 'b', 40000, 80, SYN, 77, 0, &[]));
    assert_eq!(drops(&r, 'b', DropReason::FirewallReject), 1);
    let staged = r.staged(Some(VM1));
    assert_eq!(staged.len(), 1, "one answer, back on a's vif");
    let (bytes, meta) = &staged[0];
    assert_eq!(meta.owner, Endpoint::Port(r.port("a")));
    assert_eq!(crate::packet::vlan_tag(bytes), Ok(Some(10)), "tagged for a");
    let untagged: Vec<u8> = [&bytes[..12], &bytes[16..]].concat();
    let h = parse(&untagged).unwrap();
    assert_eq!((h.src_mac, h.dst_mac), (mac('b'), mac('a')));
    assert_eq!((h.sport, h.dport, h.tcp_flags), (80, 40000, RST | ACK));
    assert_eq!(r.counters.firewall.rejects_sent.get(), 1);
    r.check_accounting();
    r.complete();
    send(&mut r, 'a', &udp4('a', 'b', 5000, 53));
    let staged = r.staged(Some(VM1));
    let untagged: Vec<u8> = [&staged[0].0[..12], &staged[0].0[16..]].concat();
    let h = parse(&untagged).unwrap();
    assert_eq!(
        (h.proto, h.icmp_type, h.icmp_code),
        (IPPROTO_ICMP, 3, ICMP_ADMIN_PROHIBITED)
    );
    assert_eq!(drops(&r, 'b', DropReason::FirewallReject), 2);
    r.check_accounting();
}

#[test]
fn a_reject_from_the_uplink_goes_back_through_the_senders_tep() {
    let mut r = rig(&format!(
        r#"{SECTION}, "rules": [{{"id": "rej", "section": "s", "priority": 1,
            "applied_to": [{{"port": "a"}}], "action": "reject"}}]"#
    ));
    let inner = tcp4('r', 'a', 1234, 22, SYN, 5, 0, &[]);
    r.input(None, &[geneve(5001, &inner)]);
    assert_eq!(drops(&r, 'a', DropReason::FirewallReject), 1);
    let up = r.staged(None);
    assert_eq!(
        up.len(),
        1,
        "the reset is encapsulated toward the remote TEP"
    );
    let outer = &up[0].0;
    let d = geneve::decap::decapsulate(outer).unwrap();
    let h = parse(&outer[d.inner_offset..d.inner_offset + d.inner_len]).unwrap();
    assert_eq!((h.dst_mac, h.tcp_flags & RST), (mac('r'), RST));
    r.check_accounting();
}

#[test]
fn stateful_a_may_open_to_b_80_and_get_replies_but_b_cannot_open_to_a() {
    let mut r = rig(&format!(
        r#"{SECTION},
        "firewall": {{"default_action": "drop"}},
        "rules": [{{"id": "a-to-b-web", "section": "s", "priority": 1,
            "sources": [{{"cidr": "10.0.0.10/32"}}], "destinations": [{{"cidr": "10.0.0.11/32"}}],
            "service": {{"protocol": "tcp", "dst_ports": ["80"]}}, "action": "allow"}}]"#
    ));
    handshake(&mut r, 80);
    assert!(passes(
        &mut r,
        'b',
        &tcp4('b', 'a', 80, 40000, PSH_ACK, 501, 101, b"page")
    ));
    assert!(!passes(
        &mut r,
        'b',
        &tcp4('b', 'a', 5555, 22, SYN, 9, 0, &[])
    ));
    assert_eq!(
        drops(&r, 'b', DropReason::FirewallDrop),
        1,
        "refused out of b"
    );
    assert!(!passes(
        &mut r,
        'a',
        &tcp4('a', 'b', 40001, 81, SYN, 9, 0, &[])
    ));
}

#[test]
fn a_rule_change_reaches_an_established_connection_on_its_next_packet() {
    let mut r = Rig::new();
    let (sa, sb) = handshake(&mut r, 80);
    assert!(passes(
        &mut r,
        'a',
        &tcp4('a', 'b', 40000, 80, PSH_ACK, sa, sb, b"1")
    ));
    let deny = config(&format!(
        r#"{SECTION}, "rules": [{{"id": "stop", "section": "s", "priority": 1,
            "applied_to": [{{"port": "b"}}], "direction": "in",
            "service": {{"protocol": "tcp", "dst_ports": ["80"]}}, "action": "drop"}}]"#
    ));
    r.reconfigure(&deny);
    assert!(!passes(
        &mut r,
        'a',
        &tcp4('a', 'b', 40000, 80, PSH_ACK, sa + 1, sb, b"2")
    ));
    assert_eq!(drops(&r, 'b', DropReason::FirewallDrop), 1);
    assert_eq!(r.counters.firewall.recheck_denied.get(), 1);
    // The reply direction is refused too: b's rule is inbound only, but the
    // connection is marked refused in b's zone, so b's data cannot be
    // picked up as a new connection out of b.
    assert!(!passes(
        &mut r,
        'b',
        &tcp4('b', 'a', 80, 40000, PSH_ACK, sb, sa + 1, b"more")
    ));
    assert_eq!(drops(&r, 'b', DropReason::FirewallDrop), 2);
    assert_eq!(r.counters.firewall.recheck_denied.get(), 1, "marked once");
    // A new SYN is checked against the current rules.
    assert!(!passes(
        &mut r,
        'a',
        &tcp4('a', 'b', 40001, 80, SYN, 1, 0, &[])
    ));
    // Removing the rule lets a new connection through.
    r.reconfigure(RIG_CONFIG);
    assert!(passes(
        &mut r,
        'a',
        &tcp4('a', 'b', 40002, 80, SYN, 1, 0, &[])
    ));
}

#[test]
fn an_unrelated_rule_change_rechecks_once_and_keeps_the_connection() {
    let mut r = Rig::new();
    let (sa, sb) = handshake(&mut r, 80);
    r.reconfigure(&config(&format!(
        r#"{SECTION}, "rules": [{{"id": "other", "section": "s", "priority": 1,
            "service": {{"protocol": "udp", "dst_ports": ["53"]}}, "action": "drop"}}]"#
    )));
    for i in 0..3 {
        assert!(passes(
            &mut r,
            'a',
            &tcp4('a', 'b', 40000, 80, PSH_ACK, sa + i, sb, b"x")
        ));
    }
    // Once per zone (out of a, into b), then the entries carry the new generation.
    assert_eq!(r.counters.firewall.rechecked.get(), 2);
    assert_eq!(r.counters.firewall.recheck_denied.get(), 0);
}

/// UDP takes the established fast path (no facts): a rule change reaches
/// it on its next packet both ways, as it does TCP, and an unrelated
/// change rechecks it once per zone.
#[test]
fn a_rule_change_reaches_an_established_udp_flow_both_ways() {
    let mut r = Rig::new();
    assert!(passes(&mut r, 'a', &udp4('a', 'b', 40000, 53)));
    assert!(passes(&mut r, 'b', &udp4('b', 'a', 53, 40000)));
    for _ in 0..2 {
        assert!(passes(&mut r, 'a', &udp4('a', 'b', 40000, 53)));
        assert!(passes(&mut r, 'b', &udp4('b', 'a', 53, 40000)));
    }
    assert_eq!(r.counters.firewall.rechecked.get(), 0);
    r.reconfigure(&config(&format!(
        r#"{SECTION}, "rules": [{{"id": "other", "section": "s", "priority": 1,
            "service": {{"protocol": "tcp", "dst_ports": ["25"]}}, "action": "drop"}}]"#
    )));
    for _ in 0..2 {
        assert!(passes(&mut r, 'b', &udp4('b', 'a', 53, 40000)));
        assert!(passes(&mut r, 'a', &udp4('a', 'b', 40000, 53)));
    }
    // Once per zone (out of a, into b; the reply: out of b, into a).
    assert_eq!(r.counters.firewall.rechecked.get(), 2);
    r.reconfigure(&config(&format!(
        r#"{SECTION}, "rules": [{{"id": "stop", "section": "s", "priority": 1,
            "applied_to": [{{"port": "b"}}], "direction": "in",
            "service": {{"protocol": "udp", "dst_ports": ["53"]}}, "action": "drop"}}]"#
    )));
    // The reply first: its connection is checked in its opening direction
    // (into b), refused, and marked so in b's zone.
    assert!(!passes(&mut r, 'b', &udp4('b', 'a', 53, 40000)));
    assert_eq!(drops(&r, 'b', DropReason::FirewallDrop), 1);
    assert_eq!(r.counters.firewall.recheck_denied.get(), 1);
    assert!(!passes(&mut r, 'a', &udp4('a', 'b', 40000, 53)));
    assert!(!passes(&mut r, 'b', &udp4('b', 'a', 53, 40000)));
    assert_eq!(drops(&r, 'b', DropReason::FirewallDrop), 3);
    // Rechecked once in b's zone (refused) and once in a's (allowed out).
    assert_eq!(r.counters.firewall.recheck_denied.get(), 1);
}

#[test]
fn strict_mode_refuses_mid_stream_tcp_that_loose_pick_up_takes() {
    let mut r = Rig::new();
    let mid = tcp4('a', 'b', 40000, 80, PSH_ACK, 1000, 2000, b"mid-stream");
    assert!(passes(&mut r, 'a', &mid), "picked up (a restarted daemon)");
    assert_eq!(r.fw.ct.len(), 2);
    let mut s = rig(r#""firewall": {"strict": true}"#);
    assert!(!passes(&mut s, 'a', &mid));
    assert_eq!(drops(&s, 'a', DropReason::ConntrackStrict), 1);
    assert!(
        passes(&mut s, 'a', &tcp4('a', 'b', 40001, 80, SYN, 1, 0, &[])),
        "a SYN opens"
    );
}

#[test]
fn a_reset_outside_the_window_is_invalid_and_the_connection_survives() {
    let mut r = Rig::new();
    let (sa, sb) = handshake(&mut r, 80);
    let blind = tcp4(
        'b',
        'a',
        80,
        40000,
        RST,
        sb.wrapping_add(3_000_000_000),
        0,
        &[],
    );
    assert!(!passes(&mut r, 'b', &blind));
    assert_eq!(drops(&r, 'b', DropReason::ConntrackInvalid), 1);
    assert!(passes(
        &mut r,
        'a',
        &tcp4('a', 'b', 40000, 80, PSH_ACK, sa, sb, b"still up")
    ));
}

#[test]
fn a_full_port_refuses_new_connections_and_keeps_established_ones() {
    let mut r = rig(r#""firewall": {"max_connections_per_port": 2}"#);
    let (sa, sb) = handshake(&mut r, 80);
    assert!(passes(
        &mut r,
        'a',
        &tcp4('a', 'b', 40001, 80, SYN, 1, 0, &[])
    ));
    assert!(!passes(
        &mut r,
        'a',
        &tcp4('a', 'b', 40002, 80, SYN, 1, 0, &[])
    ));
    assert_eq!(drops(&r, 'a', DropReason::ConntrackFull), 1);
    assert!(passes(
        &mut r,
        'a',
        &tcp4('a', 'b', 40000, 80, PSH_ACK, sa, sb, b"kept")
    ));
}

#[test]
fn later_fragments_follow_the_first_fragments_verdict() {
    let mut r = rig(&format!(
        r#"{SECTION}, "rules": [{{"id": "no-dns", "section": "s", "priority": 1,
            "service": {{"protocol": "udp", "dst_ports": ["53"]}}, "action": "drop"}}]"#
    ));
    let frag = |offset: u16, more: bool, payload: &[u8], id: u8| {
        let mut ip = ipv4_frag(ip4('a'), ip4('b'), IPPROTO_UDP, offset, more, payload);
        ip[5] = id;
        eth(mac('b'), mac('a'), ETHERTYPE_IPV4, &ip)
    };
    // Allowed datagram (port 5000): its later fragment follows.
    assert!(passes(
        &mut r,
        'a',
        &frag(0, true, &udp(4000, 5000, &[0; 16]), 1)
    ));
    assert!(passes(&mut r, 'a', &frag(3, false, &[0; 16], 1)));
    // Refused datagram (port 53): the later fragment is refused too.
    assert!(!passes(
        &mut r,
        'a',
        &frag(0, true, &udp(4000, 53, &[0; 16]), 2)
    ));
    assert!(!passes(&mut r, 'a', &frag(3, false, &[0; 16], 2)));
    assert_eq!(drops(&r, 'a', DropReason::FirewallDrop), 2);
    // No first fragment seen.
    assert!(!passes(&mut r, 'a', &frag(3, false, &[0; 16], 3)));
    assert_eq!(drops(&r, 'a', DropReason::FragmentNoFirst), 1);
    let h = parse(&frag(3, false, &[0; 16], 3)).unwrap();
    assert_eq!(h.frag, Fragment::Later);
}

#[test]
fn icmp_echo_is_tracked_both_ways_and_errors_of_a_connection_are_related() {
    let mut r = rig(&format!(
        r#"{SECTION}, "rules": [
            {{"id": "ping-out", "section": "s", "priority": 1, "applied_to": [{{"port": "a"}}],
              "direction": "out", "service": {{"protocol": "icmp", "icmp_type": 8}}, "action": "allow"}},
            {{"id": "udp-out", "section": "s", "priority": 2, "applied_to": [{{"port": "a"}}],
              "direction": "out", "service": {{"protocol": "udp"}}, "action": "allow"}},
            {{"id": "rest", "section": "t", "priority": 1, "applied_to": [{{"port": "a"}}], "action": "drop"}}]"#
    ));
    assert!(passes(&mut r, 'a', &echo4('a', 'b', 8, 7)));
    assert!(
        passes(&mut r, 'b', &echo4('b', 'a', 0, 7)),
        "the reply is tracked"
    );
    assert!(
        !passes(&mut r, 'b', &echo4('b', 'a', 8, 9)),
        "b cannot ping a"
    );
    assert!(
        !passes(&mut r, 'b', &echo4('b', 'a', 0, 99)),
        "an unsolicited reply"
    );
    // A port unreachable from b quoting a's UDP datagram is related.
    let sent = ipv4(ip4('a'), ip4('b'), IPPROTO_UDP, &udp(4000, 53, b"q"));
    assert!(passes(
        &mut r,
        'a',
        &eth(mac('b'), mac('a'), ETHERTYPE_IPV4, &sent)
    ));
    let err = |quoted: &[u8]| {
        eth(
            mac('a'),
            mac('b'),
            ETHERTYPE_IPV4,
            &ipv4(
                ip4('b'),
                ip4('a'),
                IPPROTO_ICMP,
                &icmp(3, 3, &cat(&[&[0; 4], quoted])),
            ),
        )
    };
    assert!(passes(&mut r, 'b', &err(&sent)), "related");
    let other = ipv4(ip4('a'), ip4('b'), IPPROTO_UDP, &udp(4001, 53, b"q"));
    assert!(!passes(&mut r, 'b', &err(&other)), "quotes nothing tracked");
    // b's ping refused by a's rules; the unsolicited reply and the
    // unrelated error are invalid for connection tracking (out of b).
    let (pa, pb) = (r.port("a"), r.port("b"));
    assert_eq!(
        r.all_drops(),
        vec![
            (Endpoint::Port(pa), DropReason::FirewallDrop, 1),
            (Endpoint::Port(pb), DropReason::ConntrackInvalid, 2)
        ]
    );
}

#[test]
fn flood_asks_each_ports_firewall_before_copying() {
    let mut r = rig(&format!(
        r#"{SECTION}, "rules": [{{"id": "b-closed", "section": "s", "priority": 1,
            "applied_to": [{{"port": "b"}}], "direction": "in", "action": "drop"}}]"#
    ));
    let bcast = udp4_frame(
        BROADCAST,
        mac('a'),
        ip4('a'),
        "10.0.0.255".parse().unwrap(),
        b"hi",
    );
    send(&mut r, 'a', &bcast);
    assert_eq!(drops(&r, 'b', DropReason::FirewallDrop), 1);
    assert_eq!(r.staged(Some(VM2)).len(), 1, "c gets it");
    assert_eq!(r.staged(Some(VM1)).len(), 0, "b does not");
    assert_eq!(
        r.staged(None).len(),
        1,
        "the remote TEP does (checked there)"
    );
    r.check_accounting();
}

#[test]
fn from_the_uplink_the_check_is_into_the_destination_port() {
    let mut r = rig(&format!(
        r#"{SECTION}, "rules": [{{"id": "a-closed", "section": "s", "priority": 1,
            "applied_to": [{{"port": "a"}}], "direction": "in",
            "service": {{"protocol": "tcp"}}, "action": "drop"}}]"#
    ));
    r.input(
        None,
        &[geneve(5001, &tcp4('r', 'a', 1234, 22, SYN, 5, 0, &[]))],
    );
    assert_eq!(drops(&r, 'a', DropReason::FirewallDrop), 1);
    r.input(
        None,
        &[geneve(5001, &tcp4('r', 'b', 1234, 22, SYN, 5, 0, &[]))],
    );
    assert_eq!(r.staged(Some(VM1)).len(), 1);
    r.check_accounting();
}

#[test]
fn ipv6_rules_apply_to_ipv6_and_ipv4_cidrs_do_not() {
    let mut r = rig(&format!(
        r#"{SECTION}, "rules": [
            {{"id": "v4-only", "section": "s", "priority": 1, "sources": [{{"cidr": "0.0.0.0/0"}}],
              "service": {{"protocol": "tcp", "dst_ports": ["443"]}}, "action": "drop"}},
            {{"id": "v6-web", "section": "s", "priority": 2, "sources": [{{"cidr": "fd00::/64"}}],
              "service": {{"protocol": "tcp", "dst_ports": ["80"]}}, "action": "drop"}}]"#
    ));
    assert!(!passes(&mut r, 'a', &tcp6('a', 'b', 40000, 80, SYN, 1, 0)));
    assert!(
        passes(&mut r, 'a', &tcp6('a', 'b', 40000, 443, SYN, 1, 0)),
        "a v4 CIDR never matches v6"
    );
    assert!(!passes(
        &mut r,
        'a',
        &tcp4('a', 'b', 40000, 443, SYN, 1, 0, &[])
    ));
    assert!(passes(
        &mut r,
        'a',
        &tcp4('a', 'b', 40001, 80, SYN, 1, 0, &[])
    ));
}

#[test]
fn pass_skips_the_rest_of_its_section() {
    let mut r = rig(&format!(
        r#"{SECTION}, "rules": [
            {{"id": "web-pass", "section": "s", "priority": 1,
              "service": {{"protocol": "tcp", "dst_ports": ["80"]}}, "action": "pass"}},
            {{"id": "s-drop-all", "section": "s", "priority": 2, "action": "drop"}},
            {{"id": "t-drop-8080", "section": "t", "priority": 1,
              "service": {{"protocol": "tcp", "dst_ports": ["8080"]}}, "action": "drop"}}]"#
    ));
    assert!(
        passes(&mut r, 'a', &tcp4('a', 'b', 40000, 80, SYN, 1, 0, &[])),
        "passed on, allowed by default"
    );
    assert!(
        !passes(&mut r, 'a', &tcp4('a', 'b', 40001, 8080, SYN, 1, 0, &[])),
        "s drops all else"
    );
}

#[test]
fn a_group_follows_port_tags_without_touching_the_rules() {
    let rules = format!(
        r#"{SECTION}, "groups": [{{"name": "db", "match_tags": {{"role": "db"}}}}],
        "rules": [{{"id": "db-closed", "section": "s", "priority": 1, "applied_to": [{{"group": "db"}}],
            "direction": "in", "service": {{"protocol": "tcp", "dst_ports": ["5432"]}}, "action": "drop"}}]"#
    );
    let tagged_b = config(&rules).replace(
        r#""ips": ["10.0.0.11", "fd00::b"]}"#,
        r#""ips": ["10.0.0.11", "fd00::b"], "tags": {"role": "db"}}"#,
    );
    let mut r = Rig::with_config(&config(&rules), true);
    assert!(passes(
        &mut r,
        'a',
        &tcp4('a', 'b', 40000, 5432, SYN, 1, 0, &[])
    ));
    r.reconfigure(&tagged_b);
    assert!(
        !passes(&mut r, 'a', &tcp4('a', 'b', 40001, 5432, SYN, 1, 0, &[])),
        "b joined db"
    );
    r.reconfigure(&config(&rules));
    assert!(
        passes(&mut r, 'a', &tcp4('a', 'b', 40002, 5432, SYN, 1, 0, &[])),
        "b left db"
    );
}

#[test]
fn logged_decisions_reach_the_channel_and_lost_lines_are_counted() {
    let mut r = rig(&format!(
        r#"{SECTION}, "rules": [{{"id": "web-log", "section": "s", "priority": 1,
            "service": {{"protocol": "tcp", "dst_ports": ["80"]}}, "action": "allow", "log": true}}]"#
    ));
    let (tx, rx) = std::sync::mpsc::sync_channel(2);
    r.fw.log = Some(LogSink::new(tx, 1000));
    r.fw.now = conntrack::Time(1000);
    for p in 0..4 {
        assert!(passes(
            &mut r,
            'a',
            &tcp4('a', 'b', 40000 + p, 80, SYN, 1, 0, &[])
        ));
    }
    // 4 connections, checked out of a and into b: 8 decisions, 2 fit.
    let got: Vec<_> = rx.try_iter().collect();
    assert_eq!(got.len(), 2);
    assert_eq!(r.counters.firewall.log_lines.get(), 2);
    assert_eq!(r.counters.firewall.log_dropped.get(), 6);
    let first = &got[0];
    assert_eq!(
        (
            first.rule.as_str(),
            first.section.as_str(),
            first.port.as_str()
        ),
        ("web-log", "s", "a")
    );
    assert_eq!(
        (first.sport, first.dport, first.proto),
        (40000, 80, IPPROTO_TCP)
    );
    assert_eq!(first.src, std::net::IpAddr::V4(ip4('a')));
}

#[test]
fn expiry_runs_on_the_clock_and_an_expired_connection_is_checked_anew() {
    let mut r = rig(r#""firewall": {"timeouts": {"udp": 5}}"#);
    r.fw.now = conntrack::Time(1_000);
    assert!(passes(&mut r, 'a', &udp4('a', 'b', 4000, 53)));
    assert_eq!(r.fw.ct.len(), 2);
    r.fw.now = r.fw.now + Duration::from_secs(6);
    assert_eq!(r.fw.ct.expire(r.fw.now, super::firewall::EXPIRE_BUDGET), 2);
    assert!(r.fw.ct.is_empty());
}

#[test]
fn a_default_deny_keeps_ipv6_neighbour_discovery_like_arp() {
    let mut r = rig(r#""firewall": {"default_action": "drop"}"#);
    // A neighbour solicitation from a for b's address (to the solicited-
    // node multicast group, as a host sends it), and ARP.
    let mut ns = icmp(135, 0, &[0; 4]);
    ns.extend_from_slice(&ip6('b').octets());
    let solicited = ipv6_frame(
        [0x33, 0x33, 0xff, 0, 0, 0x0b],
        mac('a'),
        ip6('a'),
        "ff02::1:ff00:b".parse().unwrap(),
        IPPROTO_ICMPV6,
        &ns,
    );
    assert!(passes(&mut r, 'a', &solicited), "NS");
    let who_has = eth(
        BROADCAST,
        mac('a'),
        ETHERTYPE_ARP,
        &arp(1, mac('a'), ip4('a'), ip4('b')),
    );
    assert!(passes(&mut r, 'a', &who_has), "ARP");
    // Anything else IPv6 is the firewall's: an echo request is refused.
    let echo = ipv6_frame(
        mac('b'),
        mac('a'),
        ip6('a'),
        ip6('b'),
        IPPROTO_ICMPV6,
        &icmp(128, 0, &[0, 1, 0, 1]),
    );
    assert!(!passes(&mut r, 'a', &echo));
    assert_eq!(drops(&r, 'a', DropReason::FirewallDrop), 1);
}
