//! Timeouts, capacity, ICMP, related errors, fragments, expiry, policy
//! generation, zones, listing.

mod common;

use std::time::Duration;

use common::*;
use conntrack::{
    icmp_type::*, proto, tcp_flags::*, v4, Config, Filter, FragKey, FragVerdict, InsertError,
    Outcome, PacketFacts, PortDir, ProtoKind, Reason, State, Table, Time, Tuple, ZoneSettings,
};

fn udp(zone: u32, sport: u16) -> PacketFacts {
    PacketFacts::udp(zone, A, B, sport, 53)
}

fn open(t: &mut Table, now: Time, f: &PacketFacts) -> conntrack::Handle {
    assert_eq!(t.track(now, f), Outcome::New);
    t.insert(now, f, 1, 1).expect("insert")
}

/// Entry present at deadline - 1 ms, gone (and reclaimed) at deadline + 1 ms.
fn check_deadline(t: &mut Table, probe: &PacketFacts, deadline: Time) {
    let before = Time(deadline.0 - 1);
    assert!(t.lookup(before, probe).is_some(), "present at t-1");
    assert_eq!(t.expire(before, 1000), 0, "not reclaimed at t-1");
    assert_eq!(t.len(), 1);
    let after = Time(deadline.0 + 1);
    assert!(t.lookup(after, probe).is_none(), "not found at t+1");
    assert_eq!(t.expire(after, 1000), 1, "reclaimed at t+1");
    assert!(t.is_empty());
}

#[test]
fn timeouts_per_state() {
    let t0 = Time::from_secs(10);
    let d = |s: u64| t0 + Duration::from_secs(s);
    // UDP unreplied: 30 s.
    let mut t = table(exact());
    let f = udp(1, 1000);
    open(&mut t, t0, &f);
    check_deadline(&mut t, &f, d(30));
    // UDP replied: 120 s from the reply.
    open(&mut t, t0, &f);
    let r = PacketFacts::udp(1, B, A, 53, 1000);
    expect_tracked(t.track(t0, &r), true);
    assert_eq!(t.stats().count(ProtoKind::Udp, State::Replied), 1);
    check_deadline(&mut t, &f, d(120));
    // ICMP echo: 30 s.
    let ping = PacketFacts::icmp(1, A, B, ECHO_REQUEST, 0, 77);
    open(&mut t, t0, &ping);
    check_deadline(&mut t, &ping, d(30));
    // Other protocols (GRE): 600 s.
    let gre = PacketFacts {
        proto: 47,
        ..PacketFacts::udp(1, A, B, 0, 0)
    };
    open(&mut t, t0, &gre);
    check_deadline(&mut t, &gre, d(600));
    // TCP SYN_SENT 120 s, SYN_RECV 60 s, ESTABLISHED 5 days, CLOSE 10 s.
    let mut c = Conn::new();
    c.now = t0;
    c.open(&mut t);
    check_deadline(&mut t, &c.pkt_a(ACK), d(120));
    let mut c = Conn::new();
    c.now = t0;
    c.open(&mut t);
    c.b(&mut t, SYN | ACK, 0);
    check_deadline(&mut t, &c.pkt_a(ACK), d(60));
    let mut c = Conn::new();
    c.now = t0;
    c.establish(&mut t);
    check_deadline(&mut t, &c.pkt_a(ACK), d(5 * 24 * 3600));
    let mut c = Conn::new();
    c.now = t0;
    c.establish(&mut t);
    c.a(&mut t, RST, 0);
    check_deadline(&mut t, &c.pkt_a(ACK), d(10));
    // Configured timeouts are used.
    let mut cfg = exact();
    cfg.timeouts.udp_unreplied = Duration::from_millis(1500);
    let mut t = table(cfg);
    open(&mut t, t0, &f);
    check_deadline(&mut t, &f, Time(t0.0 + 1500));
}

