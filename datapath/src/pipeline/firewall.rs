//! Stage `firewall`: the distributed firewall, stateful, per logical port.
//! A frame is checked out of its source port (`firewall_out`, after the
//! guards) and into its destination port (`firewall_in` after the L2
//! lookup, and per target in `flood` before any copy); across hypervisors,
//! out here and in there. Non-IP frames (ARP, other EtherTypes) and IPv6
//! neighbour and multicast-listener discovery are not the firewall's.
//!
//! One check ([`Pipeline::firewall_check`]) in a zone (the port) and a
//! direction:
//!
//! - a later fragment takes the verdict its first fragment got (none seen:
//!   `fragment_no_first`);
//! - an ICMP error quoting a tracked connection is related to it;
//! - a packet of a tracked connection passes if the rule-set generation
//!   that admitted the connection is the current one; otherwise the
//!   connection (its opening direction) is checked against the current
//!   rules on this packet, and marked refused if they refuse it (every
//!   later packet of it, either way, is dropped until it expires or the
//!   rules change again): a policy change reaches established connections
//!   on their next packet;
//! - a new connection (or an untracked packet) is classified: allowed, it
//!   is tracked (unless the rule is stateless), refused, it is dropped, or
//!   rejected with an answer to its source ([`crate::packet::reject`]).
//!
//! Hits are counted per rule (packets and bytes of the connections it
//! admitted, connections it decided); decisions of logged rules go to the
//! log channel ([`crate::fwlog`]), never blocking.

use conntrack::{
    FragKey, FragVerdict, InsertError, Outcome, PacketFacts, PortDir, Probe, Time, Tuple,
};

use super::{Batch, Pipeline, BATCH};
use crate::{
    counters::DropReason,
    firewall::{
        compile::FirewallTables,
        rules::{Action, Direction, Query, Verdict},
    },
    frames::{chunk_base, chunk_offset, FrameMemory, RX_HEADROOM},
    fwlog::{LogRecord, LogSink},
    ids::{Endpoint, PortId},
    packet::{
        icmp_echo_id, icmp_quote, is_icmp_error, parse, reject::reject_reply, tcp_segment, Dest,
        Fragment, Frame, Headers, PacketCtx, L3,
    },
    tables::L2Dest,
    wire::{IPPROTO_ICMP, IPPROTO_ICMPV6},
};

/// The rule slot a connection admitted by a port's default action records.
pub const DEFAULT_RULE: u32 = u32::MAX;
/// The rule slot of a connection the current rules refused on a re-check:
/// the entry stays (until it expires) so that every later packet of the
/// connection, either way, is dropped too — none can be picked up again
/// as a new connection from the other side.
pub const DENIED_RULE: u32 = u32::MAX - 1;

/// Expiry work per burst: at most this many entries are reclaimed at a
/// time, so no expiry step stalls a worker.
pub const EXPIRE_BUDGET: usize = 64;

/// A worker's firewall state: its connection table, its clock and its log.
pub struct FirewallState {
    pub ct: conntrack::Table,
    /// The time of the current burst (milliseconds, monotonic).
    pub now: Time,
    pub log: Option<LogSink>,
    /// The table settings last applied ([`FirewallState::configure`]).
    applied: conntrack::Config,
    /// What the first pass over a batch learnt of each frame (see
    /// [`Pipeline::probe_batch`]), by position in the batch, [`BATCH`]
    /// slots, allocated once: its table probe (`None`: not probed).
    probes: Box<[Option<Probe>]>,
}

impl FirewallState {
    /// A state whose table follows `tables`' settings.
    pub fn new(tables: &FirewallTables, log: Option<LogSink>) -> FirewallState {
        let cfg = conntrack::Config {
            hash_seed: seed(),
            ..tables.conntrack
        };
        let ct = conntrack::Table::new(cfg).unwrap_or_else(|_| {
            conntrack::Table::new(conntrack::Config {
                hash_seed: cfg.hash_seed,
                ..conntrack::Config::default()
            })
            .expect("the default connection-table config is valid")
        });
        FirewallState {
            applied: *ct.config(),
            ct,
            now: Time(0),
            log,
            probes: vec![None; BATCH].into_boxed_slice(),
        }
    }

