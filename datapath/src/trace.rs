//! `xvsctl trace`: a packet run through the pipeline the workers run, on
//! the current snapshot and connection table, without sending it or
//! changing any state; the answer is every stage's decision, in order.
//!
//! - [`build`] makes the frame from the op's args and the configuration
//!   (defaults from the bindings of the ports involved), or takes the
//!   bytes given, and says where it enters.
//! - [`run`] (in the worker that owns the connection table) passes it
//!   through [`Pipeline::vif_input`] or [`Pipeline::uplink_input`] with a
//!   read-only [`Recorder`]: frames in a heap arena, throwaway counters, an
//!   egress that is read back, never transmitted; the firewall only looks.
//! - [`report`] turns the recorded decisions and what was staged into the
//!   protocol's [`TraceReport`], names resolved from the snapshot.

use std::net::{IpAddr, Ipv4Addr};

use control::trace::{
    hex_bytes, tcp_flag_bits, TraceArgs, TraceOuter, TraceProtocol, TraceReport, TraceRule,
    TraceStep,
};
use control::{service::CommitError, Config, LogicalPort};
use libxdp_sys::xdp_desc;

use crate::{
    counters::{DropReason, WorkerCounters},
    firewall::rules::{Action, Direction},
    frames::{chunk_base, HeapFrames, FRAME_SIZE},
    ids::{Endpoint, Mac, PortId, VifId},
    packet::{self, Dest, Headers, L3},
    pipeline::{
        firewall::{FirewallState, DEFAULT_RULE, DENIED_RULE},
        trace::{CtNote, Event, FirewallCheck, Recorder, Stage},
        Batch, Egress, Pipeline, TxMeta,
    },
    tables::Tables,
    testing,
    wire::*,
};

/// Where a traced frame enters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingress {
    Vif(VifId),
    Uplink,
}

/// A frame to trace: where it enters, its bytes as they arrive there, and
/// the ingress as the report names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceInput {
    pub ingress: Ingress,
    pub frame: Vec<u8>,
    pub name: String,
}

/// The throwaway state a traced run uses instead of the worker's: frame
/// memory, its free chunks, counters, egress queues and the batch. Made
/// by the caller (off the worker's thread) for `chunks` frames: the frame
/// and one per flood copy.
pub struct Scratch {
    mem: HeapFrames,
    pool: Vec<u64>,
    counters: WorkerCounters,
    egress: Egress,
    batch: Batch,
}

impl Scratch {
    pub fn new(chunks: u32, vifs: usize) -> Scratch {
        let mut egress = Egress::default();
        egress.ensure_vifs(vifs);
        Scratch {
            mem: HeapFrames::new(chunks),
            pool: (0..u64::from(chunks))
                .rev()
                .map(|i| i * FRAME_SIZE as u64)
                .collect(),
            counters: WorkerCounters::default(),
            egress,
            batch: Batch::new(),
        }
    }

    /// Enough for any frame of `tables`: the frame and a copy for every
    /// port and remote TEP.
    pub fn for_tables(tables: &Tables) -> Scratch {
        let copies = tables.ports.len() + tables.remote_teps.len();
        Scratch::new(copies as u32 + 2, tables.vifs.len())
    }
}

/// A frame staged for transmit by a traced run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    /// The vif it is staged on; `None`: the uplink.
    pub vif: Option<VifId>,
    pub meta: TxMeta,
    pub bytes: Vec<u8>,
}

/// What a traced run recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traced {
    pub events: Vec<Event>,
    pub staged: Vec<Staged>,
}

