//! The switches under test: xvswitchd, DPDK testpmd (`net_af_xdp`, io
//! forwarding: the AF_XDP ceiling, no per-packet work) and Open vSwitch's
//! userspace datapath with AF_XDP ports doing xvswitch's job in OpenFlow.
//! Each is started for a case with its own files in a run directory, on the
//! same veths, and stopped by pid.

use std::{
    fmt::Write as _,
    fs,
    io::Write as _,
    path::{Path as FsPath, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use crate::{
    netns::{check, Namespaces},
    runner::{
        case::{addr::*, Case, Job, Path, UPLINK, VIF0, VIF1},
        mac,
        topology::Topology,
    },
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Xvswitch,
    /// xvswitchd with `--busy-poll` (never sleeps).
    XvswitchBusy,
    Testpmd,
    Ovs,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Xvswitch => "xvswitch",
            Kind::XvswitchBusy => "xvswitch-busy",
            Kind::Testpmd => "testpmd",
            Kind::Ovs => "ovs",
        }
    }
    /// Forwards frames unchanged (the ceiling, not a switch).
    pub fn is_io(self) -> bool {
        self == Kind::Testpmd
    }
}

/// Where things run.
#[derive(Debug, Clone, Copy)]
pub struct Placement {
    /// The switch's forwarding thread (xvswitchd's worker, testpmd's
    /// forwarding lcore, OVS's PMD thread).
    pub switch_cpu: usize,
    /// The generator (and with it the veth receive work it triggers).
    pub gen_cpu: usize,
    /// xvswitchd's workers; with more than one, worker i runs on CPU
    /// `switch_cpu + i` (modulo the CPUs there are), every interface has
    /// that many queues, and the generator sends from as many threads
    /// (CPUs `gen_cpu + i`), so each queue gets traffic.
    pub workers: usize,
}

impl Placement {
    fn cpus() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
    /// The CPUs of xvswitchd's workers.
    pub fn switch_cpus(&self) -> Vec<usize> {
        (0..self.workers)
            .map(|i| (self.switch_cpu + i) % Placement::cpus())
            .collect()
    }
    /// The CPUs of the generator's threads.
    pub fn gen_cpus(&self) -> Vec<usize> {
        (0..self.workers)
            .map(|i| (self.gen_cpu + i) % Placement::cpus())
            .collect()
    }
}