    /// Applies the settings of a new snapshot (if they changed).
    pub fn configure(&mut self, tables: &FirewallTables) {
        let want = conntrack::Config {
            hash_seed: self.applied.hash_seed,
            ..tables.conntrack
        };
        if want != self.applied && self.ct.reconfigure(&want).is_ok() {
            self.applied = want;
        }
        if let Some(log) = &mut self.log {
            log.set_rate(tables.log_rate);
        }
    }
}

/// A hash seed that differs between runs (time and address entropy).
fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let stack = &t as *const u64 as u64;
    t ^ stack.rotate_left(32) ^ 0x9e37_79b9_7f4a_7c15
}

fn port_dir(d: Direction) -> PortDir {
    match d {
        Direction::Out => PortDir::Out,
        Direction::In => PortDir::In,
    }
}

#[inline]
fn addr(ip: &[u8; 16]) -> u128 {
    u128::from_be_bytes(*ip)
}

/// The connection-table probe of a frame checked on `port`: from its
/// tuple (the parsed headers alone) for every protocol but ICMP, whose
/// key is the echo identifier in the frame (from its facts).
#[inline(always)]
fn probe_of(
    ct: &conntrack::Table,
    frame: impl FnOnce() -> PacketFacts,
    h: &Headers,
    port: PortId,
) -> Option<Probe> {
    if matches!(h.proto, IPPROTO_ICMP | IPPROTO_ICMPV6) {
        return ct.probe(&frame());
    }
    ct.probe_tuple(&Tuple {
        zone: port.0,
        src: addr(&h.src_ip),
        dst: addr(&h.dst_ip),
        proto: h.proto,
        sport: h.sport,
        dport: h.dport,
    })
}

/// What connection tracking reads of a packet checked on `port`.
fn facts(frame: &[u8], h: &Headers, port: PortId, dir: Direction, liberal: bool) -> PacketFacts {
    let mut f = PacketFacts::default();
    facts_into(&mut f, frame, h, port, dir, liberal);
    f
}

/// [`facts`] written into `f` in place, every field (the destructuring
/// names them all, so a new one cannot be forgotten).
#[inline]
fn facts_into(
    f: &mut PacketFacts,
    frame: &[u8],
    h: &Headers,
    port: PortId,
    dir: Direction,
    liberal: bool,
) {
    let PacketFacts {
        zone,
        src,
        dst,
        proto,
        sport,
        dport,
        tcp_flags,
        tcp_seq,
        tcp_ack,
        tcp_window,
        tcp_wscale,
        payload_len,
        icmp_type,
        icmp_code,
        icmp_id,
        dir: f_dir,
        liberal: f_liberal,
    } = f;
    *zone = port.0;
    *src = addr(&h.src_ip);
    *dst = addr(&h.dst_ip);
    *proto = h.proto;
    *sport = h.sport;
    *dport = h.dport;
    *tcp_flags = h.tcp_flags;
    *icmp_type = h.icmp_type;
    *icmp_code = h.icmp_code;
    *icmp_id = icmp_echo_id(frame, h);
    *f_dir = port_dir(dir);
    *f_liberal = liberal.then_some(true);
    match tcp_segment(frame, h) {
        Some(seg) => {
            *tcp_seq = seg.seq;
            *tcp_ack = seg.ack;
            *tcp_window = seg.window;
            *tcp_wscale = seg.wscale;
            *payload_len = seg.payload_len;
        }
        None => {
            *tcp_seq = 0;
            *tcp_ack = 0;
            *tcp_window = 0;
            *tcp_wscale = None;
            *payload_len = 0;
        }
    }
}

