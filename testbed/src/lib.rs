//! The xvswitch testbed: two hypervisors on one machine, built from network
//! namespaces and veth pairs, with a real `xvswitchd` in each.
//!
//! ```text
//!   pod1a pod1b (pod1c) pod2a pod2b              pod3a pod3b
//!     \    /           \    /                   \    /
//!      vm1 (tagger)     vm2 (tagger)             vm3 (tagger)      node VMs
//!        \ vNIC         / vNIC                    | vNIC
//!         hv1: xvswitchd                         hv2: xvswitchd    hypervisors
//!              | uplink 198.18.0.1/24                | uplink 198.18.0.2/24
//!              +------------- ul: br0 ---------------+             underlay
//! ```
//!
//! Every name is prefixed with a per-run id, so two runs never collide;
//! [`down`] removes a run's namespaces (and the processes in them) also after
//! a failed or killed run. All addresses live inside the namespaces.

use std::{
    fmt::Write as _,
    fs,
    net::{Ipv4Addr, Ipv6Addr},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    thread,
    time::{Duration, Instant},
};

/// A logical switch of the testbed.
pub struct SwitchSpec {
    pub name: &'static str,
    pub vni: u32,
}

/// A hypervisor: its TEP address and the CPU its worker is pinned to.
pub struct HvSpec {
    pub name: &'static str,
    pub tep: Ipv4Addr,
    pub core: usize,
}

/// A node VM and the hypervisor it runs on.
pub struct VmSpec {
    pub name: &'static str,
    pub hv: &'static str,
}

/// A pod: its node VM, VLAN id on that VM's vNIC, switch, address and MAC.
pub struct PodSpec {
    pub name: &'static str,
    pub vm: &'static str,
    pub vlan: u16,
    pub switch: &'static str,
    pub ip: Ipv4Addr,
    pub mac: [u8; 6],
    /// In the hypervisor's initial config; pods that are not are there for
    /// the tests that add ports at run time.
    pub configured: bool,
}

pub const SWITCHES: [SwitchSpec; 2] = [
    SwitchSpec {
        name: "blue",
        vni: 5001,
    },
    SwitchSpec {
        name: "green",
        vni: 5002,
    },
];

pub const HVS: [HvSpec; 2] = [
    HvSpec {
        name: "hv1",
        tep: Ipv4Addr::new(198, 18, 0, 1),
        core: 0,
    },
    HvSpec {
        name: "hv2",
        tep: Ipv4Addr::new(198, 18, 0, 2),
        core: 1,
    },
];

pub const VMS: [VmSpec; 3] = [
    VmSpec {
        name: "vm1",
        hv: "hv1",
    },
    VmSpec {
        name: "vm2",
        hv: "hv1",
    },
    VmSpec {
        name: "vm3",
        hv: "hv2",
    },
];

const fn pod(
    name: &'static str,
    vm: &'static str,
    vlan: u16,
    switch: &'static str,
    last: u8,
) -> PodSpec {
    PodSpec {
        name,
        vm,
        vlan,
        switch,
        ip: Ipv4Addr::new(10, 77, 0, last),
        mac: [0x02, 0x00, 0x00, 0x77, 0x00, last],
        configured: true,
    }
}

/// VLAN ids are local to a vNIC: every VM uses 10 and 11. All pods share one
/// IP subnet, so only the switch keeps blue and green apart. pod1c (VLAN 12
/// on vm1) is wired and tagged but not configured on hv1: tests add it.
pub const PODS: [PodSpec; 7] = [
    pod("pod1a", "vm1", 10, "blue", 11),
    pod("pod1b", "vm1", 11, "blue", 12),
    pod("pod2a", "vm2", 10, "blue", 21),
    pod("pod2b", "vm2", 11, "green", 22),
    pod("pod3a", "vm3", 10, "blue", 31),
    pod("pod3b", "vm3", 11, "green", 32),
    PodSpec {
        configured: false,
        ..pod("pod1c", "vm1", 12, "blue", 13)
    },
];

