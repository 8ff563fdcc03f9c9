//! The fast classifier: Lakshman–Stiliadis bit vectors with aggregation
//! (see the module docs of [`crate::firewall`]).

use super::rules::{
    evaluation_order, l4_class, validate, Action, AppliedTo, BuildError, CompiledRule, Direction,
    Query, Verdict, MAX_PORTS, PROTO_TCP, PROTO_UDP,
};

/// The classifier refuses to grow beyond this many bytes.
pub const MAX_BYTES: usize = 1 << 30;

/// The id of the empty sparse bitmap in every pool.
const EMPTY: u32 = 0;

/// Sparse bitmaps over rule positions, all in one pool. Bitmap `id` has
/// `nagg` aggregate words (bit `w` set iff word `w` is non-zero), for each
/// aggregate word the rank of its first stored word, and its non-zero words
/// stored contiguously from `offs[id]`.
#[derive(Debug)]
struct Pool {
    nagg: usize,
    aggs: Vec<u64>,
    bases: Vec<u32>,
    offs: Vec<u32>,
    words: Vec<u64>,
}

impl Pool {
    fn new(nagg: usize) -> Pool {
        let mut p = Pool {
            nagg,
            aggs: Vec::new(),
            bases: Vec::new(),
            offs: Vec::new(),
            words: Vec::new(),
        };
        p.aggs.resize(nagg, 0);
        p.bases.resize(nagg, 0);
        p.offs.push(0);
        p
    }

    fn count(&self) -> usize {
        self.offs.len()
    }

    fn bytes(&self) -> usize {
        self.aggs.capacity() * 8
            + self.bases.capacity() * 4
            + self.offs.capacity() * 4
            + self.words.capacity() * 8
    }

    fn check(&self) -> Result<(), BuildError> {
        if self.bytes() > MAX_BYTES {
            Err(BuildError::TooLarge { limit: MAX_BYTES })
        } else {
            Ok(())
        }
    }

    /// Stores the set bits of `words` (with `agg` its aggregate).
    fn push_dense(&mut self, words: &[u64], agg: &[u64]) -> u32 {
        if agg.iter().all(|&a| a == 0) {
            return EMPTY;
        }
        let id = self.offs.len() as u32;
        let start = self.words.len();
        self.offs.push(start as u32);
        for (a, &ag) in agg.iter().enumerate() {
            self.aggs.push(ag);
            self.bases.push((self.words.len() - start) as u32);
            let mut m = ag;
            while m != 0 {
                let b = m.trailing_zeros() as usize;
                m &= m - 1;
                self.words.push(words[a * 64 + b]);
            }
        }
        id
    }

    /// Stores the positions `pos` (ascending; repeats allowed).
    fn push_positions(&mut self, pos: &[u32]) -> u32 {
        if pos.is_empty() {
            return EMPTY;
        }
        let id = self.offs.len() as u32;
        let start = self.words.len();
        self.offs.push(start as u32);
        let agg0 = self.aggs.len();
        self.aggs.resize(agg0 + self.nagg, 0);
        self.bases.resize(agg0 + self.nagg, 0);
        let mut last_word = usize::MAX;
        for &p in pos {
            let w = p as usize >> 6;
            if w != last_word {
                last_word = w;
                self.aggs[agg0 + (w >> 6)] |= 1 << (w & 63);
                self.words.push(0);
            }
            if let Some(x) = self.words.last_mut() {
                *x |= 1 << (p & 63);
            }
        }
        let mut rank = 0;
        for a in 0..self.nagg {
            self.bases[agg0 + a] = rank;
            rank += self.aggs[agg0 + a].count_ones();
        }
        id
    }

    #[inline]
    fn agg(&self, id: u32, a: usize) -> u64 {
        self.aggs[id as usize * self.nagg + a]
    }

    #[inline]
    fn word(&self, id: u32, w: usize) -> u64 {
        let i = id as usize * self.nagg + (w >> 6);
        let ag = self.aggs[i];
        let bit = 1u64 << (w & 63);
        if ag & bit == 0 {
            return 0;
        }
        let rank = self.bases[i] + (ag & (bit - 1)).count_ones();
        self.words[self.offs[id as usize] as usize + rank as usize]
    }
}

