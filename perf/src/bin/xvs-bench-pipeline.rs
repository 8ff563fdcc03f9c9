//! `xvs-bench-pipeline`: the per-packet cost of xvswitch's pipeline without
//! any I/O: batches of 64 tagged frames in a real UMEM go through
//! `Pipeline::vif_input` (VLAN lookup and strip, spoofguard, counters, the
//! stateful firewall out of the port with the connection established, L2
//! lookup, Geneve encap) and the staged result is discarded. Runs the same
//! loop with spoofguard on and off, in one run, and prints Mpps per core
//! for each. (AF_XDP copy-mode I/O, ~1 µs per frame on veth, comes on top:
//! see xvs-bench, the side-by-side runner.)

use std::time::Instant;

use clap::Parser;
use control::Config;
use datapath::{
    counters::{WorkerCounters, MAX_PORTS},
    frames::{FrameMemory, FRAME_SIZE, RX_HEADROOM},
    ids::{PortId, VifId},
    pipeline::{firewall::FirewallState, Batch, Egress, Pipeline, BATCH},
    tables::{LocalTep, Slots, Tables},
    xsk::Umem,
};
use libxdp_sys::xdp_desc;

#[derive(Parser)]
#[command(about = "Pipeline cost per packet (no I/O), spoofguard on vs off")]
struct Args {
    /// Batches of 64 frames per measurement.
    #[arg(long, default_value_t = 200_000)]
    batches: u64,
    /// Frame size as the pod sends it (untagged), 60..=1514.
    #[arg(long, default_value_t = 60)]
    size: usize,
}

fn config(spoofguard: bool) -> Config {
    Config::from_json(&format!(
        r#"{{
          "local_tep": {{"uplink": "up0", "ip": "198.18.0.1", "mtu": 1600}},
          "switches": [{{"name": "s", "vni": 100, "remote_teps": ["198.18.0.2"],
                        "remote_macs": [{{"mac": "02:00:00:00:00:02", "tep": "198.18.0.2"}}]}}],
          "vifs": [{{"name": "v", "interface": "vif0"}}],
          "ports": [{{"name": "p", "vif": "v", "vlan": 10, "switch": "s",
                     "mac": "02:00:00:00:00:01", "ips": ["10.0.0.1"], "spoofguard": {spoofguard}}}]
        }}"#
    ))
    .expect("bench config")
}

fn template(size: usize) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x81, 0, 0, 10, 0x08, 0];
    let ip_len = (size - 14) as u16;
    let mut ip = vec![
        0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[0x30, 0x39, 0x16, 0x2e]);
    f.extend_from_slice(&(ip_len - 20).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.resize(size + 4, 0x42);
    f
}

fn measure(umem: &mut Umem, spoofguard: bool, args: &Args) -> (f64, u64) {
    let tables = Tables::build(
        &config(spoofguard),
        |_| Some(VifId(0)),
        Some(LocalTep {
            ip: "198.18.0.1".parse().expect("ip"),
            uplink: "up0".into(),
            uplink_mac: [2, 0, 0, 0, 0, 0xaa],
            mtu: 1600,
        }),
        &mut Slots::new(MAX_PORTS),
        &mut Slots::new(MAX_PORTS),
    )
    .expect("tables");
    let tep_headers = datapath::pipeline::tep_headers(&tables, |_| Some([2, 0, 0, 0, 0, 0xbb]));
    let counters = WorkerCounters::default();
    let frame = template(args.size);
    let chunks: Vec<u64> = (0..BATCH as u64).map(|i| i * FRAME_SIZE as u64).collect();
    let descs: Vec<xdp_desc> = chunks
        .iter()
        .map(|c| xdp_desc {
            addr: c + RX_HEADROOM as u64,
            len: frame.len() as u32,
            options: 0,
        })
        .collect();
    let mut pool = Vec::new();
    let mut egress = Egress::default();
    egress.ensure_vifs(1);
    let mut batch = Batch::new();
    // The firewall checks every packet out of the port (default allow):
    // the first creates the connection, the rest find it established.
    let mut fw = FirewallState::new(&tables.firewall, None);
    let start = Instant::now();
    for _ in 0..args.batches {
        for c in &chunks {
            // SAFETY: no socket uses this UMEM: every chunk is ours.
            let chunk = unsafe { umem.chunk_mut(*c) };
            chunk[RX_HEADROOM..RX_HEADROOM + frame.len()].copy_from_slice(&frame);
        }
        let mut p = Pipeline {
            tables: &tables,
            tep_headers: &tep_headers,
            mem: umem,
            pool: &mut pool,
            counters: &counters,
            egress: &mut egress,
            batch: &mut batch,
            fw: &mut fw,
            trace: None,
        };
        p.vif_input(VifId(0), &descs);
        egress.uplink.clear();
        pool.clear();
    }
    let secs = start.elapsed().as_secs_f64();
    let packets = args.batches * BATCH as u64;
    (
        packets as f64 / secs / 1e6,
        counters.port(PortId(0)).rx_packets.get(),
    )
}

/// What parsing and validating costs alone: `packet::parse` of the
/// untagged frame, best of 3 rounds, in ns per packet.
fn parse_cost(frame: &[u8], rounds: u64) -> f64 {
    let untagged: Vec<u8> = [&frame[..12], &frame[16..]].concat();
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let mut sum = 0u64;
        for _ in 0..rounds {
            let h = datapath::packet::parse(std::hint::black_box(&untagged)).expect("valid frame");
            sum = sum.wrapping_add(u64::from(h.hash));
        }
        std::hint::black_box(sum);
        best = best.min(start.elapsed().as_secs_f64() * 1e9 / rounds as f64);
    }
    best
}

fn main() {
    let args = Args::parse();
    assert!(
        (60..=1514).contains(&args.size),
        "--size must be in 60..=1514"
    );
    let mut umem = Umem::new(BATCH as u32 * 2, 64).expect("UMEM (needs root)");
    // Warm up, then alternate so drift hits both variants alike.
    measure(
        &mut umem,
        true,
        &Args {
            batches: args.batches / 10,
            size: args.size,
        },
    );
    let mut on = Vec::new();
    let mut off = Vec::new();
    for _ in 0..3 {
        on.push(measure(&mut umem, true, &args));
        off.push(measure(&mut umem, false, &args));
    }
    let best = |v: &[(f64, u64)]| v.iter().map(|x| x.0).fold(0.0, f64::max);
    println!(
        "xvs-bench-pipeline: {} B, parse + validate alone: {:.1} ns/packet (best of 3)",
        args.size,
        parse_cost(&template(args.size), args.batches * BATCH as u64)
    );
    for (name, v) in [("spoofguard on ", &on), ("spoofguard off", &off)] {
        let counted = if cfg!(feature = "uncounted") {
            0
        } else {
            args.batches * BATCH as u64
        };
        assert!(v.iter().all(|x| x.1 == counted), "every frame counted");
        println!(
            "xvs-bench-pipeline: {} B, {name}, counters {}: {:.2} Mpps per core ({:.1} ns/packet; best of 3, pipeline only)",
            args.size,
            if cfg!(feature = "uncounted") { "off" } else { "on " },
            best(v),
            1e3 / best(v)
        );
    }
}
