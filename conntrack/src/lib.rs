//! Connection tracking for the xvswitch distributed firewall.
//!
//! Pure: no I/O, no threads, no locks; the clock is injected ([`Time`], ms).
//! One [`Table`] per datapath worker, used with `&mut self`: the workers hand
//! a frame to the worker that owns its flow (symmetric 5-tuple hash), so a
//! connection's two directions meet in one table.
//!
//! # Use
//!
//! ```
//! use conntrack::{v4, Config, Outcome, PacketFacts, Table, Time, tcp_flags::*};
//!
//! let mut t = Table::new(Config::default()).unwrap();
//! let (a, b) = (v4(10, 0, 0, 1), v4(10, 0, 0, 2));
//! let syn = PacketFacts::tcp(7, a, b, 40000, 80, SYN, 1000, 0, 65535);
//! let now = Time::from_secs(1);
//! assert_eq!(t.track(now, &syn), Outcome::New);
//! // ... the firewall's rules allow it under generation 3, rule 12:
//! let h = t.insert(now, &syn, 3, 12).unwrap();
//! let synack = PacketFacts::tcp(7, b, a, 80, 40000, SYN | ACK, 5000, 1001, 65535);
//! match t.track(now, &synack) {
//!     Outcome::Established { handle, reply, generation, .. } => {
//!         assert_eq!((handle, reply, generation), (h, true, 3));
//!     }
//!     other => panic!("{other:?}"),
//! }
//! t.expire(now, 256); // once per batch
//! ```
//!
//! Per packet the caller fills a [`PacketFacts`] and calls [`Table::track`]:
//!
//! - [`Outcome::New`]: classify against the rules; if allowed,
//!   [`Table::insert`] with the rule-set generation and rule id. A SYN on an
//!   entry in TIME_WAIT or CLOSE also gives `New` (the old entry is gone).
//! - [`Outcome::Established`]: pass. If its `generation` is older than the
//!   rules', re-check, then [`Table::set_generation`] or [`Table::remove`].
//! - [`Outcome::Invalid`] / [`Outcome::StrictRefused`]: drop and count.
//! - [`Outcome::Untracked`]: ICMP that is neither echo nor an error; ICMP
//!   errors go to [`Table::related`] with their quoted header parsed into a
//!   second `PacketFacts` ([`Outcome::Related`] or unrelated).
//!
//! Fragments: [`Table::frag_first`] records the verdict of a datagram's
//! first fragment, [`Table::frag_lookup`] gives it to the later ones.
//! Once per batch, [`Table::expire`] with a budget. [`Table::stats`],
//! [`Table::list`] and [`Table::flush`] serve the CLI.
//!
//! # Design
//!
//! **Key.** Zone (`u32`, the logical port of the check), protocol, and the
//! two (address, port) sides with the lower one first; a flag in the entry
//! says which side opened the connection. Both directions hash to the same
//! key: one entry, one lookup. Addresses are `u128`, IPv4 as `::ffff:a.b.c.d`.
//! ICMP echo puts the identifier on the requester's side and 0 on the
//! responder's, so a request and its reply meet and an unsolicited reply
//! finds nothing. The same 5-tuple in two zones is two entries.
//!
//! **TCP.** Linux's state table and `tcp_in_window` (per direction `end`,
//! `maxend`, `maxwin`, window-scale shift; scaling only when both SYNs carry
//! the option). Segments outside the window are [`Reason::OutOfWindow`]; an
//! RST must be in window even in liberal mode ([`Reason::InvalidRst`]; in
//! SYN_SENT the responder's RST must also ACK the SYN), so a blind reset
//! does not tear a connection down. The windows are updated on copies, so a
//! refused packet leaves the entry as it was. Liberal mode
//! ([`Config::liberal`], [`ZoneSettings::liberal`], [`PacketFacts::liberal`],
//! the most specific wins) skips the data window checks. A bare ACK with no
//! entry is picked up ([`Config::loose_pickup`], as Linux's
//! `nf_conntrack_tcp_loose`: ESTABLISHED, windows learned from the first
//! packet each way, liberal since the scale is unknown) or, strict,
//! [`Outcome::StrictRefused`]. Differences from Linux: a SYN from either
//! side reopens an entry in TIME_WAIT or CLOSE; a SYN seen first in a
//! direction goes through the window checks (so a simultaneous open learns
//! the window the SYN advertises); no SACK blocks (`sack == ack`), no
//! retransmission counting or "unacknowledged" timeout.
//!
//! **Memory.** Entries live in a slab (`Vec`, 104 bytes each: key, two
//! timestamps, generation and rule, FIFO links, the TCP windows, state
//! bytes) addressed by `u32` handles; the index is a
//! `hashbrown::HashTable<u32>` holding only handles (5 bytes a bucket),
//! hashed with a seeded folded multiply ([`Config::hash_seed`]). The index
//! is kept at most half full for the slab's slots (10 to 20 bytes an
//! entry): hashbrown leaves a tombstone for a removal in a full probe group
//! and clears them only by rehashing the whole index inside an insert, so a
//! fuller index at a steady state of inserts and expiries would sooner or
//! later stall the packet path for tens of ms. The slab grows to at most
//! [`Config::max_entries`] slots ([`Table::reserve`] pre-sizes it), so at
//! 1,000,000 entries the table holds about 115 bytes an entry, index and
//! expiry links included ([`Table::memory_bytes`]). Freed slots form a free
//! list through the same links.
//!
//! **Expiry.** One intrusive doubly linked FIFO per timeout class (each TCP
//! state, UDP unreplied/replied, ICMP, other), threaded through the entries.
//! A packet updates the entry's `last_seen`; it moves the entry to its
//! class's tail only when the class changes or the last move is older than
//! [`Config::expiry_slack`] (1 s), so most packets touch no other entry. A
//! FIFO is ordered by link time, and every deadline is at least link time +
//! the class's timeout, so [`Table::expire`] looks at heads only, removes
//! what is due, and stops at its budget: a call costs O(budget), whatever
//! expires at once. An entry is reclaimed at most the slack after its
//! deadline, but lookups compare the exact deadline: an expired entry is
//! never matched, and a full table reclaims a few before refusing. The
//! clock must not go backwards (if it does, nothing panics; expiry may be
//! late).
//!
//! **Capacity.** [`Config::max_entries`] in total and
//! [`Config::max_per_zone`] (or [`ZoneSettings::max_entries`]) per zone.
//! When full, [`Table::insert`] refuses and counts ([`Reason::TableFull`],
//! [`Reason::ZoneFull`]); no entry is evicted for room.
//!
//! **Policy generation.** Each entry stores the rule-set generation and
//! rule id that admitted it; [`Outcome::Established`] returns both.
//!
//! **Batches.** [`Table::probe`] is the first half of [`Table::track`]:
//! the key, its hash and the slot the index suggests, whose entry it
//! prefetches. A batch probes all its packets, then tracks each with
//! [`Table::track_probed`], which verifies the suggested slot (or looks
//! the key up again) and finds the entry in cache: the misses of a
//! batch overlap instead of coming one after another. A caller that has
//! the tuple but not yet the facts probes with [`Table::probe_tuple`];
//! [`Table::track_probed_fast`] then tracks a packet of a live connection
//! other than TCP without its facts (the established fast path), and
//! says `None` when `track_probed` with the facts must decide.
//!
//! **Handles and batches.** A [`Handle`] is a slab index, valid until its
//! entry is removed; use it within the batch that got it. If a batch holds
//! two packets of one new connection, the second is `New` too unless the
//! first was inserted in between; its `insert` then returns
//! [`InsertError::Exists`] with the handle to use.
// One unsafe block: the prefetch hint in `table.rs` (`prefetch`).
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod frag;
mod hash;
mod table;
mod tcp;
mod types;

pub use frag::{FragKey, FragTableFull, FragVerdict};
pub use table::{Config, EntryInfo, Filter, Probe, Stats, Table, Timeouts, ZoneSettings};
pub use types::*;
