//! TCP state machine and window tracking.

mod common;

use common::*;
use conntrack::{
    tcp_flags::*, Config, Outcome, PacketFacts, ProtoKind, Reason, State, Table, ZoneSettings,
};

#[test]
fn handshake_data_fin_both_sides_then_time_wait_expires() {
    let mut t = table(exact());
    let mut c = Conn::new();
    let h = c.establish(&mut t);
    assert_eq!(c.a(&mut t, ACK | PSH, 500), State::Established);
    assert_eq!(c.b(&mut t, ACK, 0), State::Established);
    assert_eq!(c.b(&mut t, ACK | PSH, 1400), State::Established);
    assert_eq!(c.a(&mut t, ACK, 0), State::Established);
    assert_eq!(c.a(&mut t, FIN | ACK, 0), State::FinWait);
    assert_eq!(c.b(&mut t, ACK, 0), State::CloseWait);
    assert_eq!(c.b(&mut t, FIN | ACK, 0), State::LastAck);
    assert_eq!(c.a(&mut t, ACK, 0), State::TimeWait);
    let s = t.stats();
    assert_eq!(s.count(ProtoKind::Tcp, State::TimeWait), 1);
    assert_eq!(s.count(ProtoKind::Tcp, State::Established), 0);
    assert_eq!(t.get(h).map(|e| e.state), Some(State::TimeWait));

    let deadline = c.now + std::time::Duration::from_secs(120);
    c.now = conntrack::Time(deadline.0 - 1);
    assert_eq!(c.state(&t), Some(State::TimeWait));
    assert_eq!(t.expire(c.now, 100), 0);
    c.now = conntrack::Time(deadline.0 + 1);
    assert_eq!(t.expire(c.now, 100), 1);
    assert!(t.is_empty());
    assert_eq!(t.stats().expired, 1);
    t.check_invariants().unwrap();
}

#[test]
fn fin_answered_by_fin_ack_goes_to_last_ack() {
    let mut t = table(exact());
    let mut c = Conn::new();
    c.establish(&mut t);
    assert_eq!(c.b(&mut t, FIN | ACK, 0), State::FinWait);
    assert_eq!(c.a(&mut t, FIN | ACK, 0), State::LastAck);
    assert_eq!(c.b(&mut t, ACK, 0), State::TimeWait);
}

#[test]
fn simultaneous_open() {
    let mut t = table(exact());
    let mut c = Conn::new();
    c.open(&mut t);
    // B's own SYN crosses A's.
    assert_eq!(c.b(&mut t, SYN, 0), State::SynSent2);
    // Each side answers the other's SYN with a SYN-ACK.
    c.a_nxt -= 1;
    assert_eq!(c.a(&mut t, SYN | ACK, 0), State::SynRecv);
    c.b_nxt -= 1;
    assert_eq!(c.b(&mut t, SYN | ACK, 0), State::SynRecv);
    assert_eq!(c.a(&mut t, ACK, 0), State::Established);
    // Data both ways, two segments in flight.
    assert_eq!(c.a(&mut t, ACK, 1000), State::Established);
    assert_eq!(c.a(&mut t, ACK, 1000), State::Established);
    assert_eq!(c.b(&mut t, ACK, 1000), State::Established);
    t.check_invariants().unwrap();
}

#[test]
fn retransmitted_syn() {
    let mut t = table(exact());
    let mut c = Conn::new();
    let h = c.open(&mut t);
    // Same SYN again: tracked, still SYN_SENT, no second entry.
    c.a_nxt -= 1;
    assert_eq!(c.a(&mut t, SYN, 0), State::SynSent);
    assert_eq!(t.len(), 1);
    // A SYN with a new ISN (the stack restarted the attempt) re-initialises
    // the originator's window.
    c.a_nxt = c.a_nxt.wrapping_add(1_000_000 - 1);
    assert_eq!(c.a(&mut t, SYN, 0), State::SynSent);
    // A SYN-ACK for the old ISN is now out of window; for the new one, fine.
    let mut stale = c.pkt_b(SYN | ACK);
    stale.tcp_ack = c.a_nxt.wrapping_sub(1_000_000);
    assert_eq!(
        t.track(c.now, &stale),
        Outcome::Invalid(Reason::OutOfWindow)
    );
    assert_eq!(c.b(&mut t, SYN | ACK, 0), State::SynRecv);
    assert_eq!(c.a(&mut t, ACK, 0), State::Established);
    assert_eq!(t.get(h).map(|e| e.state), Some(State::Established));
}

