//! Two workers over plain memory: a connection whose two directions arrive
//! on different workers is tracked by its owner alone, the frames the other
//! worker receives are handed over (and paid back), and a full ring drops
//! with its own reason.

use super::*;
use crate::{
    handoff::{owner, owner_of_uplink_frame, owner_of_vif_frame, Ends, Mesh},
    live_trace::LiveTrace,
    packet::parse,
    testing::*,
    wire::*,
};

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;
/// Chunks of each rig that stand for one worker's share of the UMEM.
const SHARE: u64 = 128;

fn tcp4(src: char, dst: char, sport: u16, dport: u16, flags: u8, seq: u32, ack: u32) -> Vec<u8> {
    let mut t = tcp(sport, dport, flags, b"");
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    eth(
        mac(dst),
        mac(src),
        ETHERTYPE_IPV4,
        &ipv4(ip4(src), ip4(dst), IPPROTO_TCP, &t),
    )
}

/// Two workers: rig `i` stands for worker `i`; its arena stands for the
/// shared UMEM, of which it starts with chunks `i*SHARE..(i+1)*SHARE`. A
/// frame handed over is copied into the owner's arena at the same
/// address (one memory in the daemon). Port a's vif (vm1) is served by
/// worker 0, port c's (vm2) by worker 1, as if their queues differed.
struct Two {
    w: [Rig; 2],
    ends: [Ends; 2],
}

fn two(config: &str) -> Two {
    let mesh = Mesh::new(2, SHARE as usize);
    let mut w = [
        Rig::with_config(config, true),
        Rig::with_config(config, true),
    ];
    for (i, rig) in w.iter_mut().enumerate() {
        let share = i as u64 * SHARE..(i as u64 + 1) * SHARE;
        rig.pool
            .retain(|c| share.contains(&(c / crate::frames::FRAME_SIZE as u64)));
    }
    Two {
        w,
        ends: [mesh.ends(0), mesh.ends(1)],
    }
}

impl Two {
    /// Port `from` sends `frame` (a: on worker 0, tagged; c: on worker 1);
    /// the other worker takes up what was handed to it. Returns the number
    /// of frames staged for transmit on each worker, then completes them
    /// and settles the payments.
    fn send(&mut self, from: char, frame: &[u8]) -> [usize; 2] {
        self.send_traced(from, frame, None)
    }

    /// [`Two::send`] with a live trace armed in both workers (`live[i]`:
    /// worker `i`'s part).
    fn send_traced(
        &mut self,
        from: char,
        frame: &[u8],
        mut live: Option<&mut [LiveTrace; 2]>,
    ) -> [usize; 2] {
        let (at, vif, bytes) = match from {
            'a' => (0, VM1, tagged(frame, 10)),
            'c' => (1, VM2, frame.to_vec()),
            _ => panic!("no port {from}"),
        };
        match live.as_deref_mut() {
            Some(parts) => {
                let descs = self.w[at].receive(&[bytes]);
                let ends = &mut self.ends[at];
                let mut p = self.w[at].pipeline();
                parts[at].input(&mut p, vif, &descs, Some(&mut *ends));
                p.hand_off(ends, &mut Vec::new());
            }
            None => self.w[at].input_steered(Some(vif), &[bytes], &mut self.ends[at]),
        }
        let other = 1 - at;
        let mut items = Vec::new();
        self.ends[other].receive(&mut items, 64);
        let (src, dst) = if at == 0 {
            let (a, b) = self.w.split_at_mut(1);
            (&a[0], &mut b[0])
        } else {
            let (a, b) = self.w.split_at_mut(1);
            (&b[0], &mut a[0])
        };
        for h in &items {
            dst.mem.copy_chunk_from(&src.mem, h.ctx.frame.addr);
        }
        let part = live.map(|parts| &mut parts[other]);
        dst.pipeline().handed_input(&items, part);
        let staged = [self.w[0].staged_count(), self.w[1].staged_count()];
        for i in 0..2 {
            self.w[i].complete();
        }
        for i in 0..2 {
            self.ends[i].settle(&mut self.w[i].pool);
        }
        staged
    }

    fn free(&self, i: usize) -> usize {
        self.w[i].pool.len()
    }
}

