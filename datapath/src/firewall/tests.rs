//! Semantics on small rule sets (both classifiers must give the expected
//! verdict) and the fast classifier against the linear one on random sets.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::rules::{BuildError, MAX_RULES};
use super::*;

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
const ICMP6: u8 = 58;

fn v4(a: u8, b: u8, c: u8, d: u8) -> u128 {
    v4_mapped(Ipv4Addr::new(a, b, c, d))
}

fn v6(s: &str) -> u128 {
    u128::from(s.parse::<Ipv6Addr>().unwrap())
}

fn cidr4(a: [u8; 4], len: u8) -> IpRange {
    IpRange::v4_cidr(Ipv4Addr::from(a), len).unwrap()
}

fn cidr6(s: &str, len: u8) -> IpRange {
    IpRange::v6_cidr(s.parse().unwrap(), len).unwrap()
}

/// A rule matching everything everywhere, allowing.
fn rule(index: u32, section: u32, priority: u32, action: Action) -> CompiledRule {
    CompiledRule {
        index,
        section,
        priority,
        applied_to: AppliedTo::All,
        direction: RuleDirection::Both,
        src: vec![],
        dst: vec![],
        protocol: None,
        dst_ports: vec![],
        icmp_type: None,
        icmp_code: None,
        action,
        log: false,
        stateless: false,
    }
}

fn tcp(port: u32, direction: Direction, src: u128, dst: u128, dst_port: u16) -> Query {
    Query {
        port,
        direction,
        src,
        dst,
        protocol: TCP,
        dst_port,
        is_icmp: false,
    }
}

fn q0() -> Query {
    tcp(1, Direction::In, v4(10, 0, 0, 1), v4(10, 0, 0, 2), 80)
}

/// Classifies with both classifiers, checks they agree, returns the verdict.
fn both(rules: &[CompiledRule], defaults: &[Action], q: &Query) -> Verdict {
    let lin = LinearClassifier::build(rules, defaults).unwrap();
    let fast = Classifier::build(rules, defaults).unwrap();
    let (a, b) = (lin.classify(q), fast.classify(q));
    assert_eq!(a, b, "linear vs fast for {q:?}");
    a
}

/// The deciding rule's index (None: default) and action.
fn decide(rules: &[CompiledRule], q: &Query) -> (Option<u32>, Action) {
    let v = both(rules, &[], q);
    (v.rule, v.action)
}

#[test]
fn no_rules_gives_the_port_default() {
    let defaults = [Action::Allow, Action::Drop, Action::Reject];
    for (port, want) in [
        (0, Action::Allow),
        (1, Action::Drop),
        (2, Action::Reject),
        (3, Action::Allow),
    ] {
        let q = tcp(port, Direction::In, 1, 2, 3);
        let v = both(&[], &defaults, &q);
        assert_eq!(
            v,
            Verdict {
                action: want,
                rule: None,
                log: false,
                stateless: false
            }
        );
    }
    // Beyond the ports: Allow, no panic.
    assert_eq!(
        both(&[], &defaults, &tcp(70_000, Direction::Out, 1, 2, 3)).action,
        Action::Allow
    );
}

#[test]
fn default_per_query() {
    let rules = [{
        let mut r = rule(7, 0, 0, Action::Drop);
        r.protocol = Some(UDP);
        r
    }];
    let lin = LinearClassifier::build(&rules, &[Action::Allow; 4]).unwrap();
    let fast = Classifier::build(&rules, &[Action::Allow; 4]).unwrap();
    for d in [Action::Allow, Action::Drop, Action::Reject] {
        assert_eq!(lin.classify_with_default(&q0(), d).action, d);
        assert_eq!(fast.classify_with_default(&q0(), d).action, d);
    }
    // A Pass given per query is Allow.
    assert_eq!(
        fast.classify_with_default(&q0(), Action::Pass).action,
        Action::Allow
    );
    assert_eq!(
        lin.classify_with_default(&q0(), Action::Pass).action,
        Action::Allow
    );
}

#[test]
fn sections_are_evaluated_in_ascending_rank() {
    let rules = [
        rule(1, 5, 0, Action::Allow),
        rule(2, 3, 9, Action::Drop),
        rule(3, 4, 0, Action::Reject),
    ];
    assert_eq!(decide(&rules, &q0()), (Some(2), Action::Drop));
}