/// A plain bitmap over rule positions with its aggregate.
#[derive(Debug)]
struct Dense {
    words: Vec<u64>,
    agg: Vec<u64>,
}

impl Dense {
    fn new(nwords: usize, nagg: usize) -> Dense {
        Dense {
            words: vec![0; nwords],
            agg: vec![0; nagg],
        }
    }

    fn set(&mut self, pos: usize) {
        self.words[pos >> 6] |= 1 << (pos & 63);
        self.agg[pos >> 12] |= 1 << ((pos >> 6) & 63);
    }

    fn bytes(&self) -> usize {
        (self.words.capacity() + self.agg.capacity()) * 8
    }
}

/// One range-valued field: elementary intervals (`starts[i]` up to the next
/// start) each with the sparse bitmap of the rules whose ranges cover it,
/// plus the dense bitmap of rules that leave the field open (wildcard).
#[derive(Debug)]
struct IntervalField<K> {
    starts: Vec<K>,
    ids: Vec<u32>,
    wild: Dense,
}

impl<K: Copy + Ord> IntervalField<K> {
    #[inline]
    fn lookup(&self, v: K) -> u32 {
        let i = self.starts.partition_point(|&s| s <= v);
        self.ids[i.saturating_sub(1)]
    }

    fn bytes(&self) -> usize {
        self.starts.capacity() * std::mem::size_of::<K>() + self.ids.capacity() * 4 + self.wild.bytes()
    }
}

/// Builds an interval field from `(lo, hi, position)` ranges (`lo > hi`
/// ranges are skipped) by one sweep over the sorted range ends.
fn sweep(
    ranges: &mut Vec<(u128, u128, u32)>,
    n: usize,
    pool: &mut Pool,
) -> Result<(Vec<u128>, Vec<u32>), BuildError> {
    // (boundary, is_end, position): starts sort before ends at one boundary,
    // so a rule whose ranges touch never flickers.
    let mut events: Vec<(u128, bool, u32)> = Vec::with_capacity(ranges.len() * 2);
    for &(lo, hi, pos) in ranges.iter() {
        if lo > hi {
            continue;
        }
        events.push((lo, false, pos));
        if let Some(end) = hi.checked_add(1) {
            events.push((end, true, pos));
        }
    }
    ranges.clear();
    events.sort_unstable();
    let nwords = pool.nagg * 64;
    let mut count = vec![0u32; n];
    let mut cur = vec![0u64; nwords];
    let mut cur_agg = vec![0u64; pool.nagg];
    let mut starts = vec![0u128];
    let mut ids = vec![EMPTY];
    let mut i = 0;
    while i < events.len() {
        let b = events[i].0;
        let mut changed = false;
        while i < events.len() && events[i].0 == b {
            let (_, end, pos) = events[i];
            let p = pos as usize;
            let w = p >> 6;
            if end {
                count[p] -= 1;
                if count[p] == 0 {
                    cur[w] &= !(1 << (p & 63));
                    if cur[w] == 0 {
                        cur_agg[w >> 6] &= !(1 << (w & 63));
                    }
                    changed = true;
                }
            } else {
                count[p] += 1;
                if count[p] == 1 {
                    cur[w] |= 1 << (p & 63);
                    cur_agg[w >> 6] |= 1 << (w & 63);
                    changed = true;
                }
            }
            i += 1;
        }
        if changed {
            let id = pool.push_dense(&cur, &cur_agg);
            pool.check()?;
            if b == 0 {
                ids[0] = id;
            } else {
                starts.push(b);
                ids.push(id);
            }
        }
    }
    Ok((starts, ids))
}

/// What `classify` keeps of a rule, by position.
#[derive(Debug, Clone, Copy)]
struct Meta {
    index: u32,
    /// The first position of the next section (where a `Pass` continues).
    next_section: u32,
    action: Action,
    log: bool,
    stateless: bool,
}