#[test]
fn a_packet_extends_the_deadline_and_slack_bounds_reclamation() {
    // Default slack (1 s): lookups are exact, reclamation within the slack.
    let mut t = table(Config::default());
    let f = udp(1, 1000);
    let t0 = Time::from_secs(10);
    open(&mut t, t0, &f);
    let t1 = Time::from_millis(t0.0 + 500);
    expect_tracked(t.track(t1, &f), false);
    let deadline = t1.0 + 30_000;
    assert!(t.lookup(Time(deadline - 1), &f).is_some());
    assert!(t.lookup(Time(deadline), &f).is_none());
    assert_eq!(t.expire(Time(deadline - 1), 10), 0);
    let slack = t.config().expiry_slack.as_millis() as u64;
    assert_eq!(t.expire(Time(deadline + slack), 10), 1);
    // An expired entry not yet reclaimed is replaced by a new connection.
    open(&mut t, Time(deadline + 100_000), &f);
    assert!(t.track(Time(deadline + 200_000), &f) == Outcome::New);
    assert_eq!(t.len(), 0, "the stale entry was reclaimed on lookup");
    t.check_invariants().unwrap();
}

#[test]
fn capacity_total_refuses_new_keeps_established() {
    let mut t = table(Config {
        max_entries: 4,
        ..exact()
    });
    let now = Time::from_secs(1);
    let mut c = Conn::new();
    c.now = now;
    c.establish(&mut t);
    for p in 0..3 {
        open(&mut t, now, &udp(1, p));
    }
    let f = udp(1, 99);
    assert_eq!(t.track(now, &f), Outcome::New);
    assert_eq!(t.insert(now, &f, 1, 1), Err(InsertError::TableFull));
    assert_eq!(t.stats().drop_count(Reason::TableFull), 1);
    assert_eq!(t.len(), 4);
    // Established connections are still tracked, nothing was evicted.
    assert_eq!(c.a(&mut t, ACK, 10), State::Established);
    assert_eq!(c.b(&mut t, ACK, 0), State::Established);
    // Expired entries give their room back even before `expire` runs.
    let later = now + Duration::from_secs(31);
    assert!(t.insert(later, &f, 1, 1).is_ok());
    assert_eq!(t.len(), 2, "three UDP entries expired, one new, TCP kept");
    assert!(t.lookup(later, &c.pkt_a(ACK)).is_some());
    let now = later;
    let f = udp(1, 98);
    for p in 0..2 {
        open(&mut t, now, &udp(1, 200 + p));
    }
    assert_eq!(t.insert(now, &f, 1, 1), Err(InsertError::TableFull));
    // Room again after one goes.
    let (h, _) = t.lookup(now, &udp(1, 200)).unwrap();
    assert!(t.remove(h));
    assert!(t.insert(now, &f, 1, 1).is_ok());
    t.check_invariants().unwrap();
}

#[test]
fn capacity_per_zone() {
    let mut t = table(Config {
        max_per_zone: 2,
        ..exact()
    });
    let now = Time::from_secs(1);
    open(&mut t, now, &udp(1, 1));
    open(&mut t, now, &udp(1, 2));
    assert_eq!(
        t.insert(now, &udp(1, 3), 1, 1),
        Err(InsertError::ZoneFull(1))
    );
    assert_eq!(t.stats().drop_count(Reason::ZoneFull), 1);
    // Another zone is not affected; the full zone's connections still pass.
    open(&mut t, now, &udp(2, 3));
    assert!(matches!(
        t.track(now, &udp(1, 1)),
        Outcome::Established { .. }
    ));
    // A per-zone override.
    t.set_zone(
        1,
        ZoneSettings {
            max_entries: Some(3),
            ..Default::default()
        },
    );
    open(&mut t, now, &udp(1, 3));
    assert_eq!(
        t.insert(now, &udp(1, 4), 1, 1),
        Err(InsertError::ZoneFull(1))
    );
    assert_eq!(t.zone_len(1), 3);
    t.check_invariants().unwrap();
}

#[test]
fn icmp_echo_both_ways_v4_and_v6() {
    let v6a = 0xfd00_0000_0000_0000_0000_0000_0000_0001;
    let v6b = 0xfd00_0000_0000_0000_0000_0000_0000_0002;
    for (a, b, req, rep) in [
        (A, B, ECHO_REQUEST, ECHO_REPLY),
        (v6a, v6b, V6_ECHO_REQUEST, V6_ECHO_REPLY),
    ] {
        let mut t = table(exact());
        let now = Time::from_secs(1);
        let ping = PacketFacts::icmp(3, a, b, req, 0, 4242);
        let pong = PacketFacts::icmp(3, b, a, rep, 0, 4242);
        // An unsolicited reply opens nothing.
        assert_eq!(t.track(now, &pong), Outcome::Invalid(Reason::NotNew));
        let h = open(&mut t, now, &ping);
        match t.track(now, &pong) {
            Outcome::Established {
                handle,
                reply,
                state,
                ..
            } => {
                assert_eq!((handle, reply, state), (h, true, State::Replied))
            }
            o => panic!("{o:?}"),
        }
        expect_tracked(t.track(now, &ping), false);
        // Another identifier is another conversation.
        let other = PacketFacts::icmp(3, b, a, rep, 0, 4243);
        assert_eq!(t.track(now, &other), Outcome::Invalid(Reason::NotNew));
        // Neither echo nor error: untracked.
        let ns = PacketFacts::icmp(3, a, b, 135, 0, 0);
        assert_eq!(t.track(now, &ns), Outcome::Untracked);
        assert_eq!(t.len(), 1);
    }
}