#[test]
fn lowest_priority_wins_in_a_section_ties_in_input_order() {
    let rules = [
        rule(1, 0, 9, Action::Allow),
        rule(2, 0, 4, Action::Drop),
        rule(3, 0, 4, Action::Reject),
        rule(4, 0, 5, Action::Allow),
    ];
    assert_eq!(decide(&rules, &q0()), (Some(2), Action::Drop));
    let mut swapped = rules.clone();
    swapped.swap(1, 2);
    assert_eq!(decide(&swapped, &q0()), (Some(3), Action::Reject));
    // Many ties (a sort that is not stable would reorder them).
    let mut tied: Vec<CompiledRule> = (0..100).map(|i| rule(i, 1, 7, Action::Reject)).collect();
    tied.push(rule(100, 1, 8, Action::Drop));
    tied.reverse();
    assert_eq!(decide(&tied, &q0()), (Some(99), Action::Reject));
}

#[test]
fn verdict_carries_the_rule_flags() {
    let mut r = rule(42, 0, 0, Action::Reject);
    r.log = true;
    r.stateless = true;
    let v = both(&[r], &[], &q0());
    assert_eq!(
        v,
        Verdict {
            action: Action::Reject,
            rule: Some(42),
            log: true,
            stateless: true
        }
    );
}

#[test]
fn pass_skips_the_rest_of_its_section() {
    let mut udp_only = rule(4, 0, 0, Action::Pass);
    udp_only.protocol = Some(UDP);
    let rules = [
        rule(1, 0, 0, Action::Pass),
        rule(2, 0, 1, Action::Drop),
        rule(3, 1, 0, Action::Reject),
    ];
    // Pass in section 0 skips the drop; section 1 decides.
    assert_eq!(decide(&rules, &q0()), (Some(3), Action::Reject));
    // Pass with nothing after it: the default.
    assert_eq!(decide(&rules[..2], &q0()), (None, Action::Allow));
    assert_eq!(
        both(&rules[..2], &[Action::Allow, Action::Drop], &q0()).action,
        Action::Drop
    );
    // A Pass that does not match skips nothing.
    let rules = [
        udp_only,
        rule(2, 0, 1, Action::Drop),
        rule(3, 1, 0, Action::Reject),
    ];
    assert_eq!(decide(&rules, &q0()), (Some(2), Action::Drop));
    // Pass in several sections in a row.
    let rules = [
        rule(1, 0, 0, Action::Pass),
        rule(2, 0, 1, Action::Drop),
        rule(3, 1, 0, Action::Pass),
        rule(4, 1, 1, Action::Drop),
        rule(5, 2, 0, Action::Reject),
    ];
    assert_eq!(decide(&rules, &q0()), (Some(5), Action::Reject));
}

#[test]
fn a_section_without_a_match_goes_on() {
    let mut r1 = rule(1, 0, 0, Action::Drop);
    r1.protocol = Some(UDP);
    let rules = [r1, rule(2, 1, 0, Action::Reject)];
    assert_eq!(decide(&rules, &q0()), (Some(2), Action::Reject));
}

#[test]
fn direction_in_out_both() {
    let mut r_in = rule(1, 0, 0, Action::Drop);
    r_in.direction = RuleDirection::In;
    let mut r_out = rule(2, 0, 1, Action::Reject);
    r_out.direction = RuleDirection::Out;
    let rules = [r_in.clone(), r_out.clone()];
    let q_in = tcp(1, Direction::In, 1, 2, 3);
    let q_out = tcp(1, Direction::Out, 1, 2, 3);
    assert_eq!(decide(&rules, &q_in), (Some(1), Action::Drop));
    assert_eq!(decide(&rules, &q_out), (Some(2), Action::Reject));
    let mut r_both = rule(3, 0, 2, Action::Drop);
    r_both.direction = RuleDirection::Both;
    assert_eq!(decide(&[r_both.clone()], &q_in), (Some(3), Action::Drop));
    assert_eq!(decide(&[r_both], &q_out), (Some(3), Action::Drop));
    assert_eq!(decide(&[r_in], &q_out), (None, Action::Allow));
    assert_eq!(decide(&[r_out], &q_in), (None, Action::Allow));
}