/// The fast classifier. Build it off the datapath, share it behind an
/// `Arc`; [`Classifier::classify`] allocates nothing.
#[derive(Debug)]
pub struct Classifier {
    nagg: usize,
    nwords: usize,
    meta: Vec<Meta>,
    defaults: Vec<Action>,
    pool: Pool,
    /// `[port * 2 + dir]`: the port's own rules (not `All`) of that direction.
    port_ids: Vec<u32>,
    /// Rules applied to all ports.
    all_ports: Dense,
    src: IntervalField<u128>,
    dst: IntervalField<u128>,
    /// Key `l4_class << 16 | dst_port` (ICMP: `type << 8 | code`).
    l4: IntervalField<u32>,
    /// Row of `dirproto` for each protocol number (0: protocols no rule names).
    proto_row: Vec<u16>,
    nrows: usize,
    /// `[(dir * nrows + row) * nwords + w]`: rules whose direction and
    /// protocol match.
    dirproto: Vec<u64>,
    dirproto_agg: Vec<u64>,
    /// `[a * 8 + m]`: aggregate of the rules whose applied-to (bit 0), source
    /// (bit 1) and destination (bit 2) are specific as `m` says.
    pattern_agg: Vec<u64>,
}

/// A query's resolved fields.
struct Fields {
    port: u32,
    src: u32,
    dst: u32,
    l4: u32,
    row: usize,
}

