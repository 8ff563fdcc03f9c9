//! The capture hooks over plain memory: the pipeline the workers run, on a
//! heap arena, with taps armed as `capture.start` arms them.

use super::*;
use crate::{
    testing::*,
    wire::{ETHERTYPE_IPV4, IPPROTO_TCP},
};
use control::capture::base64_decode;
use control::trace::TraceProtocol;

fn arm(r: &mut Rig, t: Tap) {
    r.egress.capture.arm(t);
}

fn port_a(r: &Rig) -> Point {
    Point::Port {
        port: r.port("a"),
        vif: VM1,
        vlan: Some(10),
    }
}

/// Every copy on the ring, oldest first (the records given back).
fn copies(ring: &Ring) -> Vec<Record> {
    std::iter::from_fn(|| {
        ring.take().map(|r| {
            let copy = (*r).clone();
            ring.give_back(r);
            copy
        })
    })
    .collect()
}

fn ping(src: char, dst: char) -> Vec<u8> {
    eth(
        mac(dst),
        mac(src),
        ETHERTYPE_IPV4,
        &ipv4(
            ip4(src),
            ip4(dst),
            crate::wire::IPPROTO_ICMP,
            &icmp(8, 0, &[0, 1, 0, 1]),
        ),
    )
}

fn tcp_frame(src: char, dst: char, dport: u16) -> Vec<u8> {
    eth(
        mac(dst),
        mac(src),
        ETHERTYPE_IPV4,
        &ipv4(
            ip4(src),
            ip4(dst),
            IPPROTO_TCP,
            &tcp(40000, dport, 0x02, b""),
        ),
    )
}

/// Receives `frames` on `vif`, runs them through the pipeline and copies
/// what was staged, as a worker's burst does.
fn burst(r: &mut Rig, vif: Option<VifId>, frames: &[Vec<u8>]) {
    r.input(vif, frames);
    r.pipeline().tap_staged();
}

#[test]
fn a_port_is_captured_untagged_both_ways_and_nothing_else() {
    let mut r = Rig::new();
    let a_point = port_a(&r);
    let ring = Ring::new(64, 256);
    arm(
        &mut r,
        Tap::new(
            1,
            a_point,
            CaptureDirection::Both,
            false,
            control::trace::FrameFilter::default(),
            256,
            ring.clone(),
        ),
    );
    let a_to_c = ping('a', 'c');
    let b_to_c = ping('b', 'c');
    // a's frame (VLAN 10) and b's (VLAN 11), on the same vif.
    burst(
        &mut r,
        Some(VM1),
        &[tagged(&a_to_c, 10), tagged(&b_to_c, 11)],
    );
    // c answers a (untagged vif vm2); a receives it tagged on vm1.
    let c_to_a = ping('c', 'a');
    burst(&mut r, Some(VM2), std::slice::from_ref(&c_to_a));
    let got = copies(&ring);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!((got[0].kind, &got[0].data), (Kind::In, &a_to_c));
    assert_eq!(got[0].len as usize, a_to_c.len());
    // Sent to a: as a receives it, without the tag the output pushed.
    assert_eq!((got[1].kind, &got[1].data), (Kind::Out, &c_to_a));
    assert!(got[0].ts_ns > 0 && got[1].ts_ns >= got[0].ts_ns);
    assert_eq!(ring.lost(), 0);
    // The frames went their way as usual.
    assert_eq!(r.counters.port(r.port("a")).rx_packets.get(), 1);
    // Disarmed: nothing more.
    r.egress.capture.disarm(1);
    assert!(!r.egress.capture.armed());
    burst(&mut r, Some(VM1), &[tagged(&a_to_c, 10)]);
    assert!(copies(&ring).is_empty());
}

