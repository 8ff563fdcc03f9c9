//! `xvs-testbed`: bring the two-hypervisor testbed up or down, or run the
//! demo (up, show pods reaching each other within and across hypervisors,
//! show the counters, down).

use std::{net::Ipv4Addr, process::ExitCode};

use clap::{Parser, Subcommand};
use testbed::{down, pod_spec, runs, Testbed, PODS};

#[derive(Parser)]
#[command(about = "The xvswitch two-hypervisor netns testbed")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the testbed, start both xvswitchd, leave it running; prints the run id.
    Up {
        /// Datapath workers per xvswitchd (each vNIC and uplink gets as
        /// many queues).
        #[arg(long, default_value_t = 1)]
        workers: u32,
    },
    /// Remove a run (namespaces, processes); with --all every run on this machine.
    Down {
        run_id: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// List the runs that have namespaces on this machine.
    List,
    /// Up, ping between pods (same VM, same hypervisor, across hypervisors,
    /// across switches), a checksummed TCP transfer across hypervisors,
    /// counters, down.
    Demo {
        /// Leave the testbed running afterwards.
        #[arg(long)]
        keep: bool,
    },
}

fn demo(keep: bool) -> bool {
    println!("bringing up the testbed (2 hypervisors, 3 node VMs, 6 pods) ...");
    let tb = Testbed::up();
    println!("run id {} (namespaces {}*)", tb.run_id, tb.ns(""));
    let cases = [
        (
            "pod1a",
            "pod1b",
            "same node VM (hairpinned through hv1)",
            true,
        ),
        ("pod1a", "pod2a", "two node VMs on hv1", true),
        (
            "pod1a",
            "pod3a",
            "across hypervisors (Geneve, switch blue)",
            true,
        ),
        (
            "pod2b",
            "pod3b",
            "across hypervisors (Geneve, switch green)",
            true,
        ),
        ("pod2a", "pod2b", "same node VM, different switches", false),
        (
            "pod1a",
            "pod3b",
            "across hypervisors, different switches",
            false,
        ),
    ];
    let mut ok = true;
    for (from, to, what, expect) in cases {
        let ip: Ipv4Addr = pod_spec(to).ip;
        let reached = if expect {
            tb.ping_until(from, ip, 5) && tb.ping(from, ip, 3)
        } else {
            tb.ping(from, ip, 2)
        };
        let verdict = match (reached, expect) {
            (true, true) => "reaches",
            (false, false) => "is isolated from",
            (true, false) => "REACHES (should be isolated from)",
            (false, true) => "DOES NOT REACH",
        };
        ok &= reached == expect;
        println!(
            "  {from} ({}) {verdict} {to} ({ip}): {what}",
            pod_spec(from).ip
        );
    }
    let (from, to) = (
        "pod1a",
        PODS.iter().find(|p| p.name == "pod3a").expect("pod"),
    );
    let mut recv = tb.cmd(to.name, &tb.bin.join("xvs-probe").to_string_lossy());
    recv.args(["tcp-recv", "--port", "5001", "--timeout", "60"]);
    let recv = recv
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("tcp-recv");
    let mut send = tb.cmd(from, &tb.bin.join("xvs-probe").to_string_lossy());
    send.args([
        "tcp-send",
        "--to",
        &format!("{}:5001", to.ip),
        "--bytes",
        "10485760",
    ]);
    let sent = testbed::run(&mut send);
    let got = recv.wait_with_output().expect("tcp-recv output");
    let sent_line = String::from_utf8_lossy(&sent.stdout).trim().to_string();
    let got_line = String::from_utf8_lossy(&got.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    let intact = sent.status.success() && !sent_line.is_empty() && sent_line == got_line;
    ok &= intact;
    println!(
        "  10 MiB TCP {from} -> {} across hypervisors: sent [{sent_line}] received [{got_line}] {}",
        to.name,
        if intact { "intact" } else { "MISMATCH" }
    );
    println!("counters:\n{}", tb.counters_summary());
    if keep {
        let id = tb.keep();
        println!("testbed left running; remove it with: xvs-testbed down {id}");
    }
    println!(
        "{}",
        if ok {
            "demo: pods reach each other across hypervisors through xvswitchd; switches are isolated"
        } else {
            "demo: FAILED"
        }
    );
    ok
}

fn main() -> ExitCode {
    match Args::parse().cmd {
        Cmd::Up { workers } => {
            let tb = Testbed::up_with_workers(workers);
            println!("{}", tb.keep());
        }
        Cmd::Down { run_id, all } => {
            let ids = if all {
                runs()
            } else {
                run_id.into_iter().collect()
            };
            for id in ids {
                down(&id);
                println!("removed run {id}");
            }
        }
        Cmd::List => {
            for id in runs() {
                println!("{id}");
            }
        }
        Cmd::Demo { keep } => {
            if !demo(keep) {
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