#[test]
fn icmp_errors_quoting_tracked_connections_are_related() {
    let mut t = table(exact());
    let now = Time::from_secs(1);
    let router = v4(192, 0, 2, 1);
    // TCP A -> B.
    let mut c = Conn::new();
    c.now = now;
    let h = c.establish(&mut t);
    let inner = c.pkt_a(ACK);
    let err = PacketFacts::icmp(c.zone, router, A, DEST_UNREACH, 4, 0);
    assert!(conntrack::is_icmp_error(err.proto, err.icmp_type));
    match t.related(now, &err, &inner) {
        Outcome::Related {
            handle,
            generation,
            rule,
        } => assert_eq!((handle, generation, rule), (h, 1, 1)),
        o => panic!("{o:?}"),
    }
    // The error about B's packet, sent to B: the same connection.
    let err_b = PacketFacts::icmp(c.zone, router, B, TIME_EXCEEDED, 0, 0);
    assert!(matches!(
        t.related(now, &err_b, &c.pkt_b(ACK)),
        Outcome::Related { .. }
    ));
    // ICMPv6 packet too big quoting a UDP flow over IPv6.
    let (x, y) = (0xfd00_u128 << 112 | 1, 0xfd00_u128 << 112 | 2);
    let u = PacketFacts::udp(c.zone, x, y, 5000, 443);
    open(&mut t, now, &u);
    let ptb = PacketFacts::icmp(
        c.zone,
        0xfd00_u128 << 112 | 0xff,
        x,
        V6_PACKET_TOO_BIG,
        0,
        0,
    );
    assert_eq!(ptb.proto, proto::ICMPV6);
    assert!(matches!(t.related(now, &ptb, &u), Outcome::Related { .. }));

    // Unknown quoted connection, wrong zone, or an error not sent to the
    // quoted packet's source: not related.
    let unknown = PacketFacts::udp(c.zone, x, y, 5001, 443);
    assert_eq!(
        t.related(now, &ptb, &unknown),
        Outcome::Invalid(Reason::UnrelatedIcmpError)
    );
    let other_zone = PacketFacts { zone: 99, ..err };
    assert_eq!(
        t.related(now, &other_zone, &inner),
        Outcome::Invalid(Reason::UnrelatedIcmpError)
    );
    let misdirected = PacketFacts::icmp(c.zone, router, B, DEST_UNREACH, 4, 0);
    assert_eq!(
        t.related(now, &misdirected, &inner),
        Outcome::Invalid(Reason::UnrelatedIcmpError)
    );
    assert_eq!(t.stats().drop_count(Reason::UnrelatedIcmpError), 3);
    // Not an error at all.
    let echo = PacketFacts::icmp(c.zone, router, A, ECHO_REQUEST, 0, 1);
    assert_eq!(t.related(now, &echo, &inner), Outcome::Untracked);
    // Errors go through `related`, not `track`.
    assert_eq!(t.track(now, &err), Outcome::Untracked);
}