/// The classifier's question for a flow seen going `dir` on `port`.
fn query(port: PortId, dir: Direction, f: &PacketFacts) -> Query {
    let is_icmp = matches!(f.proto, IPPROTO_ICMP | IPPROTO_ICMPV6);
    Query {
        port: port.0,
        direction: dir,
        src: f.src,
        dst: f.dst,
        protocol: f.proto,
        dst_port: if is_icmp {
            (u16::from(f.icmp_type) << 8) | u16::from(f.icmp_code)
        } else {
            f.dport
        },
        is_icmp,
    }
}

/// The opening packet of the connection a reply belongs to: addresses and
/// ports swapped, the other direction.
fn reversed(f: &PacketFacts, dir: Direction) -> (PacketFacts, Direction) {
    let mut o = *f;
    std::mem::swap(&mut o.src, &mut o.dst);
    std::mem::swap(&mut o.sport, &mut o.dport);
    if matches!(f.proto, IPPROTO_ICMP | IPPROTO_ICMPV6) {
        // An echo reply's request: type 0 → 8, 129 → 128.
        o.icmp_type = match f.icmp_type {
            0 => 8,
            129 => 128,
            t => t,
        };
    }
    let back = match dir {
        Direction::Out => Direction::In,
        Direction::In => Direction::Out,
    };
    (o, back)
}

