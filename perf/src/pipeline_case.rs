//! The whole pipeline over heap memory, as the `stages` bench and
//! `xvs-bench-scaling` run it: a [`datapath::testing::Rig`] with its own
//! tables, counters and connection table, and pre-built frames of `flows`
//! UDP/IPv4 flows (60 bytes as the pod sends them) from one port to one
//! destination, fed to `Pipeline::vif_input` 64 at a time.
//!
//! Each batch's 64 frames are copied into the same 64 chunks before the
//! run (the pipeline edits frames in place: tag strip and push, Geneve
//! headers), outside the timed span; what is staged for transmit is then
//! forgotten, outside it too. The timed span is `Rig::run`: the pipeline
//! only, plus two `Instant::now` calls per batch (about 0.5 ns a packet).
//! Expiry is not in it: the worker calls it once per burst, not the
//! pipeline.
//!
//! The endpoints of [`CONFIG`]: `a` (vif `vm1`, VLAN 10), `u` (vm1,
//! untagged), `c` (vif `vm2`, untagged), `d` (vm2, VLAN 20), all on switch
//! `blue` with spoofguard (and the DHCP and RA guards) on, and `r`, a MAC
//! behind the remote TEP 198.18.0.2. The firewall has no rules (default
//! allow): a flow's first packet is classified and creates its connection,
//! every later one finds it established under the current generation.

use std::{
    net::Ipv4Addr,
    time::{Duration, Instant},
};

use datapath::{
    firewall::{Action, AppliedTo, Classifier, CompiledRule, RuleDirection, MAX_PORTS},
    frames::chunk_base,
    ids::{Mac, VifId},
    pipeline::BATCH,
    testing::{self, Rig},
    wire::IPPROTO_UDP,
};
use libxdp_sys::xdp_desc;

use crate::fw_rules::Rng;

/// The configuration the cases run on (see the module's documentation).
pub const CONFIG: &str = r#"{
  "local_tep": {"uplink": "up0", "ip": "198.18.0.1", "mtu": 1600},
  "switches": [
    {"name": "blue", "vni": 5001, "remote_teps": ["198.18.0.2"],
     "remote_macs": [{"mac": "02:00:00:00:00:72", "tep": "198.18.0.2"}]}
  ],
  "vifs": [{"name": "vm1", "interface": "vif-vm1"}, {"name": "vm2", "interface": "vif-vm2"}],
  "ports": [
    {"name": "a", "vif": "vm1", "vlan": 10, "switch": "blue", "mac": "02:00:00:00:00:0a",
     "ips": ["10.0.0.10", "fd00::a"], "spoofguard": true},
    {"name": "u", "vif": "vm1", "switch": "blue", "mac": "02:00:00:00:00:75",
     "ips": ["10.0.0.117"], "spoofguard": true},
    {"name": "c", "vif": "vm2", "switch": "blue", "mac": "02:00:00:00:00:0c",
     "ips": ["10.0.0.12", "fd00::c"], "spoofguard": true},
    {"name": "d", "vif": "vm2", "vlan": 20, "switch": "blue", "mac": "02:00:00:00:00:64",
     "ips": ["10.0.0.100"], "spoofguard": true}
  ]
}"#;

/// An endpoint of [`CONFIG`]: its MAC, IPv4, vif and VLAN (`r`, the remote
/// MAC, has no vif).
pub fn endpoint(name: char) -> (Mac, Ipv4Addr, Option<VifId>, Option<u16>) {
    match name {
        'a' => (
            [2, 0, 0, 0, 0, 0x0a],
            [10, 0, 0, 10].into(),
            Some(testing::VM1),
            Some(10),
        ),
        'u' => (
            [2, 0, 0, 0, 0, 0x75],
            [10, 0, 0, 117].into(),
            Some(testing::VM1),
            None,
        ),
        'c' => (
            [2, 0, 0, 0, 0, 0x0c],
            [10, 0, 0, 12].into(),
            Some(testing::VM2),
            None,
        ),
        'd' => (
            [2, 0, 0, 0, 0, 0x64],
            [10, 0, 0, 100].into(),
            Some(testing::VM2),
            Some(20),
        ),
        'r' => ([2, 0, 0, 0, 0, 0x72], [10, 0, 0, 114].into(), None, None),
        _ => panic!("no endpoint {name}"),
    }
}

/// The frame of flow `i` from `from` to `to` as it arrives on `from`'s
/// vif: 60 bytes of Ethernet/IPv4/UDP (source port from `i`), plus the tag
/// of `from`'s VLAN.
pub fn frame(from: char, to: char, i: u32) -> Vec<u8> {
    let (smac, sip, _, vlan) = endpoint(from);
    let (dmac, dip, _, _) = endpoint(to);
    let sport = 10_000 + (i % 50_000) as u16;
    let dport = 2_000 + (i / 50_000) as u16;
    // 14 + 20 + 8 + 18 = 60 bytes.
    let l4 = testing::udp(sport, dport, &[0x42; 18]);
    let f = testing::eth(
        dmac,
        smac,
        datapath::wire::ETHERTYPE_IPV4,
        &testing::ipv4(sip, dip, IPPROTO_UDP, &l4),
    );
    match vlan {
        Some(v) => testing::tagged(&f, v),
        None => f,
    }
}

/// One pipeline case: a rig, its frames, the 64 chunks they go through.
pub struct Case {
    pub rig: Rig,
    vif: VifId,
    /// Frame `k` at `bytes[k * stride..]`, `lens[k]` long, in the order
    /// the batches take them.
    bytes: Vec<u8>,
    lens: Vec<u32>,
    stride: usize,
    next: usize,
    descs: Vec<xdp_desc>,
    /// The pool's length with the case's chunks out of it: a drop pushes
    /// a chunk back, which the case refuses (every frame must go through).
    pool_len: usize,
    /// Connections the warm-up pass established.
    pub connections: usize,
}