/// Runs `input` through the pipeline with a read-only recorder, over
/// `scratch` and the worker's connection table `fw` (which it does not
/// change). Panics never: a frame that does not fit a chunk is refused
/// by [`build`] first; here it is cut to the chunk.
pub fn run(
    tables: &Tables,
    tep_headers: &[Option<geneve::encap::EncapTemplate>],
    fw: &mut FirewallState,
    scratch: &mut Scratch,
    input: &TraceInput,
) -> Traced {
    let Some(chunk) = scratch.pool.pop() else {
        return Traced {
            events: Vec::new(),
            staged: Vec::new(),
        };
    };
    let len = input
        .frame
        .len()
        .min(FRAME_SIZE - crate::frames::RX_HEADROOM);
    let addr = scratch.mem.receive(chunk, &input.frame[..len]);
    let rx = [xdp_desc {
        addr,
        len: len as u32,
        options: 0,
    }];
    let mut recorder = Recorder::read_only();
    let mut p = Pipeline {
        tables,
        tep_headers,
        mem: &mut scratch.mem,
        pool: &mut scratch.pool,
        counters: &scratch.counters,
        egress: &mut scratch.egress,
        batch: &mut scratch.batch,
        fw,
        trace: Some(&mut recorder),
    };
    match input.ingress {
        Ingress::Vif(v) => p.vif_input(v, &rx),
        Ingress::Uplink => p.uplink_input(&rx),
    }
    let staged = staged_frames(&scratch.egress, |addr, len| {
        scratch.mem.bytes(addr, len).to_vec()
    });
    // Return the chunks, so the scratch could serve again.
    for q in scratch
        .egress
        .vifs
        .iter_mut()
        .chain([&mut scratch.egress.uplink])
    {
        scratch
            .pool
            .extend(q.descs.iter().map(|d| chunk_base(d.addr)));
        q.clear();
    }
    Traced {
        events: recorder.events,
        staged,
    }
}

/// Every frame staged on `egress`, in order: vifs by id, then the uplink.
pub fn staged_frames(egress: &Egress, bytes: impl Fn(u64, usize) -> Vec<u8>) -> Vec<Staged> {
    let vifs = egress
        .vifs
        .iter()
        .enumerate()
        .map(|(i, q)| (Some(VifId(i as u32)), q));
    vifs.chain([(None, &egress.uplink)])
        .flat_map(|(vif, q)| q.descs.iter().zip(&q.meta).map(move |(d, m)| (vif, d, m)))
        .map(|(vif, d, m)| Staged {
            vif,
            meta: *m,
            bytes: bytes(d.addr, d.len as usize),
        })
        .collect()
}

fn mac_str(m: &Mac) -> String {
    control::MacAddr(*m).to_string()
}

fn ip_of(a: &[u8; 16], l3: L3) -> IpAddr {
    let v6 = std::net::Ipv6Addr::from(*a);
    match (l3, v6.to_ipv4_mapped()) {
        (L3::Ipv4, Some(v4)) => IpAddr::V4(v4),
        _ => IpAddr::V6(v6),
    }
}

fn tcp_letters(flags: u8) -> String {
    [
        (0x02, 'S'),
        (0x10, 'A'),
        (0x01, 'F'),
        (0x04, 'R'),
        (0x08, 'P'),
        (0x20, 'U'),
    ]
    .iter()
    .filter(|(bit, _)| flags & bit != 0)
    .map(|(_, c)| *c)
    .collect()
}

/// One line for an untagged frame's headers.
pub fn describe(h: &Headers) -> String {
    let macs = format!("{} > {}", mac_str(&h.src_mac), mac_str(&h.dst_mac));
    let l3 = match h.l3 {
        L3::Arp => "ARP".to_string(),
        L3::Other => format!("EtherType 0x{:04x}", h.ethertype),
        L3::Ipv4 | L3::Ipv6 => {
            let (s, d) = (ip_of(&h.src_ip, h.l3), ip_of(&h.dst_ip, h.l3));
            let l4 = match h.proto {
                IPPROTO_TCP => format!(
                    "TCP {} > {} [{}]",
                    h.sport,
                    h.dport,
                    tcp_letters(h.tcp_flags)
                ),
                IPPROTO_UDP => format!("UDP {} > {}", h.sport, h.dport),
                IPPROTO_ICMP | IPPROTO_ICMPV6 => {
                    let name = if h.proto == IPPROTO_ICMP {
                        "ICMP"
                    } else {
                        "ICMPv6"
                    };
                    format!("{name} type {} code {}", h.icmp_type, h.icmp_code)
                }
                p => format!("protocol {p}"),
            };
            format!("{s} > {d} {l4}")
        }
    };
    format!("{macs}, {l3}")
}