fn list(v: &[usize]) -> String {
    v.iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// A started switch.
pub struct Running {
    pub kind: Kind,
    /// The process whose CPU time is the switch's (all its threads).
    pub pid: u32,
    children: Vec<Child>,
    /// Kept open: testpmd exits when it closes.
    stdin: Option<std::process::ChildStdin>,
    dir: PathBuf,
    ns: String,
    ovs_ctl: Option<PathBuf>,
}

fn wait_for(
    what: &str,
    secs: u64,
    mut ok: impl FnMut() -> Result<bool, String>,
) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if ok()? {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("timed out after {secs} s waiting for {what}"));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn bin(name: &str) -> String {
    testbed::bin_dir().join(name).to_string_lossy().into_owned()
}

fn log_tail(path: &FsPath) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

/// Starts `kind` for `case` in `topo`'s switch namespace, files under `dir`.
pub fn start(
    kind: Kind,
    topo: &Topology,
    case: &Case,
    place: Placement,
    dir: &FsPath,
) -> Result<Running, String> {
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    match kind {
        Kind::Xvswitch | Kind::XvswitchBusy => start_xvswitch(kind, topo, case, place, dir),
        Kind::Testpmd => start_testpmd(topo, case, place, dir),
        Kind::Ovs => start_ovs(topo, case, place, dir),
    }
}

/// xvswitchd's configuration for `case`.
pub fn xvswitch_config(case: &Case) -> serde_json::Value {
    let rules = case.job.rules();
    let mut config = serde_json::json!({
        "local_tep": {"uplink": UPLINK, "ip": DUT_TEP.to_string()},
        "switches": [{"name": "bench", "vni": VNI, "remote_teps": [REMOTE_TEP.to_string()],
                      "remote_macs": [{"mac": mac(&R_MAC), "tep": REMOTE_TEP.to_string()}]}],
        "vifs": [{"name": "vm0", "interface": VIF0}, {"name": "vm1", "interface": VIF1}],
        "ports": [
            {"name": "a", "vif": "vm0", "vlan": A_VLAN, "switch": "bench", "mac": mac(&A_MAC), "ips": [A_IP.to_string()]},
            {"name": "b", "vif": "vm1", "vlan": B_VLAN, "switch": "bench", "mac": mac(&B_MAC), "ips": [B_IP.to_string()]},
        ],
    });
    if rules > 0 {
        // rules − 1 drop rules for other services, then the allow rule the
        // benchmark's connections match; everything else is dropped.
        let mut list: Vec<serde_json::Value> = (0..rules - 1)
            .map(|i| {
                serde_json::json!({"id": format!("deny-{i}"), "section": "bench", "priority": i,
                    "service": {"protocol": "udp", "dst_ports": [(20000 + i).to_string()]},
                    "action": "drop"})
            })
            .collect();
        list.push(
            serde_json::json!({"id": "allow-service", "section": "bench", "priority": rules,
            "service": {"protocol": "udp", "dst_ports": [SERVICE_PORT.to_string()]},
            "action": "allow"}),
        );
        config["firewall"] = serde_json::json!({"default_action": "drop"});
        config["sections"] = serde_json::json!([{"name": "bench", "position": 1}]);
        config["rules"] = serde_json::Value::Array(list);
    }
    config
}

fn start_xvswitch(
    kind: Kind,
    topo: &Topology,
    case: &Case,
    place: Placement,
    dir: &FsPath,
) -> Result<Running, String> {
    let config = dir.join("xvswitchd.json");
    fs::write(&config, xvswitch_config(case).to_string()).map_err(|e| e.to_string())?;
    let state = dir.join("state.json");
    let _ = fs::remove_file(&state);
    let stats = dir.join("stats.json");
    let _ = fs::remove_file(&stats);
    check(Namespaces::exec(&topo.dut, "ip").args([
        "addr",
        "replace",
        &format!("{DUT_TEP}/24"),
        "dev",
        UPLINK,
    ]))?;
    let log = fs::File::create(dir.join("xvswitchd.log")).map_err(|e| e.to_string())?;
    let mut cmd = Namespaces::exec(&topo.dut, &bin("xvswitchd"));
    cmd.arg("--config")
        .arg(&config)
        .arg("--state-file")
        .arg(&state)
        .arg("--stats-file")
        .arg(&stats)
        .arg("--socket")
        .arg(dir.join("xvswitchd.sock"))
        .arg("--firewall-log")
        .arg(dir.join("firewall.log"));
    if place.workers > 1 {
        cmd.args(["--workers", &place.workers.to_string()])
            .args(["--cores", &list(&place.switch_cpus())]);
    } else {
        cmd.args(["--core", &place.switch_cpu.to_string()]);
    }
    if kind == Kind::XvswitchBusy {
        cmd.arg("--busy-poll");
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("starting xvswitchd: {e}"))?;
    let mut r = Running {
        kind,
        pid: child.id(),
        children: vec![child],
        stdin: None,
        dir: dir.to_path_buf(),
        ns: topo.dut.clone(),
        ovs_ctl: None,
    };
    let log = dir.join("xvswitchd.log");
    wait_for("xvswitchd's stats file", 15, || {
        if let Ok(Some(st)) = r.children[0].try_wait() {
            return Err(format!("xvswitchd exited ({st}): {}", log_tail(&log)));
        }
        Ok(stats.exists())
    })?;
    // The remote TEP's MAC (xvswitchd asks the kernel's neighbour table).
    let tep = REMOTE_TEP.to_string();
    let _ = Namespaces::exec(&topo.dut, "ping")
        .args(["-c", "1", "-W", "1", &tep])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    wait_for("the remote TEP's neighbour entry", 10, || {
        let out = check(Namespaces::exec(&topo.dut, "ip").args(["neigh", "show", &tep]))?;
        Ok(out.contains("lladdr"))
    })?;
    // One stats period for the worker to pick the neighbour up.
    thread::sleep(Duration::from_millis(700));
    r.check_alive()?;
    Ok(r)
}

fn start_testpmd(
    topo: &Topology,
    case: &Case,
    place: Placement,
    dir: &FsPath,
) -> Result<Running, String> {
    let (a, b) = case.path.ends();
    let log = fs::File::create(dir.join("testpmd.log")).map_err(|e| e.to_string())?;
    // Main lcore on the generator's CPU (it only waits for stdin), the
    // forwarding lcore on the switch's.
    let lcores = format!("{},{}", place.gen_cpu, place.switch_cpu);
    // Line-buffered, so its log shows when it is ready.
    let mut child = Namespaces::exec(&topo.dut, "stdbuf")
        .args(["-oL", "-eL", "dpdk-testpmd"])
        .args(["-l", &lcores, "--main-lcore", &place.gen_cpu.to_string()])
        .args(["--no-huge", "--no-shconf", "-m", "1024", "--no-pci"])
        .arg(format!("--vdev=net_af_xdp0,iface={a},busy_budget=0"))
        .arg(format!("--vdev=net_af_xdp1,iface={b},busy_budget=0"))
        .args(["--", "--forward-mode=io", "--nb-cores=1", "--auto-start"])
        .args(["--rxd=1024", "--txd=1024", "--burst=64"])
        .stdin(Stdio::piped())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("starting dpdk-testpmd (apt-get install dpdk-dev): {e}"))?;
    let stdin = child.stdin.take();
    let mut r = Running {
        kind: Kind::Testpmd,
        pid: child.id(),
        children: vec![child],
        stdin,
        dir: dir.to_path_buf(),
        ns: topo.dut.clone(),
        ovs_ctl: None,
    };
    let log = dir.join("testpmd.log");
    wait_for("testpmd to start forwarding", 30, || {
        if let Ok(Some(st)) = r.children[0].try_wait() {
            return Err(format!("testpmd exited ({st}): {}", log_tail(&log)));
        }
        let text = fs::read_to_string(&log).unwrap_or_default();
        if text.contains("failed to initialize") || text.contains("Bus (vdev) probe failed") {
            return Err(format!(
                "testpmd could not open its ports: {}",
                log_tail(&log)
            ));
        }
        Ok(text.contains("Press enter to exit"))
    })?;
    Ok(r)
}