/// A source port from a to c:80 whose flow worker `want` owns.
fn sport_owned_by(want: usize) -> u16 {
    (40000..41000)
        .find(|&sp| {
            let f = tcp4('a', 'c', sp, 80, SYN, 1, 0);
            owner(&f, &parse(&f).unwrap(), 2) == Some(want)
        })
        .expect("some port hashes to each worker")
}

const STATEFUL: &str = r#""sections": [{"name": "s", "position": 10}],
    "firewall": {"default_action": "drop"},
    "rules": [{"id": "a-to-c-web", "section": "s", "priority": 1,
        "sources": [{"cidr": "10.0.0.10/32"}], "destinations": [{"cidr": "10.0.0.12/32"}],
        "service": {"protocol": "tcp", "dst_ports": ["80"]}, "action": "allow"}]"#;

fn config(extra: &str) -> String {
    let base = RIG_CONFIG.trim_end();
    format!("{},\n{extra}\n}}", &base[..base.len() - 1])
}

#[test]
fn a_connection_split_over_two_workers_is_tracked_by_its_owner_alone() {
    for owner_worker in [0, 1] {
        let mut t = two(&config(STATEFUL));
        let sp = sport_owned_by(owner_worker);
        let n = |t: &Two| [t.w[0].fw.ct.len(), t.w[1].fw.ct.len()];
        // Every frame of the flow leaves from its owner.
        let mut on_owner = [0, 0];
        on_owner[owner_worker] = 1;
        assert_eq!(
            t.send('a', &tcp4('a', 'c', sp, 80, SYN, 100, 0)),
            on_owner,
            "SYN"
        );
        assert_eq!(
            t.send('c', &tcp4('c', 'a', 80, sp, SYN | ACK, 500, 101)),
            on_owner,
            "SYN-ACK: the rule allows a → c only; the owner's entry lets it back"
        );
        assert_eq!(
            t.send('a', &tcp4('a', 'c', sp, 80, ACK, 101, 501)),
            on_owner
        );
        for _ in 0..5 {
            assert_eq!(
                t.send('c', &tcp4('c', 'a', 80, sp, PSH_ACK, 501, 101)),
                on_owner
            );
        }
        // Out of a and into c: two entries, both on the owner.
        let mut want = [0, 0];
        want[owner_worker] = 2;
        assert_eq!(n(&t), want, "owner {owner_worker}");
        // The frames that arrived on the other worker were handed over:
        // worker 0 received the 2 frames of a, worker 1 the 6 of c.
        let other = 1 - owner_worker;
        let handed = if owner_worker == 0 { 6 } else { 2 };
        let c = |i: usize| {
            let h = &t.w[i].counters.handoff;
            (h.sent.get(), h.received.get())
        };
        assert_eq!(c(other), (handed, 0));
        assert_eq!(c(owner_worker), (0, handed));
        // Per worker counters: rx where it arrived.
        let (pa, pc) = (t.w[0].port("a"), t.w[0].port("c"));
        let rx = |i: usize, p| t.w[i].counters.port(p).rx_packets.get();
        assert_eq!((rx(0, pa), rx(1, pa)), (2, 0));
        assert_eq!((rx(0, pc), rx(1, pc)), (0, 6));
        assert!(t.w[0].all_drops().is_empty() && t.w[1].all_drops().is_empty());
        // Every frame handed over was paid back: each worker has its share.
        assert_eq!((t.free(0), t.free(1)), (SHARE as usize, SHARE as usize));
    }
}

#[test]
fn without_the_hand_off_the_reply_would_be_refused() {
    // The same split on one worker that owns nothing of the flow: the
    // reply out of c meets no entry and the default drop. (What the test
    // above proves the hand-off avoids.)
    let mut r = Rig::with_config(&config(STATEFUL), true);
    let sp = sport_owned_by(0);
    r.input(Some(VM2), &[tcp4('c', 'a', 80, sp, SYN | ACK, 500, 101)]);
    assert_eq!(r.staged_count(), 0);
    assert_eq!(r.all_drops().len(), 1, "{:?}", r.all_drops());
}

