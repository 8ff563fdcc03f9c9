//! The distributed firewall's rule classifier: a pure data structure, no I/O.
//!
//! [`rules`] holds the input ([`CompiledRule`]: groups already resolved to
//! address ranges and ports), the [`Query`] and [`Verdict`], the semantics
//! and [`LinearClassifier`], the reference. [`Classifier`] is the fast one.
//!
//! Semantics: sections in ascending rank; in a section the first matching
//! rule (ascending priority, ties in input order) decides, except `Pass`,
//! which ends its section; a section without a match goes on to the next;
//! if nothing decides, the port's default action applies (`rule: None`).
//!
//! ## Structure: bit vectors with aggregation (Lakshman–Stiliadis + ABV)
//!
//! Rules get a position in (section, priority) order. Each field maps a
//! query value to the set of positions whose rule accepts it:
//!
//! - applied-to × direction: per (port, direction) the port's own rules,
//!   plus the rules applied to all ports (one plain bitmap);
//! - source and destination: elementary intervals of the range ends
//!   (binary search), each with the rules covering it;
//! - destination port / ICMP type-code: intervals over a key
//!   `class << 16 | value` (class: TCP/UDP, ICMP, other);
//! - direction × protocol: one plain bitmap per row.
//!
//! Rules that leave a field open sit in that field's plain "wildcard"
//! bitmap instead of in every interval, and interval bitmaps are stored
//! sparse (aggregate word + non-zero 64-bit words), so memory follows the
//! rules actually covering each interval. A query ANDs the fields word by
//! word from the first candidate word and takes the first set bit; a `Pass`
//! restarts from its section's end. Candidate words come from aggregates
//! (one bit per 64 rules): for each pattern of which fields a rule pins down
//! (applied-to, source, destination), the AND of those fields' sparse
//! aggregates — so rules with wildcards do not make every word a candidate.
//!
//! Why: the verdict is exact for ranges (no prefix expansion, no rule
//! replication as in cut trees), `Pass` is a jump to a position, the build
//! is a sort and a sweep (O(R log R + I·B/64) for R rules, I intervals, B
//! rules covering an interval), and the lookup is O(log I) per address plus
//! O(R/4096) aggregate words and a few candidate words in practice
//! (worst case O(R/64) words when many rules pass the aggregate filter).
//! Memory is bounded by [`classifier::MAX_BYTES`].
//!
//! Caveat: IPv4 travels as v4-mapped IPv6, so an IPv6 packet whose address
//! is itself v4-mapped (`::ffff:a.b.c.d`, not valid on the wire) would match
//! IPv4 ranges.

pub mod classifier;
pub mod compile;
pub mod rules;

#[cfg(test)]
mod tests;

pub use classifier::Classifier;
pub use rules::{
    v4_mapped, Action, AppliedTo, BuildError, CompiledRule, Direction, IpRange, LinearClassifier,
    Query, RuleDirection, Verdict, MAX_PORTS,
};