#[test]
fn applied_to_ports_and_all() {
    let mut r_ports = rule(1, 0, 0, Action::Drop);
    r_ports.applied_to = AppliedTo::Ports(vec![3, 4095, 3]);
    let mut r_none = rule(2, 0, 1, Action::Reject);
    r_none.applied_to = AppliedTo::Ports(vec![]);
    let r_all = rule(3, 0, 2, Action::Allow);
    let rules = [r_ports, r_none, r_all];
    let at = |port| tcp(port, Direction::In, 1, 2, 3);
    assert_eq!(decide(&rules, &at(3)), (Some(1), Action::Drop));
    assert_eq!(decide(&rules, &at(4095)), (Some(1), Action::Drop));
    assert_eq!(decide(&rules, &at(2)), (Some(3), Action::Allow));
    assert_eq!(decide(&rules, &at(4)), (Some(3), Action::Allow));
    assert_eq!(decide(&rules, &at(4096)), (Some(3), Action::Allow));
    assert_eq!(decide(&rules, &at(u32::MAX)), (Some(3), Action::Allow));
}

#[test]
fn ipv4_ranges_never_match_ipv6_and_back() {
    let mut r4 = rule(1, 0, 0, Action::Drop);
    r4.src = vec![cidr4([10, 0, 0, 0], 8)];
    let mut any4 = rule(2, 0, 1, Action::Reject);
    any4.dst = vec![cidr4([0, 0, 0, 0], 0)];
    let mut r6 = rule(3, 0, 2, Action::Allow);
    r6.src = vec![cidr6("2001:db8::", 32)];
    let rules = [r4, any4, r6];
    let at = |src, dst| tcp(1, Direction::In, src, dst, 80);
    assert_eq!(
        decide(&rules, &at(v4(10, 1, 2, 3), v6("2001:db8::1"))),
        (Some(1), Action::Drop)
    );
    assert_eq!(
        decide(&rules, &at(v4(11, 0, 0, 0), v4(1, 1, 1, 1))),
        (Some(2), Action::Reject)
    );
    // v6 addresses whose low 32 bits are 10.x.y.z: not v4.
    assert_eq!(
        decide(&rules, &at(v6("::a00:1"), v6("::1"))),
        (None, Action::Allow)
    );
    assert_eq!(
        decide(&rules, &at(v6("2001:db8::a00:1"), v6("::1"))),
        (Some(3), Action::Allow)
    );
    assert_eq!(
        decide(&rules, &at(v6("2001:db9::"), v6("::1"))),
        (None, Action::Allow)
    );
    // CIDR ends.
    assert_eq!(
        decide(&rules, &at(v4(9, 255, 255, 255), v6("::1"))),
        (None, Action::Allow)
    );
    assert_eq!(
        decide(&rules, &at(v4(10, 255, 255, 255), v6("::1"))),
        (Some(1), Action::Drop)
    );
}

#[test]
fn cidr_ranges() {
    let r = |a: [u8; 4], len| IpRange::v4_cidr(Ipv4Addr::from(a), len);
    assert_eq!(r([10, 1, 2, 3], 32), Some(IpRange::single(v4(10, 1, 2, 3))));
    assert_eq!(
        r([10, 1, 2, 3], 24),
        Some(IpRange {
            lo: v4(10, 1, 2, 0),
            hi: v4(10, 1, 2, 255)
        })
    );
    assert_eq!(
        r([10, 1, 2, 3], 0),
        Some(IpRange {
            lo: v4(0, 0, 0, 0),
            hi: v4(255, 255, 255, 255)
        })
    );
    assert_eq!(r([10, 1, 2, 3], 33), None);
    let r6 = |s: &str, len| IpRange::v6_cidr(s.parse().unwrap(), len);
    assert_eq!(
        r6("2001:db8::1", 128),
        Some(IpRange::single(v6("2001:db8::1")))
    );
    assert_eq!(
        r6("2001:db8::1", 0),
        Some(IpRange {
            lo: 0,
            hi: u128::MAX
        })
    );
    assert_eq!(
        r6("2001:db8:ff::1", 32),
        Some(IpRange {
            lo: v6("2001:db8::"),
            hi: v6("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")
        })
    );
    assert_eq!(r6("::", 129), None);
}

