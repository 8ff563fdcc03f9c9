//! The connection table: slab of entries, handle index, expiry FIFOs,
//! counters and the public operations.

use std::time::Duration;

use hashbrown::{HashMap, HashTable};

use crate::frag::{FragKey, FragTableFull, FragVerdict, Frags};
use crate::hash::{FoldBuild, Seed};
use crate::tcp::{self, Seen, Seg, Step};
use crate::types::*;

mod peek;

const NIL: u32 = u32::MAX;
/// Expiry classes: the nine TCP states, UDP unreplied and replied, ICMP,
/// other protocols.
pub(crate) const NCLASS: usize = 13;
const C_UDP_UNREPLIED: u8 = 9;
const C_UDP_REPLIED: u8 = 10;
const C_ICMP: u8 = 11;
const C_OTHER: u8 = 12;

/// Entry flags.
const F_ORIG_LO: u8 = 0x01; // the originator is the key's low side
const F_ORIG_IN: u8 = 0x02; // the first packet entered the port
const F_REPLIED: u8 = 0x04; // a packet from the responder was seen
const F_PICKED_UP: u8 = 0x08; // TCP entry created mid-stream (liberal)

/// One connection, found from both directions: the key is stored with the
/// lower (address, port) side first and `F_ORIG_LO` says which side opened.
/// 104 bytes; `state == 0` marks a free slot (then `next` links the free
/// list).
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Low side address (high, low 64 bits), high side address.
    addr: [u64; 4],
    /// Last accepted packet, ms.
    last_seen: u64,
    /// When the entry was last (re)linked at the tail of its FIFO, ms.
    queued_at: u64,
    zone: u32,
    /// Low side port, high side port (ICMP echo: id on the requester's side).
    ports: [u16; 2],
    generation: u32,
    rule: u32,
    /// Expiry FIFO links (slab indices).
    prev: u32,
    next: u32,
    /// TCP windows, `[originator, responder]`.
    end: [u32; 2],
    maxend: [u32; 2],
    maxwin: [u32; 2],
    sf: [u8; 2],
    proto: u8,
    state: u8,
    class: u8,
    flags: u8,
}

const _: () = assert!(std::mem::size_of::<Entry>() == 104);

impl Entry {
    const FREE: Entry = Entry {
        addr: [0; 4],
        last_seen: 0,
        queued_at: 0,
        zone: 0,
        ports: [0; 2],
        generation: 0,
        rule: 0,
        prev: NIL,
        next: NIL,
        end: [0; 2],
        maxend: [0; 2],
        maxwin: [0; 2],
        sf: [0; 2],
        proto: 0,
        state: 0,
        class: 0,
        flags: 0,
    };

    fn key(&self) -> Key {
        Key {
            addr: self.addr,
            zone: self.zone,
            ports: self.ports,
            proto: self.proto,
        }
    }

    #[inline]
    fn matches(&self, k: &Key) -> bool {
        self.addr == k.addr
            && self.zone == k.zone
            && self.ports == k.ports
            && self.proto == k.proto
            && self.state != 0
    }

    fn seen(&self) -> [Seen; 2] {
        [0, 1].map(|i| Seen {
            end: self.end[i],
            maxend: self.maxend[i],
            maxwin: self.maxwin[i],
            sf: self.sf[i],
        })
    }

    fn set_seen(&mut self, s: &[Seen; 2]) {
        for (i, d) in s.iter().enumerate() {
            self.end[i] = d.end;
            self.maxend[i] = d.maxend;
            self.maxwin[i] = d.maxwin;
            self.sf[i] = d.sf;
        }
    }

    #[inline]
    fn kind(&self) -> ProtoKind {
        ProtoKind::of(self.proto)
    }
}

/// A packet's key, hashed, with the slot the index suggests for it
/// ([`Table::probe`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    key: Key,
    src_lo: bool,
    hash: u64,
    /// A slot that may hold the key (`NIL`: none).
    cand: u32,
}

/// Asks the CPU to bring `e`'s cache lines in (an entry may straddle two).
#[inline]
#[allow(unsafe_code)]
fn prefetch(e: &Entry) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = (e as *const Entry).cast::<i8>();
        // SAFETY: a prefetch is a hint: it reads nothing into the program,
        // never faults, and both addresses lie inside `*e`, a live
        // reference.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(p);
            _mm_prefetch::<_MM_HINT_T0>(p.add(std::mem::size_of::<Entry>() - 1));
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = e;
}

/// The canonical key: the lower (address, port) side first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key {
    addr: [u64; 4],
    zone: u32,
    ports: [u16; 2],
    proto: u8,
}

#[inline]
fn split(a: u128) -> [u64; 2] {
    [(a >> 64) as u64, a as u64]
}

fn join(hi: u64, lo: u64) -> u128 {
    (u128::from(hi) << 64) | u128::from(lo)
}

/// The key of a packet and whether its source is the key's low side; `None`
/// for ICMP that is not echo.
#[inline]
fn key_of(f: &PacketFacts) -> Option<(Key, bool)> {
    let (sp, dp) = match ProtoKind::of(f.proto) {
        // The requester's side carries the id, the responder's side 0, so
        // request and reply give the same key.
        ProtoKind::Icmp => match echo_kind(f.proto, f.icmp_type)? {
            true => (f.icmp_id, 0),
            false => (0, f.icmp_id),
        },
        _ => (f.sport, f.dport),
    };
    Some(canonical(f.zone, f.src, f.dst, f.proto, sp, dp))
}

/// The key of a flow whose two sides are (`src`, `sp`) and (`dst`, `dp`),
/// and whether the source is its low side.
#[inline(always)]
fn canonical(zone: u32, src: u128, dst: u128, proto: u8, sp: u16, dp: u16) -> (Key, bool) {
    let src_lo = (src, sp) <= (dst, dp);
    let ((la, lp), (ha, hp)) = if src_lo {
        ((src, sp), (dst, dp))
    } else {
        ((dst, dp), (src, sp))
    };
    let [a0, a1] = split(la);
    let [a2, a3] = split(ha);
    (
        Key {
            addr: [a0, a1, a2, a3],
            zone,
            ports: [lp, hp],
            proto,
        },
        src_lo,
    )
}

