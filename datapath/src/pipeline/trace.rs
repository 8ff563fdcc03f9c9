//! The trace recorder: what the stages decided for a traced frame, in
//! order (`xvsctl trace`).
//!
//! A [`Pipeline`] with a [`Recorder`] (`Pipeline::trace`) runs the same
//! stage functions the workers run; at each decision point a stage hands
//! the recorder what it decided. Without a recorder every hook is one
//! predictable branch (per batch for the stage marks, per drop and per
//! firewall check for the others). With a read-only recorder (a synthetic
//! frame, [`Recorder::read_only`]) the firewall only looks (see
//! [`Pipeline::read_only`]): it looks connections up but inserts nothing,
//! advances no state or window, sets no fragment verdict, sends no reject
//! and writes no log line; the counters, frames and egress queues of such a
//! run are the caller's scratch ones. A live recorder ([`Recorder::live`])
//! records a real frame as it is forwarded.

use conntrack::{EntryInfo, FragVerdict, Outcome, Reason, State};

use super::{Batch, Pipeline};
use crate::{
    counters::DropReason,
    firewall::rules::{Direction, Verdict},
    frames::FrameMemory,
    ids::{Endpoint, PortId},
    packet::PacketCtx,
};

/// A stage of the pipeline, as a trace names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Classify,
    Decap,
    Guards,
    FirewallOut,
    L2Lookup,
    FirewallIn,
    Output,
}

impl Stage {
    /// The stage's name in trace reports.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Classify => "classify",
            Stage::Decap => "decap",
            Stage::Guards => "guards",
            Stage::FirewallOut => "firewall_out",
            Stage::L2Lookup => "l2_lookup",
            Stage::FirewallIn => "firewall_in",
            Stage::Output => "output",
        }
    }
}

/// What connection tracking said of a packet (read-only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtNote {
    /// A packet of a tracked connection: its entry (as it is now), whether
    /// the packet is a reply, the state the packet would move it to, and
    /// whether the rules changed since the connection was admitted (then
    /// the rules' verdict follows).
    Established {
        entry: Option<EntryInfo>,
        reply: bool,
        state: State,
        rule: u32,
        stale: bool,
    },
    /// An ICMP error about a tracked connection.
    Related {
        entry: Option<EntryInfo>,
        rule: u32,
        stale: bool,
    },
    /// No entry: the packet would open a connection.
    New,
    /// Not something connection tracking follows.
    Untracked,
    /// Refused by connection tracking.
    Invalid(Reason),
    /// Strict mode: TCP other than a SYN without an entry.
    StrictRefused,
}

impl CtNote {
    fn of(outcome: &Outcome, ct: &conntrack::Table, current_generation: u32) -> CtNote {
        match *outcome {
            Outcome::New => CtNote::New,
            Outcome::Untracked => CtNote::Untracked,
            Outcome::Invalid(r) => CtNote::Invalid(r),
            Outcome::StrictRefused => CtNote::StrictRefused,
            Outcome::Established {
                handle,
                reply,
                generation,
                rule,
                state,
            } => CtNote::Established {
                entry: ct.get(handle),
                reply,
                state,
                rule,
                stale: generation != current_generation,
            },
            Outcome::Related {
                handle,
                generation,
                rule,
            } => CtNote::Related {
                entry: ct.get(handle),
                rule,
                stale: generation != current_generation,
            },
        }
    }
}

/// One firewall check: a port, a direction, what decided it and the
/// result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirewallCheck {
    pub stage: Stage,
    pub port: PortId,
    pub dir: Direction,
    /// False: the frame is not the firewall's (non-IP, IPv6 neighbour or
    /// multicast-listener discovery).
    pub inspected: bool,
    /// A later fragment: its first fragment's verdict (`None`: not seen).
    pub fragment: Option<Option<FragVerdict>>,
    pub conntrack: Option<CtNote>,
    /// The rules' verdict, when they were asked.
    pub verdict: Option<Verdict>,
    /// An allowed new connection that would be tracked.
    pub would_track: bool,
    pub result: Result<(), DropReason>,
}

/// One decision of a traced frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The frame left `stage` (not dropped); its context as it left.
    Passed {
        stage: Stage,
        ctx: PacketCtx,
    },
    Firewall(FirewallCheck),
    /// Dropped in `stage`, counted on `at` with `reason`.
    Dropped {
        stage: Stage,
        at: Endpoint,
        reason: DropReason,
    },
}