impl PodSpec {
    /// The pod's IPv6 address, `fd77::<last>` (the IPv4 address's last
    /// byte written as it reads: 10.77.0.11 -> fd77::11). It is in the
    /// port's `ips`, but pods run with IPv6 off until a test turns it on
    /// ([`Testbed::enable_ipv6`]).
    pub fn ip6(&self) -> Ipv6Addr {
        let last = self.ip.octets()[3].to_string();
        Ipv6Addr::new(
            0xfd77,
            0,
            0,
            0,
            0,
            0,
            0,
            u16::from_str_radix(&last, 16).expect("decimal digits read as hex"),
        )
    }
}

pub const UPLINK_MTU: u32 = 1600;
const NS_PREFIX: &str = "xvs";

pub fn pod_spec(name: &str) -> &'static PodSpec {
    PODS.iter().find(|p| p.name == name).expect("known pod")
}

fn vm_spec(name: &str) -> &'static VmSpec {
    VMS.iter().find(|v| v.name == name).expect("known vm")
}

fn hv_of_pod(p: &PodSpec) -> &'static str {
    vm_spec(p.vm).hv
}

pub fn mac_str(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Where the workspace's binaries are: `$XVS_BIN_DIR`, or next to the
/// running executable (a test's `deps/` directory counts as its parent).
pub fn bin_dir() -> PathBuf {
    if let Ok(d) = std::env::var("XVS_BIN_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().expect("profile dir").to_path_buf()
    } else {
        dir
    }
}

/// The index of interface `name` in the current network namespace.
pub fn ifindex(name: &str) -> Result<u32, String> {
    let c = std::ffi::CString::new(name).map_err(|_| format!("bad interface name {name:?}"))?;
    // SAFETY: if_nametoindex reads the NUL-terminated string we own.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        return Err(format!("no interface {name:?} in this namespace"));
    }
    Ok(i)
}

/// Runs a command, returning its output; errors if it could not start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

/// Starts a command that announces on standard error when it is ready
/// (xvsctl capture, tcpdump): waits for that first line and checks it
/// contains `ready`. Returns the child and the rest of its standard error.
pub fn spawn_announced(
    cmd: &mut Command,
    ready: &str,
) -> (Child, std::io::BufReader<std::process::ChildStderr>) {
    use std::io::BufRead;
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
    let mut err = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut first = String::new();
    let _ = err.read_line(&mut first);
    assert!(first.contains(ready), "{cmd:?}: {first}");
    (child, err)
}