/// One line for a frame as it arrives on `ingress`.
fn describe_input(ingress: Ingress, frame: &[u8]) -> String {
    match ingress {
        Ingress::Vif(_) => {
            let tag = match packet::vlan_tag(frame) {
                Ok(Some(v)) => format!("VLAN {v}, "),
                Ok(None) => "untagged, ".to_string(),
                Err(_) => return format!("{} bytes, malformed VLAN tag", frame.len()),
            };
            let mut h = Headers::default();
            let parsed = if tag.starts_with("VLAN") {
                packet::parse_tagged_into(frame, &mut h)
            } else {
                packet::parse_into(frame, &mut h)
            };
            match parsed {
                Ok(()) => format!("{tag}{}", describe(&h)),
                Err(e) => format!("{tag}{} bytes, malformed: {e}", frame.len()),
            }
        }
        Ingress::Uplink => match geneve::decap::decapsulate(frame) {
            Ok(g) => {
                let inner = &frame[g.inner_offset..g.inner_offset + g.inner_len];
                let inner = match packet::parse(inner) {
                    Ok(h) => describe(&h),
                    Err(e) => format!("malformed inner frame: {e}"),
                };
                let from = if frame.len() >= 30 {
                    format!(
                        " from {}",
                        Ipv4Addr::new(frame[26], frame[27], frame[28], frame[29])
                    )
                } else {
                    String::new()
                };
                format!("Geneve VNI {}{from}: {inner}", g.vni)
            }
            Err(e) => format!("{} bytes, not valid Geneve: {e}", frame.len()),
        },
    }
}

fn port_name(tables: &Tables, p: PortId) -> String {
    tables
        .port(p)
        .map_or_else(|| format!("#{}", p.0), |e| e.name.clone())
}

fn at_name(tables: &Tables, at: Endpoint) -> String {
    match at {
        Endpoint::Port(p) => format!("port {}", port_name(tables, p)),
        Endpoint::Vif(v) => format!(
            "vif {}",
            tables
                .vif(v)
                .map_or_else(|| format!("#{}", v.0), |t| t.name.clone())
        ),
        Endpoint::Uplink => "uplink".into(),
    }
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Allow => "allow",
        Action::Drop => "drop",
        Action::Reject => "reject",
        Action::Pass => "pass",
    }
}

fn dir_name(d: Direction) -> &'static str {
    match d {
        Direction::In => "in",
        Direction::Out => "out",
    }
}

fn rule_ref(tables: &Tables, slot: u32, action: Option<Action>) -> Option<TraceRule> {
    if slot == DEFAULT_RULE || slot == DENIED_RULE {
        return None;
    }
    let r = tables.firewall.rule(slot)?;
    Some(TraceRule {
        id: r.id.clone(),
        section: r.section.clone(),
        action: action_name(action.unwrap_or(r.action)).into(),
    })
}