impl<M: FrameMemory> Pipeline<'_, M> {
    /// `firewall_out`: every frame from a port, out of that port.
    pub(super) fn firewall_out(&mut self, batch: &mut Batch) {
        let zone = |ctx: &PacketCtx| match ctx.ingress {
            Endpoint::Port(port) => Some(port),
            _ => None,
        };
        self.firewall_stage(batch, Direction::Out, zone);
    }

    /// `firewall_in`: every frame for a local port, into that port.
    /// Flooded frames are checked per target in `flood`.
    pub(super) fn firewall_in(&mut self, batch: &mut Batch) {
        let zone = |ctx: &PacketCtx| match ctx.dest {
            Dest::Port(port) => Some(port),
            _ => None,
        };
        self.firewall_stage(batch, Direction::In, zone);
    }

    /// Checks every frame of `batch` that `zone` names a port for, on that
    /// port in direction `dir`, in two passes (as VPP does its lookups):
    /// the first ([`Pipeline::probe_batch`]) hashes each frame's connection
    /// key and prefetches its entry, the second checks the frames in order
    /// and finds their entries in cache, so the batch's cache misses
    /// overlap instead of coming one after another.
    #[inline]
    fn firewall_stage(
        &mut self,
        batch: &mut Batch,
        dir: Direction,
        zone: impl Fn(&PacketCtx) -> Option<PortId>,
    ) {
        if !self.probe_batch(batch, dir, &zone) {
            return;
        }
        let mut at = 0;
        self.retain(batch, |p, ctx| {
            let i = at;
            at += 1;
            let Some(port) = zone(ctx) else {
                return Ok(());
            };
            p.check(ctx, port, dir, i)
                .map_err(|r| (Endpoint::Port(port), r))
        });
    }

    /// The first pass over a batch: for each frame that `zone` says is
    /// checked on a port and that the connection table looks up (IP,
    /// neither a later fragment, nor an ICMP error, nor link control), its
    /// table probe, which prefetches its entry; `None` for the others.
    /// Returns whether any frame is to be checked at all.
    fn probe_batch(
        &mut self,
        batch: &Batch,
        dir: Direction,
        zone: &impl Fn(&PacketCtx) -> Option<PortId>,
    ) -> bool {
        let mut any = false;
        let slots = batch.as_slice();
        let probes = &mut self.fw.probes[..slots.len()];
        for (ctx, probe) in slots.iter().zip(probes) {
            let h = &ctx.hdr;
            let Some(port) = zone(ctx) else {
                *probe = None;
                continue;
            };
            any = true;
            *probe = if matches!(h.l3, L3::Ipv4 | L3::Ipv6)
                && h.frag != Fragment::Later
                && !is_link_control(h)
                && !is_icmp_error(h)
            {
                let (mem, tables) = (&mut *self.mem, self.tables);
                let frame_facts = || {
                    let liberal = tables.firewall.port(port).liberal;
                    facts(frame_of(mem, ctx.frame), h, port, dir, liberal)
                };
                probe_of(&self.fw.ct, frame_facts, h, port)
            } else {
                None
            };
        }
        any
    }

    /// The firewall's check of `ctx` on `port` in direction `dir`; the
    /// error is the drop reason (counted on `port` by the caller).
    pub(super) fn firewall_check(
        &mut self,
        ctx: &PacketCtx,
        port: PortId,
        dir: Direction,
    ) -> Result<(), DropReason> {
        self.trace_check_start(port, dir);
        let result = self.firewall_decide(ctx, port, dir);
        self.trace_check_end(result);
        result
    }

    /// [`Pipeline::firewall_check`]'s decision. While tracing
    /// ([`Pipeline::read_only`]) it changes no state: connection tracking
    /// is only looked up, nothing is inserted, no fragment verdict is
    /// kept, no reject is sent and no log line written.
    fn firewall_decide(
        &mut self,
        ctx: &PacketCtx,
        port: PortId,
        dir: Direction,
    ) -> Result<(), DropReason> {
        match self.look_up(ctx, port, dir) {
            Looked::Done(r) => r,
            Looked::Tracked(f, outcome) => {
                self.decide(ctx, port, dir, u64::from(ctx.frame.len), &f, outcome)
            }
        }
    }

    /// [`Pipeline::firewall_check`] of the frame at position `i` of the
    /// batch [`Pipeline::probe_batch`] went over.
    #[inline(always)]
    fn check(
        &mut self,
        ctx: &PacketCtx,
        port: PortId,
        dir: Direction,
        i: usize,
    ) -> Result<(), DropReason> {
        // A traced frame takes the one-at-a-time path, which records each
        // decision and, while tracing, changes nothing.
        if self.trace.is_some() {
            return self.firewall_check(ctx, port, dir);
        }
        let now = self.fw.now;
        let bytes = u64::from(ctx.frame.len);
        let st = &mut *self.fw;
        let Some(Some(probe)) = st.probes.get(i) else {
            return self.firewall_check(ctx, port, dir);
        };
        // The established fast path, as `decide` has it: a connection
        // other than TCP needs no facts to be tracked.
        let fast = st.ct.track_probed_fast(now, probe);
        if let Some(Outcome::Established {
            generation, rule, ..
        }) = fast
        {
            if generation == self.tables.firewall.generation && rule != DENIED_RULE {
                self.hit(rule, bytes, false);
                return Ok(());
            }
        }
        let probe = *probe;
        self.check_probed(ctx, port, dir, probe, fast)
    }

    /// The rest of [`Pipeline::check`] when the fast path did not decide:
    /// the packet's facts, its outcome (the fast path's, or
    /// `track_probed`'s) and the decision. Out of line, so that the
    /// batch's loop keeps only the fast path.
    #[inline(never)]
    fn check_probed(
        &mut self,
        ctx: &PacketCtx,
        port: PortId,
        dir: Direction,
        probe: Probe,
        fast: Option<Outcome>,
    ) -> Result<(), DropReason> {
        let now = self.fw.now;
        let bytes = u64::from(ctx.frame.len);
        let liberal = self.tables.firewall.port(port).liberal;
        let f = facts(
            frame_of(&mut *self.mem, ctx.frame),
            &ctx.hdr,
            port,
            dir,
            liberal,
        );
        let outcome = match fast {
            Some(outcome) => outcome,
            None => self.fw.ct.track_probed(now, &f, &probe),
        };
        self.decide(ctx, port, dir, bytes, &f, outcome)
    }

    /// The lookup of a frame `probe_batch` did not probe: not the
    /// firewall's, a later fragment, an ICMP error, or one checked alone
    /// (`flood`).
    fn look_up(&mut self, ctx: &PacketCtx, port: PortId, dir: Direction) -> Looked {
        let h = &ctx.hdr;
        if !matches!(h.l3, L3::Ipv4 | L3::Ipv6) || is_link_control(h) {
            return Looked::Done(Ok(()));
        }
        self.note_inspected();
        let read_only = self.read_only();
        let fw = &self.tables.firewall;
        let now = self.fw.now;
        let frame = self.bytes(ctx.frame);
        let f = facts(frame, h, port, dir, fw.port(port).liberal);
        if h.frag == Fragment::Later {
            let key = frag_key(&f, h);
            let verdict = if read_only {
                self.fw.ct.peek_frag(now, &key)
            } else {
                self.fw.ct.frag_lookup(now, &key)
            };
            self.note_fragment(verdict);
            return Looked::Done(match verdict {
                Some(FragVerdict::Allow) => Ok(()),
                Some(FragVerdict::Deny) => Err(DropReason::FirewallDrop),
                None => Err(DropReason::FragmentNoFirst),
            });
        }
        let outcome = if is_icmp_error(h) {
            match icmp_quote(frame, h) {
                Some(q) => {
                    // The quoted packet went the other way: the connection
                    // it belongs to is seen reversed from this error.
                    let inner = PacketFacts {
                        zone: port.0,
                        src: addr(&q.src),
                        dst: addr(&q.dst),
                        proto: q.proto,
                        sport: q.sport,
                        dport: q.dport,
                        icmp_type: q.icmp_type,
                        icmp_code: q.icmp_code,
                        icmp_id: q.icmp_id,
                        dir: f.dir,
                        ..PacketFacts::default()
                    };
                    if read_only {
                        self.fw.ct.peek_related(now, &f, &inner)
                    } else {
                        self.fw.ct.related(now, &f, &inner)
                    }
                }
                None => Outcome::Untracked,
            }
        } else if read_only {
            self.fw.ct.peek(now, &f)
        } else {
            self.fw.ct.track(now, &f)
        };
        self.note_outcome(&outcome);
        Looked::Tracked(f, outcome)
    }

    /// The verdict on a frame whose connection-tracking outcome is known.
    #[inline]
    fn decide(
        &mut self,
        ctx: &PacketCtx,
        port: PortId,
        dir: Direction,
        bytes: u64,
        f: &PacketFacts,
        outcome: Outcome,
    ) -> Result<(), DropReason> {
        let h = &ctx.hdr;
        let now = self.fw.now;
        let fw = &self.tables.firewall;
        let read_only = self.read_only();
        match outcome {
            Outcome::Established {
                handle,
                reply,
                generation,
                rule,
                ..
            } => {
                if generation == fw.generation {
                    if rule == DENIED_RULE {
                        return Err(DropReason::FirewallDrop);
                    }
                    self.hit(rule, bytes, false);
                    return Ok(());
                }
                // The rules changed since this connection was admitted:
                // check its opening direction again, now.
                self.counters.firewall.rechecked.add(1);
                let (open, open_dir) = if reply { reversed(f, dir) } else { (*f, dir) };
                let v = fw.classifier.classify(&query(port, open_dir, &open));
                self.note_verdict(&v);
                if v.action == Action::Allow {
                    let slot = v.rule.unwrap_or(DEFAULT_RULE);
                    if !read_only {
                        self.fw.ct.set_generation(handle, fw.generation, slot);
                    }
                    self.hit(slot, bytes, false);
                    return Ok(());
                }
                if !read_only {
                    self.fw
                        .ct
                        .set_generation(handle, fw.generation, DENIED_RULE);
                    self.decided(ctx, port, dir, &v, bytes);
                }
                self.counters.firewall.recheck_denied.add(1);
                self.refuse(ctx, port, &v)
            }
            Outcome::Related { generation, .. } if generation == fw.generation => Ok(()),
            Outcome::New | Outcome::Related { .. } | Outcome::Untracked => {
                let v = fw.classifier.classify(&query(port, dir, f));
                self.note_verdict(&v);
                if read_only {
                    if v.action != Action::Allow {
                        return self.refuse(ctx, port, &v);
                    }
                    if !v.stateless && outcome == Outcome::New {
                        // As the insert below would decide it.
                        match self.fw.ct.check_insert(now, f) {
                            Ok(()) => self.note_would_track(),
                            Err(e) => return refused_insert(e),
                        }
                    }
                    return Ok(());
                }
                self.decided(ctx, port, dir, &v, bytes);
                if h.frag == Fragment::First {
                    let verdict = if v.action == Action::Allow {
                        FragVerdict::Allow
                    } else {
                        FragVerdict::Deny
                    };
                    // A full fragment table only costs the later fragments.
                    let _ = self.fw.ct.frag_first(now, frag_key(f, h), verdict);
                }
                if v.action != Action::Allow {
                    return self.refuse(ctx, port, &v);
                }
                if v.stateless || outcome != Outcome::New {
                    return Ok(());
                }
                let slot = v.rule.unwrap_or(DEFAULT_RULE);
                match self.fw.ct.insert(now, f, fw.generation, slot) {
                    Ok(_) => {
                        self.note_would_track();
                        Ok(())
                    }
                    Err(e) => refused_insert(e),
                }
            }
            Outcome::Invalid(_) => Err(DropReason::ConntrackInvalid),
            Outcome::StrictRefused => Err(DropReason::ConntrackStrict),
        }
    }

    /// Counts a packet of `bytes` on rule `slot` (a new connection too, if
    /// `new`).
    #[inline]
    fn hit(&self, slot: u32, bytes: u64, new: bool) {
        if let Some(c) = self.counters.rules.get(slot as usize) {
            c.packets.add(1);
            c.bytes.add(bytes);
            if new {
                c.connections.add(1);
            }
        }
    }

    /// A classification's hit counters and, for a logged rule, its log line.
    fn decided(&mut self, ctx: &PacketCtx, port: PortId, dir: Direction, v: &Verdict, bytes: u64) {
        let Some(slot) = v.rule else { return };
        self.hit(slot, bytes, true);
        if !v.log {
            return;
        }
        let Some(log) = &mut self.fw.log else { return };
        let tables = self.tables;
        let (Some(rule), Some(entry)) = (tables.firewall.rule(slot), tables.port(port)) else {
            return;
        };
        let h = &ctx.hdr;
        let record = LogRecord {
            rule: rule.id.clone(),
            section: rule.section.clone(),
            action: v.action,
            port: entry.name.clone(),
            direction: dir,
            proto: h.proto,
            src: conntrack::ip(addr(&h.src_ip)),
            dst: conntrack::ip(addr(&h.dst_ip)),
            sport: h.sport,
            dport: h.dport,
        };
        if log.send(self.fw.now, record) {
            self.counters.firewall.log_lines.add(1);
        } else {
            self.counters.firewall.log_dropped.add(1);
        }
    }

    /// The drop reason of a refusing verdict, answering the source first
    /// for a reject.
    fn refuse(&mut self, ctx: &PacketCtx, port: PortId, v: &Verdict) -> Result<(), DropReason> {
        match v.action {
            Action::Reject if self.read_only() => Err(DropReason::FirewallReject),
            Action::Reject => {
                if self.send_reject(ctx, port) {
                    self.counters.firewall.rejects_sent.add(1);
                } else {
                    self.counters.firewall.rejects_unsent.add(1);
                }
                Err(DropReason::FirewallReject)
            }
            _ => Err(DropReason::FirewallDrop),
        }
    }

    /// Builds the answer to a rejected frame in a free chunk and sends it
    /// back where the frame came from: out of its source port, or through
    /// the TEP its source MAC lives behind. Returns whether it was staged.
    fn send_reject(&mut self, ctx: &PacketCtx, port: PortId) -> bool {
        let Some(chunk) = self.pool.pop() else {
            return false;
        };
        let start = chunk + RX_HEADROOM as u64;
        let frame = self.bytes(ctx.frame).to_vec();
        let out = self.bytes(Frame {
            addr: start,
            len: (crate::frames::FRAME_SIZE - RX_HEADROOM) as u32,
        });
        let Some(len) = reject_reply(&frame, &ctx.hdr, out) else {
            self.pool.push(chunk);
            return false;
        };
        let reply = Frame {
            addr: start,
            len: len as u32,
        };
        let Ok(hdr) = parse(self.bytes(reply)) else {
            self.pool.push(chunk);
            return false;
        };
        let answer = PacketCtx {
            frame: reply,
            ingress: Endpoint::Port(port),
            switch: ctx.switch,
            vlan: 0,
            hdr,
            dest: Dest::Unknown,
        };
        match ctx.ingress {
            Endpoint::Port(src) => self.output_port(&answer, reply, src),
            Endpoint::Uplink => {
                let tables = self.tables;
                match tables.switch(ctx.switch).macs.get(&ctx.hdr.src_mac) {
                    Some(L2Dest::Remote(tep)) => self.output_tep(&answer, reply, *tep),
                    _ => {
                        self.pool.push(chunk_base(reply.addr));
                        return false;
                    }
                }
            }
            Endpoint::Vif(_) => {
                self.pool.push(chunk_base(reply.addr));
                return false;
            }
        }
        true
    }
}

