//! Stage `flood`: broadcast, multicast and unknown unicast go to every
//! other local port of the switch and, if they came from a port, to every
//! remote TEP of the switch (head-end replication); never back out of the
//! port or the uplink they came in on. The targets are decided before any
//! copy is made (the firewall's verdict into each port will be decided
//! here, first); then every target but the last gets a copy and the last
//! the original.

use super::Pipeline;
use crate::{
    counters::DropReason,
    firewall::rules::Direction,
    frames::{chunk_base, FrameMemory},
    ids::{Endpoint, PortId, TepId},
    packet::{Frame, PacketCtx},
};

/// One copy of a flooded frame.
#[derive(Clone, Copy)]
enum Target {
    Port(PortId),
    Tep(TepId),
}

impl<M: FrameMemory> Pipeline<'_, M> {
    pub(super) fn flood(&mut self, ctx: &PacketCtx) {
        let tables = self.tables;
        let sw = tables.switch(ctx.switch);
        // The firewall into each local port decides before any copy.
        let mut allowed = std::mem::take(&mut self.egress.flood_ports);
        allowed.clear();
        for &p in &sw.local_ports {
            if Endpoint::Port(p) == ctx.ingress {
                continue;
            }
            match self.firewall_check(ctx, p, Direction::In) {
                Ok(()) => allowed.push(p),
                Err(reason) => {
                    self.counters.port(p).drop(reason);
                    self.tap_drop(Endpoint::Port(p), ctx.frame, reason);
                }
            }
        }
        let ports = allowed.iter().map(|p| Target::Port(*p));
        let teps: &[TepId] = if ctx.ingress == Endpoint::Uplink {
            &[]
        } else {
            &sw.remote_teps
        };
        let candidates = sw
            .local_ports
            .iter()
            .filter(|p| Endpoint::Port(**p) != ctx.ingress)
            .count();
        let refused = (candidates - allowed.len()) as u64;
        let mut targets = ports.chain(teps.iter().map(|t| Target::Tep(*t))).peekable();
        if targets.peek().is_none() {
            drop(targets);
            self.egress.flood_ports = allowed;
            if refused > 0 {
                // Every local port's firewall refused it and counted it.
                self.counters.firewall.flood_refusals.add(refused - 1);
                self.pool.push(chunk_base(ctx.frame.addr));
            } else {
                self.drop_frame(ctx.ingress, ctx.frame, DropReason::NoDestination);
            }
            return;
        }
        self.counters.firewall.flood_refusals.add(refused);
        while let Some(target) = targets.next() {
            let frame = if targets.peek().is_none() {
                ctx.frame
            } else {
                match self.copy(ctx.frame) {
                    Some(f) => f,
                    None => {
                        self.counters.block(ctx.ingress).drop(DropReason::NoBuffer);
                        continue;
                    }
                }
            };
            match target {
                Target::Port(p) => self.output_port(ctx, frame, p),
                Target::Tep(t) => self.output_tep(ctx, frame, t),
            }
        }
        drop(targets);
        self.egress.flood_ports = allowed;
    }

    /// A copy of `frame` in a free chunk, if there is one.
    fn copy(&mut self, frame: Frame) -> Option<Frame> {
        let chunk = self.pool.pop()?;
        // SAFETY: the pipeline owns `frame`'s chunk (see `Pipeline::bytes`)
        // and `chunk` came from the free pool, so it owns that one too; a
        // free chunk is never the chunk of a held frame.
        let addr = unsafe { self.mem.copy_frame(frame.addr, frame.len as usize, chunk) };
        Some(Frame {
            addr,
            len: frame.len,
        })
    }
}
