//! Random packet sequences never panic, and the counters agree with what
//! iteration shows.

use std::time::Duration;

use conntrack::{
    icmp_type::*, proto, tcp_flags::*, v4, Config, FragKey, FragVerdict, InsertError, Outcome,
    PacketFacts, ProtoKind, State, Table, Time,
};
use proptest::prelude::*;

const HOSTS: [u128; 3] = [v4(10, 0, 0, 1), v4(10, 0, 0, 2), 0xfd00_u128 << 112 | 5];

#[derive(Clone, Debug)]
enum Op {
    Packet {
        f: PacketFacts,
        insert: bool,
        gen: u32,
    },
    Related {
        outer_to: usize,
        inner: PacketFacts,
    },
    Advance(u64),
    Expire(usize),
    Remove(usize),
    SetGen(usize, u32),
    Flush(Option<u32>),
    Frag {
        first: bool,
        id: u32,
        allow: bool,
    },
    /// A well-formed SYN from the first host to the second on this zone and ports.
    Open {
        zone: u32,
        sp: u16,
        dp: u16,
        ws: Option<u8>,
    },
    /// The next well-formed segment of the last opened connection.
    Next {
        from_orig: bool,
        flags: u8,
        len: u32,
    },
}

/// The last connection `Open` started: tuple and each side's next sequence.
struct Script {
    f: PacketFacts,
    nxt: [u32; 2],
}