#[test]
fn fragments_get_the_first_fragments_verdict() {
    let mut t = table(exact());
    let now = Time::from_secs(1);
    let k = |id| FragKey {
        zone: 1,
        src: A,
        dst: B,
        proto: proto::UDP,
        id,
    };
    t.frag_first(now, k(1), FragVerdict::Allow).unwrap();
    t.frag_first(now, k(2), FragVerdict::Deny).unwrap();
    assert_eq!(t.frag_lookup(now, &k(1)), Some(FragVerdict::Allow));
    assert_eq!(t.frag_lookup(now, &k(1)), Some(FragVerdict::Allow));
    assert_eq!(t.frag_lookup(now, &k(2)), Some(FragVerdict::Deny));
    // Non-first without a first: reported and counted.
    assert_eq!(t.frag_lookup(now, &k(3)), None);
    let other_zone = FragKey { zone: 2, ..k(1) };
    assert_eq!(t.frag_lookup(now, &other_zone), None);
    assert_eq!(t.stats().drop_count(Reason::FragNoFirst), 2);
    assert_eq!(t.stats().frag_entries, 2);
    // They expire after 30 s.
    let later = now + Duration::from_secs(30);
    assert_eq!(
        t.frag_lookup(Time(later.0 - 1), &k(1)),
        Some(FragVerdict::Allow)
    );
    assert_eq!(t.frag_lookup(later, &k(1)), None);
    assert_eq!(t.expire(later, 100), 2);
    assert_eq!(t.stats().frag_entries, 0);
}

#[test]
fn fragment_table_is_bounded() {
    let mut t = table(Config {
        frag_max_entries: 2,
        ..exact()
    });
    let now = Time::from_secs(1);
    let k = |id| FragKey {
        zone: 1,
        src: A,
        dst: B,
        proto: proto::UDP,
        id,
    };
    t.frag_first(now, k(1), FragVerdict::Allow).unwrap();
    t.frag_first(now, k(2), FragVerdict::Allow).unwrap();
    assert!(t.frag_first(now, k(3), FragVerdict::Allow).is_err());
    assert_eq!(t.stats().drop_count(Reason::FragTableFull), 1);
    // A repeated first fragment updates in place.
    t.frag_first(now, k(2), FragVerdict::Deny).unwrap();
    assert_eq!(t.frag_lookup(now, &k(2)), Some(FragVerdict::Deny));
    // Expired records make room.
    let later = now + Duration::from_secs(31);
    t.frag_first(later, k(3), FragVerdict::Allow).unwrap();
    assert_eq!(t.frag_lookup(later, &k(3)), Some(FragVerdict::Allow));
}

#[test]
fn incremental_expiry_respects_the_budget() {
    let n = 100_000u32;
    let mut t = table(Config {
        max_entries: 200_000,
        max_per_zone: 200_000,
        ..Config::default()
    });
    let now = Time::from_secs(1);
    for i in 0..n {
        let f = PacketFacts::udp(i % 16, A + u128::from(i), B, (i % 60000) as u16, 53);
        t.insert(now, &f, 1, 1).unwrap();
    }
    assert_eq!(t.len(), n as usize);
    let later = now + Duration::from_secs(60);
    let mut calls = 0;
    let mut total = 0;
    loop {
        let r = t.expire(later, 1000);
        assert!(r <= 1000, "one call removed {r}");
        if r == 0 {
            break;
        }
        total += r;
        calls += 1;
    }
    assert_eq!(total, n as usize);
    assert!(calls >= 100, "{calls} calls");
    assert!(t.is_empty());
    assert_eq!(t.stats().expired, u64::from(n));
    t.check_invariants().unwrap();
}

#[test]
fn expiry_leaves_live_entries() {
    let mut t = table(exact());
    let t0 = Time::from_secs(1);
    open(&mut t, t0, &udp(1, 1));
    open(&mut t, t0, &udp(1, 2));
    // Keep one alive.
    let t1 = t0 + Duration::from_secs(20);
    expect_tracked(t.track(t1, &udp(1, 2)), false);
    assert_eq!(t.expire(t0 + Duration::from_secs(31), 100), 1);
    assert!(t.lookup(t1, &udp(1, 2)).is_some());
    t.check_invariants().unwrap();
}

#[test]
fn generation_update_and_remove() {
    let mut t = table(exact());
    let now = Time::from_secs(1);
    let f = udp(1, 1);
    assert_eq!(t.track(now, &f), Outcome::New);
    let h = t.insert(now, &f, 10, 500).unwrap();
    let gen = |o| match o {
        Outcome::Established {
            generation, rule, ..
        } => (generation, rule),
        o => panic!("{o:?}"),
    };
    assert_eq!(gen(t.track(now, &f)), (10, 500));
    // A re-check under generation 11 allowed it by rule 501.
    assert!(t.set_generation(h, 11, 501));
    assert_eq!(gen(t.track(now, &f)), (11, 501));
    assert_eq!(t.get(h).unwrap().generation, 11);
    // A re-check denied it.
    assert!(t.remove(h));
    assert!(!t.remove(h));
    assert!(!t.set_generation(h, 12, 1));
    assert_eq!(t.track(now, &f), Outcome::New);
    assert_eq!(t.stats().removed, 1);
}