#[test]
fn address_ranges_several_per_rule_and_empty() {
    let mut r = rule(1, 0, 0, Action::Drop);
    r.dst = vec![
        IpRange {
            lo: v4(10, 0, 0, 5),
            hi: v4(10, 0, 0, 9),
        },
        IpRange::single(v4(10, 0, 0, 20)),
        IpRange {
            lo: v4(10, 0, 0, 7),
            hi: v4(10, 0, 0, 12),
        },
    ];
    let mut inverted = rule(2, 0, 1, Action::Reject);
    inverted.src = vec![IpRange { lo: 5, hi: 4 }];
    let full = IpRange {
        lo: 0,
        hi: u128::MAX,
    };
    let mut all = rule(3, 0, 2, Action::Allow);
    all.src = vec![full];
    let rules = [r, inverted, all];
    let to = |d| tcp(1, Direction::Out, v4(1, 1, 1, 1), v4(10, 0, 0, d), 80);
    for (d, want) in [
        (4, Some(3)),
        (5, Some(1)),
        (9, Some(1)),
        (12, Some(1)),
        (13, Some(3)),
        (20, Some(1)),
        (21, Some(3)),
    ] {
        assert_eq!(decide(&rules, &to(d)).0, want, "10.0.0.{d}");
    }
    let top = tcp(1, Direction::Out, u128::MAX, v4(1, 1, 1, 1), 1);
    assert_eq!(decide(&rules, &top).0, Some(3));
}

#[test]
fn destination_port_ranges_only_for_tcp_and_udp() {
    let mut r = rule(1, 0, 0, Action::Drop);
    r.dst_ports = vec![(80, 80), (8000, 8099), (65535, 65535)];
    let rules = [r];
    let mut q = q0();
    for (port, hit) in [
        (80, true),
        (79, false),
        (81, false),
        (8000, true),
        (8099, true),
        (7999, false),
        (8100, false),
        (65535, true),
        (0, false),
    ] {
        for proto in [TCP, UDP] {
            q.protocol = proto;
            q.dst_port = port;
            assert_eq!(
                decide(&rules, &q).0.is_some(),
                hit,
                "port {port} proto {proto}"
            );
        }
    }
    // Not for other protocols, nor ICMP whose type<<8|code is 80.
    q.dst_port = 80;
    q.protocol = 132;
    assert_eq!(decide(&rules, &q).0, None);
    q.protocol = ICMP;
    q.is_icmp = true;
    assert_eq!(decide(&rules, &q).0, None);
}

#[test]
fn icmp_type_and_code() {
    let icmp = |t: u8, c: u8, proto: u8| Query {
        port: 1,
        direction: Direction::In,
        src: 1,
        dst: 2,
        protocol: proto,
        dst_port: u16::from(t) << 8 | u16::from(c),
        is_icmp: true,
    };
    let mut echo = rule(1, 0, 0, Action::Allow);
    echo.protocol = Some(ICMP);
    echo.icmp_type = Some(8);
    let mut unreach_frag = rule(2, 0, 1, Action::Reject);
    unreach_frag.icmp_type = Some(3);
    unreach_frag.icmp_code = Some(4);
    let mut code_only = rule(3, 0, 2, Action::Drop);
    code_only.icmp_code = Some(9);
    let rules = [echo, unreach_frag, code_only];
    assert_eq!(decide(&rules, &icmp(8, 0, ICMP)).0, Some(1));
    assert_eq!(decide(&rules, &icmp(8, 255, ICMP)).0, Some(1));
    assert_eq!(decide(&rules, &icmp(8, 0, ICMP6)).0, None);
    assert_eq!(decide(&rules, &icmp(3, 4, ICMP)).0, Some(2));
    assert_eq!(decide(&rules, &icmp(3, 4, ICMP6)).0, Some(2));
    assert_eq!(decide(&rules, &icmp(3, 3, ICMP)).0, None);
    assert_eq!(decide(&rules, &icmp(200, 9, ICMP6)).0, Some(3));
    assert_eq!(decide(&rules, &icmp(8, 9, ICMP)).0, Some(1));
    // The same numbers in a TCP query are a port: no ICMP rule matches.
    let mut t = icmp(3, 4, TCP);
    t.is_icmp = false;
    assert_eq!(decide(&rules, &t).0, None);
    // Ports and ICMP together match nothing.
    let mut both_l4 = rule(4, 0, 0, Action::Drop);
    both_l4.icmp_type = Some(3);
    both_l4.dst_ports = vec![(0, 65535)];
    assert_eq!(decide(&[both_l4.clone()], &icmp(3, 4, ICMP)).0, None);
    assert_eq!(
        decide(&[both_l4], &tcp(1, Direction::In, 1, 2, 0x304)).0,
        None
    );
}