impl Case {
    /// `flows` flows from `from` to `to`. The warm-up pass sends each
    /// flow's first packet (which creates its connections: out of `from`,
    /// and into `to` when it is local); the batches then take the flows in
    /// a shuffled order (so consecutive packets do not walk the connection
    /// table's slab in order).
    pub fn new(from: char, to: char, flows: u32) -> Case {
        Case::with_rules(from, to, flows, 0)
    }

    /// [`Case::new`] with a firewall of `rules` rules of
    /// [`crate::fw_rules`]' realistic shape (none: the configuration's
    /// default allow) and, when there are some, every port's default
    /// action `Drop`, and one rule more, last in the application section,
    /// that allows the case's flows out of `from` (and into `to`).
    /// Established flows do not consult the rules (the connection table
    /// answers); the rules are there so that the bench runs with the
    /// classifier's memory and the snapshot as large as a real one.
    pub fn with_rules(from: char, to: char, flows: u32, rules: usize) -> Case {
        let vif = endpoint(from).2.expect("a case starts on a port");
        let mut rig = Rig::with_config(CONFIG, true);
        if rules > 0 {
            install_rules(&mut rig, from, to, rules);
        }
        let chunks: Vec<u64> = (0..BATCH)
            .map(|_| rig.pool.pop().expect("a free chunk"))
            .collect();
        let pool_len = rig.pool.len();
        let frames: Vec<Vec<u8>> = (0..flows).map(|i| frame(from, to, i)).collect();
        let stride = frames.iter().map(Vec::len).max().unwrap_or(0);
        let mut case = Case {
            rig,
            vif,
            bytes: Vec::new(),
            lens: Vec::new(),
            stride,
            next: 0,
            descs: chunks
                .iter()
                .map(|&c| xdp_desc {
                    addr: c,
                    len: 0,
                    options: 0,
                })
                .collect(),
            pool_len,
            connections: 0,
        };
        case.load(&frames);
        // Warm-up: every flow once, in order.
        let batches = (frames.len()).div_ceil(BATCH) as u64;
        case.run(batches);
        let per_flow = if endpoint(to).2.is_some() { 2 } else { 1 };
        case.connections = case.rig.fw.ct.len();
        assert_eq!(
            case.connections,
            flows as usize * per_flow,
            "the warm-up establishes every flow"
        );
        let mut order = frames;
        let mut g = Rng::new(u64::from(flows));
        for i in (1..order.len()).rev() {
            order.swap(i, g.below(i as u64 + 1) as usize);
        }
        case.load(&order);
        // And once more in the measured order, so every chunk and table
        // line the measurement touches has been touched.
        case.run(batches);
        case
    }

    fn load(&mut self, frames: &[Vec<u8>]) {
        self.bytes = vec![0; frames.len() * self.stride];
        self.lens.clear();
        for (k, f) in frames.iter().enumerate() {
            self.bytes[k * self.stride..k * self.stride + f.len()].copy_from_slice(f);
            self.lens.push(f.len() as u32);
        }
        self.next = 0;
    }

    /// Runs `batches` batches of 64 frames; returns the time spent in the
    /// pipeline (the refills and the clearing of the tx queues excluded).
    pub fn run(&mut self, batches: u64) -> Duration {
        let mut spent = Duration::ZERO;
        let n = self.lens.len();
        for _ in 0..batches {
            for d in &mut self.descs {
                let k = self.next;
                self.next = if k + 1 == n { 0 } else { k + 1 };
                let len = self.lens[k];
                let at = k * self.stride;
                d.addr = self
                    .rig
                    .mem
                    .receive(chunk_base(d.addr), &self.bytes[at..at + len as usize]);
                d.len = len;
            }
            let start = Instant::now();
            self.rig.run(Some(self.vif), &self.descs);
            spent += start.elapsed();
            self.forget_staged();
        }
        spent
    }

    /// Forgets the staged frames (their chunks are the case's), checking
    /// that every frame of the batch was staged.
    fn forget_staged(&mut self) {
        if self.rig.staged_count() != BATCH || self.rig.pool.len() != self.pool_len {
            panic!(
                "{} of {BATCH} frames staged; drops: {:?}",
                self.rig.staged_count(),
                self.rig.all_drops()
            );
        }
        self.rig.egress.uplink.clear();
        for q in &mut self.rig.egress.vifs {
            q.clear();
        }
    }
}

/// Replaces the rig's classifier with `n` rules of [`crate::fw_rules`]
/// (seed 1), every port's default `Drop`, plus the rule that lets the
/// case's UDP flows out of `from` and into `to`.
fn install_rules(rig: &mut Rig, from: char, to: char, n: usize) {
    let mut g = Rng::new(1);
    let mut rules = crate::fw_rules::rules(&mut g, n, false);
    let port = |name: char| rig.port(&name.to_string()).0;
    let mut ports = vec![port(from)];
    if endpoint(to).2.is_some() {
        ports.push(port(to));
    }
    rules.push(CompiledRule {
        index: n as u32,
        section: 3,
        priority: n as u32,
        applied_to: AppliedTo::Ports(ports),
        direction: RuleDirection::Both,
        src: vec![],
        dst: vec![],
        protocol: Some(IPPROTO_UDP),
        dst_ports: vec![(2_000, 2_100)],
        icmp_type: None,
        icmp_code: None,
        action: Action::Allow,
        log: false,
        stateless: false,
    });
    let defaults = vec![Action::Drop; MAX_PORTS as usize];
    rig.tables.firewall.classifier = Classifier::build(&rules, &defaults).expect("rules build");
}
