//! Read-only twins of [`Table::track`], [`Table::related`] and
//! [`Table::frag_lookup`], for tracing (`xvsctl trace`): what the table
//! would answer for a packet, computed on copies, with nothing changed —
//! no state or window update, no refresh of the timeout, no removal of an
//! expired or reopened entry, no drop counted.
//!
//! They follow their twins step by step; the tests below run both over the
//! same packets and check the answers agree and the table did not move.

use super::*;

impl Table {
    /// What [`Table::track`] would answer for `f` at `now`, without
    /// changing anything. An entry [`Table::track`] would remove (expired,
    /// or a TCP connection a SYN reopens) is reported as the
    /// [`Outcome::New`] the packet would be.
    pub fn peek(&self, now: Time, f: &PacketFacts) -> Outcome {
        let now = now.0;
        let kind = ProtoKind::of(f.proto);
        if kind == ProtoKind::Tcp && !tcp::valid_flags(f.tcp_flags) {
            return Outcome::Invalid(Reason::InvalidFlags);
        }
        let Some((key, src_lo)) = key_of(f) else {
            return Outcome::Untracked;
        };
        if let Some(h) = self.find(self.hash_key(&key), &key) {
            if self.deadline(&self.slots[h as usize]) > now {
                return self.peek_hit(f, h, src_lo);
            }
        }
        match kind {
            ProtoKind::Tcp => match tcp::opens(f.tcp_flags) {
                Some(false) => Outcome::New,
                Some(true) if self.loose_for(f.zone) => Outcome::New,
                Some(true) => Outcome::StrictRefused,
                None => Outcome::Invalid(Reason::NotNew),
            },
            ProtoKind::Icmp if echo_kind(f.proto, f.icmp_type) != Some(true) => {
                Outcome::Invalid(Reason::NotNew)
            }
            _ => Outcome::New,
        }
    }

    /// [`Table::hit`] on copies.
    fn peek_hit(&self, f: &PacketFacts, h: u32, src_lo: bool) -> Outcome {
        let e = self.slots[h as usize];
        let reply = src_lo != (e.flags & F_ORIG_LO != 0);
        let established = |state: u8| Outcome::Established {
            handle: Handle(h),
            reply,
            generation: e.generation,
            rule: e.rule,
            state: State::from_code(state).unwrap_or(State::Close),
        };
        if e.kind() == ProtoKind::Tcp {
            let mut seen = e.seen();
            match tcp::step(e.state, reply, &mut seen, &seg_of(f), self.liberal_for(f)) {
                Err(r) => Outcome::Invalid(r),
                Ok(Step::Reopen) => Outcome::New,
                Ok(Step::Ignore) => established(e.state),
                Ok(Step::To(s)) => established(s),
            }
        } else if reply {
            established(State::Replied as u8)
        } else {
            established(e.state)
        }
    }

    /// What [`Table::related`] would answer, without counting a drop.
    pub fn peek_related(&self, now: Time, outer: &PacketFacts, inner: &PacketFacts) -> Outcome {
        if !is_icmp_error(outer.proto, outer.icmp_type) {
            return Outcome::Untracked;
        }
        let mut q = *inner;
        q.zone = outer.zone;
        if q.src != outer.dst {
            return Outcome::Invalid(Reason::UnrelatedIcmpError);
        }
        let found = key_of(&q).and_then(|(key, _)| {
            let h = self.find(self.hash_key(&key), &key)?;
            (self.deadline(&self.slots[h as usize]) > now.0).then_some(h)
        });
        match found {
            Some(h) => {
                let e = &self.slots[h as usize];
                Outcome::Related {
                    handle: Handle(h),
                    generation: e.generation,
                    rule: e.rule,
                }
            }
            None => Outcome::Invalid(Reason::UnrelatedIcmpError),
        }
    }