#[inline]
fn class_of(kind: ProtoKind, state: u8) -> u8 {
    match kind {
        ProtoKind::Tcp => state.saturating_sub(1).min(8),
        ProtoKind::Udp if state == State::Replied as u8 => C_UDP_REPLIED,
        ProtoKind::Udp => C_UDP_UNREPLIED,
        ProtoKind::Icmp => C_ICMP,
        ProtoKind::Other => C_OTHER,
    }
}

/// Timeouts per state (defaults: Linux's `nf_conntrack` ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP SYN_SENT (120 s).
    pub tcp_syn_sent: Duration,
    /// TCP SYN_RECV (60 s).
    pub tcp_syn_recv: Duration,
    /// TCP ESTABLISHED (5 days).
    pub tcp_established: Duration,
    /// TCP FIN_WAIT (120 s).
    pub tcp_fin_wait: Duration,
    /// TCP CLOSE_WAIT (60 s).
    pub tcp_close_wait: Duration,
    /// TCP LAST_ACK (30 s).
    pub tcp_last_ack: Duration,
    /// TCP TIME_WAIT (120 s).
    pub tcp_time_wait: Duration,
    /// TCP CLOSE (10 s).
    pub tcp_close: Duration,
    /// TCP SYN_SENT2, simultaneous open (120 s).
    pub tcp_syn_sent2: Duration,
    /// UDP before a reply (30 s).
    pub udp_unreplied: Duration,
    /// UDP after a reply, "stream" (120 s).
    pub udp_replied: Duration,
    /// ICMP/ICMPv6 echo (30 s).
    pub icmp: Duration,
    /// Other protocols (600 s, Linux's generic timeout).
    pub other: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        let s = Duration::from_secs;
        Self {
            tcp_syn_sent: s(120),
            tcp_syn_recv: s(60),
            tcp_established: s(5 * 24 * 3600),
            tcp_fin_wait: s(120),
            tcp_close_wait: s(60),
            tcp_last_ack: s(30),
            tcp_time_wait: s(120),
            tcp_close: s(10),
            tcp_syn_sent2: s(120),
            udp_unreplied: s(30),
            udp_replied: s(120),
            icmp: s(30),
            other: s(600),
        }
    }
}

impl Timeouts {
    fn by_class(&self) -> [(&'static str, Duration); NCLASS] {
        [
            ("tcp_syn_sent", self.tcp_syn_sent),
            ("tcp_syn_recv", self.tcp_syn_recv),
            ("tcp_established", self.tcp_established),
            ("tcp_fin_wait", self.tcp_fin_wait),
            ("tcp_close_wait", self.tcp_close_wait),
            ("tcp_last_ack", self.tcp_last_ack),
            ("tcp_time_wait", self.tcp_time_wait),
            ("tcp_close", self.tcp_close),
            ("tcp_syn_sent2", self.tcp_syn_sent2),
            ("udp_unreplied", self.udp_unreplied),
            ("udp_replied", self.udp_replied),
            ("icmp", self.icmp),
            ("other", self.other),
        ]
    }
}

/// Table configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Most entries the table holds; new connections beyond are refused.
    pub max_entries: u32,
    /// Most entries one zone holds unless [`ZoneSettings::max_entries`]
    /// says otherwise.
    pub max_per_zone: u32,
    /// Skip TCP window checks (RSTs are still checked).
    pub liberal: bool,
    /// Pick up TCP connections from a mid-stream ACK (Linux's
    /// `nf_conntrack_tcp_loose`); off: such packets are [`Outcome::StrictRefused`].
    pub loose_pickup: bool,
    /// Timeouts per state.
    pub timeouts: Timeouts,
    /// Expiry precision traded for per-packet cost: an entry moves to the
    /// tail of its expiry FIFO at most once per `expiry_slack`, and
    /// [`Table::expire`] may reclaim it up to this late. Lookups always see
    /// the exact deadline. Zero: exact reclamation, a relink per packet.
    pub expiry_slack: Duration,
    /// Hash seed (give each table a random one).
    pub hash_seed: u64,
    /// Most datagrams in the fragment table.
    pub frag_max_entries: u32,
    /// How long a first fragment's verdict applies.
    pub frag_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_entries: 1 << 18,
            max_per_zone: 1 << 18,
            liberal: false,
            loose_pickup: true,
            timeouts: Timeouts::default(),
            expiry_slack: Duration::from_secs(1),
            hash_seed: 0x7873_7677_6974_6368,
            frag_max_entries: 4096,
            frag_timeout: Duration::from_secs(30),
        }
    }
}

/// Per-zone overrides ([`Table::set_zone`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZoneSettings {
    /// Most entries in this zone (instead of [`Config::max_per_zone`]).
    pub max_entries: Option<u32>,
    /// Liberal TCP window checking for this zone.
    pub liberal: Option<bool>,
    /// Loose pick-up for this zone.
    pub loose_pickup: Option<bool>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Zone {
    count: u32,
    settings: ZoneSettings,
}

/// Counters and sizes ([`Table::stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Entries in the table (including expired ones not yet reclaimed).
    pub entries: u32,
    /// [`Config::max_entries`].
    pub capacity: u32,
    /// Entries by protocol kind and state: `by_state[kind as usize][state as usize]`.
    pub by_state: [[u32; STATE_CODES]; 4],
    /// Entries created.
    pub inserts: u64,
    /// Entries removed because their timeout passed.
    pub expired: u64,
    /// Entries removed by [`Table::remove`], [`Table::flush`] or a reopening SYN.
    pub removed: u64,
    /// SYNs that reopened a connection in TIME_WAIT or CLOSE.
    pub reopened: u64,
    /// Refusals by reason: `drops[reason as usize]`.
    pub drops: [u64; Reason::COUNT],
    /// Datagrams in the fragment table.
    pub frag_entries: u32,
    /// Fragment table capacity.
    pub frag_capacity: u32,
}

impl Stats {
    /// Entries of `kind` in `state`.
    pub fn count(&self, kind: ProtoKind, state: State) -> u32 {
        self.by_state[kind as usize][state as usize]
    }
    /// Refusals counted under `reason`.
    pub fn drop_count(&self, reason: Reason) -> u64 {
        self.drops[reason as usize]
    }
}

