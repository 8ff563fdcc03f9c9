//! The fast classifier: Lakshman–Stiliadis bit vectors with aggregation
//! (see the module docs of [`crate::firewall`]).

use super::rules::{
    default_of, evaluation_order, l4_class, validate, Action, AppliedTo, BuildError, CompiledRule,
    Direction, IpRange, Query, Verdict, MAX_PORTS,
};

/// [`Classifier::build`] refuses to grow beyond this many bytes (see
/// [`Classifier::build_with_limit`]).
pub const MAX_BYTES: usize = 1 << 30;

/// Sparse bitmaps over rule positions, one after the other in one vector,
/// named by their offset. A bitmap is `nagg` aggregate words (bit `w` set iff
/// word `w` is non-zero), `nagg` ranks (of the first stored word of each
/// aggregate word), then its non-zero words: one or two cache lines for a
/// bitmap of a few rules. Offset 0 is the empty bitmap.
#[derive(Debug)]
struct Pool {
    nagg: usize,
    data: Vec<u64>,
    count: usize,
    /// Byte limit of the whole classifier (at most MAX_BYTES: offsets are u32).
    limit: usize,
}

/// The empty bitmap's offset.
const EMPTY: u32 = 0;

impl Pool {
    fn new(nagg: usize, limit: usize) -> Pool {
        Pool {
            nagg,
            data: vec![0; 2 * nagg],
            count: 1,
            limit: limit.min(MAX_BYTES),
        }
    }

    fn bytes(&self) -> usize {
        self.data.capacity() * 8
    }

    /// Stops the build early (the whole is checked at the end).
    fn check(&self) -> Result<(), BuildError> {
        if self.data.len() * 8 > self.limit {
            Err(BuildError::TooLarge { limit: self.limit })
        } else {
            Ok(())
        }
    }

    /// Stores the set bits of `words` (with `agg` its aggregate).
    fn push_dense(&mut self, words: &[u64], agg: &[u64]) -> u32 {
        if agg.iter().all(|&a| a == 0) {
            return EMPTY;
        }
        let off = self.data.len();
        self.count += 1;
        self.data.extend_from_slice(agg);
        let mut rank = 0;
        for &ag in agg {
            self.data.push(rank);
            rank += u64::from(ag.count_ones());
        }
        for (a, &ag) in agg.iter().enumerate() {
            let mut m = ag;
            while m != 0 {
                let b = m.trailing_zeros() as usize;
                m &= m - 1;
                self.data.push(words[a * 64 + b]);
            }
        }
        off as u32
    }

    /// Stores the positions `pos` (ascending; repeats allowed).
    fn push_positions(&mut self, pos: &[u32]) -> u32 {
        if pos.is_empty() {
            return EMPTY;
        }
        let off = self.data.len();
        self.count += 1;
        let words0 = off + 2 * self.nagg;
        self.data.resize(words0, 0);
        let mut last_word = usize::MAX;
        for &p in pos {
            let w = p as usize >> 6;
            if w != last_word {
                last_word = w;
                self.data[off + (w >> 6)] |= 1 << (w & 63);
                self.data.push(0);
            }
            if let Some(x) = self.data.last_mut() {
                *x |= 1 << (p & 63);
            }
        }
        let mut rank = 0;
        for a in 0..self.nagg {
            self.data[off + self.nagg + a] = rank;
            rank += u64::from(self.data[off + a].count_ones());
        }
        off as u32
    }

    #[inline]
    fn agg(&self, off: u32, a: usize) -> u64 {
        self.data[off as usize + a]
    }