#[test]
fn both_directions_one_entry_and_zones_apart() {
    let mut t = table(exact());
    let now = Time::from_secs(1);
    let out = PacketFacts::udp(1, B, A, 9999, 53).with_dir(PortDir::Out);
    let h = open(&mut t, now, &out);
    let back = PacketFacts::udp(1, A, B, 53, 9999).with_dir(PortDir::In);
    match t.track(now, &back) {
        Outcome::Established { handle, reply, .. } => assert_eq!((handle, reply), (h, true)),
        o => panic!("{o:?}"),
    }
    assert_eq!(t.len(), 1);
    let e = t.get(h).unwrap();
    assert_eq!(
        (e.src, e.dst, e.sport, e.dport, e.origin, e.replied),
        (B, A, 9999, 53, PortDir::Out, true)
    );
    // The same 5-tuple on another port (zone) is another entry.
    let other = PacketFacts { zone: 2, ..back };
    let h2 = open(&mut t, now, &other);
    assert_ne!(h, h2);
    assert_eq!(t.len(), 2);
    assert_eq!(t.get(h2).unwrap().origin, PortDir::In);
    assert_eq!(t.insert(now, &other, 1, 1), Err(InsertError::Exists(h2)));
}

#[test]
fn list_filters_and_flush() {
    let mut t = table(exact());
    let now = Time::from_secs(1);
    open(&mut t, now, &udp(1, 1));
    open(&mut t, now, &udp(2, 1));
    open(&mut t, now, &PacketFacts::udp(2, A, v4(10, 9, 9, 9), 1, 1));
    let mut c = Conn::new();
    c.now = now;
    c.zone = 2;
    c.establish(&mut t);
    let n = |f: Filter, t: &Table| t.list(&f).count();
    assert_eq!(n(Filter::default(), &t), 4);
    assert_eq!(
        n(
            Filter {
                zone: Some(2),
                ..Default::default()
            },
            &t
        ),
        3
    );
    assert_eq!(
        n(
            Filter {
                addr: Some(v4(10, 9, 9, 9)),
                ..Default::default()
            },
            &t
        ),
        1
    );
    assert_eq!(
        n(
            Filter {
                proto: Some(proto::TCP),
                ..Default::default()
            },
            &t
        ),
        1
    );
    assert_eq!(
        n(
            Filter {
                state: Some(State::Unreplied),
                ..Default::default()
            },
            &t
        ),
        3
    );
    assert_eq!(
        n(
            Filter {
                zone: Some(1),
                proto: Some(proto::TCP),
                ..Default::default()
            },
            &t
        ),
        0
    );
    assert_eq!(t.flush(Some(2)), 3);
    assert_eq!(t.len(), 1);
    assert_eq!(t.flush(None), 1);
    assert!(t.is_empty());
    assert_eq!(t.stats().removed, 4);
    t.check_invariants().unwrap();
}

#[test]
fn config_is_validated() {
    assert!(Table::new(Config {
        max_entries: 0,
        ..Config::default()
    })
    .is_err());
    let mut cfg = Config::default();
    cfg.timeouts.icmp = Duration::ZERO;
    assert!(matches!(
        Table::new(cfg),
        Err(conntrack::ConfigError::Timeout("icmp"))
    ));
}

#[test]
fn memory_per_entry_stays_small() {
    // Structure sizes, not timings: 1 << 16 entries in a table sized for them.
    let n = 1 << 16;
    let mut t = table(Config {
        max_entries: n,
        max_per_zone: n,
        ..Config::default()
    });
    t.reserve(n as usize);
    let now = Time::from_secs(1);
    for i in 0..n {
        t.insert(now, &PacketFacts::udp(1, A + u128::from(i), B, 1, 2), 1, 1)
            .unwrap();
    }
    let per = t.memory_bytes() / n as usize;
    assert!(per <= 128, "{per} bytes per entry");
}