/// The report step of one firewall check.
fn firewall_step(tables: &Tables, c: &FirewallCheck, now: conntrack::Time) -> TraceStep {
    let stage = match c.dir {
        Direction::Out => Stage::FirewallOut,
        Direction::In => Stage::FirewallIn,
    };
    let port = port_name(tables, c.port);
    let mut s = TraceStep {
        stage: stage.name().into(),
        port: Some(port.clone()),
        direction: Some(dir_name(c.dir).into()),
        ..TraceStep::default()
    };
    s.result = match c.result {
        Ok(()) if !c.inspected => "not_inspected".into(),
        Ok(()) => "allow".into(),
        Err(DropReason::FirewallReject) => "reject".into(),
        Err(_) => "drop".into(),
    };
    if let Err(r) = c.result {
        s.reason = Some(r.as_str().into());
    }
    let verdict_rule = |s: &mut TraceStep| {
        if let Some(v) = c.verdict {
            match v.rule {
                Some(slot) => {
                    s.decided_by = Some("rule".into());
                    s.rule = rule_ref(tables, slot, Some(v.action));
                }
                None => s.decided_by = Some("default_action".into()),
            }
        }
    };
    let what = match (c.fragment, c.conntrack) {
        _ if !c.inspected => "not the firewall's (non-IP, or IPv6 neighbour discovery)".into(),
        (Some(v), _) => {
            s.decided_by = Some("fragment".into());
            match v {
                Some(v) => format!("a later fragment: its first fragment's verdict ({v:?})"),
                None => "a later fragment whose first fragment was not seen".into(),
            }
        }
        (
            None,
            Some(CtNote::Established {
                entry,
                reply,
                state,
                rule,
                stale,
            }),
        ) => {
            s.decided_by = Some("conntrack".into());
            s.conntrack = entry.map(|e| {
                crate::fwreport::list(tables, &[e], 1, now)
                    .entries
                    .remove(0)
            });
            s.conntrack_state = Some(state.name().to_lowercase());
            s.rule = rule_ref(tables, rule, None);
            let side = if reply { "reply" } else { "original" };
            let mut text = format!(
                "tracked connection ({side} direction), state {}",
                state.name().to_lowercase()
            );
            if rule == DENIED_RULE && !stale {
                text.push_str(", refused by the rules at a re-check");
            } else if stale {
                text.push_str("; the rules changed since: re-checked");
                verdict_rule(&mut s);
                if s.decided_by.as_deref() == Some("rule")
                    || s.decided_by.as_deref() == Some("default_action")
                {
                    // The re-check decided.
                } else {
                    s.decided_by = Some("conntrack".into());
                }
            }
            text
        }
        (None, Some(CtNote::Related { entry, rule, stale })) => {
            s.decided_by = Some("related".into());
            s.conntrack = entry.map(|e| {
                crate::fwreport::list(tables, &[e], 1, now)
                    .entries
                    .remove(0)
            });
            s.rule = rule_ref(tables, rule, None);
            if stale {
                verdict_rule(&mut s);
            }
            "an ICMP error about a tracked connection".into()
        }
        (None, Some(CtNote::Invalid(r))) => {
            s.decided_by = Some("conntrack_invalid".into());
            format!("connection tracking refused it ({})", r.name())
        }
        (None, Some(CtNote::StrictRefused)) => {
            s.decided_by = Some("conntrack_strict".into());
            "strict mode: not a SYN and no tracked connection".into()
        }
        (None, Some(CtNote::New | CtNote::Untracked) | None) => {
            verdict_rule(&mut s);
            s.new_connection = c.would_track;
            let new = matches!(c.conntrack, Some(CtNote::New));
            let kind = if new {
                "new connection"
            } else {
                "untracked packet"
            };
            match (&s.rule, s.decided_by.as_deref()) {
                (Some(r), _) => format!(
                    "{kind}: rule {} (section {}) says {}",
                    r.id, r.section, r.action
                ),
                (None, Some("default_action")) => format!(
                    "{kind}: no rule matched, the default action says {}",
                    c.verdict.map_or("allow", |v| action_name(v.action))
                ),
                _ => kind.to_string(),
            }
        }
    };
    let outcome = match c.result {
        Ok(()) => "allowed".to_string(),
        Err(r) => format!("dropped ({})", r.as_str()),
    };
    let track = if c.would_track {
        ", the connection would be tracked"
    } else {
        ""
    };
    s.detail = format!("{} port {port}: {what}: {outcome}{track}", dir_name(c.dir));
    s
}

/// The report step of a staged frame.
fn output_step(tables: &Tables, st: &Staged) -> TraceStep {
    let b = &st.bytes;
    let mut s = TraceStep {
        stage: Stage::Output.name().into(),
        result: "sent".into(),
        len: Some(b.len() as u32),
        ..TraceStep::default()
    };
    match st.vif {
        Some(v) => {
            let vif = tables
                .vif(v)
                .map_or_else(|| format!("#{}", v.0), |t| t.name.clone());
            let vlan =
                (b.len() >= 16 && be16(b, 12) == ETHERTYPE_VLAN).then(|| be16(b, 14) & 0x0fff);
            let port = match st.meta.owner {
                Endpoint::Port(p) => Some(port_name(tables, p)),
                _ => None,
            };
            s.detail = format!(
                "to port {} on vif {vif}, {}",
                port.as_deref().unwrap_or("?"),
                vlan.map_or("untagged".to_string(), |v| format!("VLAN {v}"))
            );
            s.port = port;
            s.vif = Some(vif);
            s.vlan = vlan;
        }
        None if b.len() >= geneve::encap::OUTER_HEADERS_LEN => {
            let ip = |at: usize| Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3]);
            let mac = |at: usize| {
                let mut m = [0u8; 6];
                m.copy_from_slice(&b[at..at + 6]);
                mac_str(&m)
            };
            let vni = u32::from_be_bytes([0, b[46], b[47], b[48]]);
            let outer = TraceOuter {
                dst_mac: mac(0),
                src_mac: mac(6),
                src_ip: ip(26),
                dst_ip: ip(30),
                src_port: be16(b, 34),
                dst_port: be16(b, 36),
                vni,
            };
            s.detail = format!(
                "Geneve VNI {vni} to TEP {} (next hop {}), from {} UDP {} > {}",
                outer.dst_ip, outer.dst_mac, outer.src_ip, outer.src_port, outer.dst_port
            );
            s.tep = Some(outer.dst_ip);
            s.vni = Some(vni);
            s.outer = Some(outer);
        }
        None => s.detail = "to the uplink".into(),
    }
    s
}