#[test]
fn retransmitted_syn_ack_is_accepted_without_change() {
    let mut t = table(exact());
    let mut c = Conn::new();
    c.open(&mut t);
    assert_eq!(c.b(&mut t, SYN | ACK, 0), State::SynRecv);
    c.b_nxt -= 1;
    assert_eq!(c.b(&mut t, SYN | ACK, 0), State::SynRecv);
}

/// Drive a fresh connection to `target`.
fn conn_in(target: State) -> (Table, Conn) {
    let mut t = table(exact());
    let mut c = Conn::new();
    match target {
        State::SynSent => {
            c.open(&mut t);
        }
        State::SynRecv => {
            c.open(&mut t);
            c.b(&mut t, SYN | ACK, 0);
        }
        _ => {
            c.establish(&mut t);
        }
    }
    match target {
        State::FinWait => {
            c.a(&mut t, FIN | ACK, 0);
        }
        State::CloseWait => {
            c.a(&mut t, FIN | ACK, 0);
            c.b(&mut t, ACK, 0);
        }
        State::LastAck => {
            c.a(&mut t, FIN | ACK, 0);
            c.b(&mut t, FIN | ACK, 0);
        }
        State::TimeWait => {
            c.a(&mut t, FIN | ACK, 0);
            c.b(&mut t, FIN | ACK, 0);
            c.a(&mut t, ACK, 0);
        }
        _ => {}
    }
    assert_eq!(c.state(&t), Some(target));
    (t, c)
}

const RST_STATES: [State; 7] = [
    State::SynSent,
    State::SynRecv,
    State::Established,
    State::FinWait,
    State::CloseWait,
    State::LastAck,
    State::TimeWait,
];

#[test]
fn in_window_rst_closes_in_every_state_from_each_side() {
    for s in RST_STATES {
        for from_b in [false, true] {
            let (mut t, c) = conn_in(s);
            // In SYN_SENT the responder's RST must acknowledge the SYN.
            let rst = if from_b {
                c.pkt_b(RST | ACK)
            } else {
                c.pkt_a(RST)
            };
            match t.track(c.now, &rst) {
                Outcome::Established { state, .. } => {
                    assert_eq!(state, State::Close, "{s:?} from_b={from_b}")
                }
                other => panic!("{s:?} from_b={from_b}: {other:?}"),
            }
            assert_eq!(c.state(&t), Some(State::Close));
            assert_eq!(t.stats().count(ProtoKind::Tcp, State::Close), 1);
        }
    }
}

#[test]
fn out_of_window_rst_is_invalid_and_changes_nothing_in_every_state() {
    for s in RST_STATES {
        for from_b in [false, true] {
            let (mut t, c) = conn_in(s);
            let before = t.iter().next().unwrap();
            let mut rst = if from_b {
                c.pkt_b(RST | ACK)
            } else {
                c.pkt_a(RST | ACK)
            };
            rst.tcp_seq = rst.tcp_seq.wrapping_add(0x4000_0000);
            if s == State::SynSent && from_b {
                // Answering the SYN: what matters is the acknowledgement.
                rst.tcp_ack = rst.tcp_ack.wrapping_add(0x4000_0000);
            }
            assert_eq!(
                t.track(c.now, &rst),
                Outcome::Invalid(Reason::InvalidRst),
                "{s:?} from_b={from_b}"
            );
            assert_eq!(t.iter().next().unwrap(), before, "{s:?} entry changed");
            assert_eq!(t.stats().drop_count(Reason::InvalidRst), 1);
            // Even in liberal mode a blind RST does not close.
            rst.liberal = Some(true);
            assert_eq!(t.track(c.now, &rst), Outcome::Invalid(Reason::InvalidRst));
            assert_eq!(c.state(&t), Some(s));
        }
    }
}

#[test]
fn rst_without_ack_does_not_refuse_a_syn() {
    let (mut t, c) = conn_in(State::SynSent);
    assert_eq!(
        t.track(c.now, &c.pkt_b(RST)),
        Outcome::Invalid(Reason::InvalidRst)
    );
    assert_eq!(c.state(&t), Some(State::SynSent));
}