#[test]
fn protocol_any_and_number() {
    let mut udp = rule(1, 0, 0, Action::Drop);
    udp.protocol = Some(UDP);
    let mut p0 = rule(2, 0, 1, Action::Reject);
    p0.protocol = Some(0);
    let any = rule(3, 0, 2, Action::Allow);
    let rules = [udp, p0, any];
    let mut q = q0();
    for (proto, want) in [(UDP, 1), (0, 2), (TCP, 3), (255, 3), (ICMP6, 3)] {
        q.protocol = proto;
        assert_eq!(decide(&rules, &q).0, Some(want), "protocol {proto}");
    }
}

#[test]
fn build_refuses_bad_input() {
    let mut r = rule(9, 0, 0, Action::Drop);
    r.applied_to = AppliedTo::Ports(vec![1, 4096]);
    let want = BuildError::PortOutOfRange {
        rule: 9,
        port: 4096,
    };
    assert_eq!(Classifier::build(&[r.clone()], &[]).unwrap_err(), want);
    assert_eq!(LinearClassifier::build(&[r], &[]).unwrap_err(), want);
    let want = BuildError::PassDefault { port: 2 };
    let defaults = [Action::Allow, Action::Drop, Action::Pass];
    assert_eq!(Classifier::build(&[], &defaults).unwrap_err(), want);
    assert_eq!(LinearClassifier::build(&[], &defaults).unwrap_err(), want);
    let many = vec![Action::Drop; MAX_PORTS as usize + 1];
    assert!(matches!(
        Classifier::build(&[], &many),
        Err(BuildError::TooManyDefaults { .. })
    ));
    assert!(matches!(
        LinearClassifier::build(&[], &many),
        Err(BuildError::TooManyDefaults { .. })
    ));
    let _ = MAX_RULES;
}

/// Each pattern of pinned fields (applied-to, source, destination) alone in
/// its bitmap word must still be a candidate: 130 rules that miss the query
/// (another port, other addresses) fill the first words, the matching rule
/// of the pattern comes after them.
#[test]
fn every_pattern_of_pinned_fields_is_found_past_other_words() {
    let q = tcp(1, Direction::In, v4(10, 0, 0, 1), v4(10, 0, 0, 2), 80);
    for m in 0..8 {
        let mut rules: Vec<CompiledRule> = (0..130)
            .map(|i| {
                let mut r = rule(i, 0, i, Action::Drop);
                r.applied_to = AppliedTo::Ports(vec![9]);
                r.src = vec![IpRange::single(v4(10, 9, 9, 9))];
                r.dst = vec![IpRange::single(v4(10, 9, 9, 8))];
                r
            })
            .collect();
        let mut r = rule(500, 0, 500, Action::Reject);
        if m & 1 != 0 {
            r.applied_to = AppliedTo::Ports(vec![1]);
        }
        if m & 2 != 0 {
            r.src = vec![cidr4([10, 0, 0, 0], 24)];
        }
        if m & 4 != 0 {
            r.dst = vec![cidr4([10, 0, 0, 2], 32)];
        }
        rules.push(r);
        assert_eq!(
            decide(&rules, &q),
            (Some(500), Action::Reject),
            "pattern {m}"
        );
    }
}

/// Nested ranges are the costly shape (every rule covers every inner
/// interval): they build, and a byte limit refuses them without a panic.
#[test]
fn nested_ranges_build_and_a_byte_limit_refuses_them() {
    let rules: Vec<CompiledRule> = (0..3000u32)
        .map(|i| {
            let mut r = rule(i, 0, i, Action::Drop);
            let c = v4(10, 0, 0, 0) + 100_000;
            r.src = vec![IpRange {
                lo: c - u128::from(i) - 1,
                hi: c + u128::from(i) + 1,
            }];
            r.protocol = Some(UDP);
            r
        })
        .collect();
    let c = Classifier::build(&rules, &[]).unwrap();
    let q = |d: u128| Query {
        protocol: UDP,
        ..tcp(1, Direction::In, v4(10, 0, 0, 0) + 100_000 + d, 1, 53)
    };
    assert_eq!(c.classify(&q(0)).rule, Some(0));
    assert_eq!(c.classify(&q(2)).rule, Some(1));
    assert_eq!(c.classify(&q(3000)).rule, Some(2999));
    assert_eq!(c.classify(&q(3001)).rule, None);
    let lin = LinearClassifier::build(&rules, &[]).unwrap();
    for d in (0..3100).step_by(7) {
        assert_eq!(c.classify(&q(d)), lin.classify(&q(d)));
    }
    let bytes = c.memory_bytes();
    assert_eq!(
        Classifier::build_with_limit(&rules, &[], bytes).map(|c| c.len()),
        Ok(3000)
    );
    assert_eq!(
        Classifier::build_with_limit(&rules, &[], bytes / 2).map(|c| c.len()),
        Err(BuildError::TooLarge { limit: bytes / 2 })
    );
}