#[test]
fn reconfigure_changes_capacity_pickup_and_timeouts_keeping_entries() {
    let mut t = table(Config {
        max_entries: 2,
        ..exact()
    });
    let now = Time::from_secs(1);
    open(&mut t, now, &udp(1, 1));
    open(&mut t, now, &udp(1, 2));
    assert_eq!(t.insert(now, &udp(1, 3), 1, 1), Err(InsertError::TableFull));
    // A bad config is refused whole.
    let mut bad = Config {
        max_entries: 3,
        ..exact()
    };
    bad.timeouts.udp_unreplied = Duration::ZERO;
    assert!(t.reconfigure(&bad).is_err());
    assert_eq!(t.insert(now, &udp(1, 3), 1, 1), Err(InsertError::TableFull));
    // More room; a lower capacity evicts nothing.
    let mut cfg = Config {
        max_entries: 3,
        ..exact()
    };
    t.reconfigure(&cfg).unwrap();
    assert!(t.insert(now, &udp(1, 3), 1, 1).is_ok());
    cfg.max_entries = 1;
    t.reconfigure(&cfg).unwrap();
    assert_eq!(t.len(), 3);
    assert_eq!(t.stats().capacity, 1);
    assert_eq!(t.insert(now, &udp(1, 4), 1, 1), Err(InsertError::TableFull));
    // Strict: a mid-stream ACK without an entry is refused.
    cfg.max_entries = 10;
    cfg.loose_pickup = false;
    t.reconfigure(&cfg).unwrap();
    let ack = PacketFacts::tcp(1, A, B, 5000, 80, ACK, 100, 200, 1000);
    assert_eq!(t.track(now, &ack), Outcome::StrictRefused);
    cfg.loose_pickup = true;
    t.reconfigure(&cfg).unwrap();
    assert_eq!(
        t.track(now, &ack),
        Outcome::New,
        "picked up once the rules allow"
    );
    // A shorter UDP timeout applies to the entries already there.
    cfg.timeouts.udp_unreplied = Duration::from_secs(5);
    t.reconfigure(&cfg).unwrap();
    let later = now + Duration::from_secs(6);
    assert!(t.lookup(later, &udp(1, 1)).is_none());
    t.check_invariants().unwrap();
}

#[test]
fn steady_churn_does_not_grow_the_index() {
    // A table at a steady state, each new connection replacing an expired
    // one: the index must not fill up with hashbrown's tombstones, or an
    // insert on the packet path rehashes (or doubles) the whole index.
    let n: u32 = 12_000;
    let mut t = table(Config {
        max_entries: n,
        max_per_zone: n,
        ..Config::default()
    });
    t.reserve(n as usize);
    let mut now = Time::from_secs(1);
    let mut bytes = 0;
    for i in 0..12 * n {
        // UDP unreplied lives 30 s: 10,000 inserts, so 10,000 live (a
        // 16,384-bucket index is 61 % full).
        now = Time(now.0 + 3);
        t.expire(now, 64);
        t.insert(now, &PacketFacts::udp(1, A + u128::from(i), B, 1, 2), 1, 1)
            .unwrap();
        if i == 2 * n {
            bytes = t.memory_bytes();
        }
    }
    assert!(t.len() >= 10_000 && t.len() < n as usize, "{}", t.len());
    assert_eq!(t.memory_bytes(), bytes, "the index grew at a steady state");
    t.check_invariants().unwrap();
}

/// `probe` then `track_probed` is `track`, also when the table changed
/// between the two (the probed slot freed and reused by another
/// connection, the connection removed, or inserted after its probe).
#[test]
fn track_probed_is_track_whatever_happened_in_between() {
    let t0 = Time::from_secs(10);
    // Two identical tables: one tracks, the other probes first.
    let mut plain = table(exact());
    let mut probed = table(exact());
    let flows: Vec<PacketFacts> = (0..64).map(|i| udp(1, 1000 + i)).collect();
    for f in &flows[..32] {
        open(&mut plain, t0, f);
        open(&mut probed, t0, f);
    }
    // Probe all 64 (half tracked, half not), then change the tables the
    // same way before tracking: remove flow 3 (its slot is reused by flow
    // 40's insert), insert flow 50 after its probe.
    let probes: Vec<_> = flows
        .iter()
        .map(|f| probed.probe(f).expect("udp"))
        .collect();
    for t in [&mut plain, &mut probed] {
        let (h, _) = t.lookup(t0, &flows[3]).expect("flow 3");
        assert!(t.remove(h));
        open(t, t0, &flows[40]);
        open(t, t0, &flows[50]);
    }
    for (i, (f, p)) in flows.iter().zip(&probes).enumerate() {
        for reply in [false, true] {
            let f = if reply {
                PacketFacts::udp(1, B, A, 53, f.sport)
            } else {
                *f
            };
            let p = if reply {
                probed.probe(&f).expect("udp")
            } else {
                *p
            };
            let want = plain.track(t0, &f);
            assert_eq!(
                probed.track_probed(t0, &f, &p),
                want,
                "flow {i}, reply {reply}"
            );
            if want == Outcome::New {
                plain.insert(t0, &f, 1, 1).expect("room");
                probed.insert(t0, &f, 1, 1).expect("room");
            }
        }
    }
    assert_eq!(plain.stats(), probed.stats());
    probed.check_invariants().expect("invariants");
}