#[test]
fn out_of_window_data_is_invalid_and_liberal_mode_accepts_it() {
    let (mut t, c) = conn_in(State::Established);
    let before = t.iter().next().unwrap();
    let mut ahead = c.pkt_a(ACK).with_payload(100);
    ahead.tcp_seq = ahead.tcp_seq.wrapping_add(10_000_000);
    let mut behind = c.pkt_b(ACK).with_payload(100);
    behind.tcp_seq = behind.tcp_seq.wrapping_sub(10_000_000);
    let mut bad_ack = c.pkt_b(ACK);
    bad_ack.tcp_ack = bad_ack.tcp_ack.wrapping_add(5_000_000);
    for f in [ahead, behind, bad_ack] {
        assert_eq!(t.track(c.now, &f), Outcome::Invalid(Reason::OutOfWindow));
    }
    assert_eq!(t.iter().next().unwrap(), before);
    assert_eq!(t.stats().drop_count(Reason::OutOfWindow), 3);

    // Per call.
    let mut lib = ahead;
    lib.liberal = Some(true);
    assert_eq!(
        expect_tracked(t.track(c.now, &lib), false),
        State::Established
    );
    // Per zone.
    t.set_zone(
        c.zone,
        ZoneSettings {
            liberal: Some(true),
            ..Default::default()
        },
    );
    assert_eq!(
        expect_tracked(t.track(c.now, &behind), true),
        State::Established
    );
    // A per-call override beats the zone's.
    let mut strict = bad_ack;
    strict.liberal = Some(false);
    assert_eq!(
        t.track(c.now, &strict),
        Outcome::Invalid(Reason::OutOfWindow)
    );
    t.set_zone(c.zone, ZoneSettings::default());
    assert_eq!(
        t.track(c.now, &bad_ack),
        Outcome::Invalid(Reason::OutOfWindow)
    );

    // Globally.
    let mut t = table(Config {
        liberal: true,
        ..exact()
    });
    let mut c = Conn::new();
    c.establish(&mut t);
    for f in [ahead, behind, bad_ack] {
        assert!(matches!(t.track(c.now, &f), Outcome::Established { .. }));
    }
}

#[test]
fn window_scaling_is_honoured() {
    // B advertises 1000 << 7 once scaling is agreed; A may send 100 kB ahead.
    for scaled in [true, false] {
        let mut t = table(exact());
        let mut c = Conn::new();
        let syn = c.pkt_a(SYN).with_wscale(7);
        assert_eq!(t.track(c.now, &syn), Outcome::New);
        t.insert(c.now, &syn, 1, 1).unwrap();
        c.a_nxt += 1;
        c.win = 1000;
        let mut synack = c.pkt_b(SYN | ACK);
        if scaled {
            synack = synack.with_wscale(7);
        }
        expect_tracked(t.track(c.now, &synack), true);
        c.b_nxt += 1;
        c.a(&mut t, ACK, 0);
        c.b(&mut t, ACK, 0);
        let mut far = c.pkt_a(ACK).with_payload(1000);
        far.tcp_seq = far.tcp_seq.wrapping_add(100_000);
        let o = t.track(c.now, &far);
        if scaled {
            assert!(matches!(o, Outcome::Established { .. }), "{o:?}");
        } else {
            assert_eq!(o, Outcome::Invalid(Reason::OutOfWindow));
        }
        // Beyond even the scaled window (128000): refused either way.
        far.tcp_seq = far.tcp_seq.wrapping_add(200_000);
        assert_eq!(t.track(c.now, &far), Outcome::Invalid(Reason::OutOfWindow));
        // The other way too: A's window (1000 << 7, A's scale from its SYN)
        // lets B, the responder, send 100 kB ahead — a server's bulk data.
        let mut far_b = c.pkt_b(ACK).with_payload(1000);
        far_b.tcp_seq = far_b.tcp_seq.wrapping_add(100_000);
        let o = t.track(c.now, &far_b);
        if scaled {
            assert!(matches!(o, Outcome::Established { .. }), "{o:?}");
        } else {
            assert_eq!(o, Outcome::Invalid(Reason::OutOfWindow));
        }
    }
}