/// The protocol's report of a traced run.
pub fn report(
    tables: &Tables,
    input: &TraceInput,
    traced: &Traced,
    now: conntrack::Time,
) -> TraceReport {
    let mut steps: Vec<TraceStep> = Vec::new();
    let mut dropped = None;
    let mut last_check: Option<&FirewallCheck> = None;
    for event in &traced.events {
        match event {
            Event::Passed { stage, ctx } => {
                if let Some(step) = passed_step(tables, *stage, ctx, &traced.events) {
                    steps.push(step);
                }
                last_check = None;
            }
            Event::Firewall(c) => {
                steps.push(firewall_step(tables, c, now));
                last_check = Some(c);
            }
            Event::Dropped { stage, at, reason } => {
                dropped.get_or_insert_with(|| reason.as_str().to_string());
                // A firewall refusal is its check's step already.
                let repeats = last_check
                    .is_some_and(|c| c.result == Err(*reason) && *at == Endpoint::Port(c.port));
                last_check = None;
                if repeats {
                    continue;
                }
                steps.push(TraceStep {
                    stage: stage.name().into(),
                    result: "drop".into(),
                    detail: format!("dropped on {}: {}", at_name(tables, *at), reason.as_str()),
                    port: match at {
                        Endpoint::Port(p) => Some(port_name(tables, *p)),
                        _ => None,
                    },
                    reason: Some(reason.as_str().into()),
                    ..TraceStep::default()
                });
            }
        }
    }
    // Flood refusals of every target are drops too.
    if dropped.is_none() && traced.staged.is_empty() {
        dropped = traced.events.iter().find_map(|e| match e {
            Event::Firewall(c) => c.result.err().map(|r| r.as_str().to_string()),
            _ => None,
        });
    }
    steps.extend(traced.staged.iter().map(|st| output_step(tables, st)));
    TraceReport {
        ingress: input.name.clone(),
        frame: describe_input(input.ingress, &input.frame),
        frame_hex: input.frame.iter().map(|b| format!("{b:02x}")).collect(),
        delivered: traced.staged.len() as u32,
        dropped: if traced.staged.is_empty() {
            Some(dropped.unwrap_or_else(|| "no_destination".into()))
        } else {
            None
        },
        steps,
        worker: None,
    }
}

/// The worker (of `workers`) a traced frame is run in: the owner of its
/// flow, as the pipeline would hand it over (worker 0 for a frame without
/// a flow, which any worker runs alike).
pub fn owner(input: &TraceInput, workers: usize) -> usize {
    let owner = match input.ingress {
        Ingress::Vif(_) => crate::handoff::owner_of_vif_frame(&input.frame, workers),
        Ingress::Uplink => crate::handoff::owner_of_uplink_frame(&input.frame, workers),
    };
    owner.unwrap_or(0)
}