/// `probe_tuple` is `probe` for every protocol but ICMP; the fast path
/// (`track_probed_fast`, then `track_probed` when it declines) tracks as
/// `track` does: the same outcomes, the same entries and statistics, for
/// UDP, TCP, other protocols, ICMP echo, expired entries and slots that
/// changed hands between the probe and the track.
#[test]
fn probe_tuple_and_the_fast_path_are_track() {
    let t0 = Time::from_secs(10);
    let mut plain = table(exact());
    let mut fast = table(exact());
    let mut flows: Vec<PacketFacts> = (0..16).map(|i| udp(1, 1000 + i)).collect();
    flows.extend((0..8).map(|i| PacketFacts {
        proto: 47,
        ..PacketFacts::udp(2, A, B, 0, i)
    }));
    flows.push(PacketFacts::icmp(1, A, B, ECHO_REQUEST, 0, 77));
    let mut c = Conn::new();
    c.now = t0;
    flows.push(c.pkt_a(SYN));
    // Opened at t0 except flow 5, opened early enough to expire by t1.
    let t1 = t0 + Duration::from_secs(29);
    for (i, f) in flows.iter().enumerate() {
        let at = if i == 5 { Time::from_secs(1) } else { t0 };
        for t in [&mut plain, &mut fast] {
            open(t, at, f);
        }
    }
    for t in [&mut plain, &mut fast] {
        let (h, _) = t.lookup(t0, &flows[3]).expect("flow 3");
        assert!(t.remove(h));
    }
    let mut packets = Vec::new();
    for f in &flows {
        packets.push(*f);
        let mut r = *f;
        std::mem::swap(&mut r.src, &mut r.dst);
        std::mem::swap(&mut r.sport, &mut r.dport);
        if r.proto == proto::ICMP {
            r.icmp_type = ECHO_REPLY;
        }
        if r.proto == proto::TCP {
            r.tcp_flags = SYN | ACK;
            r.tcp_seq = 5000;
            r.tcp_ack = f.tcp_seq.wrapping_add(1);
        }
        packets.push(r);
    }
    let probes: Vec<_> = packets
        .iter()
        .map(|f| {
            let p = fast.probe(f).expect("tracked protocols");
            let by_tuple = fast.probe_tuple(&Tuple::from(f));
            if f.proto == proto::ICMP {
                assert_eq!(by_tuple, None, "ICMP is probed with its facts");
            } else {
                assert_eq!(by_tuple, Some(p));
            }
            p
        })
        .collect();
    // Between probe and track: flow 3 opens again (the slot of the removed
    // entry is reused).
    for t in [&mut plain, &mut fast] {
        open(t, t1, &flows[3]);
    }
    let mut fast_hits = 0;
    for (i, (f, p)) in packets.iter().zip(&probes).enumerate() {
        let want = plain.track(t1, f);
        let got = match fast.track_probed_fast(t1, p) {
            Some(o) => {
                fast_hits += 1;
                assert_ne!(f.proto, proto::TCP, "TCP takes the full path");
                o
            }
            None => fast.track_probed(t1, f, p),
        };
        assert_eq!(got, want, "packet {i}");
        if want == Outcome::New {
            plain.insert(t1, f, 1, 1).expect("room");
            fast.insert(t1, f, 1, 1).expect("room");
        }
    }
    assert!(fast_hits > 20, "{fast_hits}");
    assert_eq!(plain.stats(), fast.stats());
    let list = |t: &Table| t.iter().collect::<Vec<_>>();
    assert_eq!(list(&plain), list(&fast));
    fast.check_invariants().expect("invariants");
}