/// One entry as [`Table::iter`], [`Table::list`] and [`Table::get`] show it,
/// in the originator's orientation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryInfo {
    /// The entry's handle.
    pub handle: Handle,
    /// Zone.
    pub zone: u32,
    /// IP protocol.
    pub proto: u8,
    /// Originator's address.
    pub src: u128,
    /// Responder's address.
    pub dst: u128,
    /// Originator's port (ICMP echo: the identifier).
    pub sport: u16,
    /// Responder's port (ICMP echo: 0).
    pub dport: u16,
    /// State.
    pub state: State,
    /// Whether the first packet left or entered the port.
    pub origin: PortDir,
    /// A packet from the responder was seen.
    pub replied: bool,
    /// TCP picked up mid-stream (window checks liberal).
    pub picked_up: bool,
    /// Rule-set generation that admitted or last re-checked it.
    pub generation: u32,
    /// Admitting rule.
    pub rule: u32,
    /// Last accepted packet.
    pub last_seen: Time,
    /// When it expires unless another packet comes.
    pub expires: Time,
}

/// A filter for [`Table::list`]; `None` fields match everything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this zone.
    pub zone: Option<u32>,
    /// Only connections with this address on either side.
    pub addr: Option<u128>,
    /// Only this IP protocol.
    pub proto: Option<u8>,
    /// Only this state.
    pub state: Option<State>,
}

impl Filter {
    /// Whether `e` passes.
    pub fn matches(&self, e: &EntryInfo) -> bool {
        self.zone.is_none_or(|z| z == e.zone)
            && self.addr.is_none_or(|a| a == e.src || a == e.dst)
            && self.proto.is_none_or(|p| p == e.proto)
            && self.state.is_none_or(|s| s == e.state)
    }
}

#[derive(Clone, Copy, Debug)]
struct Fifo {
    head: u32,
    tail: u32,
}

/// A connection table for one worker. See the crate documentation.
pub struct Table {
    cfg: Config,
    timeout_ms: [u64; NCLASS],
    slack_ms: u64,
    seed: Seed,
    slots: Vec<Entry>,
    free_head: u32,
    len: u32,
    index: HashTable<u32>,
    fifos: [Fifo; NCLASS],
    expire_cursor: usize,
    zones: HashMap<u32, Zone, FoldBuild>,
    zone_overrides: usize,
    frags: Frags,
    stats: Stats,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("entries", &self.len)
            .field("max_entries", &self.cfg.max_entries)
            .finish_non_exhaustive()
    }
}