/// The step of a frame that left `stage`; `None` for stages whose steps
/// are recorded otherwise (the firewall's checks).
fn passed_step(
    tables: &Tables,
    stage: Stage,
    ctx: &packet::PacketCtx,
    events: &[Event],
) -> Option<TraceStep> {
    let switch = tables.switches.get(ctx.switch.index());
    let switch_name = switch.map(|s| s.name.clone());
    let mut s = TraceStep {
        stage: stage.name().into(),
        ..TraceStep::default()
    };
    match stage {
        Stage::Classify => {
            let Endpoint::Port(p) = ctx.ingress else {
                return None;
            };
            let entry = tables.port(p)?;
            let vif = tables
                .vif(entry.vif)
                .map_or_else(|| format!("#{}", entry.vif.0), |t| t.name.clone());
            s.result = "port".into();
            s.detail = format!(
                "vif {vif}, {} → port {} on switch {}",
                if ctx.vlan == 0 {
                    "untagged".to_string()
                } else {
                    format!("VLAN {}", ctx.vlan)
                },
                entry.name,
                switch_name.as_deref().unwrap_or("?")
            );
            s.port = Some(entry.name.clone());
            s.vif = Some(vif);
            s.vlan = (ctx.vlan != 0).then_some(ctx.vlan);
            s.switch = switch_name;
        }
        Stage::Decap => {
            let vni = switch.map(|s| s.vni);
            s.result = "switch".into();
            s.detail = format!(
                "Geneve VNI {} → switch {}",
                vni.unwrap_or(0),
                switch_name.as_deref().unwrap_or("?")
            );
            s.vni = vni;
            s.switch = switch_name;
        }
        Stage::Guards => {
            let Endpoint::Port(p) = ctx.ingress else {
                return None;
            };
            let g = &tables.port(p)?.guard;
            let on: Vec<&str> = [
                (g.spoofguard, "spoofguard"),
                (g.dhcp_guard, "DHCP guard"),
                (g.ra_guard, "RA guard"),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| *n)
            .collect();
            s.result = "pass".into();
            s.port = Some(port_name(tables, p));
            s.detail = if on.is_empty() {
                "every guard is off".into()
            } else {
                format!("{}: pass", on.join(", "))
            };
        }
        Stage::L2Lookup => {
            let dst = mac_str(&ctx.hdr.dst_mac);
            match ctx.dest {
                Dest::Port(p) => {
                    s.result = "local".into();
                    s.port = Some(port_name(tables, p));
                    s.detail = format!("{dst} is local port {}", port_name(tables, p));
                }
                Dest::Tep(t) => {
                    let tep = tables.remote_teps.get(t.index()).copied();
                    s.result = "remote".into();
                    s.tep = tep;
                    s.detail = format!(
                        "{dst} is behind remote TEP {}",
                        tep.map_or("?".to_string(), |t| t.to_string())
                    );
                }
                Dest::Flood | Dest::Unknown => {
                    let why = match ctx.hdr.cast {
                        crate::counters::Cast::Broadcast => "broadcast",
                        crate::counters::Cast::Multicast => "multicast",
                        crate::counters::Cast::Unicast => "unknown unicast",
                    };
                    let sw = switch.map(|s| {
                        let locals = s
                            .local_ports
                            .iter()
                            .filter(|p| Endpoint::Port(**p) != ctx.ingress)
                            .count();
                        let teps = if ctx.ingress == Endpoint::Uplink {
                            0
                        } else {
                            s.remote_teps.len()
                        };
                        format!("{locals} local ports, {teps} remote TEPs")
                    });
                    s.result = "flood".into();
                    s.detail = format!(
                        "{dst}: {why}: flooded on switch {} ({})",
                        switch_name.as_deref().unwrap_or("?"),
                        sw.unwrap_or_default()
                    );
                }
            }
            s.switch = switch_name;
        }
        Stage::FirewallOut => return None,
        Stage::FirewallIn => {
            // A check into a local port is its own step; a remote or
            // flooded frame is checked elsewhere.
            let checked = events
                .iter()
                .any(|e| matches!(e, Event::Firewall(c) if c.dir == Direction::In));
            if checked {
                return None;
            }
            s.result = "skipped".into();
            s.detail = match ctx.dest {
                Dest::Tep(_) => {
                    "remote destination: checked into its port on the receiving hypervisor".into()
                }
                _ => "flooded: checked into each local port before its copy is made".into(),
            };
        }
        Stage::Output => return None,
    }
    Some(s)
}

/// A config error of a trace's args: `invalid_argument` naming the field.
fn bad(field: &str, message: impl std::fmt::Display) -> CommitError {
    CommitError::Invalid(control::ValidationError::new(
        "trace",
        format!("args.{field}"),
        message.to_string(),
    ))
}

fn first_ip(port: &LogicalPort, v4: bool) -> Option<IpAddr> {
    port.ips.iter().copied().find(|ip| ip.is_ipv4() == v4)
}