/// Open vSwitch doing xvswitch's job: table 0 classifies by (vif, VLAN)
/// with spoofguard (source MAC and IP) and pops the tag; table 1/2 the
/// firewall out of the source port (one ct zone per logical port, so a
/// reply coming into the port finds the connection it opened; established
/// → on, new → the rules, commit); table 3 the L2 lookup (remote MAC →
/// Geneve tunnel); table 4/5 the firewall into the destination port; table 6 push
/// the destination port's tag and output.
pub fn ovs_flows(case: &Case) -> String {
    let mut f = String::new();
    let mut w = |s: String| {
        f.push_str(&s);
        f.push('\n');
    };
    let (a, b, r) = (mac(&A_MAC), mac(&B_MAC), mac(&R_MAC));
    w(format!("table=0,priority=100,in_port={VIF0},dl_vlan={A_VLAN},dl_src={a},ip,nw_src={A_IP} actions=strip_vlan,load:1->NXM_NX_REG0[],resubmit(,1)"));
    w(format!("table=0,priority=100,in_port={VIF1},dl_vlan={B_VLAN},dl_src={b},ip,nw_src={B_IP} actions=strip_vlan,load:2->NXM_NX_REG0[],resubmit(,1)"));
    w("table=0,priority=100,in_port=gnv0,ip actions=resubmit(,3)".into());
    w("table=0,priority=0 actions=drop".into());
    // Out of the source port (its zone in reg0).
    firewall_tables(&mut w, case.job, 1, "NXM_NX_REG0[0..15]", 3);
    // L2 lookup.
    w(format!(
        "table=3,priority=100,dl_dst={a} actions=load:1->NXM_NX_REG1[],resubmit(,4)"
    ));
    w(format!(
        "table=3,priority=100,dl_dst={b} actions=load:2->NXM_NX_REG1[],resubmit(,4)"
    ));
    w(format!(
        "table=3,priority=100,dl_dst={r} actions=output:gnv0"
    ));
    w("table=3,priority=0 actions=drop".into());
    // Into the destination port (its zone in reg1).
    firewall_tables(&mut w, case.job, 4, "NXM_NX_REG1[0..15]", 6);
    w(format!(
        "table=6,priority=100,reg1=1 actions=mod_vlan_vid:{A_VLAN},output:{VIF0}"
    ));
    w(format!(
        "table=6,priority=100,reg1=2 actions=mod_vlan_vid:{B_VLAN},output:{VIF1}"
    ));
    w("table=6,priority=0 actions=drop".into());
    f
}