    /// What [`Table::frag_lookup`] would answer, without counting a drop.
    pub fn peek_frag(&self, now: Time, key: &FragKey) -> Option<FragVerdict> {
        self.frags.lookup(now.0, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const RST: u8 = 0x04;

    fn table() -> Table {
        Table::new(Config::default()).unwrap()
    }

    fn tcp(
        src: u128,
        dst: u128,
        sport: u16,
        dport: u16,
        flags: u8,
        seq: u32,
        ack: u32,
    ) -> PacketFacts {
        PacketFacts::tcp(1, src, dst, sport, dport, flags, seq, ack, 65535)
    }

    /// Everything observable about the table.
    fn snapshot(t: &Table) -> (usize, Vec<EntryInfo>, Stats) {
        let mut entries: Vec<EntryInfo> = t.iter().collect();
        entries.sort_by_key(|e| (e.src, e.dst, e.sport, e.dport));
        (t.len(), entries, t.stats())
    }

    /// Peeks at each packet (the table must not move), then tracks it (and
    /// inserts what is new): the peek must have said what track says.
    fn agree(t: &mut Table, now: u64, packets: &[PacketFacts]) {
        for f in packets {
            let before = snapshot(t);
            let peeked = t.peek(Time(now), f);
            assert_eq!(snapshot(t), before, "peek changed the table");
            let tracked = t.track(Time(now), f);
            assert_eq!(peeked, tracked, "{f:?}");
            if tracked == Outcome::New {
                let _ = t.insert(Time(now), f, 1, 7);
            }
        }
    }

    #[test]
    fn peek_agrees_with_track_through_a_tcp_connection() {
        let (a, b) = (0x0a00_000b_u128, 0x0a00_0015_u128);
        let mut t = table();
        agree(
            &mut t,
            10,
            &[
                tcp(a, b, 4000, 80, SYN, 100, 0),
                tcp(b, a, 80, 4000, SYN | ACK, 500, 101),
                tcp(a, b, 4000, 80, ACK, 101, 501),
                // Far outside the window: invalid.
                tcp(b, a, 80, 4000, RST, 9_000_000, 0),
                tcp(a, b, 4000, 80, ACK | 0x01, 101, 501),
                // Bad flags.
                tcp(a, b, 4000, 80, SYN | 0x01, 1, 0),
            ],
        );
    }

    #[test]
    fn peek_agrees_on_udp_icmp_and_expired_entries() {
        let (a, b) = (0x0a00_000b_u128, 0x0a00_0015_u128);
        let mut t = table();
        let udp = PacketFacts::udp(1, a, b, 5000, 53);
        let back = PacketFacts::udp(1, b, a, 53, 5000);
        let echo = PacketFacts::icmp(1, a, b, 8, 0, 7);
        let reply = PacketFacts::icmp(1, b, a, 0, 0, 7);
        let stray = PacketFacts::icmp(1, b, a, 0, 0, 99);
        agree(&mut t, 10, &[udp, back, udp, echo, reply, stray]);
        // Long after: expired entries read as new, and peek leaves them.
        let later = 10 + 3_600_000 * 24;
        agree(&mut t, later, &[back, echo]);
    }

    #[test]
    fn peek_related_and_frag_change_nothing() {
        let (a, b) = (0x0a00_000b_u128, 0x0a00_0015_u128);
        let mut t = table();
        let udp = PacketFacts::udp(1, a, b, 5000, 53);
        assert_eq!(t.track(Time(1), &udp), Outcome::New);
        t.insert(Time(1), &udp, 1, 7).unwrap();
        // An ICMP port unreachable from b quoting a's datagram.
        let outer = PacketFacts::icmp(1, b, a, 3, 3, 0);
        let before = snapshot(&t);
        let peeked = t.peek_related(Time(2), &outer, &udp);
        assert!(
            matches!(peeked, Outcome::Related { rule: 7, .. }),
            "{peeked:?}"
        );
        assert_eq!(peeked, t.peek_related(Time(2), &outer, &udp));
        let unrelated = PacketFacts::udp(1, a, b, 5001, 53);
        assert_eq!(
            t.peek_related(Time(2), &outer, &unrelated),
            Outcome::Invalid(Reason::UnrelatedIcmpError)
        );
        let key = FragKey {
            zone: 1,
            src: a,
            dst: b,
            proto: 17,
            id: 9,
        };
        assert_eq!(t.peek_frag(Time(2), &key), None);
        assert_eq!(snapshot(&t), before);
        // The counting twin agrees.
        assert_eq!(t.related(Time(2), &outer, &udp), peeked);
    }
}
