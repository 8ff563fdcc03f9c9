//! The TCP state machine and sequence-window tracking, after Linux's
//! `nf_conntrack_proto_tcp.c` (Kadlecsik's `tcp_in_window`, itself after
//! Guido van Rooij's "Real Stateful TCP Packet Filtering in IP Filter").
//!
//! Per direction the entry keeps (as Linux's `ip_ct_tcp_state`):
//!
//! - `end`: highest sequence number sent plus length (`td_end`),
//! - `maxend`: highest sequence number the peer's ACK + window allows
//!   (`td_maxend`),
//! - `maxwin`: largest window the peer advertised, scaled (`td_maxwin`),
//! - the window-scale shift and whether the option was sent.
//!
//! A segment is in window when (I) `seq <= sender.maxend`, (II) `end >=
//! sender.end - receiver.maxwin`, (III) `ack <= receiver.end` and (IV) `ack >=
//! receiver.end - max(sender.maxwin, 66000)`. The state table is Linux's
//! (`tcp_conntracks`), with one change: a SYN from either side on an entry in
//! TIME_WAIT or CLOSE reopens (Linux refuses the responder's SYN in CLOSE).

use crate::types::tcp_flags::*;

// State codes: 0 = none, 1..=9 = State as u8, and two markers.
/// No state yet (a new entry).
pub(crate) const NO: u8 = 0;
const SS: u8 = 1;
const SR: u8 = 2;
const ES: u8 = 3;
const FW: u8 = 4;
const CW: u8 = 5;
const LA: u8 = 6;
const TW: u8 = 7;
const CL: u8 = 8;
const S2: u8 = 9;
const IV: u8 = 10;
const IG: u8 = 11;

const I_SYN: usize = 0;
const I_SYNACK: usize = 1;
const I_FIN: usize = 2;
const I_ACK: usize = 3;
const I_RST: usize = 4;
const I_NONE: usize = 5;

/// `TABLE[reply][flag index][old state] = new state`.
#[rustfmt::skip]
const TABLE: [[[u8; 10]; 6]; 2] = [
    // Originator to responder.
    [
        //         NO  SS  SR  ES  FW  CW  LA  TW  CL  S2
        /* syn */ [SS, SS, IG, IG, IG, IG, IG, SS, SS, S2],
        /* s+a */ [IV, IV, SR, IV, IV, IV, IV, IV, IV, SR],
        /* fin */ [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
        /* ack */ [ES, IV, ES, ES, CW, CW, TW, TW, CL, IV],
        /* rst */ [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
        /* non */ [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV],
    ],
    // Responder to originator.
    [
        //         NO  SS  SR  ES  FW  CW  LA  TW  CL  S2
        /* syn */ [IV, S2, IV, IV, IV, IV, IV, SS, SS, S2],
        /* s+a */ [IV, SR, IG, IG, IG, IG, IG, IG, IG, SR],
        /* fin */ [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
        /* ack */ [IV, IG, SR, ES, CW, CW, TW, TW, CL, IG],
        /* rst */ [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
        /* non */ [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV],
    ],
];

/// Per-direction flag: the window-scale option was sent in this direction's SYN.
pub(crate) const D_WSCALE: u8 = 0x10;
/// Per-direction flag: skip window checks (connection picked up mid-stream).
pub(crate) const D_LIBERAL: u8 = 0x20;
const SCALE_MASK: u8 = 0x0f;

/// One direction's window state, unpacked from the entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Seen {
    pub end: u32,
    pub maxend: u32,
    pub maxwin: u32,
    /// Low 4 bits: window-scale shift; plus `D_*` flags.
    pub sf: u8,
}

impl Seen {
    fn scale(&self) -> u32 {
        u32::from(self.sf & SCALE_MASK)
    }
}

/// The TCP part of a packet.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seg {
    pub flags: u8,
    pub seq: u32,
    pub ack: u32,
    pub win: u16,
    pub wscale: Option<u8>,
    pub len: u32,
}

/// What the state machine decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Accepted; the new state code (windows already updated).
    To(u8),
    /// Accepted without any change (Linux's "ignore").
    Ignore,
    /// A SYN on a closed connection: start over.
    Reopen,
}

fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}
fn after(a: u32, b: u32) -> bool {
    before(b, a)
}