    #[inline]
    fn word(&self, off: u32, w: usize) -> u64 {
        let i = off as usize + (w >> 6);
        let ag = self.data[i];
        let bit = 1u64 << (w & 63);
        if ag & bit == 0 {
            return 0;
        }
        let rank = self.data[i + self.nagg] as usize + (ag & (bit - 1)).count_ones() as usize;
        self.data[off as usize + 2 * self.nagg + rank]
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
}

/// Elementary intervals: `starts[i]` up to the next start, each with the
/// sparse bitmap (pool offset) of the rules whose ranges cover it.
#[derive(Debug)]
struct Intervals<K> {
    starts: Vec<K>,
    ids: Vec<u32>,
}

impl<K: Copy + Ord> Intervals<K> {
    #[inline]
    fn lookup(&self, v: K) -> u32 {
        let i = self.starts.partition_point(|&s| s <= v);
        self.ids[i.saturating_sub(1)]
    }

    fn bytes(&self) -> usize {
        self.starts.capacity() * std::mem::size_of::<K>() + self.ids.capacity() * 4
    }
}

/// The v4-mapped block `::ffff:0.0.0.0/96`.
const V4_LO: u128 = 0xffff_0000_0000;

/// An address field: all intervals, and those inside the v4-mapped block
/// again with 32-bit keys (a quarter of the bytes to search for IPv4).
#[derive(Debug)]
struct AddrIntervals {
    all: Intervals<u128>,
    v4: Intervals<u32>,
}

impl AddrIntervals {
    fn new(all: Intervals<u128>) -> AddrIntervals {
        // The first v4 interval is the one in effect at V4_LO.
        let mut v4 = Intervals {
            starts: vec![0],
            ids: vec![all.lookup(V4_LO)],
        };
        for (&s, &id) in all.starts.iter().zip(&all.ids) {
            if s > V4_LO && s >> 32 == 0xffff {
                v4.starts.push(s as u32);
                v4.ids.push(id);
            }
        }
        AddrIntervals { all, v4 }
    }

    #[inline]
    fn lookup(&self, v: u128) -> u32 {
        if v >> 32 == 0xffff {
            self.v4.lookup(v as u32)
        } else {
            self.all.lookup(v)
        }
    }

    fn bytes(&self) -> usize {
        self.all.bytes() + self.v4.bytes()
    }
}

/// Builds elementary intervals from `(lo, hi, position)` ranges (`lo > hi`
/// ranges are skipped) by one sweep over the sorted range ends.
fn sweep(
    ranges: &mut Vec<(u128, u128, u32)>,
    n: usize,
    pool: &mut Pool,
) -> Result<Intervals<u128>, BuildError> {
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
    let mut iv = Intervals {
        starts: vec![0u128],
        ids: vec![EMPTY],
    };
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
                iv.ids[0] = id;
            } else {
                iv.starts.push(b);
                iv.ids.push(id);
            }
        }
    }
    Ok(iv)
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