/// Runs a command and panics with its stderr if it fails.
pub fn must(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The hypervisor config (the xvswitchd JSON config) of `hv` in this topology.
pub fn hv_config(hv: &str) -> serde_json::Value {
    let me = HVS.iter().find(|h| h.name == hv).expect("known hv");
    let others: Vec<&HvSpec> = HVS.iter().filter(|h| h.name != hv).collect();
    let switches: Vec<serde_json::Value> = SWITCHES
        .iter()
        .map(|s| {
            let remote_macs: Vec<serde_json::Value> = PODS
                .iter()
                .filter(|p| p.configured && p.switch == s.name && hv_of_pod(p) != hv)
                .map(|p| {
                    let tep = HVS.iter().find(|h| h.name == hv_of_pod(p)).expect("hv").tep;
                    serde_json::json!({"mac": mac_str(&p.mac), "tep": tep.to_string()})
                })
                .collect();
            serde_json::json!({
                "name": s.name,
                "vni": s.vni,
                "remote_teps": others.iter().map(|h| h.tep.to_string()).collect::<Vec<_>>(),
                "remote_macs": remote_macs,
            })
        })
        .collect();
    let vifs: Vec<serde_json::Value> = VMS
        .iter()
        .filter(|v| v.hv == hv)
        .map(|v| serde_json::json!({"name": v.name, "interface": v.name}))
        .collect();
    let ports: Vec<serde_json::Value> = PODS
        .iter()
        .filter(|p| p.configured && hv_of_pod(p) == hv)
        .map(|p| {
            serde_json::json!({
                "name": p.name, "vif": p.vm, "vlan": p.vlan, "switch": p.switch,
                "mac": mac_str(&p.mac), "ips": [p.ip.to_string(), p.ip6().to_string()],
            })
        })
        .collect();
    serde_json::json!({
        "local_tep": {"uplink": "uplink", "ip": me.tep.to_string(), "mtu": UPLINK_MTU},
        "switches": switches,
        "vifs": vifs,
        "ports": ports,
    })
}

/// A running testbed. Dropping it tears everything down.
pub struct Testbed {
    pub run_id: String,
    pub dir: PathBuf,
    pub bin: PathBuf,
    daemons: Vec<(&'static str, Child)>,
    /// Datapath workers of each xvswitchd (`--workers`); with more than
    /// one, the vNICs and uplinks are veths with as many queues.
    pub workers: u32,
    /// Whether this xvswitchd takes `--firewall-log` (asked once, of
    /// `xvswitchd --help`).
    firewall_log_flag: Option<bool>,
}

impl Testbed {
    /// The namespace name of a testbed node (`hv1`, `vm2`, `pod3a`, `ul`).
    pub fn ns(&self, node: &str) -> String {
        ns_name(&self.run_id, node)
    }

    /// A command run inside `node`'s namespace.
    pub fn cmd(&self, node: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(node), program]);
        c
    }

    /// Builds the whole topology and starts both daemons.
    pub fn up() -> Testbed {
        Testbed::up_with_workers(1)
    }

    /// Builds the whole topology with `workers`-queue vNICs and uplinks and
    /// starts both daemons with `workers` workers each.
    pub fn up_with_workers(workers: u32) -> Testbed {
        let run_id = format!(
            "{:06x}",
            (std::process::id() as u64 ^ now_nanos()) & 0xff_ffff
        );
        let dir = std::env::temp_dir().join(format!("xvs-testbed-{run_id}"));
        fs::create_dir_all(&dir).expect("run dir");
        let mut tb = Testbed {
            run_id,
            dir,
            bin: bin_dir(),
            daemons: Vec::new(),
            workers: workers.max(1),
            firewall_log_flag: None,
        };
        for b in ["xvswitchd", "xvsctl", "xvs-tagger", "xvs-probe"] {
            assert!(
                tb.bin.join(b).exists(),
                "{} not found in {} (build the workspace first)",
                b,
                tb.bin.display()
            );
        }
        tb.build();
        for hv in HVS.iter().map(|h| h.name) {
            tb.start_daemon(hv);
        }
        tb
    }

    fn ip(&self, node: &str, args: &str) {
        let mut c = Command::new("ip");
        c.args(["-n", &self.ns(node)]).args(args.split_whitespace());
        must(&mut c);
    }

    fn no_offloads(&self, node: &str, ifname: &str) {
        let mut c = self.cmd(node, "ethtool");
        c.args(["-K", ifname]);
        for f in ["rx", "tx", "tso", "gso", "gro", "lro", "txvlan", "rxvlan"] {
            c.args([f, "off"]);
        }
        // Some features are fixed on veth; ethtool still changes the rest.
        run(&mut c);
    }

    /// `numtxqueues N numrxqueues N` for a veth end, when the daemons run
    /// several workers (every worker needs a queue of each interface).
    fn queues(&self) -> String {
        if self.workers > 1 {
            format!("numtxqueues {0} numrxqueues {0}", self.workers)
        } else {
            String::new()
        }
    }

    fn build(&mut self) {
        let q = self.queues();
        let nodes: Vec<&str> = ["ul"]
            .into_iter()
            .chain(HVS.iter().map(|h| h.name))
            .chain(VMS.iter().map(|v| v.name))
            .chain(PODS.iter().map(|p| p.name))
            .collect();
        for n in &nodes {
            must(Command::new("ip").args(["netns", "add", &self.ns(n)]));
            let mut c = self.cmd(n, "sysctl");
            c.args([
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ]);
            run(&mut c);
            self.ip(n, "link set lo up");
        }
        // Underlay: a bridge joining the hypervisors' uplinks.
        self.ip("ul", "link add br0 type bridge");
        self.ip("ul", &format!("link set br0 mtu {UPLINK_MTU} up"));
        for hv in &HVS {
            let ul = self.ns("ul");
            self.ip(
                hv.name,
                &format!(
                    "link add uplink mtu {UPLINK_MTU} {q} type veth peer name {} netns {ul} mtu {UPLINK_MTU} {q}",
                    hv.name
                ),
            );
            self.no_offloads(hv.name, "uplink");
            self.no_offloads("ul", hv.name);
            self.ip("ul", &format!("link set {} master br0 up", hv.name));
            self.ip(hv.name, &format!("addr add {}/24 dev uplink", hv.tep));
            self.ip(hv.name, "link set uplink up");
        }
        // Node VMs: a vNIC (veth) to their hypervisor.
        for vm in &VMS {
            let vm_ns = self.ns(vm.name);
            self.ip(
                vm.hv,
                &format!(
                    "link add {} {q} type veth peer name eth0 netns {vm_ns} {q}",
                    vm.name
                ),
            );
            self.no_offloads(vm.hv, vm.name);
            self.no_offloads(vm.name, "eth0");
            self.ip(vm.hv, &format!("link set {} up", vm.name));
            self.ip(vm.name, "link set eth0 up");
        }
        // Pods: a veth to their node VM, with fixed MAC and address.
        for p in &PODS {
            let pod_ns = self.ns(p.name);
            let host_if = format!("p-{}", p.name);
            self.ip(
                p.vm,
                &format!("link add {host_if} type veth peer name eth0 netns {pod_ns}"),
            );
            self.no_offloads(p.vm, &host_if);
            self.no_offloads(p.name, "eth0");
            self.ip(
                p.name,
                &format!("link set eth0 address {}", mac_str(&p.mac)),
            );
            self.ip(p.name, &format!("addr add {}/24 dev eth0", p.ip));
            self.ip(p.name, "link set eth0 up");
            self.ip(p.vm, &format!("link set {host_if} up"));
        }
        // The tagger in each node VM.
        for vm in &VMS {
            let mut c = self.cmd(vm.name, &self.bin.join("xvs-tagger").to_string_lossy());
            c.args(["--vnic", "eth0"]);
            for p in PODS.iter().filter(|p| p.vm == vm.name) {
                c.args(["--pod", &format!("p-{}={}", p.name, p.vlan)]);
            }
            must(&mut c);
        }
        for hv in &HVS {
            let cfg = serde_json::to_string_pretty(&hv_config(hv.name)).expect("json");
            fs::write(self.config_path(hv.name), cfg).expect("write config");
        }
    }

    pub fn config_path(&self, hv: &str) -> PathBuf {
        self.dir.join(format!("{hv}.json"))
    }

    pub fn stats_path(&self, hv: &str) -> PathBuf {
        self.dir.join(format!("{hv}.stats.json"))
    }

    pub fn socket_path(&self, hv: &str) -> PathBuf {
        self.dir.join(format!("{hv}.sock"))
    }

    pub fn state_path(&self, hv: &str) -> PathBuf {
        self.dir.join(format!("{hv}.state.json"))
    }

    /// Runs `xvsctl` against `hv`'s control socket.
    pub fn xvsctl(&self, hv: &str, args: &[&str]) -> Output {
        let mut c = Command::new(self.bin.join("xvsctl"));
        c.arg("--socket").arg(self.socket_path(hv)).args(args);
        run(&mut c)
    }

    /// Runs `xvsctl` and panics with its stderr if it fails; returns stdout.
    pub fn xvsctl_ok(&self, hv: &str, args: &[&str]) -> String {
        let out = self.xvsctl(hv, args);
        assert!(
            out.status.success(),
            "xvsctl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn log_path(&self, hv: &str) -> PathBuf {
        self.dir.join(format!("{hv}.log"))
    }

    /// Where `hv`'s xvswitchd writes its firewall log (`--firewall-log`):
    /// one JSON line per logged connection decision.
    pub fn firewall_log_path(&self, hv: &str) -> PathBuf {
        self.dir.join(format!("{hv}-firewall.log"))
    }

    /// Whether the daemons were started with `--firewall-log` (the flag is
    /// passed only when `xvswitchd --help` mentions it).
    pub fn has_firewall_log(&mut self) -> bool {
        *self.firewall_log_flag.get_or_insert_with(|| {
            let help = run(Command::new(self.bin.join("xvswitchd")).arg("--help"));
            String::from_utf8_lossy(&help.stdout).contains("--firewall-log")
        })
    }

    /// `hv`'s counters as `xvsctl --json stats` reports them.
    pub fn stats_now(&self, hv: &str) -> serde_json::Value {
        serde_json::from_str(&self.xvsctl_ok(hv, &["--json", "stats"])).expect("stats json")
    }

    /// Turns IPv6 on in `pod` with its address [`PodSpec::ip6`] (no DAD, so
    /// it is usable at once; the kernel adds the link-local address of the
    /// pod's MAC, which spoofguard allows).
    pub fn enable_ipv6(&self, pod: &str) {
        let p = pod_spec(pod);
        let mut c = self.cmd(pod, "sysctl");
        c.args([
            "-qw",
            "net.ipv6.conf.all.accept_dad=0",
            "net.ipv6.conf.default.accept_dad=0",
            "net.ipv6.conf.eth0.accept_dad=0",
            "net.ipv6.conf.eth0.accept_ra=0",
            "net.ipv6.conf.all.disable_ipv6=0",
            "net.ipv6.conf.eth0.disable_ipv6=0",
        ]);
        must(&mut c);
        self.ip(
            pod,
            &format!("-6 addr replace {}/64 dev eth0 nodad", p.ip6()),
        );
    }

    /// Turns IPv6 off in `pod` again (its addresses go with it).
    pub fn disable_ipv6(&self, pod: &str) {
        let mut c = self.cmd(pod, "sysctl");
        c.args([
            "-qw",
            "net.ipv6.conf.eth0.disable_ipv6=1",
            "net.ipv6.conf.all.disable_ipv6=1",
        ]);
        run(&mut c);
    }

    /// Starts `hv`'s xvswitchd and waits until it reports ready.
    pub fn start_daemon(&mut self, hv: &'static str) {
        let spec = HVS.iter().find(|h| h.name == hv).expect("known hv");
        let _ = fs::remove_file(self.stats_path(hv));
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(hv))
            .expect("log file");
        let cores = thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let mut c = self.cmd(hv, &self.bin.join("xvswitchd").to_string_lossy());
        c.arg("--config")
            .arg(self.config_path(hv))
            .arg("--stats-file")
            .arg(self.stats_path(hv))
            .arg("--state-file")
            .arg(self.state_path(hv))
            .arg("--socket")
            .arg(self.socket_path(hv))
            .args(["--stats-interval-ms", "100"])
            // Each hypervisor namespace has its own loopback.
            .args(["--metrics-listen", "127.0.0.1:9477"]);
        if self.workers > 1 {
            // One core per worker, from the hypervisor's own (shared when
            // the machine has fewer).
            let list: Vec<String> = (0..self.workers as usize)
                .map(|i| ((spec.core + i) % cores).to_string())
                .collect();
            c.args(["--workers", &self.workers.to_string()])
                .args(["--cores", &list.join(",")]);
        } else {
            c.args(["--core", &(spec.core % cores).to_string()]);
        }
        if self.has_firewall_log() {
            c.arg("--firewall-log").arg(self.firewall_log_path(hv));
        }
        c.stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        let mut child = c.spawn().expect("spawn xvswitchd");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.stats_path(hv).exists() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "xvswitchd on {hv} exited with {status}: {}",
                    fs::read_to_string(self.log_path(hv)).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "xvswitchd on {hv} not ready");
            thread::sleep(Duration::from_millis(50));
        }
        self.daemons.push((hv, child));
    }

    /// Stops `hv`'s xvswitchd with `signal`; returns its exit status code
    /// (None if killed by a signal).
    pub fn stop_daemon(&mut self, hv: &str, signal: i32) -> Option<i32> {
        let i = self.daemons.iter().position(|(h, _)| *h == hv)?;
        let (_, mut child) = self.daemons.remove(i);
        // `ip netns exec` execs the daemon, so the child pid is the daemon.
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(child.id() as i32, signal) };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Pings `ip` from `node` (count pings, up to `wait` seconds for each).
    pub fn ping(&self, node: &str, ip: Ipv4Addr, count: u32) -> bool {
        let mut c = self.cmd(node, "ping");
        c.args(["-c", &count.to_string(), "-i", "0.2", "-W", "2", "-q"])
            .arg(ip.to_string());
        run(&mut c).status.success()
    }

    /// Sends `count` new flows (`proto` `syn` or `udp`, each from its own
    /// source port drawn from `seed`) as raw frames from pod `from`'s eth0
    /// (its own MAC and address) to pod `to`'s address and `dport`, at most
    /// `pps` a second (`xvs-probe flows`).
    #[allow(clippy::too_many_arguments)]
    pub fn send_flows(
        &self,
        from: &str,
        to: &str,
        proto: &str,
        dport: u16,
        count: u64,
        seed: u64,
        pps: u32,
    ) {
        let (f, t) = (pod_spec(from), pod_spec(to));
        let probe = self.bin.join("xvs-probe");
        let out = must(self.cmd(from, &probe.to_string_lossy()).args([
            "flows",
            "--iface",
            "eth0",
            "--proto",
            proto,
            "--count",
            &count.to_string(),
            "--src-mac",
            &mac_str(&f.mac),
            "--dst-mac",
            &mac_str(&t.mac),
            "--src-ip",
            &f.ip.to_string(),
            "--dst-ip",
            &t.ip.to_string(),
            "--dport",
            &dport.to_string(),
            "--seed",
            &seed.to_string(),
            "--pps",
            &pps.to_string(),
        ]));
        assert_eq!(out.trim(), format!("sent={count}"), "flows from {from}");
    }

    /// Pings until one succeeds or `tries` pings failed (ARP warm-up).
    pub fn ping_until(&self, node: &str, ip: Ipv4Addr, tries: u32) -> bool {
        (0..tries).any(|_| self.ping(node, ip, 1))
    }

    /// Reads `hv`'s stats file (written by xvswitchd every 100 ms).
    pub fn stats(&self, hv: &str) -> serde_json::Value {
        let text = fs::read_to_string(self.stats_path(hv)).expect("stats file");
        serde_json::from_str(&text).expect("stats json")
    }

    /// Waits until the stats file was rewritten after now, then reads it.
    pub fn fresh_stats(&self, hv: &str) -> serde_json::Value {
        let path = self.stats_path(hv);
        let before = fs::metadata(&path).and_then(|m| m.modified()).ok();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
            let now = fs::metadata(&path).and_then(|m| m.modified()).ok();
            if now.is_some() && now != before {
                // One more period, so the rewrite started after our traffic.
                thread::sleep(Duration::from_millis(150));
                return self.stats(hv);
            }
        }
        self.stats(hv)
    }

    /// Summary of both daemons' counters, for logs and the demo.
    pub fn counters_summary(&self) -> String {
        let mut out = String::new();
        for hv in &HVS {
            let s = self.fresh_stats(hv.name);
            let _ = writeln!(out, "{}:", hv.name);
            if let Some(ports) = s["ports"].as_object() {
                for (name, p) in ports {
                    let _ = writeln!(
                        out,
                        "  port {name:<6} switch {:<6} rx {:>6} tx {:>6} drops {}",
                        p["switch"].as_str().unwrap_or("?"),
                        p["rx_packets"],
                        p["tx_packets"],
                        p["drops"]
                    );
                }
            }
            let _ = writeln!(
                out,
                "  uplink rx {} tx {} drops {}",
                s["uplink"]["rx_packets"], s["uplink"]["tx_packets"], s["uplink"]["drops"]
            );
        }
        out
    }
}