/// Linux's `tcp_valid_flags` (ECE, CWR and PSH ignored).
pub(crate) fn valid_flags(flags: u8) -> bool {
    let f = flags & !(ECE | CWR | PSH);
    matches!(
        f,
        x if x == SYN
            || x == SYN | URG
            || x == SYN | ACK
            || x == RST
            || x == RST | ACK
            || x == FIN | ACK
            || x == FIN | ACK | URG
            || x == ACK
            || x == ACK | URG
    )
}

fn index(flags: u8) -> usize {
    if flags & RST != 0 {
        I_RST
    } else if flags & SYN != 0 {
        if flags & ACK != 0 {
            I_SYNACK
        } else {
            I_SYN
        }
    } else if flags & FIN != 0 {
        I_FIN
    } else if flags & ACK != 0 {
        I_ACK
    } else {
        I_NONE
    }
}

/// Whether a segment with these (valid) flags may open a connection: a SYN,
/// or (loose pick-up) a bare ACK.
pub(crate) fn opens(flags: u8) -> Option<bool> {
    match index(flags) {
        I_SYN => Some(false),
        I_ACK => Some(true),
        _ => None,
    }
}

fn init_sender(s: &mut Seen, r: &mut Seen, seg: &Seg, end: u32) {
    s.end = end;
    s.maxend = end;
    s.maxwin = u32::from(seg.win).max(1);
    s.sf &= !(SCALE_MASK | D_WSCALE);
    if let Some(shift) = seg.wscale {
        s.sf |= D_WSCALE | shift.min(14);
    }
    // Both sides must send the option for scaling to apply either way
    // (RFC 7323 2.2). Decided once the other direction's SYN was seen too
    // (the SYN-ACK, or the second SYN of a simultaneous open): at the
    // first SYN the peer's option is not known yet, and dropping the
    // opener's shift there would leave its window unscaled for good.
    if r.maxwin != 0 && (s.sf & D_WSCALE == 0 || r.sf & D_WSCALE == 0) {
        s.sf &= !SCALE_MASK;
        r.sf &= !SCALE_MASK;
    }
}

/// Linux's `tcp_in_window` over copies of both directions. `old` is the
/// state before the packet; `liberal` accepts a segment that fails the
/// checks (without learning from it). Returns whether the segment is
/// acceptable; the caller keeps the copies only when it is.
pub(crate) fn in_window(
    old: u8,
    reply: bool,
    s: &mut Seen,
    r: &mut Seen,
    seg: &Seg,
    liberal: bool,
) -> bool {
    let syn = seg.flags & SYN != 0;
    let has_ack = seg.flags & ACK != 0;
    let rst = seg.flags & RST != 0;
    let fin = seg.flags & FIN != 0;
    let mut seq = seg.seq;
    let mut ack = seg.ack;
    let mut win = u32::from(seg.win);
    let mut end = seq
        .wrapping_add(seg.len)
        .wrapping_add(u32::from(syn))
        .wrapping_add(u32::from(fin));

    if s.maxwin == 0 {
        // First packet seen in this direction.
        if syn {
            // (Unlike recent Linux we go on to the checks for a SYN without
            // ACK too: they pass, and the receiver learns the window the
            // SYN advertises, which a simultaneous open needs.)
            init_sender(s, r, seg, end);
        } else {
            // Mid-stream: learn what we can from the packet.
            s.end = end;
            let swin = win << s.scale();
            s.maxwin = swin.max(1);
            s.maxend = end.wrapping_add(s.maxwin);
            if r.maxwin == 0 {
                // Nothing seen the other way yet: pass III and IV until it is.
                r.end = ack;
                r.maxend = ack;
            } else if ack == r.end.wrapping_add(1) {
                // Likely the answer to a keepalive.
                r.end = r.end.wrapping_add(1);
            }
        }
    } else if syn && after(end, s.end) && ((old == SS && !reply) || (old == SR && reply)) {
        // A retransmitted SYN (SYN-ACK) with a new initial sequence number.
        init_sender(s, r, seg, end);
    }

    if !has_ack || (rst && ack == 0) {
        // No ACK (or a broken stack's RST+ACK with ack 0): pretend it was
        // the expected one.
        ack = r.end;
    }
    if rst && seq == 0 && old == SS {
        // RST answering our SYN.
        seq = s.end;
        end = s.end;
    }

    let maxackwin = s.maxwin.max(66_000);
    let in_recv_win = r.maxwin == 0 || after(end, s.end.wrapping_sub(r.maxwin).wrapping_sub(1));
    let ok = before(seq, s.maxend.wrapping_add(1))
        && in_recv_win
        && before(ack, r.end.wrapping_add(1))
        && after(ack, r.end.wrapping_sub(maxackwin).wrapping_sub(1));
    if !ok {
        return liberal;
    }
    if !syn {
        win <<= s.scale();
    }
    if s.maxwin < win {
        s.maxwin = win;
    }
    if after(end, s.end) {
        s.end = end;
    }
    if r.maxwin != 0 && after(end, s.maxend) {
        r.maxwin = r.maxwin.wrapping_add(end.wrapping_sub(s.maxend));
    }
    let edge = ack.wrapping_add(win);
    if after(edge, r.maxend.wrapping_sub(1)) {
        r.maxend = if win == 0 { edge.wrapping_add(1) } else { edge };
    }
    true
}