/// One firewall check in tables `ct` and `ct + 1`: send the frame through
/// conntrack in `zone`, let established and related frames on to table
/// `next`, and new ones through the job's rules; with no firewall in the
/// job, straight on to `next`.
fn firewall_tables(w: &mut impl FnMut(String), job: Job, ct: u32, zone: &str, next: u32) {
    if job.rules() == 0 {
        w(format!("table={ct},priority=10 actions=resubmit(,{next})"));
        return;
    }
    let verdict = ct + 1;
    w(format!(
        "table={ct},priority=10,ip actions=ct(zone={zone},table={verdict})"
    ));
    for state in ["+trk+est", "+trk+rel"] {
        w(format!(
            "table={verdict},priority=100,ct_state={state},ip actions=resubmit(,{next})"
        ));
    }
    rules(w, job, verdict, zone, next);
}

/// The rule table `table` for new connections: the job's drop rules, then
/// the allow rule (commit, continue at `next`), then drop.
fn rules(w: &mut impl FnMut(String), job: Job, table: u32, zone: &str, next: u32) {
    let n = job.rules();
    for i in 0..n - 1 {
        w(format!(
            "table={table},priority={},ct_state=+trk+new,udp,tp_dst={} actions=drop",
            50_000 - i,
            20000 + i
        ));
    }
    w(format!(
        "table={table},priority={},ct_state=+trk+new,udp,tp_dst={SERVICE_PORT} actions=ct(commit,zone={zone}),resubmit(,{next})",
        50_000 - n
    ));
    w(format!("table={table},priority=0 actions=drop"));
}

fn start_ovs(
    topo: &Topology,
    case: &Case,
    place: Placement,
    dir: &FsPath,
) -> Result<Running, String> {
    let db = dir.join("conf.db");
    let _ = fs::remove_file(&db);
    let sock = dir.join("db.sock");
    let env = |c: &mut Command| {
        for v in ["OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR"] {
            c.env(v, dir);
        }
    };
    let mut c = Command::new("ovsdb-tool");
    env(&mut c);
    check(
        c.arg("create")
            .arg(&db)
            .arg("/usr/share/openvswitch/vswitch.ovsschema"),
    )
    .map_err(|e| format!("{e} (apt-get install openvswitch-switch)"))?;
    let mut c = Command::new("ovsdb-server");
    env(&mut c);
    c.arg(&db).arg(format!("--remote=punix:{}", sock.display()));
    let dbserver = spawn_ovs(c, "ovsdb-server", dir)?;
    let ctl = dir.join("ovs-vswitchd.ctl");
    let mut r = Running {
        kind: Kind::Ovs,
        pid: 0,
        children: vec![dbserver],
        stdin: None,
        dir: dir.to_path_buf(),
        ns: topo.dut.clone(),
        ovs_ctl: Some(ctl.clone()),
    };
    wait_for("ovsdb-server's socket", 10, || Ok(sock.exists()))?;
    let vsctl = |args: &str| -> Result<String, String> {
        let mut c = Command::new("ovs-vsctl");
        env(&mut c);
        check(
            c.arg(format!("--db=unix:{}", sock.display()))
                .args(args.split_whitespace()),
        )
    };
    vsctl("--no-wait init")?;
    vsctl(&format!(
        "--no-wait set Open_vSwitch . other_config:pmd-cpu-mask={:#x}",
        1u64 << place.switch_cpu
    ))?;
    let mut c = Namespaces::exec(&topo.dut, "ovs-vswitchd");
    env(&mut c);
    c.arg(format!("unix:{}", sock.display()));
    let vswitchd = spawn_ovs(c, "ovs-vswitchd", dir)?;
    r.pid = vswitchd.id();
    r.children.push(vswitchd);
    wait_for("ovs-vswitchd's control socket", 15, || Ok(ctl.exists()))?;
    let (rm, tep, up_mac) = (mac(&EXT_UPLINK_MAC), REMOTE_TEP, mac(&DUT_UPLINK_MAC));
    vsctl("add-br br-int -- set bridge br-int datapath_type=netdev fail-mode=secure")?;
    for dev in [VIF0, VIF1] {
        vsctl(&format!(
            "add-port br-int {dev} -- set interface {dev} type=afxdp options:xdp-mode=native"
        ))?;
    }
    vsctl(&format!("add-port br-int gnv0 -- set interface gnv0 type=geneve options:remote_ip={tep} options:key={VNI}"))?;
    vsctl(&format!("add-br br-phy -- set bridge br-phy datapath_type=netdev fail-mode=secure other_config:hwaddr={up_mac}"))?;
    vsctl(&format!(
        "add-port br-phy {UPLINK} -- set interface {UPLINK} type=afxdp options:xdp-mode=native"
    ))?;
    // The TEP address lives on br-phy, where OVS's tunnel code looks.
    let _ = check(Namespaces::exec(&topo.dut, "ip").args(["addr", "flush", "dev", UPLINK]));
    let ip = |args: &[&str]| check(Namespaces::exec(&topo.dut, "ip").args(args));
    ip(&["addr", "add", &format!("{DUT_TEP}/24"), "dev", "br-phy"])?;
    ip(&["link", "set", "br-phy", "up"])?;
    r.appctl(&format!("tnl/arp/set br-phy {tep} {rm}"))?;
    let flows = dir.join("br-int.flows");
    fs::write(&flows, ovs_flows(case)).map_err(|e| e.to_string())?;
    fs::write(
        dir.join("br-phy.flows"),
        format!("priority=10,in_port={UPLINK} actions=LOCAL\npriority=10,in_port=LOCAL actions=output:{UPLINK}\n"),
    )
    .map_err(|e| e.to_string())?;
    for br in ["br-int", "br-phy"] {
        let mgmt = dir.join(format!("{br}.mgmt"));
        wait_for("the bridge's OpenFlow socket", 10, || Ok(mgmt.exists()))?;
        check(
            Command::new("ovs-ofctl")
                .args(["-O", "OpenFlow13", "--bundle", "replace-flows"])
                .arg(format!("unix:{}", mgmt.display()))
                .arg(dir.join(format!("{br}.flows"))),
        )?;
    }
    wait_for("OVS's AF_XDP ports", 20, || {
        let show = r.appctl("dpif/show")?;
        Ok(show.matches("xdp-mode-in-use=native").count() == 3)
    })
    .map_err(|e| format!("{e}: {}", log_tail(&dir.join("ovs-vswitchd.log"))))?;
    Ok(r)
}