/// The decisions of a traced frame, in order.
#[derive(Debug, Default)]
pub struct Recorder {
    pub events: Vec<Event>,
    stage: Option<Stage>,
    /// The check being decided (filled by the firewall's notes).
    pending: Option<FirewallCheck>,
    /// The firewall only looks (a synthetic frame); false for a real frame
    /// whose path is recorded as it is forwarded (live trace).
    read_only: bool,
}

impl Recorder {
    /// For a synthetic frame: the firewall changes nothing.
    pub fn read_only() -> Recorder {
        Recorder {
            read_only: true,
            ..Recorder::default()
        }
    }

    /// For a real frame, forwarded as usual while it is recorded.
    pub fn live() -> Recorder {
        Recorder::default()
    }

    fn enter(&mut self, stage: Stage, survivors: &[PacketCtx]) {
        if let Some(done) = self.stage {
            for ctx in survivors {
                self.events.push(Event::Passed {
                    stage: done,
                    ctx: *ctx,
                });
            }
        }
        self.stage = Some(stage);
    }

    fn current(&self) -> Stage {
        self.stage.unwrap_or(Stage::Classify)
    }
}

impl<M: FrameMemory> Pipeline<'_, M> {
    /// True while tracing: the firewall only looks (see the module doc).
    #[inline]
    pub(super) fn read_only(&self) -> bool {
        self.trace.as_deref().is_some_and(|t| t.read_only)
    }

    /// A copy of the bytes of a frame the pipeline holds (received, or
    /// staged and not yet handed to the kernel).
    pub fn frame_copy(&mut self, frame: crate::packet::Frame) -> Vec<u8> {
        self.bytes(frame).to_vec()
    }

    /// Marks the start of `stage` (and the end of the one before, whose
    /// survivors are `batch`). Once per stage per batch.
    #[inline]
    pub(super) fn enter(&mut self, stage: Stage, batch: &Batch) {
        if let Some(t) = self.trace.as_deref_mut() {
            t.enter(stage, batch.as_slice());
        }
    }

    /// Marks the end of the last stage (what `output` staged is read from
    /// the egress queues).
    #[inline]
    pub(super) fn finish(&mut self, batch: &Batch) {
        let _ = batch;
        if let Some(t) = self.trace.as_deref_mut() {
            t.stage = None;
        }
    }

    #[inline]
    pub(super) fn trace_drop(&mut self, at: Endpoint, reason: DropReason) {
        if let Some(t) = self.trace.as_deref_mut() {
            let stage = t.current();
            t.events.push(Event::Dropped { stage, at, reason });
        }
    }

    /// Starts recording a firewall check.
    #[inline]
    pub(super) fn trace_check_start(&mut self, port: PortId, dir: Direction) {
        if let Some(t) = self.trace.as_deref_mut() {
            t.pending = Some(FirewallCheck {
                stage: t.current(),
                port,
                dir,
                inspected: false,
                fragment: None,
                conntrack: None,
                verdict: None,
                would_track: false,
                result: Ok(()),
            });
        }
    }

    /// Ends a firewall check with its result.
    #[inline]
    pub(super) fn trace_check_end(&mut self, result: Result<(), DropReason>) {
        if let Some(t) = self.trace.as_deref_mut() {
            if let Some(mut check) = t.pending.take() {
                check.result = result;
                t.events.push(Event::Firewall(check));
            }
        }
    }

    /// Notes something the firewall learned about the check under way.
    #[inline]
    fn note(&mut self, f: impl FnOnce(&mut FirewallCheck)) {
        if let Some(check) = self.trace.as_deref_mut().and_then(|t| t.pending.as_mut()) {
            check.inspected = true;
            f(check);
        }
    }

    #[inline]
    pub(super) fn note_inspected(&mut self) {
        self.note(|_| {});
    }

    #[inline]
    pub(super) fn note_fragment(&mut self, v: Option<FragVerdict>) {
        self.note(|c| c.fragment = Some(v));
    }

    #[inline]
    pub(super) fn note_outcome(&mut self, outcome: &Outcome) {
        if self.trace.is_some() {
            let note = CtNote::of(outcome, &self.fw.ct, self.tables.firewall.generation);
            self.note(|c| c.conntrack = Some(note));
        }
    }

    #[inline]
    pub(super) fn note_verdict(&mut self, v: &Verdict) {
        let v = *v;
        self.note(|c| c.verdict = Some(v));
    }

    #[inline]
    pub(super) fn note_would_track(&mut self) {
        self.note(|c| c.would_track = true);
    }
}
