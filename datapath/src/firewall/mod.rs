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
//! Rules get positions in (section, priority) order. Each field maps a
//! query value to the bitmap of positions whose rule accepts it:
//! applied-to × direction (per port its own rules, plus one bitmap of the
//! rules applied to all); source and destination (elementary intervals of
//! the range ends, binary search; IPv4 with 32-bit keys); destination port
//! or ICMP type/code (intervals of `class << 16 | value`); direction ×
//! protocol (a plain bitmap per row). A rule that leaves a field open is in
//! that field's wildcard bitmap, not in every interval; interval bitmaps
//! are sparse (aggregate words + non-zero words), so memory follows the
//! rules covering each interval, not rules × intervals.
//!
//! A query ANDs the fields over candidate words (64 rules each) and takes
//! the first set bit; a `Pass` restarts at the next section's first
//! position. Candidates come from aggregates (a bit per 64 rules): for each
//! pattern of pinned fields (applied-to, source, destination), the AND of
//! those fields' aggregates — so open fields do not make every word a
//! candidate.
//!
//! Why this one: exact on arbitrary ranges (no prefix expansion, no rule
//! replication as in HiCuts/HyperCuts), `Pass` is a jump, `Ports` lists are
//! direct, and the build is a sort and a sweep: O(R log R + I·B/64) for R
//! rules, I intervals, B rules covering an interval (10k rules: ~6 ms,
//! ~6 MB). A lookup is O(log I) per address plus O(R/4096) aggregate words
//! and the candidate words: a handful on realistic sets (~130 ns at 10k
//! rules), O(R/64) when every field alone matches rules in every word but
//! their AND does not (~1 µs at 10k; see `xvs-bench-classifier`). Memory is
//! capped by [`classifier::MAX_BYTES`] or [`Classifier::build_with_limit`].
//!
//! IPv4 travels as v4-mapped IPv6, so an IPv6 packet whose address is
//! itself v4-mapped (`::ffff:a.b.c.d`) would match IPv4 ranges: the parser
//! refuses such packets as malformed (they never appear on the wire).

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