#[test]
fn a_vif_is_captured_as_on_the_wire() {
    let mut r = Rig::new();
    let ring = Ring::new(64, 256);
    arm(
        &mut r,
        Tap::new(
            2,
            Point::Vif(VM1),
            CaptureDirection::In,
            false,
            control::trace::FrameFilter::default(),
            256,
            ring.clone(),
        ),
    );
    let frames = [tagged(&ping('a', 'c'), 10), tagged(&ping('b', 'c'), 11)];
    burst(&mut r, Some(VM1), &frames);
    // Only received (direction in): c's answer to a is not copied.
    burst(&mut r, Some(VM2), &[ping('c', 'a')]);
    let got: Vec<Vec<u8>> = copies(&ring).into_iter().map(|c| c.data).collect();
    assert_eq!(got, frames);
}

#[test]
fn a_full_ring_counts_what_it_lost_and_never_blocks() {
    let mut r = Rig::new();
    let a_point = port_a(&r);
    let ring = Ring::new(3, 256);
    arm(
        &mut r,
        Tap::new(
            3,
            a_point,
            CaptureDirection::In,
            false,
            control::trace::FrameFilter::default(),
            256,
            ring.clone(),
        ),
    );
    let frames: Vec<Vec<u8>> = (0..10).map(|_| tagged(&ping('a', 'c'), 10)).collect();
    burst(&mut r, Some(VM1), &frames);
    assert_eq!(ring.lost(), 7);
    // Every frame was forwarded all the same.
    assert_eq!(r.staged_count(), 10);
    assert_eq!(copies(&ring).len(), 3);
    // Records read are given back: room again.
    let mut session = Session::new(3, vec![ring.clone()], Instant::now());
    burst(&mut r, Some(VM1), &frames[..2]);
    let batch = session.read(100);
    assert_eq!((batch.frames.len(), batch.lost), (2, 7));
}

#[test]
fn drops_carry_their_reason() {
    let mut r = Rig::new();
    let a_point = port_a(&r);
    let port_ring = Ring::new(64, 256);
    let vif_ring = Ring::new(64, 256);
    arm(
        &mut r,
        Tap::new(
            4,
            a_point,
            CaptureDirection::Both,
            true,
            control::trace::FrameFilter::default(),
            256,
            port_ring.clone(),
        ),
    );
    arm(
        &mut r,
        Tap::new(
            5,
            Point::Vif(VM1),
            CaptureDirection::Out,
            true,
            control::trace::FrameFilter::default(),
            256,
            vif_ring.clone(),
        ),
    );
    let spoofed = with(ping('a', 'c'), |f| f[6..12].copy_from_slice(&mac('z')));
    let unknown_vlan = tagged(&ping('a', 'c'), 99);
    burst(
        &mut r,
        Some(VM1),
        &[tagged(&spoofed, 10), unknown_vlan.clone()],
    );
    let got = copies(&port_ring);
    // Received (untagged), then dropped by the guards.
    assert_eq!(
        got.iter().map(|c| c.kind).collect::<Vec<_>>(),
        [Kind::In, Kind::Dropped(DropReason::SpoofguardMac)]
    );
    assert_eq!(got[1].data, spoofed);
    let got = copies(&vif_ring);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].kind, Kind::Dropped(DropReason::UnknownVlan));
    assert_eq!(got[0].data, unknown_vlan);
    // As read by the control thread: the reason by name.
    let mut session = Session::new(4, vec![port_ring], Instant::now());
    burst(&mut r, Some(VM1), &[tagged(&spoofed, 10)]);
    let batch = session.read(10);
    assert_eq!(batch.frames[1].dropped.as_deref(), Some("spoofguard_mac"));
    assert_eq!(batch.frames[1].direction, None);
    assert_eq!(batch.frames[0].direction, Some(CaptureDirection::In));
}