/// Makes the frame `args` describes (or takes the one it gives) and says
/// where it enters. `vif_id` gives a vif's datapath id by name.
pub fn build(
    config: &Config,
    tables: &Tables,
    vif_id: impl Fn(&str) -> Option<VifId>,
    args: &TraceArgs,
) -> Result<TraceInput, CommitError> {
    let src_port = args.port.as_deref().and_then(|n| config.port(n));
    let to = args.to.as_deref().and_then(|n| config.port(n));
    let (ingress, name, vlan) = if let Some(p) = src_port {
        let v = vif_id(&p.vif).ok_or_else(|| {
            bad(
                "port",
                format!("vif {:?} of port {:?} is not attached", p.vif, p.name),
            )
        })?;
        (Ingress::Vif(v), format!("port {:?}", p.name), p.vlan)
    } else if let Some(vif) = &args.vif {
        let v = vif_id(vif).ok_or_else(|| bad("vif", format!("vif {vif:?} is not attached")))?;
        (Ingress::Vif(v), format!("vif {vif:?}"), args.vlan)
    } else {
        (Ingress::Uplink, "uplink".to_string(), None)
    };
    // The port whose bindings are the source's defaults.
    let source = src_port.or_else(|| {
        let vif = args.vif.as_deref()?;
        config
            .ports
            .iter()
            .find(|p| p.vif == vif && p.vlan == args.vlan)
    });
    let inner = match &args.frame_hex {
        Some(hex) => hex_bytes(hex).map_err(|e| bad("frame_hex", e))?,
        None => describe_frame(config, args, source, to)?,
    };
    let frame = match ingress {
        Ingress::Vif(_) if args.frame_hex.is_some() && args.port.is_none() => inner,
        Ingress::Vif(_) => match vlan {
            Some(v) => testing::tagged(&inner, v),
            None => inner,
        },
        Ingress::Uplink if args.frame_hex.is_some() => inner,
        Ingress::Uplink => encapsulate(config, tables, args, to, &inner)?,
    };
    if frame.len() > control::trace::MAX_TRACE_FRAME {
        return Err(bad(
            "frame_hex",
            format!(
                "{} bytes: at most {}",
                frame.len(),
                control::trace::MAX_TRACE_FRAME
            ),
        ));
    }
    Ok(TraceInput {
        ingress,
        frame,
        name,
    })
}

/// The untagged frame the fields of `args` describe.
fn describe_frame(
    config: &Config,
    args: &TraceArgs,
    source: Option<&LogicalPort>,
    to: Option<&LogicalPort>,
) -> Result<Vec<u8>, CommitError> {
    let protocol = args.protocol.unwrap_or(TraceProtocol::Icmp);
    let uplink_switch = args
        .switch
        .as_deref()
        .or(to.map(|t| t.switch.as_str()))
        .and_then(|s| config.switch(s));
    let src_mac = match (args.src_mac, source) {
        (Some(m), _) => m.0,
        (None, Some(p)) => p.mac.0,
        (None, None) => match uplink_switch.and_then(|s| s.remote_macs.first()) {
            Some(r) if args.uplink => r.mac.0,
            _ => {
                return Err(bad(
                    "src_mac",
                    "no port's binding to default from: give src_mac",
                ))
            }
        },
    };
    let dst_mac = match (args.dst_mac, to) {
        (Some(m), _) => m.0,
        (None, Some(t)) => t.mac.0,
        (None, None) if protocol == TraceProtocol::Arp => [0xff; 6],
        (None, None) => return Err(bad("dst_mac", "give dst_mac or to")),
    };
    // The family: from the addresses given, else IPv4 when both ends have
    // one.
    let v4 = match (args.src_ip, args.dst_ip) {
        (Some(ip), _) | (None, Some(ip)) => ip.is_ipv4(),
        (None, None) => {
            protocol == TraceProtocol::Arp
                || (source.is_none_or(|p| first_ip(p, true).is_some())
                    && to.is_none_or(|p| first_ip(p, true).is_some()))
        }
    };
    let family = if v4 { "IPv4" } else { "IPv6" };
    let src_ip = match (args.src_ip, source) {
        (Some(ip), _) => ip,
        (None, Some(p)) => first_ip(p, v4).ok_or_else(|| {
            bad(
                "src_ip",
                format!("port {:?} has no {family} address: give src_ip", p.name),
            )
        })?,
        (None, None) => {
            return Err(bad(
                "src_ip",
                "no port's binding to default from: give src_ip",
            ))
        }
    };
    let dst_ip = match (args.dst_ip, to) {
        (Some(ip), _) => ip,
        (None, Some(t)) => first_ip(t, v4).ok_or_else(|| {
            bad(
                "dst_ip",
                format!("port {:?} has no {family} address: give dst_ip", t.name),
            )
        })?,
        (None, None) => return Err(bad("dst_ip", "give dst_ip or to")),
    };
    let sport = args.src_port.unwrap_or(40000);
    let dport = args.dst_port.unwrap_or(80);
    let (proto, l4) = match protocol {
        TraceProtocol::Arp => {
            let (IpAddr::V4(s), IpAddr::V4(d)) = (src_ip, dst_ip) else {
                return Err(bad("dst_ip", "ARP is IPv4 only"));
            };
            let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 1];
            arp.extend_from_slice(&src_mac);
            arp.extend_from_slice(&s.octets());
            arp.extend_from_slice(&[0; 6]);
            arp.extend_from_slice(&d.octets());
            return Ok(testing::eth(dst_mac, src_mac, ETHERTYPE_ARP, &arp));
        }
        TraceProtocol::Tcp => {
            let flags = tcp_flag_bits(args.tcp_flags.as_deref().unwrap_or("S"))
                .map_err(|e| bad("tcp_flags", e))?;
            let mut segment = testing::tcp(sport, dport, flags, &[]);
            if let Some(seq) = args.tcp_seq {
                segment[4..8].copy_from_slice(&seq.to_be_bytes());
            }
            segment[8..12].copy_from_slice(&args.tcp_ack.unwrap_or(0).to_be_bytes());
            (IPPROTO_TCP, segment)
        }
        TraceProtocol::Udp => (IPPROTO_UDP, testing::udp(sport, dport, &[])),
        TraceProtocol::Icmp => {
            let (proto, echo) = if v4 {
                (IPPROTO_ICMP, 8)
            } else {
                (IPPROTO_ICMPV6, 128)
            };
            let id = args.icmp_id.unwrap_or(1).to_be_bytes();
            let rest = [id[0], id[1], 0, 1];
            let kind = args.icmp_type.unwrap_or(echo);
            (
                proto,
                testing::icmp(kind, args.icmp_code.unwrap_or(0), &rest),
            )
        }
    };
    Ok(match (src_ip, dst_ip) {
        (IpAddr::V4(s), IpAddr::V4(d)) => testing::eth(
            dst_mac,
            src_mac,
            ETHERTYPE_IPV4,
            &testing::ipv4(s, d, proto, &l4),
        ),
        (IpAddr::V6(s), IpAddr::V6(d)) => testing::eth(
            dst_mac,
            src_mac,
            ETHERTYPE_IPV6,
            &testing::ipv6(s, d, proto, &l4),
        ),
        _ => return Err(bad("dst_ip", "not of src_ip's family")),
    })
}