#[test]
fn a_full_ring_drops_as_handoff_ring_full_on_the_ingress_port() {
    let mut t = two(RIG_CONFIG);
    t.ends = {
        let mesh = Mesh::with_ring(2, SHARE as usize, 4);
        [mesh.ends(0), mesh.ends(1)]
    };
    // A flow of c owned by worker 0, received by worker 1; worker 0 takes
    // nothing up.
    let sp = sport_owned_by(0);
    let f = tcp4('c', 'a', 80, sp, PSH_ACK, 1, 1);
    t.w[1].input_steered(Some(VM2), &vec![f.clone(); 6], &mut t.ends[1]);
    let pc = t.w[1].port("c");
    assert_eq!(
        t.w[1].drops(Endpoint::Port(pc), DropReason::HandoffRingFull),
        2
    );
    assert_eq!(t.w[1].all_drops().len(), 1);
    assert_eq!(t.w[1].counters.handoff.sent.get(), 4);
    // The 2 dropped frames went back to the pool; 4 are on the ring.
    assert_eq!(t.free(1), SHARE as usize - 4);
    assert_eq!(t.w[1].counters.port(pc).rx_packets.get(), 6);
    let mut items = Vec::new();
    t.ends[0].receive(&mut items, 64);
    assert_eq!(items.len(), 4);
}

/// A live trace of `count` frames of port a, one part per worker.
fn live_on_a(t: &Two, count: u32) -> [LiveTrace; 2] {
    let live = LiveTrace::new(
        t.w[0].port("a"),
        "a".into(),
        VM1,
        Some(10),
        control::trace::FrameFilter::default(),
        count,
    );
    live.parts(2).try_into().expect("two parts")
}

#[test]
fn a_live_trace_is_recorded_by_the_owner_of_each_flow() {
    let mut t = two(&config(STATEFUL));
    let mut parts = live_on_a(&t, 3);
    // Port a's frames arrive on worker 0: a flow of worker 1, then one of
    // worker 0, then worker 1's again (its third frame, after c's answer).
    let (sp1, sp0) = (sport_owned_by(1), sport_owned_by(0));
    let sent = [
        t.send_traced('a', &tcp4('a', 'c', sp1, 80, SYN, 100, 0), Some(&mut parts)),
        t.send_traced('a', &tcp4('a', 'c', sp0, 80, SYN, 300, 0), Some(&mut parts)),
        // c answers the first (worker 1 receives and owns it).
        t.send('c', &tcp4('c', 'a', 80, sp1, SYN | ACK, 500, 101)),
        t.send_traced(
            'a',
            &tcp4('a', 'c', sp1, 80, ACK, 101, 501),
            Some(&mut parts),
        ),
        // Past the count: forwarded (to its owner), not recorded.
        t.send_traced(
            'a',
            &tcp4('a', 'c', sp1, 80, ACK, 101, 501),
            Some(&mut parts),
        ),
    ];
    assert_eq!(sent, [[0, 1], [1, 0], [0, 1], [0, 1], [0, 1]]);
    // Each frame was recorded where its firewall ran: worker 1's two,
    // worker 0's one, and the table entries are the owners'.
    assert_eq!((parts[0].reports.len(), parts[1].reports.len()), (1, 2));
    assert_eq!((t.w[0].fw.ct.len(), t.w[1].fw.ct.len()), (2, 2));
    let shown = LiveTrace::show(&parts);
    assert_eq!((shown.count, shown.remaining), (3, 0));
    let by_worker: Vec<Option<u32>> = shown.traces.iter().map(|r| r.worker).collect();
    assert_eq!(by_worker, [Some(1), Some(0), Some(1)]);
    for (i, r) in shown.traces.iter().enumerate() {
        assert_eq!(stages(r), LOCAL_PATH, "frame {i}: {r:#?}");
    }
    // The SYNs opened their connections; the ACK met the owner's entry
    // (with worker 0's table it would have been a new, invalid, flow).
    let fresh: Vec<bool> = shown
        .traces
        .iter()
        .map(|r| r.steps[2].new_connection)
        .collect();
    assert_eq!(fresh, [true, true, false]);
    // Counted as usual: 4 frames in on a (each counted once, where it was
    // classified), 3 handed over, nothing dropped, nothing leaked.
    let pa = t.w[0].port("a");
    let rx = |i: usize| t.w[i].counters.port(pa).rx_packets.get();
    assert_eq!(rx(0) + rx(1), 4);
    assert_eq!(t.w[0].counters.handoff.sent.get(), 3);
    assert!(t.w[0].all_drops().is_empty() && t.w[1].all_drops().is_empty());
    // Worker 1 paid for the last frame after worker 0 settled: take it.
    t.ends[0].settle(&mut t.w[0].pool);
    assert_eq!((t.free(0), t.free(1)), (SHARE as usize, SHARE as usize));
}