/// A deterministic xorshift for the large cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Thousands of rules: several aggregate words, `Pass` jumping across them.
#[test]
fn large_rule_sets_agree_with_the_linear_classifier() {
    let mut g = Rng(0x9e37_79b9_7f4a_7c15);
    let mut rules = Vec::new();
    for i in 0..9000u32 {
        let mut r = rule(
            i,
            (i / 1500) * 10 + g.below(2) as u32,
            g.below(50) as u32,
            Action::Allow,
        );
        r.action = [Action::Allow, Action::Drop, Action::Reject, Action::Pass][g.below(4) as usize];
        r.applied_to = if g.below(4) == 0 {
            AppliedTo::All
        } else {
            AppliedTo::Ports((0..=g.below(3)).map(|_| g.below(16) as u32).collect())
        };
        r.direction =
            [RuleDirection::In, RuleDirection::Out, RuleDirection::Both][g.below(3) as usize];
        if g.below(5) != 0 {
            r.src = vec![cidr4(
                [10, 0, g.below(4) as u8, g.below(8) as u8],
                [32, 30, 24][g.below(3) as usize],
            )];
        }
        if g.below(3) != 0 {
            r.dst = vec![cidr4(
                [10, 1, 0, g.below(8) as u8],
                [32, 31][g.below(2) as usize],
            )];
        }
        if g.below(2) == 0 {
            r.protocol = Some([TCP, UDP][g.below(2) as usize]);
            let lo = g.below(8) as u16 * 10;
            r.dst_ports = vec![(lo, lo + g.below(20) as u16)];
        }
        rules.push(r);
    }
    let defaults: Vec<Action> = (0..16)
        .map(|p| [Action::Allow, Action::Drop][p % 2])
        .collect();
    let lin = LinearClassifier::build(&rules, &defaults).unwrap();
    let fast = Classifier::build(&rules, &defaults).unwrap();
    let mut decided = 0;
    for _ in 0..3000 {
        let q = Query {
            port: g.below(17) as u32,
            direction: [Direction::In, Direction::Out][g.below(2) as usize],
            src: v4(10, 0, g.below(4) as u8, g.below(9) as u8),
            dst: v4(10, 1, 0, g.below(9) as u8),
            protocol: [TCP, UDP, ICMP][g.below(3) as usize],
            dst_port: g.below(100) as u16,
            is_icmp: false,
        };
        let v = lin.classify(&q);
        assert_eq!(fast.classify(&q), v, "{q:?}");
        decided += usize::from(v.rule.is_some());
    }
    // The queries exercise rules, not only defaults.
    assert!(decided > 1000, "{decided}");
}

// --- Property test: random rule sets and boundary-biased queries ---------

/// Address bases: v4-mapped, IPv6, and the two ends of the space.
const BASES: [u128; 4] = [0xffff_0a00_0000, 0x2001_0db8 << 96, 0, u128::MAX - 40];
const PORTS: [u16; 9] = [0, 1, 21, 22, 80, 443, 8080, 65534, 65535];
const PROTOS: [u8; 6] = [TCP, UDP, ICMP, ICMP6, 132, 0];

fn addr() -> impl Strategy<Value = u128> {
    (0..BASES.len(), 0u128..40).prop_map(|(b, k)| BASES[b].wrapping_add(k))
}

fn ip_range() -> impl Strategy<Value = IpRange> {
    (0..BASES.len(), 0u128..36, 0u128..12, 0..10u8).prop_map(|(b, lo, len, inv)| {
        let lo = BASES[b].wrapping_add(lo);
        let hi = lo.saturating_add(len);
        if inv == 0 && hi > lo {
            IpRange { lo: hi, hi: lo }
        } else {
            IpRange { lo, hi }
        }
    })
}