fn facts() -> impl Strategy<Value = PacketFacts> {
    let flags = prop::sample::select(vec![
        SYN,
        SYN | ACK,
        ACK,
        ACK | PSH,
        FIN | ACK,
        RST,
        RST | ACK,
        SYN | FIN,
        0,
        0xff,
    ]);
    // Sequence numbers near a few bases so that some land in window.
    // Sequence numbers from two initial ones plus small offsets (so that
    // handshakes complete and data lands in window), or anywhere.
    let seq = prop_oneof![
        3 => prop::sample::select(vec![1000u32, 1001, 1101, 5000, 5001, 5101]),
        1 => any::<u32>(),
        1 => (0u32..4, 0u32..70_000).prop_map(|(b, o)| b.wrapping_mul(0x4000_0000).wrapping_add(o)),
    ];
    let host = prop_oneof![4 => 0usize..2, 1 => 0usize..3];
    (
        (0u32..2, host.clone(), host),
        prop::sample::select(vec![proto::TCP, proto::UDP, proto::ICMP, 47]),
        0u16..2,
        0u16..2,
        flags,
        seq.clone(),
        seq,
        any::<u16>(),
        prop::option::of(0u8..20),
        prop_oneof![Just(0u32), Just(100), 0u32..3000],
        prop::sample::select(vec![ECHO_REQUEST, ECHO_REPLY, DEST_UNREACH, 135]),
        prop::option::of(any::<bool>()),
    )
        .prop_map(
            |((zone, s, d), p, sp, dp, fl, seq, ack, win, ws, len, ty, lib)| PacketFacts {
                zone,
                src: HOSTS[s],
                dst: HOSTS[d],
                proto: p,
                sport: sp,
                dport: dp,
                tcp_flags: fl,
                tcp_seq: seq,
                tcp_ack: ack,
                tcp_window: win,
                tcp_wscale: ws,
                payload_len: len,
                icmp_type: ty,
                icmp_id: sp,
                liberal: lib,
                ..PacketFacts::default()
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (facts(), any::<bool>(), 0u32..4).prop_map(|(f, insert, gen)| Op::Packet { f, insert, gen }),
        1 => (0usize..3, facts()).prop_map(|(outer_to, inner)| Op::Related { outer_to, inner }),
        2 => prop_oneof![0u64..2000, 0u64..200_000, Just(5 * 24 * 3600 * 1000)].prop_map(Op::Advance),
        2 => (0usize..8).prop_map(Op::Expire),
        1 => any::<usize>().prop_map(Op::Remove),
        1 => (any::<usize>(), any::<u32>()).prop_map(|(i, g)| Op::SetGen(i, g)),
        1 => prop::option::of(0u32..2).prop_map(Op::Flush),
        1 => (any::<bool>(), 0u32..3, any::<bool>()).prop_map(|(first, id, allow)| Op::Frag { first, id, allow }),
        2 => (0u32..2, 0u16..2, 0u16..2, prop::option::of(0u8..15)).prop_map(|(zone, sp, dp, ws)| Op::Open { zone, sp, dp, ws }),
        6 => (any::<bool>(), prop::sample::select(vec![SYN | ACK, ACK, ACK | PSH, FIN | ACK, RST, RST | ACK, SYN]), prop_oneof![Just(0u32), 1u32..3000])
            .prop_map(|(from_orig, flags, len)| Op::Next { from_orig, flags, len }),
    ]
}

fn check(t: &Table) {
    t.check_invariants().unwrap();
    let s = t.stats();
    let all: Vec<_> = t.iter().collect();
    assert_eq!(s.entries as usize, all.len());
    assert_eq!(t.len(), all.len());
    for k in ProtoKind::ALL {
        for st in State::ALL {
            let n = all
                .iter()
                .filter(|e| ProtoKind::of(e.proto) == k && e.state == st)
                .count();
            assert_eq!(s.count(k, st) as usize, n, "{k:?} {st:?}");
        }
    }
    for z in 0..2 {
        assert_eq!(
            t.zone_len(z) as usize,
            all.iter().filter(|e| e.zone == z).count()
        );
    }
    assert!(all.len() <= t.config().max_entries as usize);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_keep_the_table_consistent(
        ops in prop::collection::vec(op(), 1..120),
        slack in prop::sample::select(vec![0u64, 1000]),
        loose in any::<bool>(),
        liberal in any::<bool>(),
    ) {
        let mut t = Table::new(Config {
            max_entries: 12,
            max_per_zone: 8,
            loose_pickup: loose,
            liberal,
            expiry_slack: Duration::from_millis(slack),
            frag_max_entries: 2,
            ..Config::default()
        }).unwrap();
        let mut now = Time::from_secs(1);
        let mut inserts = 0u64;
        let mut script: Option<Script> = None;
        for op in ops {
            match op {
                Op::Packet { f, insert, gen } => {
                    let o = t.track(now, &f);
                    if o == Outcome::New && insert {
                        // What a trace is told first, changing nothing.
                        let stats = t.stats();
                        let predicted = t.check_insert(now, &f);
                        prop_assert_eq!(t.stats(), stats);
                        let done = t.insert(now, &f, gen, 7);
                        let kind = |r: &Result<(), InsertError>| match r {
                            Ok(()) => "ok",
                            Err(InsertError::Exists(_)) => "exists",
                            Err(InsertError::TableFull) => "table full",
                            Err(InsertError::ZoneFull(_)) => "zone full",
                            Err(InsertError::NotNew(_)) => "not new",
                        };
                        let done_kind = kind(&done.map(|_| ()));
                        // Insert may first reclaim expired entries of a full table.
                        if !(kind(&predicted) == "table full" && done_kind == "ok") {
                            prop_assert_eq!(kind(&predicted), done_kind);
                        }
                        if done.is_ok() {
                            inserts += 1;
                            // Inserted entries are found from both sides.
                            prop_assert!(t.lookup(now, &f).is_some());
                        }
                    }
                }
                Op::Related { outer_to, inner } => {
                    let outer = PacketFacts::icmp(inner.zone, HOSTS[(outer_to + 1) % 3], HOSTS[outer_to], DEST_UNREACH, 1, 0);
                    let _ = t.related(now, &outer, &inner);
                }
                Op::Advance(ms) => now = Time(now.0 + ms),
                Op::Expire(budget) => {
                    let r = t.expire(now, budget);
                    prop_assert!(r <= budget);
                }
                Op::Remove(i) => {
                    let hs: Vec<_> = t.iter().map(|e| e.handle).collect();
                    if !hs.is_empty() {
                        prop_assert!(t.remove(hs[i % hs.len()]));
                    }
                }
                Op::SetGen(i, g) => {
                    let hs: Vec<_> = t.iter().map(|e| e.handle).collect();
                    if !hs.is_empty() {
                        let h = hs[i % hs.len()];
                        prop_assert!(t.set_generation(h, g, 1));
                        prop_assert_eq!(t.get(h).unwrap().generation, g);
                    }
                }
                Op::Flush(z) => {
                    t.flush(z);
                }
                Op::Open { zone, sp, dp, ws } => {
                    let mut f = PacketFacts::tcp(zone, HOSTS[0], HOSTS[1], sp, dp, SYN, 1000, 0, 29200);
                    f.tcp_wscale = ws;
                    if t.track(now, &f) == Outcome::New && t.insert(now, &f, 1, 7).is_ok() {
                        inserts += 1;
                    }
                    script = Some(Script { f, nxt: [1001, 5000] });
                }
                Op::Next { from_orig, flags, len } => {
                    if let Some(sc) = script.as_mut() {
                        let (i, o) = if from_orig { (0, 1) } else { (1, 0) };
                        let mut f = sc.f;
                        if !from_orig {
                            f.src = sc.f.dst;
                            f.dst = sc.f.src;
                            f.sport = sc.f.dport;
                            f.dport = sc.f.sport;
                        }
                        f.tcp_flags = flags;
                        f.tcp_seq = sc.nxt[i];
                        f.tcp_ack = sc.nxt[o];
                        f.payload_len = len;
                        let o = t.track(now, &f);
                        if matches!(o, Outcome::Established { .. }) {
                            sc.nxt[i] = sc.nxt[i].wrapping_add(len + u32::from(flags & (SYN | FIN) != 0));
                        }
                    }
                }
                Op::Frag { first, id, allow } => {
                    let k = FragKey { zone: 0, src: HOSTS[0], dst: HOSTS[1], proto: proto::UDP, id };
                    if first {
                        let v = if allow { FragVerdict::Allow } else { FragVerdict::Deny };
                        if t.frag_first(now, k, v).is_ok() {
                            prop_assert_eq!(t.frag_lookup(now, &k), Some(v));
                        }
                    } else {
                        let _ = t.frag_lookup(now, &k);
                    }
                }
            }
            check(&t);
        }
        prop_assert_eq!(t.stats().inserts, inserts);
        // Everything eventually expires.
        now = Time(now.0 + 31 * 24 * 3600 * 1000);
        while t.expire(now, 5) > 0 {}
        prop_assert!(t.is_empty());
        prop_assert_eq!(t.stats().frag_entries, 0);
    }
}

fn any_facts() -> impl Strategy<Value = PacketFacts> {
    (
        (any::<u32>(), any::<u128>(), any::<u128>(), any::<u8>()),
        (
            any::<u16>(),
            any::<u16>(),
            any::<u8>(),
            any::<u32>(),
            any::<u32>(),
        ),
        (
            any::<u16>(),
            any::<Option<u8>>(),
            any::<u32>(),
            any::<u8>(),
            any::<u8>(),
            any::<u16>(),
        ),
        (any::<bool>(), any::<Option<bool>>()),
    )
        .prop_map(
            |(
                (zone, src, dst, proto),
                (sport, dport, fl, seq, ack),
                (win, ws, len, ty, code, id),
                (inn, lib),
            )| {
                PacketFacts {
                    zone,
                    src,
                    dst,
                    proto,
                    sport,
                    dport,
                    tcp_flags: fl,
                    tcp_seq: seq,
                    tcp_ack: ack,
                    tcp_window: win,
                    tcp_wscale: ws,
                    payload_len: len,
                    icmp_type: ty,
                    icmp_code: code,
                    icmp_id: id,
                    dir: if inn {
                        conntrack::PortDir::In
                    } else {
                        conntrack::PortDir::Out
                    },
                    liberal: lib,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Arbitrary field values (including absurd ones) never panic, whatever
    /// the call, and an accepted insert is found again.
    #[test]
    fn arbitrary_facts_never_panic(fs in prop::collection::vec((any_facts(), any::<u64>()), 1..40)) {
        let mut t = Table::new(Config { max_entries: 16, ..Config::default() }).unwrap();
        let mut now = 0u64;
        for (f, dt) in fs {
            now = now.saturating_add(dt % 10_000_000);
            let _ = t.track(Time(now), &f);
            if t.insert(Time(now), &f, 1, 1).is_ok() {
                prop_assert!(t.lookup(Time(now), &f).is_some());
            }
            let _ = t.related(Time(now), &f, &f);
            let _ = t.expire(Time(now), 3);
            t.check_invariants().map_err(TestCaseError::fail)?;
        }
        let _ = t.expire(Time(u64::MAX), usize::MAX);
        prop_assert!(t.is_empty());
    }
}