impl Testbed {
    /// Leaves the testbed running (daemons included) and returns its run id;
    /// `down(run_id)` removes it later.
    pub fn keep(mut self) -> String {
        for (_, child) in self.daemons.drain(..) {
            std::mem::forget(child);
        }
        let id = self.run_id.clone();
        std::mem::forget(self);
        id
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        for (_, child) in &mut self.daemons {
            // SAFETY: signalling our own child process.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        }
        for (_, child) in &mut self.daemons {
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        down(&self.run_id);
        if std::env::var_os("XVS_KEEP_RUN_DIR").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

pub fn ns_name(run_id: &str, node: &str) -> String {
    format!("{NS_PREFIX}{run_id}-{node}")
}

/// The run ids that have namespaces on this machine.
pub fn runs() -> Vec<String> {
    let out = run(Command::new("ip").args(["netns", "list"]));
    let mut ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|ns| {
            ns.strip_prefix(NS_PREFIX)?
                .split_once('-')
                .map(|(id, _)| id.to_string())
        })
        .filter(|id| id.len() == 6 && id.chars().all(|c| c.is_ascii_hexdigit()))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Removes everything of run `run_id`: kills the processes in its
/// namespaces, then deletes the namespaces (which deletes their interfaces,
/// tc filters and XDP programs).
pub fn down(run_id: &str) {
    let prefix = format!("{NS_PREFIX}{run_id}-");
    let out = run(Command::new("ip").args(["netns", "list"]));
    let namespaces: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|ns| ns.starts_with(&prefix))
        .map(String::from)
        .collect();
    for ns in &namespaces {
        let pids = run(Command::new("ip").args(["netns", "pids", ns]));
        for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
            if let Ok(pid) = pid.parse::<i32>() {
                // SAFETY: killing a process that lives in our run's namespace.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
    for ns in &namespaces {
        // A process just killed may hold the namespace for a moment.
        for _ in 0..50 {
            if run(Command::new("ip").args(["netns", "del", ns]))
                .status
                .success()
            {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
    let dir = std::env::temp_dir().join(format!("xvs-testbed-{run_id}"));
    if std::env::var_os("XVS_KEEP_RUN_DIR").is_none() && Path::new(&dir).exists() {
        let _ = fs::remove_dir_all(dir);
    }
}

/// The runner of the testbed's test programs (`harness = false`): checks
/// for root, builds one testbed, runs the cases whose name contains the
/// first non-flag argument (all by default) in order, each caught on its
/// own, prints the daemons' log tails on a failure, tears the testbed down
/// and exits with `<suite>: N passed, M failed` as its last line.
pub mod xvsctl;

pub mod harness {
    use std::{
        panic::{catch_unwind, AssertUnwindSafe},
        time::Instant,
    };

    use crate::{Testbed, HVS};

    /// A named test case.
    pub type Case = (&'static str, fn(&mut Testbed));

    pub fn run(suite: &str, cases: &[Case], warm_up: impl FnOnce(&Testbed)) -> ! {
        run_with_workers(suite, 1, cases, warm_up)
    }

    /// As [`run`], on a testbed whose daemons run `workers` workers.
    pub fn run_with_workers(
        suite: &str,
        workers: u32,
        cases: &[Case],
        warm_up: impl FnOnce(&Testbed),
    ) -> ! {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("{suite}: must run as root (network namespaces, XDP)");
            std::process::exit(1);
        }
        let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
        let started = Instant::now();
        let mut tb = Testbed::up_with_workers(workers);
        println!("testbed run {} up in {:.1?}", tb.run_id, started.elapsed());
        warm_up(&tb);
        let (mut passed, mut failed) = (0, 0);
        for (name, case) in cases
            .iter()
            .filter(|(n, _)| filter.as_ref().is_none_or(|f| n.contains(f.as_str())))
        {
            let t = Instant::now();
            match catch_unwind(AssertUnwindSafe(|| case(&mut tb))) {
                Ok(()) => {
                    passed += 1;
                    println!("test {name} ... ok ({:.1?})", t.elapsed());
                }
                Err(_) => {
                    failed += 1;
                    println!("test {name} ... FAILED");
                    for hv in HVS.iter().map(|h| h.name) {
                        let log = std::fs::read_to_string(tb.log_path(hv)).unwrap_or_default();
                        let lines: Vec<&str> = log.lines().collect();
                        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
                        println!("--- {hv} log (tail) ---\n{tail}");
                    }
                }
            }
        }
        drop(tb);
        println!("\n{suite}: {passed} passed, {failed} failed");
        std::process::exit(if failed == 0 { 0 } else { 1 });
    }
}