/// Starts an Open vSwitch daemon (`name`: ovsdb-server or ovs-vswitchd)
/// with its control socket `DIR/NAME.ctl` and log `DIR/NAME.log`.
fn spawn_ovs(mut c: Command, name: &str, dir: &FsPath) -> Result<Child, String> {
    c.arg(format!(
        "--unixctl={}",
        dir.join(format!("{name}.ctl")).display()
    ))
    .arg(format!(
        "--log-file={}",
        dir.join(format!("{name}.log")).display()
    ))
    .arg("--no-chdir")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .map_err(|e| format!("starting {name}: {e}"))
}

impl Running {
    /// `ovs-appctl` against this OVS.
    pub fn appctl(&self, args: &str) -> Result<String, String> {
        let ctl = self.ovs_ctl.as_ref().ok_or("not an OVS")?;
        check(
            Command::new("ovs-appctl")
                .arg("-t")
                .arg(ctl)
                .args(args.split_whitespace()),
        )
    }

    /// Fails if any of its processes exited.
    pub fn check_alive(&mut self) -> Result<(), String> {
        for c in &mut self.children {
            if let Ok(Some(st)) = c.try_wait() {
                return Err(format!(
                    "{} exited ({st}); logs in {}",
                    self.kind.name(),
                    self.dir.display()
                ));
            }
        }
        Ok(())
    }

    /// CPU time (user + system, all threads) the switch process used so
    /// far, in seconds.
    pub fn cpu_seconds(&self) -> Result<f64, String> {
        cpu_seconds(self.pid)
    }

    /// Stops everything it started (by pid) and undoes its addresses.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if self.kind == Kind::Ovs {
            let _ = self.appctl("exit --cleanup");
        }
        if let Some(mut s) = self.stdin.take() {
            let _ = s.write_all(b"\n");
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for c in self.children.iter_mut().rev() {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        self.children.clear();
        // OVS's internal ports and xvswitchd's TEP address.
        let _ = Namespaces::exec(&self.ns, "ip")
            .args(["link", "del", "br-phy"])
            .stderr(Stdio::null())
            .status();
        let _ = Namespaces::exec(&self.ns, "ip")
            .args(["link", "del", "br-int"])
            .stderr(Stdio::null())
            .status();
        let _ = Namespaces::exec(&self.ns, "ip")
            .args(["addr", "flush", "dev", UPLINK])
            .stderr(Stdio::null())
            .status();
        // A detached AF_XDP socket's queue frees a moment after close.
        thread::sleep(Duration::from_millis(300));
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.children.is_empty() {
            self.shutdown();
        }
    }
}