impl Classifier {
    /// Builds the classifier of `rules`; `defaults[port]` is the port's
    /// default action (ports beyond: Allow). O(R log R + I·(B/64)) for R
    /// rules, I elementary intervals and B rule bits set per interval.
    pub fn build(rules: &[CompiledRule], defaults: &[Action]) -> Result<Classifier, BuildError> {
        let defaults = validate(rules, defaults)?;
        let order = evaluation_order(rules);
        let sorted: Vec<&CompiledRule> = order.iter().map(|&i| &rules[i as usize]).collect();
        let n = sorted.len();
        let nagg = n.div_ceil(64 * 64).max(1);
        let nwords = nagg * 64;
        let mut pool = Pool::new(nagg);

        let mut meta = Vec::with_capacity(n);
        let mut next = n as u32;
        for (pos, r) in sorted.iter().enumerate().rev() {
            if pos + 1 < n && sorted[pos + 1].section != r.section {
                next = pos as u32 + 1;
            }
            meta.push(Meta {
                index: r.index,
                next_section: next,
                action: r.action,
                log: r.log,
                stateless: r.stateless,
            });
        }
        meta.reverse();

        // Applied-to × direction.
        let dirs = [Direction::In, Direction::Out];
        let mut lists: Vec<Vec<u32>> = vec![Vec::new(); MAX_PORTS as usize * 2];
        let mut all_ports = Dense::new(nwords, nagg);
        for (pos, r) in sorted.iter().enumerate() {
            match &r.applied_to {
                AppliedTo::All => all_ports.set(pos),
                AppliedTo::Ports(ps) => {
                    for &p in ps {
                        for (d, &dir) in dirs.iter().enumerate() {
                            if r.direction.matches(dir) {
                                // Ports are validated below MAX_PORTS.
                                if let Some(l) = lists.get_mut(p as usize * 2 + d) {
                                    l.push(pos as u32);
                                }
                            }
                        }
                    }
                }
            }
        }
        let port_ids = lists.iter().map(|l| pool.push_positions(l)).collect();
        drop(lists);
        pool.check()?;

        // Source and destination addresses.
        let mut ranges = Vec::new();
        let mut addr_field = |get: fn(&CompiledRule) -> &[super::rules::IpRange],
                              pool: &mut Pool|
         -> Result<IntervalField<u128>, BuildError> {
            let mut wild = Dense::new(nwords, nagg);
            for (pos, r) in sorted.iter().enumerate() {
                let rs = get(r);
                if rs.is_empty() {
                    wild.set(pos);
                }
                ranges.extend(rs.iter().map(|x| (x.lo, x.hi, pos as u32)));
            }
            let (starts, ids) = sweep(&mut ranges, n, pool)?;
            Ok(IntervalField { starts, ids, wild })
        };
        let src = addr_field(|r| &r.src, &mut pool)?;
        let dst = addr_field(|r| &r.dst, &mut pool)?;

        // Destination port or ICMP type/code, keyed by l4 class.
        let mut wild = Dense::new(nwords, nagg);
        for (pos, r) in sorted.iter().enumerate() {
            let p = pos as u32;
            let icmp = r.icmp_type.is_some() || r.icmp_code.is_some();
            if !r.dst_ports.is_empty() {
                if !icmp {
                    ranges.extend(
                        r.dst_ports
                            .iter()
                            .map(|&(lo, hi)| (u128::from(lo), u128::from(hi), p)),
                    );
                }
                // Ports and ICMP together match nothing: no range at all.
            } else if icmp {
                let key = |t: u8, c: u8| 1 << 16 | u128::from(t) << 8 | u128::from(c);
                match (r.icmp_type, r.icmp_code) {
                    (Some(t), Some(c)) => ranges.push((key(t, c), key(t, c), p)),
                    (Some(t), None) => ranges.push((key(t, 0), key(t, 255), p)),
                    (None, Some(c)) => {
                        ranges.extend((0..=255u8).map(|t| (key(t, c), key(t, c), p)))
                    }
                    (None, None) => {}
                }
            } else {
                wild.set(pos);
            }
        }
        let (starts, ids) = sweep(&mut ranges, n, &mut pool)?;
        let l4 = IntervalField {
            // Keys are below 2 << 16.
            starts: starts.into_iter().map(|s| s as u32).collect(),
            ids,
            wild,
        };

        // Direction × protocol.
        let mut proto_row = vec![0u16; 256];
        let mut nrows = 1;
        for r in &sorted {
            if let Some(p) = r.protocol {
                if proto_row[p as usize] == 0 {
                    proto_row[p as usize] = nrows as u16;
                    nrows += 1;
                }
            }
        }
        let mut dirproto = vec![0u64; 2 * nrows * nwords];
        let mut dirproto_agg = vec![0u64; 2 * nrows * nagg];
        for (pos, r) in sorted.iter().enumerate() {
            for (d, &dir) in dirs.iter().enumerate() {
                if !r.direction.matches(dir) {
                    continue;
                }
                let mut set = |row: usize| {
                    let k = d * nrows + row;
                    dirproto[k * nwords + (pos >> 6)] |= 1 << (pos & 63);
                    dirproto_agg[k * nagg + (pos >> 12)] |= 1 << ((pos >> 6) & 63);
                };
                match r.protocol {
                    Some(p) => set(proto_row[p as usize] as usize),
                    None => (0..nrows).for_each(set),
                }
            }
        }

        // Which of applied-to, source, destination each rule pins down.
        let mut pattern_agg = vec![0u64; nagg * 8];
        for (pos, r) in sorted.iter().enumerate() {
            let m = usize::from(r.applied_to != AppliedTo::All)
                | usize::from(!r.src.is_empty()) << 1
                | usize::from(!r.dst.is_empty()) << 2;
            pattern_agg[(pos >> 12) * 8 + m] |= 1 << ((pos >> 6) & 63);
        }

        let c = Classifier {
            nagg,
            nwords,
            meta,
            defaults,
            pool,
            port_ids,
            all_ports,
            src,
            dst,
            l4,
            proto_row,
            nrows,
            dirproto,
            dirproto_agg,
            pattern_agg,
        };
        if c.memory_bytes() > MAX_BYTES {
            return Err(BuildError::TooLarge { limit: MAX_BYTES });
        }
        Ok(c)
    }