#[test]
fn a_marked_frame_whose_trace_was_disarmed_is_still_forwarded() {
    let mut t = two(&config(STATEFUL));
    let sp = sport_owned_by(1);
    let mut parts = live_on_a(&t, 1);
    let bytes = tagged(&tcp4('a', 'c', sp, 80, SYN, 100, 0), 10);
    let descs = t.w[0].receive(&[bytes]);
    {
        let ends = &mut t.ends[0];
        let mut p = t.w[0].pipeline();
        parts[0].input(&mut p, VM1, &descs, Some(&mut *ends));
        p.hand_off(ends, &mut Vec::new());
    }
    let mut items = Vec::new();
    t.ends[1].receive(&mut items, 64);
    assert!(matches!(
        items[..],
        [Handed {
            resume: Resume::Marked { seq: 0, .. },
            ..
        }]
    ));
    let (a, b) = t.w.split_at_mut(1);
    b[0].mem.copy_chunk_from(&a[0].mem, items[0].ctx.frame.addr);
    // Worker 1 has no trace armed (replaced meanwhile): it forwards.
    b[0].pipeline().handed_input(&items, None);
    assert_eq!(b[0].staged_count(), 1);
    assert_eq!(b[0].fw.ct.len(), 2);
    assert!(parts[1].reports.is_empty());
}

#[test]
fn a_traced_frame_runs_on_the_worker_the_pipeline_hands_it_to() {
    // What `xvsctl trace` picks (from the frame as it arrives) is the
    // worker steering picks once the frame is classified or decapsulated:
    // frames of port a (tagged, on vm1) and from the uplink (Geneve), over
    // many flows, ICMP errors quoting flows included.
    let mut flows = Vec::new();
    for sp in 40000..40064u16 {
        flows.push(tcp4('a', 'c', sp, 80, SYN, 1, 0));
        flows.push(udp4_frame(
            mac('c'),
            mac('a'),
            ip4('a'),
            ip4('c'),
            &sp.to_be_bytes(),
        ));
    }
    let quoted = tcp4('c', 'a', 80, 40001, SYN, 1, 0);
    let unreachable = eth(
        mac('c'),
        mac('a'),
        ETHERTYPE_IPV4,
        &ipv4(
            ip4('a'),
            ip4('c'),
            IPPROTO_ICMP,
            &icmp(3, 3, &[&[0u8; 4][..], &quoted[14..]].concat()),
        ),
    );
    flows.push(unreachable);
    let mut seen = [0, 0];
    for f in &flows {
        let mut t = two(RIG_CONFIG);
        let predicted = owner_of_vif_frame(&tagged(f, 10), 2).expect("a flow");
        t.w[0].input_steered(Some(VM1), &[tagged(f, 10)], &mut t.ends[0]);
        let handed = t.w[0].counters.handoff.sent.get() as usize;
        assert_eq!(predicted, handed, "{f:02x?}");
        seen[predicted] += 1;
        // The same inner frame from the uplink.
        let outer = geneve(5001, f);
        let mut t = two(RIG_CONFIG);
        assert_eq!(owner_of_uplink_frame(&outer, 2), Some(predicted));
        t.w[0].input_steered(None, &[outer], &mut t.ends[0]);
        assert_eq!(t.w[0].counters.handoff.sent.get() as usize, predicted);
    }
    assert!(seen[0] > 0 && seen[1] > 0, "{seen:?}");
    // No flow, no owner: ARP stays where it arrives.
    let a = arp(1, mac('a'), ip4('a'), ip4('c'));
    assert_eq!(owner_of_vif_frame(&tagged(&a, 10), 2), None);
    assert_eq!(owner_of_vif_frame(&[0u8; 5], 2), None);
}