/// Wildcard bitmaps, interleaved by word: `[w * 4 + k]`.
const W_SRC: usize = 0;
const W_DST: usize = 1;
const W_PORT: usize = 2;
const W_L4: usize = 3;

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
    src: AddrIntervals,
    dst: AddrIntervals,
    /// Key `l4_class << 16 | dst_port` (ICMP: `type << 8 | code`).
    l4: Intervals<u32>,
    /// `[w * 4 + k]`: rules that leave source, destination open, are applied
    /// to all ports, leave the l4 key open (`W_*`).
    wild: Vec<u64>,
    /// `[a * 4 + k]`: their aggregates.
    wild_agg: Vec<u64>,
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
        Self::build_with_limit(rules, defaults, MAX_BYTES)
    }

    /// [`Classifier::build`], refusing with [`BuildError::TooLarge`] once the
    /// structure would exceed `limit` bytes (at most [`MAX_BYTES`]).
    pub fn build_with_limit(
        rules: &[CompiledRule],
        defaults: &[Action],
        limit: usize,
    ) -> Result<Classifier, BuildError> {
        let limit = limit.min(MAX_BYTES);
        let defaults = validate(rules, defaults)?;
        let order = evaluation_order(rules);
        let sorted: Vec<&CompiledRule> = order.iter().map(|&i| &rules[i as usize]).collect();
        let n = sorted.len();
        let nagg = n.div_ceil(64 * 64).max(1);
        let nwords = nagg * 64;
        let mut pool = Pool::new(nagg, limit);

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
        let mut addr_field = |get: fn(&CompiledRule) -> &[IpRange],
                              pool: &mut Pool|
         -> Result<(AddrIntervals, Dense), BuildError> {
            let mut wild = Dense::new(nwords, nagg);
            for (pos, r) in sorted.iter().enumerate() {
                let rs = get(r);
                if rs.is_empty() {
                    wild.set(pos);
                }
                ranges.extend(rs.iter().map(|x| (x.lo, x.hi, pos as u32)));
            }
            Ok((AddrIntervals::new(sweep(&mut ranges, n, pool)?), wild))
        };
        let (src, src_wild) = addr_field(|r| &r.src, &mut pool)?;
        let (dst, dst_wild) = addr_field(|r| &r.dst, &mut pool)?;

        // Destination port or ICMP type/code, keyed by l4 class.
        let mut l4_wild = Dense::new(nwords, nagg);
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
                l4_wild.set(pos);
            }
        }
        let iv = sweep(&mut ranges, n, &mut pool)?;
        let l4 = Intervals {
            // Keys are below 2 << 16.
            starts: iv.starts.into_iter().map(|s| s as u32).collect(),
            ids: iv.ids,
        };

        let mut wild = vec![0u64; nwords * 4];
        let mut wild_agg = vec![0u64; nagg * 4];
        for (k, d) in [
            (W_SRC, &src_wild),
            (W_DST, &dst_wild),
            (W_PORT, &all_ports),
            (W_L4, &l4_wild),
        ] {
            for (w, &x) in d.words.iter().enumerate() {
                wild[w * 4 + k] = x;
            }
            for (a, &x) in d.agg.iter().enumerate() {
                wild_agg[a * 4 + k] = x;
            }
        }

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

        pool.data.shrink_to_fit();
        let c = Classifier {
            nagg,
            nwords,
            meta,
            defaults,
            pool,
            port_ids,
            src,
            dst,
            l4,
            wild,
            wild_agg,
            proto_row,
            nrows,
            dirproto,
            dirproto_agg,
            pattern_agg,
        };
        if c.memory_bytes() > limit {
            return Err(BuildError::TooLarge { limit });
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
            + self.src.bytes()
            + self.dst.bytes()
            + self.l4.bytes()
            + self.proto_row.capacity() * 2
            + (self.wild.capacity()
                + self.wild_agg.capacity()
                + self.dirproto.capacity()
                + self.dirproto_agg.capacity()
                + self.pattern_agg.capacity())
                * 8
    }

    /// The number of elementary intervals of (source, destination, l4).
    pub fn intervals(&self) -> (usize, usize, usize) {
        (
            self.src.all.starts.len(),
            self.dst.all.starts.len(),
            self.l4.starts.len(),
        )
    }

    /// The number of sparse bitmaps stored.
    pub fn bitmaps(&self) -> usize {
        self.pool.count
    }

    /// Classifies with the port's default from the table.
    pub fn classify(&self, q: &Query) -> Verdict {
        self.classify_with_default(q, default_of(&self.defaults, q.port))
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
        for (a, &dpa_a) in dpa.iter().enumerate().skip(from_word >> 6) {
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
            c &= dpa_a & (p.agg(f.l4, a) | self.wild_agg[a * 4 + W_L4]);
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
                let wild = &self.wild[w * 4..w * 4 + 4];
                x &= p.word(f.src, w) | wild[W_SRC];
                if x == 0 {
                    continue;
                }
                x &= p.word(f.dst, w) | wild[W_DST];
                if x == 0 {
                    continue;
                }
                x &= p.word(f.port, w) | wild[W_PORT];
                if x == 0 {
                    continue;
                }
                x &= p.word(f.l4, w) | wild[W_L4];
                if x != 0 {
                    return Some(w * 64 + x.trailing_zeros() as usize);
                }
            }
        }
        None
    }
}
