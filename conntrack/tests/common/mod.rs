//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::time::Duration;

use conntrack::{tcp_flags::*, v4, Config, Handle, Outcome, PacketFacts, State, Table, Time};

pub const A: u128 = v4(10, 0, 0, 1);
pub const B: u128 = v4(10, 0, 0, 2);
pub const ZONE: u32 = 7;

/// Exact reclamation, so timeout tests can be literal.
pub fn exact() -> Config {
    Config {
        expiry_slack: Duration::ZERO,
        ..Config::default()
    }
}

pub fn table(cfg: Config) -> Table {
    Table::new(cfg).expect("valid config")
}

/// A TCP connection between A:40000 (originator) and B:80, with each side's
/// next sequence number.
pub struct Conn {
    pub zone: u32,
    pub a: u128,
    pub b: u128,
    pub sport: u16,
    pub dport: u16,
    pub a_nxt: u32,
    pub b_nxt: u32,
    pub win: u16,
    pub now: Time,
}

impl Conn {
    pub fn new() -> Self {
        Self {
            zone: ZONE,
            a: A,
            b: B,
            sport: 40000,
            dport: 80,
            a_nxt: 1_000_000,
            b_nxt: 3_000_000_000,
            win: 65535,
            now: Time::from_secs(100),
        }
    }

    /// A segment from A with A's next sequence number and B's as ack.
    pub fn pkt_a(&self, flags: u8) -> PacketFacts {
        PacketFacts::tcp(
            self.zone, self.a, self.b, self.sport, self.dport, flags, self.a_nxt, self.b_nxt,
            self.win,
        )
    }

    pub fn pkt_b(&self, flags: u8) -> PacketFacts {
        PacketFacts::tcp(
            self.zone, self.b, self.a, self.dport, self.sport, flags, self.b_nxt, self.a_nxt,
            self.win,
        )
    }

    /// Send from A (advancing A's sequence by the segment's length) and
    /// expect it tracked in `state`.
    pub fn a(&mut self, t: &mut Table, flags: u8, len: u32) -> State {
        let f = self.pkt_a(flags).with_payload(len);
        let s = expect_tracked(t.track(self.now, &f), false);
        self.a_nxt = self
            .a_nxt
            .wrapping_add(len + u32::from(flags & (SYN | FIN) != 0));
        s
    }

    pub fn b(&mut self, t: &mut Table, flags: u8, len: u32) -> State {
        let f = self.pkt_b(flags).with_payload(len);
        let s = expect_tracked(t.track(self.now, &f), true);
        self.b_nxt = self
            .b_nxt
            .wrapping_add(len + u32::from(flags & (SYN | FIN) != 0));
        s
    }

    /// SYN from A, inserted.
    pub fn open(&mut self, t: &mut Table) -> Handle {
        let syn = self.pkt_a(SYN);
        assert_eq!(t.track(self.now, &syn), Outcome::New);
        let h = t.insert(self.now, &syn, 1, 1).expect("insert");
        self.a_nxt += 1;
        h
    }

    /// Handshake to ESTABLISHED.
    pub fn establish(&mut self, t: &mut Table) -> Handle {
        let h = self.open(t);
        assert_eq!(self.b(t, SYN | ACK, 0), State::SynRecv);
        assert_eq!(self.a(t, ACK, 0), State::Established);
        h
    }

    pub fn state(&self, t: &Table) -> Option<State> {
        t.lookup(self.now, &self.pkt_a(ACK))
            .and_then(|(h, _)| t.get(h))
            .map(|e| e.state)
    }
}

pub fn expect_tracked(o: Outcome, reply: bool) -> State {
    match o {
        Outcome::Established {
            reply: r, state, ..
        } => {
            assert_eq!(r, reply, "direction");
            state
        }
        other => panic!("expected a tracked packet, got {other:?}"),
    }
}