/// The bytes of `frame`, which the pipeline holds.
#[inline(always)]
fn frame_of<M: FrameMemory>(mem: &mut M, frame: Frame) -> &[u8] {
    let off = chunk_offset(frame.addr);
    // SAFETY: as in `Pipeline::bytes`: the pipeline owns the chunk of
    // every frame it holds, which lies inside it.
    let chunk = unsafe { mem.chunk_mut(frame.addr) };
    &chunk[off..off + frame.len as usize]
}

/// What [`Pipeline::look_up`] found: the check's result already, or the
/// facts and the table's outcome.
enum Looked {
    Done(Result<(), DropReason>),
    Tracked(PacketFacts, Outcome),
}

/// IPv6's link-layer plumbing, which the firewall leaves alone as it does
/// ARP: neighbour discovery (router and neighbour solicitations and
/// advertisements, redirects: ICMPv6 133-137) and multicast listener
/// discovery (130-132, 143). Spoofguard and the RA guard still apply; a
/// port with a default deny keeps its IPv6 neighbours.
fn is_link_control(h: &Headers) -> bool {
    h.l3 == L3::Ipv6
        && h.proto == IPPROTO_ICMPV6
        && h.frag == Fragment::Whole
        && matches!(h.icmp_type, 130..=137 | 143)
}

fn frag_key(f: &PacketFacts, h: &Headers) -> FragKey {
    FragKey {
        zone: f.zone,
        src: f.src,
        dst: f.dst,
        proto: f.proto,
        id: h.frag_id,
    }
}

/// What becomes of a new connection the table does not take: one that
/// exists already passes; a full table or zone, or a packet that may not
/// open a connection, drops.
fn refused_insert(e: InsertError) -> Result<(), DropReason> {
    match e {
        InsertError::Exists(_) => Ok(()),
        InsertError::TableFull | InsertError::ZoneFull(_) => Err(DropReason::ConntrackFull),
        InsertError::NotNew(_) => Err(DropReason::ConntrackInvalid),
    }
}