#[test]
fn loose_pickup_by_default_strict_refuses() {
    let c = Conn::new();
    let mut t = table(exact());
    let ack = c.pkt_a(ACK | PSH).with_payload(200);
    assert_eq!(t.track(c.now, &ack), Outcome::New);
    let h = t.insert(c.now, &ack, 4, 9).unwrap();
    let e = t.get(h).unwrap();
    assert_eq!((e.state, e.picked_up), (State::Established, true));
    // The other direction is learned from its first packet.
    let reply = c.pkt_b(ACK);
    let mut reply = reply;
    reply.tcp_ack = c.a_nxt.wrapping_add(200);
    assert!(matches!(
        t.track(c.now, &reply),
        Outcome::Established { reply: true, .. }
    ));
    // A FIN or RST cannot pick up.
    let other = PacketFacts {
        sport: 1,
        ..c.pkt_a(FIN | ACK)
    };
    assert_eq!(t.track(c.now, &other), Outcome::Invalid(Reason::NotNew));

    let mut t = table(Config {
        loose_pickup: false,
        ..exact()
    });
    assert_eq!(t.track(c.now, &ack), Outcome::StrictRefused);
    assert_eq!(t.stats().drop_count(Reason::StrictNoEntry), 1);
    assert!(t.insert(c.now, &ack, 1, 1).is_err());
    assert!(t.is_empty());
    // Per-zone override back to loose.
    t.set_zone(
        c.zone,
        ZoneSettings {
            loose_pickup: Some(true),
            ..Default::default()
        },
    );
    assert_eq!(t.track(c.now, &ack), Outcome::New);
    // And a strict zone in a loose table.
    let mut t = table(exact());
    t.set_zone(
        c.zone,
        ZoneSettings {
            loose_pickup: Some(false),
            ..Default::default()
        },
    );
    assert_eq!(t.track(c.now, &ack), Outcome::StrictRefused);
}

#[test]
fn invalid_flags_and_invalid_transitions() {
    let (mut t, c) = conn_in(State::SynSent);
    for flags in [SYN | FIN, 0, FIN, SYN | RST, FIN | PSH | URG] {
        assert_eq!(
            t.track(c.now, &c.pkt_a(flags)),
            Outcome::Invalid(Reason::InvalidFlags),
            "{flags:#x}"
        );
    }
    assert_eq!(t.stats().drop_count(Reason::InvalidFlags), 5);
    // A SYN-ACK from the originator, a FIN before the handshake.
    assert_eq!(
        t.track(c.now, &c.pkt_a(SYN | ACK)),
        Outcome::Invalid(Reason::InvalidState)
    );
    assert_eq!(
        t.track(c.now, &c.pkt_b(FIN | ACK)),
        Outcome::Invalid(Reason::InvalidState)
    );
    assert_eq!(c.state(&t), Some(State::SynSent));
}

#[test]
fn syn_on_time_wait_or_close_opens_a_new_connection() {
    let (mut t, mut c) = conn_in(State::TimeWait);
    c.a_nxt = c.a_nxt.wrapping_add(100_000);
    let syn = c.pkt_a(SYN);
    assert_eq!(t.track(c.now, &syn), Outcome::New);
    assert!(t.is_empty());
    assert_eq!(t.stats().reopened, 1);
    let h = t.insert(c.now, &syn, 2, 2).unwrap();
    assert_eq!(t.get(h).unwrap().state, State::SynSent);
    assert_eq!(t.get(h).unwrap().generation, 2);
    // CLOSE after an RST; the responder reopens.
    let (mut t, c) = conn_in(State::Established);
    expect_tracked(t.track(c.now, &c.pkt_a(RST)), false);
    let syn_b = c.pkt_b(SYN);
    assert_eq!(t.track(c.now, &syn_b), Outcome::New);
    let h = t.insert(c.now, &syn_b, 3, 3).unwrap();
    let e = t.get(h).unwrap();
    assert_eq!((e.src, e.dst, e.state), (c.b, c.a, State::SynSent));
}

#[test]
fn syn_on_established_is_not_new() {
    let (mut t, c) = conn_in(State::Established);
    assert!(matches!(
        t.track(c.now, &c.pkt_a(SYN)),
        Outcome::Established { .. }
    ));
    assert_eq!(c.state(&t), Some(State::Established));
    assert_eq!(t.len(), 1);
}

#[test]
fn ipv6_connection_and_sequence_wrap() {
    let mut t = table(exact());
    let mut c = Conn::new();
    c.a = 0x2001_0db8_0000_0000_0000_0000_0000_0001;
    c.b = 0x2001_0db8_0000_0000_0000_0000_0000_0002;
    c.a_nxt = u32::MAX - 100;
    c.establish(&mut t);
    for _ in 0..5 {
        assert_eq!(c.a(&mut t, ACK, 1000), State::Established);
        assert_eq!(c.b(&mut t, ACK, 0), State::Established);
    }
    assert!(c.a_nxt < 10_000);
    let e = t.iter().next().unwrap();
    assert_eq!((e.src, e.dst), (c.a, c.b));
}