/// Whether an RST may be accepted at all in this state and direction before
/// the window check: in SYN_SENT the responder's RST must acknowledge the SYN
/// (RFC 793), so it must carry ACK.
fn rst_allowed(old: u8, reply: bool, flags: u8) -> bool {
    !(old == SS && reply && flags & ACK == 0)
}

/// One packet through the state machine. `old` is the entry's state code
/// (0 for a new entry); `seen` is `[originator, responder]` and is updated in
/// place only when the packet is accepted.
pub(crate) fn step(
    old: u8,
    reply: bool,
    seen: &mut [Seen; 2],
    seg: &Seg,
    liberal: bool,
) -> Result<Step, crate::Reason> {
    use crate::Reason;
    if !valid_flags(seg.flags) {
        return Err(Reason::InvalidFlags);
    }
    let idx = index(seg.flags);
    let new = TABLE[usize::from(reply)]
        .get(idx)
        .and_then(|row| row.get(usize::from(old)))
        .copied()
        .unwrap_or(IV);
    match new {
        IV => {
            return Err(if idx == I_RST {
                Reason::InvalidRst
            } else {
                Reason::InvalidState
            })
        }
        IG => return Ok(Step::Ignore),
        SS if old == TW || old == CL => return Ok(Step::Reopen),
        _ => {}
    }
    if idx == I_RST && !rst_allowed(old, reply, seg.flags) {
        return Err(Reason::InvalidRst);
    }
    let (so, ro) = if reply { (1, 0) } else { (0, 1) };
    let mut s = seen[so];
    let mut r = seen[ro];
    // An RST is never accepted on the liberal flag alone: it must be in
    // window, so a blind reset cannot tear a connection down.
    let lib = (liberal || (s.sf | r.sf) & D_LIBERAL != 0) && idx != I_RST;
    if !in_window(old, reply, &mut s, &mut r, seg, lib) {
        return Err(if idx == I_RST {
            Reason::InvalidRst
        } else {
            Reason::OutOfWindow
        });
    }
    seen[so] = s;
    seen[ro] = r;
    Ok(Step::To(new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_flag_combinations() {
        assert!(valid_flags(SYN));
        assert!(valid_flags(SYN | ACK | PSH | ECE));
        assert!(valid_flags(FIN | ACK));
        assert!(!valid_flags(FIN));
        assert!(!valid_flags(SYN | FIN));
        assert!(!valid_flags(0));
        assert!(!valid_flags(SYN | RST));
    }

    #[test]
    fn wrapping_comparisons() {
        assert!(before(u32::MAX, 0));
        assert!(after(5, u32::MAX - 5));
        assert!(!before(7, 7));
    }
}