fn port_range() -> impl Strategy<Value = (u16, u16)> {
    (0..PORTS.len(), 0..PORTS.len(), prop::option::of(0u16..4)).prop_map(|(a, b, d)| match d {
        Some(d) => (PORTS[a], PORTS[a].saturating_add(d)),
        None => (PORTS[a], PORTS[b]),
    })
}

fn action() -> impl Strategy<Value = Action> {
    prop::sample::select(vec![
        Action::Allow,
        Action::Drop,
        Action::Reject,
        Action::Pass,
    ])
}

fn compiled_rule() -> impl Strategy<Value = CompiledRule> {
    let addrs = || prop::collection::vec(ip_range(), 0..3);
    (
        (
            0u32..4,
            0u32..6,
            prop::option::of(prop::collection::vec(0u32..8, 0..4)),
        ),
        prop::sample::select(vec![
            RuleDirection::In,
            RuleDirection::Out,
            RuleDirection::Both,
        ]),
        (addrs(), addrs()),
        prop::option::of(prop::sample::select(PROTOS.to_vec())),
        (0..4u8, prop::collection::vec(port_range(), 1..3)),
        (prop::option::of(0u8..3), prop::option::of(0u8..3)),
        (action(), any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(
                (section, priority, ports),
                direction,
                (src, dst),
                protocol,
                (l4, dst_ports),
                (t, c),
                (action, log, stateless),
            )| {
                CompiledRule {
                    index: 0,
                    section,
                    priority,
                    applied_to: ports.map_or(AppliedTo::All, AppliedTo::Ports),
                    direction,
                    src,
                    dst,
                    protocol,
                    // l4: 0-1 none, 2 ports, 3 ICMP (rarely both).
                    dst_ports: if l4 == 2 || (l4 == 3 && t == Some(2)) {
                        dst_ports
                    } else {
                        vec![]
                    },
                    icmp_type: if l4 == 3 { t } else { None },
                    icmp_code: if l4 == 3 { c } else { None },
                    action,
                    log,
                    stateless,
                }
            },
        )
}

fn query() -> impl Strategy<Value = Query> {
    (
        0u32..10,
        any::<bool>(),
        (addr(), addr()),
        prop::sample::select(PROTOS.to_vec()),
        (0..PORTS.len(), 0u16..3, 0u8..4, 0u8..4),
        0..8u8,
    )
        .prop_map(|(port, out, (src, dst), protocol, (p, d, t, c), odd)| {
            let is_icmp = protocol == ICMP || protocol == ICMP6;
            let dst_port = if is_icmp {
                u16::from(t) << 8 | u16::from(c)
            } else {
                PORTS[p].saturating_add(d)
            };
            Query {
                port: if port == 9 { 5000 } else { port },
                direction: if out { Direction::Out } else { Direction::In },
                src,
                dst,
                protocol,
                dst_port,
                // Now and then an inconsistent query: the semantics still hold.
                is_icmp: if odd == 0 { !is_icmp } else { is_icmp },
            }
        })
}

fn check(
    rules: Vec<CompiledRule>,
    defaults: Vec<Action>,
    queries: Vec<Query>,
) -> Result<(), TestCaseError> {
    let rules: Vec<CompiledRule> = rules
        .into_iter()
        .enumerate()
        .map(|(i, mut r)| {
            r.index = i as u32;
            r
        })
        .collect();
    let lin = LinearClassifier::build(&rules, &defaults).unwrap();
    let fast = Classifier::build(&rules, &defaults).unwrap();
    for q in &queries {
        prop_assert_eq!(fast.classify(q), lin.classify(q), "query {:?}", q);
        let d = Action::Reject;
        prop_assert_eq!(
            fast.classify_with_default(q, d),
            lin.classify_with_default(q, d)
        );
    }
    Ok(())
}

fn default_actions() -> impl Strategy<Value = Vec<Action>> {
    prop::collection::vec(
        prop::sample::select(vec![Action::Allow, Action::Drop, Action::Reject]),
        0..10,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn fast_agrees_with_linear(
        rules in prop::collection::vec(compiled_rule(), 0..40),
        defaults in default_actions(),
        queries in prop::collection::vec(query(), 48),
    ) {
        check(rules, defaults, queries)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Enough rules for several bitmap words (64 rules each).
    #[test]
    fn fast_agrees_with_linear_on_hundreds(
        rules in prop::collection::vec(compiled_rule(), 60..400),
        defaults in default_actions(),
        queries in prop::collection::vec(query(), 200),
    ) {
        check(rules, defaults, queries)?;
    }
}