/// utime + stime of process `pid` (all threads), seconds.
pub fn cpu_seconds(pid: u32) -> Result<f64, String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // Fields after the command name (which may contain spaces).
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or("bad /proc/pid/stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state): utime is field 14, stime 15.
    let ticks = |i: usize| {
        f.get(i - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok((ticks(14) + ticks(15)) as f64 / hz)
}

/// A description of the placement for the report.
pub fn describe_placement(place: Placement) -> String {
    let mut s = String::new();
    if place.workers > 1 {
        let _ = write!(
            s,
            "{n} xvswitchd workers on CPUs {w} (every interface with {n} queues), the generator's {n} pairs of test-run \
             loops on CPUs {g} (a veth delivers a frame to the queue numbered like the sending CPU, so each worker \
             gets traffic, and the owner of a flow takes up what another worker received); every CPU runs \
             a generator thread with the veth receive work of its frames, and a worker with the copy-mode \
             transmit and the sink's XDP program",
            n = place.workers,
            w = list(&place.switch_cpus()),
            g = list(&place.gen_cpus()),
        );
        return s;
    }
    let _ = write!(
        s,
        "generator (xvs-pktgen, two test-run loops, so that one sends while the other waits out its \
         run's RCU grace periods) on CPU {g}, and with it the veth receive work its frames trigger \
         (XDP redirect into the switch's AF_XDP socket runs in the sender's context); \
         the switch's forwarding thread on CPU {w} (xvswitchd --core {w}; testpmd forwarding lcore {w}, \
         main lcore {g}; OVS pmd-cpu-mask CPU {w}, its other threads unpinned), and with it the copy-mode \
         transmit and the sink's XDP program (they run in the transmitting thread's context)",
        g = place.gen_cpu,
        w = place.switch_cpu
    );
    s
}

/// The switch's view for a case: which path, for display.
pub fn path_note(path: Path) -> &'static str {
    match path {
        Path::VifVif => "vif0 → vif1",
        Path::VifUplink => "vif0 → uplink",
        Path::UplinkVif => "uplink → vif0",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(job: Job) -> Case {
        Case {
            path: Path::VifVif,
            job,
            size: 60,
            flows: 1,
        }
    }

    #[test]
    fn ovs_flows_check_out_of_and_into_a_port_with_the_jobs_rules() {
        let f = ovs_flows(&case(Job::Fw1000));
        let lines: Vec<&str> = f.lines().collect();
        for want in [
            "table=1,priority=10,ip actions=ct(zone=NXM_NX_REG0[0..15],table=2)",
            "table=2,priority=100,ct_state=+trk+est,ip actions=resubmit(,3)",
            "table=4,priority=10,ip actions=ct(zone=NXM_NX_REG1[0..15],table=5)",
            "table=5,priority=100,ct_state=+trk+rel,ip actions=resubmit(,6)",
            "table=5,priority=49000,ct_state=+trk+new,udp,tp_dst=5678 actions=ct(commit,zone=NXM_NX_REG1[0..15]),resubmit(,6)",
        ] {
            assert!(lines.contains(&want), "missing {want}");
        }
        // 999 drop rules and the allow rule, in each of the two checks.
        let rules = |t: u32| {
            lines
                .iter()
                .filter(|l| l.starts_with(&format!("table={t},")) && l.contains("+trk+new"))
                .count()
        };
        assert_eq!((rules(2), rules(5)), (1000, 1000));
        let plain = ovs_flows(&case(Job::Switch));
        assert!(!plain.contains("ct("), "{plain}");
        assert!(plain.contains("table=1,priority=10 actions=resubmit(,3)"));
        assert!(plain.contains("table=4,priority=10 actions=resubmit(,6)"));
    }

    #[test]
    fn xvswitch_config_has_the_jobs_rules() {
        let c = xvswitch_config(&case(Job::Fw1000));
        assert_eq!(c["rules"].as_array().map(|r| r.len()), Some(1000));
        assert_eq!(c["firewall"]["default_action"], "drop");
        let plain = xvswitch_config(&case(Job::Switch));
        assert!(plain.get("rules").is_none(), "{plain}");
    }
}
