//! Stage `l2_lookup`: the destination MAC on the frame's switch decides
//! where it goes: a local port, a remote TEP, or every other member
//! (broadcast, multicast, unknown unicast).

use super::{Batch, Pipeline};
use crate::{
    counters::{Cast, DropReason},
    frames::FrameMemory,
    ids::{Endpoint, Mac, SwitchId},
    packet::Dest,
    tables::L2Dest,
};

impl<M: FrameMemory> Pipeline<'_, M> {
    pub(super) fn l2_lookup(&mut self, batch: &mut Batch) {
        let tables = self.tables;
        // The last lookup's answer: the frames of a batch mostly go to a
        // few MACs (a gateway, a peer), and the snapshot does not change
        // within a batch.
        let mut last: Option<(SwitchId, Mac, Option<L2Dest>)> = None;
        self.retain(batch, |_, ctx| {
            if ctx.hdr.cast != Cast::Unicast {
                ctx.dest = Dest::Flood;
                return Ok(());
            }
            let found = match last {
                Some((switch, mac, found)) if switch == ctx.switch && mac == ctx.hdr.dst_mac => {
                    found
                }
                _ => {
                    let found = tables
                        .switch(ctx.switch)
                        .macs
                        .get(&ctx.hdr.dst_mac)
                        .copied();
                    last = Some((ctx.switch, ctx.hdr.dst_mac, found));
                    found
                }
            };
            ctx.dest = match found {
                None => Dest::Flood,
                // Hairpin to its own port, or a remote MAC from the uplink:
                // never back where it came from.
                Some(L2Dest::Local(port)) if ctx.ingress == Endpoint::Port(port) => {
                    return Err((ctx.ingress, DropReason::NoDestination))
                }
                Some(L2Dest::Remote(_)) if ctx.ingress == Endpoint::Uplink => {
                    return Err((ctx.ingress, DropReason::NoDestination))
                }
                Some(L2Dest::Local(port)) => Dest::Port(port),
                Some(L2Dest::Remote(tep)) => Dest::Tep(tep),
            };
            Ok(())
        });
    }
}