    /// The number of rules.
    pub fn len(&self) -> usize {
        self.meta.len()
    }

    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }

    /// Heap bytes held (from the structure's capacities).
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.meta.capacity() * std::mem::size_of::<Meta>()
            + self.defaults.capacity() * std::mem::size_of::<Action>()
            + self.pool.bytes()
            + self.port_ids.capacity() * 4
            + self.all_ports.bytes()
            + self.src.bytes()
            + self.dst.bytes()
            + self.l4.bytes()
            + self.proto_row.capacity() * 2
            + (self.dirproto.capacity() + self.dirproto_agg.capacity() + self.pattern_agg.capacity()) * 8
    }

    /// The number of elementary intervals of (source, destination, l4).
    pub fn intervals(&self) -> (usize, usize, usize) {
        (self.src.starts.len(), self.dst.starts.len(), self.l4.starts.len())
    }

    /// The number of sparse bitmaps stored.
    pub fn bitmaps(&self) -> usize {
        self.pool.count()
    }

    /// Classifies with the port's default from the table.
    pub fn classify(&self, q: &Query) -> Verdict {
        let d = self
            .defaults
            .get(q.port as usize)
            .copied()
            .unwrap_or(Action::Allow);
        self.classify_with_default(q, d)
    }

    /// Classifies with `default` if no rule decides.
    pub fn classify_with_default(&self, q: &Query, default: Action) -> Verdict {
        let dir = usize::from(q.direction == Direction::Out);
        let f = Fields {
            port: self
                .port_ids
                .get(q.port as usize * 2 + dir)
                .copied()
                .unwrap_or(EMPTY),
            src: self.src.lookup(q.src),
            dst: self.dst.lookup(q.dst),
            l4: self.l4.lookup(l4_class(q) << 16 | u32::from(q.dst_port)),
            row: dir * self.nrows + self.proto_row[q.protocol as usize] as usize,
        };
        let mut from = 0;
        while let Some(pos) = self.first_match(&f, from) {
            let m = self.meta[pos];
            if m.action == Action::Pass {
                // next_section > pos >= from; the max keeps the loop finite
                // whatever first_match returns.
                from = (m.next_section as usize).max(from + 1);
                continue;
            }
            return Verdict {
                action: m.action,
                rule: Some(m.index),
                log: m.log,
                stateless: m.stateless,
            };
        }
        Verdict::default_action(default)
    }

    /// The first position at or after `from` whose rule matches.
    #[inline]
    fn first_match(&self, f: &Fields, from: usize) -> Option<usize> {
        let p = &self.pool;
        let from_word = from >> 6;
        let dp = &self.dirproto[f.row * self.nwords..(f.row + 1) * self.nwords];
        let dpa = &self.dirproto_agg[f.row * self.nagg..(f.row + 1) * self.nagg];
        for a in (from_word >> 6)..self.nagg {
            // Candidate words: for each pattern, the AND of the aggregates
            // of the fields it pins down; then direction × protocol and l4.
            let (sp, ss, sd) = (p.agg(f.port, a), p.agg(f.src, a), p.agg(f.dst, a));
            let pa = &self.pattern_agg[a * 8..a * 8 + 8];
            let mut c = pa[0]
                | (pa[1] & sp)
                | (pa[2] & ss)
                | (pa[3] & sp & ss)
                | (pa[4] & sd)
                | (pa[5] & sp & sd)
                | (pa[6] & ss & sd)
                | (pa[7] & sp & ss & sd);
            c &= dpa[a] & (p.agg(f.l4, a) | self.l4.wild.agg[a]);
            if a == from_word >> 6 {
                c &= !0u64 << (from_word & 63);
            }
            while c != 0 {
                let w = a * 64 + c.trailing_zeros() as usize;
                c &= c - 1;
                let mut x = dp[w];
                if w == from_word {
                    x &= !0u64 << (from & 63);
                }
                if x == 0 {
                    continue;
                }
                x &= p.word(f.src, w) | self.src.wild.words[w];
                if x == 0 {
                    continue;
                }
                x &= p.word(f.dst, w) | self.dst.wild.words[w];
                if x == 0 {
                    continue;
                }
                x &= p.word(f.port, w) | self.all_ports.words[w];
                if x == 0 {
                    continue;
                }
                x &= p.word(f.l4, w) | self.l4.wild.words[w];
                if x != 0 {
                    return Some(w * 64 + x.trailing_zeros() as usize);
                }
            }
        }
        None
    }
}

// Keep the protocol constants used where l4_class is defined in sync.
const _: () = assert!(PROTO_TCP == 6 && PROTO_UDP == 17);