impl Table {
    /// An empty table. Memory grows with the entries, up to
    /// `max_entries` slots.
    pub fn new(cfg: Config) -> Result<Self, ConfigError> {
        if cfg.max_entries == 0 || cfg.max_entries > 1 << 31 {
            return Err(ConfigError::MaxEntries(u64::from(cfg.max_entries)));
        }
        if cfg.frag_max_entries == 0 {
            return Err(ConfigError::FragMax);
        }
        let max_t = Duration::from_secs(30 * 24 * 3600);
        let mut timeout_ms = [0; NCLASS];
        for (i, (name, d)) in cfg.timeouts.by_class().into_iter().enumerate() {
            if d < Duration::from_millis(1) || d > max_t {
                return Err(ConfigError::Timeout(name));
            }
            timeout_ms[i] = duration_ms(d);
        }
        if cfg.frag_timeout < Duration::from_millis(1) || cfg.frag_timeout > max_t {
            return Err(ConfigError::Timeout("frag_timeout"));
        }
        let seed = Seed::new(cfg.hash_seed);
        Ok(Self {
            timeout_ms,
            slack_ms: duration_ms(cfg.expiry_slack),
            seed,
            slots: Vec::new(),
            free_head: NIL,
            len: 0,
            index: HashTable::new(),
            fifos: [Fifo {
                head: NIL,
                tail: NIL,
            }; NCLASS],
            expire_cursor: 0,
            zones: HashMap::with_hasher(FoldBuild(seed.0[0])),
            zone_overrides: 0,
            frags: Frags::new(
                cfg.frag_max_entries,
                duration_ms(cfg.frag_timeout),
                seed.0[1],
            ),
            stats: Stats {
                capacity: cfg.max_entries,
                frag_capacity: cfg.frag_max_entries,
                ..Stats::default()
            },
            cfg,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Takes the run-time settings of `cfg`: capacity (total and per
    /// zone), liberal mode, loose pick-up and timeouts. Entries stay; a
    /// lower capacity refuses new connections until enough have gone (none
    /// is evicted); new timeouts apply to every entry from its last packet.
    /// The hash seed, the expiry slack and the fragment table keep their
    /// values. Refused whole, changing nothing, if `cfg` is invalid.
    pub fn reconfigure(&mut self, cfg: &Config) -> Result<(), ConfigError> {
        if cfg.max_entries == 0 || cfg.max_entries > 1 << 31 {
            return Err(ConfigError::MaxEntries(u64::from(cfg.max_entries)));
        }
        let max_t = Duration::from_secs(30 * 24 * 3600);
        let mut timeout_ms = [0; NCLASS];
        for (i, (name, d)) in cfg.timeouts.by_class().into_iter().enumerate() {
            if d < Duration::from_millis(1) || d > max_t {
                return Err(ConfigError::Timeout(name));
            }
            timeout_ms[i] = duration_ms(d);
        }
        self.timeout_ms = timeout_ms;
        self.cfg.max_entries = cfg.max_entries;
        self.cfg.max_per_zone = cfg.max_per_zone;
        self.cfg.liberal = cfg.liberal;
        self.cfg.loose_pickup = cfg.loose_pickup;
        self.cfg.timeouts = cfg.timeouts;
        self.stats.capacity = cfg.max_entries;
        Ok(())
    }

    /// Entries in the table.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Reserve room for `n` entries in total (capped at `max_entries`), so
    /// that growth does not happen on the packet path.
    pub fn reserve(&mut self, n: usize) {
        let n = n.min(self.cfg.max_entries as usize);
        if n > self.slots.capacity() {
            self.slots.reserve_exact(n - self.slots.len());
        }
        self.reserve_index(n);
    }

    /// Keep the index at most half full for `slots` entries: room for 7/4 of
    /// them (hashbrown's buckets are a power of two, 7/8 usable). hashbrown
    /// marks a removed bucket as a tombstone when its probe group is full,
    /// and tombstones go away only in a rehash, which an insert does once
    /// they have used up the spare room: at a steady state of inserts and
    /// expiries, a whole-index rehash (or doubling) on the packet path, tens
    /// of ms at a million entries. At half load a group is almost never full.
    fn reserve_index(&mut self, slots: usize) {
        let want = slots.saturating_add(slots / 4 * 3);
        if want > self.index.capacity() {
            let slots = &self.slots;
            let seed = self.seed;
            self.index.reserve(want - self.index.len(), |&h| {
                hash_entry(&seed, &slots[h as usize])
            });
        }
    }

    /// Bytes the table's structures hold (slab, index, zone map, fragment
    /// table), from their capacities.
    pub fn memory_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Entry>()
            + self.index.allocation_size()
            + self.zones.allocation_size()
            + self.frags.bytes()
            + std::mem::size_of::<Self>()
    }

    /// Set (or with the default value, clear) the overrides of a zone.
    pub fn set_zone(&mut self, zone: u32, settings: ZoneSettings) {
        let z = self.zones.entry(zone).or_default();
        let was = z.settings != ZoneSettings::default();
        let is = settings != ZoneSettings::default();
        z.settings = settings;
        let empty = z.count == 0 && !is;
        self.zone_overrides = self.zone_overrides + usize::from(is) - usize::from(was);
        if empty {
            self.zones.remove(&zone);
        }
    }

    /// Entries in a zone.
    pub fn zone_len(&self, zone: u32) -> u32 {
        self.zones.get(&zone).map_or(0, |z| z.count)
    }

    fn zone_settings(&self, zone: u32) -> ZoneSettings {
        if self.zone_overrides == 0 {
            return ZoneSettings::default();
        }
        self.zones
            .get(&zone)
            .map(|z| z.settings)
            .unwrap_or_default()
    }

    fn liberal_for(&self, f: &PacketFacts) -> bool {
        f.liberal
            .or_else(|| self.zone_settings(f.zone).liberal)
            .unwrap_or(self.cfg.liberal)
    }

    fn loose_for(&self, zone: u32) -> bool {
        self.zone_settings(zone)
            .loose_pickup
            .unwrap_or(self.cfg.loose_pickup)
    }

    fn count_drop(&mut self, r: Reason) {
        self.stats.drops[r as usize] += 1;
    }

    #[inline]
    fn hash_key(&self, k: &Key) -> u64 {
        hash_parts(&self.seed, k)
    }

    fn find(&self, hash: u64, k: &Key) -> Option<u32> {
        let slots = &self.slots;
        self.index
            .find(hash, |&h| {
                slots.get(h as usize).is_some_and(|e| e.matches(k))
            })
            .copied()
    }

    #[inline]
    fn deadline(&self, e: &Entry) -> u64 {
        e.last_seen
            .saturating_add(self.timeout_ms[usize::from(e.class)])
    }

    /// Look a packet up and advance its connection's state.
    ///
    /// ICMP errors are not looked up here (they are [`Outcome::Untracked`]):
    /// use [`Table::related`]. A [`Outcome::New`] is followed by the rule
    /// check and, if it allows, [`Table::insert`] with the same facts.
    pub fn track(&mut self, now: Time, f: &PacketFacts) -> Outcome {
        let kind = ProtoKind::of(f.proto);
        if kind == ProtoKind::Tcp && !tcp::valid_flags(f.tcp_flags) {
            self.count_drop(Reason::InvalidFlags);
            return Outcome::Invalid(Reason::InvalidFlags);
        }
        let Some((key, src_lo)) = key_of(f) else {
            return Outcome::Untracked;
        };
        let hash = self.hash_key(&key);
        let found = self.find(hash, &key);
        self.track_found(now.0, f, kind, found, src_lo)
    }

    /// The first half of [`Table::track`] for a packet: its key, the key's
    /// hash and the slot the index suggests for it, whose entry is
    /// prefetched. `None` for what `track` does not look up (ICMP that is
    /// not echo: `track` says [`Outcome::Untracked`]). Changes nothing: a
    /// batch probes every packet first, then tracks each with
    /// [`Table::track_probed`], so that the entries' cache misses overlap.
    #[inline]
    pub fn probe(&self, f: &PacketFacts) -> Option<Probe> {
        let (key, src_lo) = key_of(f)?;
        Some(self.probe_key(key, src_lo))
    }

    /// [`Table::probe`] of a packet given by its tuple alone: the same
    /// probe as `probe` of facts with these fields, for any protocol but
    /// ICMP and ICMPv6 (whose key is the echo identifier, not the ports:
    /// `None`, probe those with their facts). The datapath's first pass
    /// builds it straight from the parsed headers.
    #[inline(always)]
    pub fn probe_tuple(&self, t: &Tuple) -> Option<Probe> {
        if ProtoKind::of(t.proto) == ProtoKind::Icmp {
            return None;
        }
        let (key, src_lo) = canonical(t.zone, t.src, t.dst, t.proto, t.sport, t.dport);
        Some(self.probe_key(key, src_lo))
    }

    #[inline(always)]
    fn probe_key(&self, key: Key, src_lo: bool) -> Probe {
        let hash = self.hash_key(&key);
        // The first bucket whose tag matches: the entry almost always
        // (tags are 7 bits, the index at most half full); only a hint,
        // `track_probed` compares the key before it uses it.
        let cand = self.index.find(hash, |_| true).copied().unwrap_or(NIL);
        if let Some(e) = self.slots.get(cand as usize) {
            prefetch(e);
        }
        Probe {
            key,
            src_lo,
            hash,
            cand,
        }
    }

    /// The established fast path of [`Table::track_probed`], which needs
    /// no facts: when the packet is not TCP and the slot its probe suggests
    /// holds its connection, live, the outcome `track_probed` gives, with
    /// the same change to the entry (reply seen, refresh). `None`
    /// otherwise (TCP, whose window tracking reads the segment; no entry
    /// in that slot; the entry expired), having changed nothing: then
    /// `track_probed` with the packet's facts decides.
    #[inline(always)]
    pub fn track_probed_fast(&mut self, now: Time, p: &Probe) -> Option<Outcome> {
        let e = self.slots.get(p.cand as usize)?;
        if !e.matches(&p.key) || e.kind() == ProtoKind::Tcp || self.deadline(e) <= now.0 {
            return None;
        }
        Some(self.hit_other(now.0, p.cand, p.src_lo))
    }

    /// [`Table::track`] of a packet [`Table::probe`] gave `p` for (with the
    /// same facts; the table may have changed in between): the same
    /// outcome, without hashing the key again.
    #[inline]
    pub fn track_probed(&mut self, now: Time, f: &PacketFacts, p: &Probe) -> Outcome {
        let kind = ProtoKind::of(f.proto);
        if kind == ProtoKind::Tcp && !tcp::valid_flags(f.tcp_flags) {
            self.count_drop(Reason::InvalidFlags);
            return Outcome::Invalid(Reason::InvalidFlags);
        }
        // A key has at most one live slot: the suggested one, if it holds
        // the key, is the one `find` would give.
        let found = match self.slots.get(p.cand as usize) {
            Some(e) if e.matches(&p.key) => Some(p.cand),
            _ => self.find(p.hash, &p.key),
        };
        self.track_found(now.0, f, kind, found, p.src_lo)
    }

    /// The rest of `track` once the key was looked up.
    #[inline]
    fn track_found(
        &mut self,
        now: u64,
        f: &PacketFacts,
        kind: ProtoKind,
        found: Option<u32>,
        src_lo: bool,
    ) -> Outcome {
        if let Some(h) = found {
            let e = &self.slots[h as usize];
            if self.deadline(e) > now {
                return self.hit(now, f, h, src_lo);
            }
            self.remove_slot(h);
            self.stats.expired += 1;
        }
        match kind {
            ProtoKind::Tcp => match tcp::opens(f.tcp_flags) {
                Some(false) => Outcome::New,
                Some(true) if self.loose_for(f.zone) => Outcome::New,
                Some(true) => {
                    self.count_drop(Reason::StrictNoEntry);
                    Outcome::StrictRefused
                }
                None => {
                    self.count_drop(Reason::NotNew);
                    Outcome::Invalid(Reason::NotNew)
                }
            },
            ProtoKind::Icmp if echo_kind(f.proto, f.icmp_type) != Some(true) => {
                self.count_drop(Reason::NotNew);
                Outcome::Invalid(Reason::NotNew)
            }
            _ => Outcome::New,
        }
    }

    /// A packet of the live entry `h`, not expired: the entry's new state
    /// and refresh. TCP goes through the window tracking
    /// ([`Table::hit_tcp`]); the other protocols only note a reply.
    #[inline]
    fn hit(&mut self, now: u64, f: &PacketFacts, h: u32, src_lo: bool) -> Outcome {
        let e = &self.slots[h as usize];
        if e.kind() == ProtoKind::Tcp {
            let reply = src_lo != (e.flags & F_ORIG_LO != 0);
            return self.hit_tcp(now, f, h, reply);
        }
        self.hit_other(now, h, src_lo)
    }

    /// [`Table::hit`] of an entry that is not TCP: the packet's facts play
    /// no part.
    #[inline(always)]
    fn hit_other(&mut self, now: u64, h: u32, src_lo: bool) -> Outcome {
        let e = &mut self.slots[h as usize];
        let reply = src_lo != (e.flags & F_ORIG_LO != 0);
        let kind = e.kind();
        let (generation, rule) = (e.generation, e.rule);
        let new_state = if reply {
            e.flags |= F_REPLIED;
            State::Replied as u8
        } else {
            e.state
        };
        self.set_state(h, new_state);
        self.touch(h, now, class_of(kind, new_state));
        Outcome::Established {
            handle: Handle(h),
            reply,
            generation,
            rule,
            state: State::from_code(new_state).unwrap_or(State::Close),
        }
    }

    /// [`Table::hit`] of a TCP entry.
    fn hit_tcp(&mut self, now: u64, f: &PacketFacts, h: u32, reply: bool) -> Outcome {
        let e = self.slots[h as usize];
        let mut seen = e.seen();
        let seg = seg_of(f);
        let liberal = self.liberal_for(f);
        let new_state = match tcp::step(e.state, reply, &mut seen, &seg, liberal) {
            Err(r) => {
                self.count_drop(r);
                return Outcome::Invalid(r);
            }
            Ok(Step::Reopen) => {
                self.remove_slot(h);
                self.stats.removed += 1;
                self.stats.reopened += 1;
                return Outcome::New;
            }
            Ok(Step::Ignore) => {
                return Outcome::Established {
                    handle: Handle(h),
                    reply,
                    generation: e.generation,
                    rule: e.rule,
                    state: State::from_code(e.state).unwrap_or(State::Close),
                }
            }
            Ok(Step::To(s)) => {
                self.slots[h as usize].set_seen(&seen);
                s
            }
        };
        if reply {
            self.slots[h as usize].flags |= F_REPLIED;
        }
        self.set_state(h, new_state);
        self.touch(h, now, class_of(ProtoKind::Tcp, new_state));
        Outcome::Established {
            handle: Handle(h),
            reply,
            generation: e.generation,
            rule: e.rule,
            state: State::from_code(new_state).unwrap_or(State::Close),
        }
    }

    #[inline(always)]
    fn set_state(&mut self, h: u32, new: u8) {
        let e = &mut self.slots[h as usize];
        if e.state != new {
            let k = e.kind() as usize;
            self.stats.by_state[k][usize::from(e.state)] -= 1;
            self.stats.by_state[k][usize::from(new)] += 1;
            e.state = new;
        }
    }

    /// Refresh: the packet was accepted at `now`; move to `class`'s FIFO if
    /// the state's class changed, or to its tail if the last move is older
    /// than the slack.
    #[inline(always)]
    fn touch(&mut self, h: u32, now: u64, class: u8) {
        let (old_class, queued_at) = {
            let e = &mut self.slots[h as usize];
            e.last_seen = now;
            (e.class, e.queued_at)
        };
        let tail = self.fifos[usize::from(class)].tail;
        if class == old_class && tail == h {
            self.slots[h as usize].queued_at = now;
        } else if class != old_class || now.saturating_sub(queued_at) >= self.slack_ms {
            self.requeue(h, now, class);
        }
    }

    /// The part of [`Table::touch`] that moves the entry to the tail of
    /// `class`'s FIFO: at most once per slack per entry, out of line.
    #[inline(never)]
    fn requeue(&mut self, h: u32, now: u64, class: u8) {
        self.unlink(h);
        let e = &mut self.slots[h as usize];
        e.class = class;
        e.queued_at = now;
        self.link_tail(h);
    }

    fn link_tail(&mut self, h: u32) {
        let c = usize::from(self.slots[h as usize].class);
        let tail = self.fifos[c].tail;
        {
            let e = &mut self.slots[h as usize];
            e.prev = tail;
            e.next = NIL;
        }
        if tail == NIL {
            self.fifos[c].head = h;
        } else {
            self.slots[tail as usize].next = h;
        }
        self.fifos[c].tail = h;
    }

    fn unlink(&mut self, h: u32) {
        let (p, n, c) = {
            let e = &self.slots[h as usize];
            (e.prev, e.next, usize::from(e.class))
        };
        if p == NIL {
            self.fifos[c].head = n;
        } else {
            self.slots[p as usize].next = n;
        }
        if n == NIL {
            self.fifos[c].tail = p;
        } else {
            self.slots[n as usize].prev = p;
        }
    }

    /// Remove a live slot from every structure and free it.
    fn remove_slot(&mut self, h: u32) {
        let e = self.slots[h as usize];
        let hash = self.hash_key(&e.key());
        if let Ok(found) = self.index.find_entry(hash, |&x| x == h) {
            found.remove();
        }
        self.unlink(h);
        self.stats.by_state[e.kind() as usize][usize::from(e.state)] -= 1;
        if let Some(z) = self.zones.get_mut(&e.zone) {
            z.count = z.count.saturating_sub(1);
            if z.count == 0 && z.settings == ZoneSettings::default() {
                self.zones.remove(&e.zone);
            }
        }
        self.len -= 1;
        let slot = &mut self.slots[h as usize];
        *slot = Entry::FREE;
        slot.next = self.free_head;
        self.free_head = h;
    }

    fn alloc(&mut self) -> u32 {
        if self.free_head != NIL {
            let h = self.free_head;
            self.free_head = self.slots[h as usize].next;
            return h;
        }
        if self.slots.len() == self.slots.capacity() {
            let cap = self.slots.capacity();
            let room = (self.cfg.max_entries as usize).saturating_sub(cap);
            self.slots.reserve_exact(cap.max(64).min(room.max(1)));
            self.reserve_index(self.slots.capacity());
        }
        self.slots.push(Entry::FREE);
        (self.slots.len() - 1) as u32
    }

    /// Create the entry for a packet [`Table::track`] called
    /// [`Outcome::New`], after the rules allowed it: `generation` is the
    /// rule set's generation, `rule` the allowing rule.
    ///
    /// TCP: a SYN creates SYN_SENT; a bare ACK (loose pick-up) creates
    /// ESTABLISHED with windows learned from the traffic and liberal window
    /// checks (the window scale is unknown). Refused when the table or the
    /// zone is full (a full table first reclaims a few expired entries);
    /// live connections are never evicted for room.
    pub fn insert(
        &mut self,
        now: Time,
        f: &PacketFacts,
        generation: u32,
        rule: u32,
    ) -> Result<Handle, InsertError> {
        let Opening {
            key,
            kind,
            state,
            flags,
            seen,
        } = self.opening(f)?;
        let now = now.0;
        let hash = self.hash_key(&key);
        if let Some(h) = self.find(hash, &key) {
            if self.deadline(&self.slots[h as usize]) > now {
                return Err(InsertError::Exists(Handle(h)));
            }
            self.remove_slot(h);
            self.stats.expired += 1;
        }
        if self.len >= self.cfg.max_entries {
            // Expired entries still hold their slots until reclaimed: take
            // back a few (bounded work) before refusing.
            self.expire(Time(now), 8);
        }
        if let Err((reason, e)) = self.room(f.zone) {
            self.count_drop(reason);
            return Err(e);
        }
        let h = self.alloc();
        let class = class_of(kind, state);
        let mut e = Entry {
            addr: key.addr,
            last_seen: now,
            queued_at: now,
            zone: key.zone,
            ports: key.ports,
            generation,
            rule,
            proto: key.proto,
            state,
            class,
            flags,
            ..Entry::FREE
        };
        e.set_seen(&seen);
        self.slots[h as usize] = e;
        self.link_tail(h);
        let slots = &self.slots;
        let seed = self.seed;
        self.index
            .insert_unique(hash, h, |&x| hash_entry(&seed, &slots[x as usize]));
        self.len += 1;
        self.stats.by_state[kind as usize][usize::from(state)] += 1;
        self.zones.entry(f.zone).or_default().count += 1;
        self.stats.inserts += 1;
        Ok(Handle(h))
    }

    /// Whether [`Table::insert`] would take `f` now, changing nothing (what
    /// a trace asks): `Ok`, or the error insert would return. A full table
    /// is full here even where insert would first reclaim a few expired
    /// entries.
    pub fn check_insert(&self, now: Time, f: &PacketFacts) -> Result<(), InsertError> {
        let key = self.opening(f)?.key;
        if let Some(h) = self.find(self.hash_key(&key), &key) {
            if self.deadline(&self.slots[h as usize]) > now.0 {
                return Err(InsertError::Exists(Handle(h)));
            }
            // An expired entry of the key is replaced: its room is taken.
            return Ok(());
        }
        self.room(f.zone).map_err(|(_, e)| e)
    }

    /// The entry `f` opens, if it may open one (the protocol's rules: TCP
    /// flags, strict zones, ICMP echo requests).
    fn opening(&self, f: &PacketFacts) -> Result<Opening, InsertError> {
        let kind = ProtoKind::of(f.proto);
        let (key, src_lo) = key_of(f).ok_or(InsertError::NotNew(Reason::NotNew))?;
        let mut seen = [Seen::default(); 2];
        let mut flags =
            if src_lo { F_ORIG_LO } else { 0 } | if f.dir == PortDir::In { F_ORIG_IN } else { 0 };
        let state = match kind {
            ProtoKind::Tcp => {
                if !tcp::valid_flags(f.tcp_flags) {
                    return Err(InsertError::NotNew(Reason::InvalidFlags));
                }
                match tcp::opens(f.tcp_flags) {
                    None => return Err(InsertError::NotNew(Reason::NotNew)),
                    Some(true) if !self.loose_for(f.zone) => {
                        return Err(InsertError::NotNew(Reason::StrictNoEntry))
                    }
                    Some(pickup) => {
                        if pickup {
                            flags |= F_PICKED_UP;
                            seen[0].sf |= tcp::D_LIBERAL;
                            seen[1].sf |= tcp::D_LIBERAL;
                        }
                        match tcp::step(tcp::NO, false, &mut seen, &seg_of(f), false) {
                            Ok(Step::To(s)) => s,
                            Ok(_) => return Err(InsertError::NotNew(Reason::NotNew)),
                            Err(r) => return Err(InsertError::NotNew(r)),
                        }
                    }
                }
            }
            ProtoKind::Icmp if echo_kind(f.proto, f.icmp_type) != Some(true) => {
                return Err(InsertError::NotNew(Reason::NotNew))
            }
            _ => State::Unreplied as u8,
        };
        Ok(Opening {
            key,
            kind,
            state,
            flags,
            seen,
        })
    }

    /// Whether the table and `zone` have room for one more entry; the
    /// refusal with the reason it is counted as.
    fn room(&self, zone: u32) -> Result<(), (Reason, InsertError)> {
        if self.len >= self.cfg.max_entries {
            return Err((Reason::TableFull, InsertError::TableFull));
        }
        let zone_max = self
            .zone_settings(zone)
            .max_entries
            .unwrap_or(self.cfg.max_per_zone);
        if self.zone_len(zone) >= zone_max {
            return Err((Reason::ZoneFull, InsertError::ZoneFull(zone)));
        }
        Ok(())
    }

    /// An ICMP or ICMPv6 error (`outer`, with [`is_icmp_error`] true) whose
    /// quoted header the caller parsed into `inner` (the quoted packet as it
    /// was sent: its source is the error's destination). Returns
    /// [`Outcome::Related`] when `inner` belongs to a tracked connection in
    /// `outer.zone`, [`Outcome::Invalid`]`(`[`Reason::UnrelatedIcmpError`]`)`
    /// otherwise, [`Outcome::Untracked`] when `outer` is not an ICMP error.
    /// The connection's state and timeout are left as they are.
    pub fn related(&mut self, now: Time, outer: &PacketFacts, inner: &PacketFacts) -> Outcome {
        if !is_icmp_error(outer.proto, outer.icmp_type) {
            return Outcome::Untracked;
        }
        let mut q = *inner;
        q.zone = outer.zone;
        let found = if q.src == outer.dst {
            key_of(&q).and_then(|(key, _)| {
                let h = self.find(self.hash_key(&key), &key)?;
                (self.deadline(&self.slots[h as usize]) > now.0).then_some(h)
            })
        } else {
            None
        };
        match found {
            Some(h) => {
                let e = &self.slots[h as usize];
                Outcome::Related {
                    handle: Handle(h),
                    generation: e.generation,
                    rule: e.rule,
                }
            }
            None => {
                self.count_drop(Reason::UnrelatedIcmpError);
                Outcome::Invalid(Reason::UnrelatedIcmpError)
            }
        }
    }

    /// The entry a packet belongs to, without changing anything (expired
    /// entries are not found). Returns the handle and whether the packet is
    /// in the reply direction.
    pub fn lookup(&self, now: Time, f: &PacketFacts) -> Option<(Handle, bool)> {
        let (key, src_lo) = key_of(f)?;
        let h = self.find(self.hash_key(&key), &key)?;
        let e = &self.slots[h as usize];
        (self.deadline(e) > now.0).then_some((Handle(h), src_lo != (e.flags & F_ORIG_LO != 0)))
    }

    fn live(&self, h: Handle) -> Option<&Entry> {
        self.slots.get(h.0 as usize).filter(|e| e.state != 0)
    }

    /// The entry behind a handle.
    pub fn get(&self, h: Handle) -> Option<EntryInfo> {
        self.live(h).map(|e| self.info(h.0, e))
    }

    /// After a re-check against a newer rule set allowed the connection:
    /// record that generation and the allowing rule. False if the handle is
    /// not live.
    pub fn set_generation(&mut self, h: Handle, generation: u32, rule: u32) -> bool {
        match self.slots.get_mut(h.0 as usize).filter(|e| e.state != 0) {
            Some(e) => {
                e.generation = generation;
                e.rule = rule;
                true
            }
            None => false,
        }
    }

    /// Delete an entry (e.g. a re-check denied it). False if not live.
    pub fn remove(&mut self, h: Handle) -> bool {
        if self.live(h).is_none() {
            return false;
        }
        self.remove_slot(h.0);
        self.stats.removed += 1;
        true
    }

    /// Reclaim entries (and fragment records) whose timeout has passed,
    /// examining at most `budget` of them; returns how many were removed.
    /// Call once per batch: the work per call is bounded, so no sweep stalls
    /// the worker. Each expiry class is a FIFO ordered by when its entries
    /// were last linked; an entry reaches the head at most
    /// [`Config::expiry_slack`] after its deadline.
    pub fn expire(&mut self, now: Time, budget: usize) -> usize {
        let now = now.0;
        let mut work = 0;
        let mut removed = 0;
        'classes: for i in 0..NCLASS {
            let c = (self.expire_cursor + i) % NCLASS;
            let t = self.timeout_ms[c];
            loop {
                if work >= budget {
                    break 'classes;
                }
                let h = self.fifos[c].head;
                if h == NIL {
                    break;
                }
                let e = &self.slots[h as usize];
                // Everything behind the head was linked later.
                if e.queued_at.saturating_add(t) > now {
                    break;
                }
                work += 1;
                if e.last_seen.saturating_add(t) > now {
                    // Touched within the slack after it was linked: due soon.
                    break;
                }
                self.remove_slot(h);
                self.stats.expired += 1;
                removed += 1;
            }
        }
        self.expire_cursor = (self.expire_cursor + 1) % NCLASS;
        if work < budget {
            removed += self.frags.expire(now, budget - work).1;
        }
        removed
    }

    /// Remove every entry, or those of one zone (and their fragment
    /// records); returns the entries removed. Walks the whole slab: an
    /// operator action, not a per-batch one.
    pub fn flush(&mut self, zone: Option<u32>) -> usize {
        let mut n = 0;
        for h in 0..self.slots.len() as u32 {
            let e = &self.slots[h as usize];
            if e.state != 0 && zone.is_none_or(|z| z == e.zone) {
                self.remove_slot(h);
                n += 1;
            }
        }
        self.stats.removed += n as u64;
        self.frags.flush(zone);
        n
    }

    fn info(&self, h: u32, e: &Entry) -> EntryInfo {
        let lo = (join(e.addr[0], e.addr[1]), e.ports[0]);
        let hi = (join(e.addr[2], e.addr[3]), e.ports[1]);
        let (o, r) = if e.flags & F_ORIG_LO != 0 {
            (lo, hi)
        } else {
            (hi, lo)
        };
        EntryInfo {
            handle: Handle(h),
            zone: e.zone,
            proto: e.proto,
            src: o.0,
            dst: r.0,
            sport: o.1,
            dport: r.1,
            state: State::from_code(e.state).unwrap_or(State::Close),
            origin: if e.flags & F_ORIG_IN != 0 {
                PortDir::In
            } else {
                PortDir::Out
            },
            replied: e.flags & F_REPLIED != 0,
            picked_up: e.flags & F_PICKED_UP != 0,
            generation: e.generation,
            rule: e.rule,
            last_seen: Time(e.last_seen),
            expires: Time(self.deadline(e)),
        }
    }

    /// Every entry (expired ones not yet reclaimed included; compare
    /// [`EntryInfo::expires`] with the clock to hide them).
    pub fn iter(&self) -> impl Iterator<Item = EntryInfo> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, e)| e.state != 0)
            .map(|(i, e)| self.info(i as u32, e))
    }

    /// The entries `filter` passes (for `conntrack list`).
    pub fn list<'a>(&'a self, filter: &'a Filter) -> impl Iterator<Item = EntryInfo> + 'a {
        self.iter().filter(move |e| filter.matches(e))
    }

    /// Counters and sizes.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        s.entries = self.len;
        s.frag_entries = self.frags.len() as u32;
        s.frag_capacity = self.frags.max() as u32;
        s
    }

    /// Record the firewall's verdict on the first fragment of a datagram.
    /// A repeated first fragment updates the verdict. Refused (and counted)
    /// when the fragment table is full of live records.
    pub fn frag_first(
        &mut self,
        now: Time,
        key: FragKey,
        verdict: FragVerdict,
    ) -> Result<(), FragTableFull> {
        let r = self.frags.first(now.0, key, verdict);
        if r.is_err() {
            self.count_drop(Reason::FragTableFull);
        }
        r
    }

    /// The verdict for a later fragment; `None` (counted as
    /// [`Reason::FragNoFirst`]) when no live first fragment is recorded:
    /// drop it.
    pub fn frag_lookup(&mut self, now: Time, key: &FragKey) -> Option<FragVerdict> {
        let v = self.frags.lookup(now.0, key);
        if v.is_none() {
            self.count_drop(Reason::FragNoFirst);
        }
        v
    }

    /// Check every internal invariant (index, FIFOs, free list, counters).
    /// For tests; walks everything.
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut live = 0u32;
        let mut by_state = [[0u32; STATE_CODES]; 4];
        let mut zones: std::collections::HashMap<u32, u32> = Default::default();
        for (i, e) in self.slots.iter().enumerate() {
            if e.state == 0 {
                continue;
            }
            live += 1;
            by_state[e.kind() as usize][usize::from(e.state)] += 1;
            *zones.entry(e.zone).or_default() += 1;
            let k = e.key();
            if self.find(self.hash_key(&k), &k) != Some(i as u32) {
                return Err(format!("slot {i} not found by its key"));
            }
            if class_of(e.kind(), e.state) != e.class {
                return Err(format!(
                    "slot {i} in class {} for state {}",
                    e.class, e.state
                ));
            }
        }
        if live != self.len || self.index.len() != self.len as usize {
            return Err(format!(
                "len {} live {} index {}",
                self.len,
                live,
                self.index.len()
            ));
        }
        if by_state != self.stats.by_state {
            return Err("by_state counters differ".into());
        }
        for (z, n) in &zones {
            if self.zone_len(*z) != *n {
                return Err(format!("zone {z}: {} counted, {n} live", self.zone_len(*z)));
            }
        }
        for (z, info) in &self.zones {
            if info.count != zones.get(z).copied().unwrap_or(0) {
                return Err(format!("zone {z} count {} stale", info.count));
            }
        }
        let mut linked = 0u32;
        for (c, f) in self.fifos.iter().enumerate() {
            let (mut prev, mut h, mut last_q) = (NIL, f.head, 0u64);
            while h != NIL {
                let e = &self.slots[h as usize];
                if e.state == 0 || usize::from(e.class) != c || e.prev != prev {
                    return Err(format!("fifo {c}: bad link at {h}"));
                }
                if e.queued_at < last_q {
                    return Err(format!("fifo {c}: out of order at {h}"));
                }
                last_q = e.queued_at;
                linked += 1;
                if linked > self.len {
                    return Err("fifo cycle".into());
                }
                prev = h;
                h = e.next;
            }
            if f.tail != prev {
                return Err(format!("fifo {c}: tail"));
            }
        }
        if linked != self.len {
            return Err(format!("{linked} linked, {} live", self.len));
        }
        let mut free = 0usize;
        let mut h = self.free_head;
        while h != NIL {
            free += 1;
            if free > self.slots.len() {
                return Err("free list cycle".into());
            }
            h = self.slots[h as usize].next;
        }
        if free + self.len as usize != self.slots.len() {
            return Err("free list length".into());
        }
        Ok(())
    }
}

fn seg_of(f: &PacketFacts) -> Seg {
    Seg {
        flags: f.tcp_flags,
        seq: f.tcp_seq,
        ack: f.tcp_ack,
        win: f.tcp_window,
        wscale: f.tcp_wscale,
        len: f.payload_len,
    }
}

#[inline]
fn hash_parts(seed: &Seed, k: &Key) -> u64 {
    let w4 = (u64::from(k.zone) << 32) | (u64::from(k.ports[0]) << 16) | u64::from(k.ports[1]);
    seed.key(&k.addr, w4, u64::from(k.proto))
}

fn hash_entry(seed: &Seed, e: &Entry) -> u64 {
    hash_parts(seed, &e.key())
}

/// A new entry as [`Table::insert`] would make it, before it has a slot.
struct Opening {
    key: Key,
    kind: ProtoKind,
    state: u8,
    flags: u8,
    seen: [Seen; 2],
}