#[test]
fn a_full_tx_ring_is_a_drop_of_the_port() {
    let mut r = Rig::new();
    let a_point = port_a(&r);
    let ring = Ring::new(64, 256);
    arm(
        &mut r,
        Tap::new(
            6,
            a_point,
            CaptureDirection::In,
            true,
            control::trace::FrameFilter::default(),
            256,
            ring.clone(),
        ),
    );
    burst(&mut r, Some(VM2), &[ping('c', 'a')]);
    struct Full;
    impl crate::pipeline::DescRing for Full {
        fn produce(&mut self, _: &[xdp_desc]) -> usize {
            0
        }
    }
    let Rig {
        egress,
        counters,
        pool,
        mem,
        ..
    } = &mut r;
    let taps = &egress.capture;
    egress.vifs[VM1.index()].flush_tapped(
        counters,
        pool,
        Some(VM1),
        Some(&mut Full),
        DropReason::TxRingFull,
        |d, meta| {
            // SAFETY: refused: the test's arena still holds it.
            let bytes = unsafe { frame_bytes(mem, d.addr, d.len) }.unwrap();
            taps.refused(Some(VM1), bytes, meta, DropReason::TxRingFull);
        },
    );
    let got = copies(&ring);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].kind, Kind::Dropped(DropReason::TxRingFull));
    assert_eq!(
        got[0].data,
        ping('c', 'a'),
        "untagged, as the pod would see it"
    );
}

#[test]
fn the_filter_and_the_snap_length_apply() {
    let mut r = Rig::new();
    let a_point = port_a(&r);
    let ring = Ring::new(64, 64);
    let filter = control::trace::FrameFilter {
        protocol: Some(TraceProtocol::Tcp),
        address: None,
        l4_port: Some(80),
    };
    arm(
        &mut r,
        Tap::new(
            7,
            a_point,
            CaptureDirection::In,
            false,
            filter,
            64,
            ring.clone(),
        ),
    );
    let web = with(tcp_frame('a', 'c', 80), |f| {
        f.extend_from_slice(&[0x5a; 100])
    });
    let other = tcp_frame('a', 'c', 81);
    burst(
        &mut r,
        Some(VM1),
        &[
            tagged(&ping('a', 'c'), 10),
            tagged(&other, 10),
            tagged(&web, 10),
        ],
    );
    let got = copies(&ring);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].len as usize, web.len());
    assert_eq!(got[0].data, web[..64]);
}

#[test]
fn the_uplink_is_captured_outer_and_filtered_by_the_inner_frame() {
    let mut r = Rig::new();
    let ring = Ring::new(64, 256);
    let filter = control::trace::FrameFilter {
        protocol: Some(TraceProtocol::Icmp),
        address: Some(std::net::IpAddr::V4(ip4('a'))),
        l4_port: None,
    };
    arm(
        &mut r,
        Tap::new(
            8,
            Point::Uplink,
            CaptureDirection::Both,
            false,
            filter,
            256,
            ring.clone(),
        ),
    );
    let from_remote = geneve(5001, &ping('r', 'a'));
    burst(&mut r, None, std::slice::from_ref(&from_remote));
    // a to the remote MAC: encapsulated, copied as sent.
    burst(&mut r, Some(VM1), &[tagged(&ping('a', 'r'), 10)]);
    let got = copies(&ring);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!((got[0].kind, &got[0].data), (Kind::In, &from_remote));
    assert_eq!(got[1].kind, Kind::Out);
    assert_eq!(&got[1].data[got[1].data.len() - 4..], &[0, 1, 0, 1]);
}

#[test]
fn several_workers_are_merged_by_time_and_reads_are_bounded() {
    let rings = [Ring::new(16, 64), Ring::new(16, 64)];
    let frame = |n: u8| vec![n; 60];
    for (ring, times) in rings.iter().zip([[10u64, 30, 50], [20, 40, 60]]) {
        for t in times {
            ring.copy(&frame(t as u8), false, Kind::In, t, 64);
        }
    }
    let mut s = Session::new(9, rings.to_vec(), Instant::now());
    let first = s.read(4);
    let times: Vec<u64> = first.frames.iter().map(|f| f.ts_ns).collect();
    assert_eq!(times, [10, 20, 30, 40]);
    assert_eq!(base64_decode(&first.frames[1].data).unwrap(), frame(20));
    assert_eq!((first.captured, first.lost, first.active), (4, 0, true));
    let rest = s.read_all();
    let times: Vec<u64> = rest.frames.iter().map(|f| f.ts_ns).collect();
    assert_eq!(times, [50, 60]);
    assert_eq!((rest.captured, rest.active), (6, false));
}