/// `inner` in Geneve from a remote TEP to the local one, as the uplink
/// receives it.
fn encapsulate(
    config: &Config,
    tables: &Tables,
    args: &TraceArgs,
    to: Option<&LogicalPort>,
    inner: &[u8],
) -> Result<Vec<u8>, CommitError> {
    let local = tables
        .local_tep
        .as_ref()
        .ok_or_else(|| bad("uplink", "no local_tep is configured"))?;
    let switch = args
        .switch
        .as_deref()
        .or(to.map(|t| t.switch.as_str()))
        .and_then(|s| config.switch(s))
        .ok_or_else(|| bad("switch", "give switch or to"))?;
    let src_mac: Mac = inner[6..12].try_into().unwrap_or([0; 6]);
    let remote = args
        .remote_tep
        .or_else(|| {
            switch
                .remote_macs
                .iter()
                .find(|m| m.mac.0 == src_mac)
                .map(|m| m.tep)
        })
        .or_else(|| switch.remote_teps.first().copied())
        .ok_or_else(|| {
            bad(
                "remote_tep",
                format!(
                    "switch {:?} has no remote TEP: give remote_tep",
                    switch.name
                ),
            )
        })?;
    let params = geneve::encap::EncapParams {
        src_mac: [0x02, 0, 0, 0, 0, 0x01],
        dst_mac: local.uplink_mac,
        src_ip: remote,
        dst_ip: local.ip,
        vni: args.vni.unwrap_or(switch.vni),
        ttl: 64,
        udp_checksum: false,
    };
    let head = geneve::encap::OUTER_HEADERS_LEN;
    let mut buf = vec![0u8; head + inner.len()];
    buf[head..].copy_from_slice(inner);
    let start = geneve::encap::encapsulate_with_source_port(
        &mut buf,
        head,
        inner.len(),
        &params,
        Some(geneve::encap::SOURCE_PORT_MIN),
    )
    .map_err(|e| bad("uplink", format!("cannot encapsulate: {e:?}")))?;
    Ok(buf[start..].to_vec())
}

#[cfg(test)]
#[path = "trace_tests.rs"]
mod tests;
