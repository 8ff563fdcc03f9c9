//! `xvs-tagger`: installs the node-VM VLAN tagger (tc BPF, clsact ingress)
//! in the current network namespace: frames from each pod-facing interface
//! get the pod's VLAN id pushed and leave through the vNIC; tagged frames
//! arriving on the vNIC are popped and sent to their pod.
//!
//! The programs stay attached after this command exits (tc holds them);
//! deleting the interfaces or the namespace removes them.

use std::{os::fd::AsFd, process::ExitCode};

use clap::Parser;
use libbpf_rs::{MapCore, MapFlags, ObjectBuilder, TcHookBuilder, TC_INGRESS};

static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/tagger.bpf.o"));

#[derive(Parser)]
#[command(
    about = "Install the node-VM VLAN tagger (tc BPF) in this network namespace",
    after_help = "Example:\n  xvs-tagger --vnic eth0 --pod p1a=10 --pod p1b=11"
)]
struct Args {
    /// The node VM's vNIC (toward the hypervisor).
    #[arg(long)]
    vnic: String,
    /// A pod-facing interface and its VLAN id, as IFNAME=VLAN.
    #[arg(long = "pod", value_parser = parse_pod, required = true)]
    pods: Vec<(String, u32)>,
}

fn parse_pod(s: &str) -> Result<(String, u32), String> {
    let (name, vlan) = s.split_once('=').ok_or("expected IFNAME=VLAN")?;
    let vlan: u32 = vlan.parse().map_err(|e| format!("VLAN: {e}"))?;
    if !(1..=4094).contains(&vlan) {
        return Err("VLAN must be in 1..=4094".into());
    }
    Ok((name.to_string(), vlan))
}

fn run(args: Args) -> Result<(), String> {
    let obj = ObjectBuilder::default()
        .open_memory(OBJECT)
        .and_then(|o| o.load())
        .map_err(|e| format!("loading tagger: {e}"))?;
    let map = |name: &str| {
        obj.maps()
            .find(|m| m.name() == name)
            .ok_or_else(|| format!("map {name} missing"))
    };
    let prog = |name: &str| {
        obj.progs()
            .find(|p| p.name() == name)
            .ok_or_else(|| format!("program {name} missing"))
    };
    let vnic = testbed::ifindex(&args.vnic)?;
    let upd = |m: &str, k: u32, v: u32| -> Result<(), String> {
        map(m)?
            .update(&k.to_ne_bytes(), &v.to_ne_bytes(), MapFlags::ANY)
            .map_err(|e| format!("{m}: {e}"))
    };
    upd("vnic", 0, vnic)?;
    let attach = |ifidx: u32, p: &str| -> Result<(), String> {
        let prog = prog(p)?;
        let mut hook = TcHookBuilder::new(prog.as_fd())
            .ifindex(ifidx as i32)
            .replace(true)
            .handle(1)
            .priority(1)
            .hook(TC_INGRESS);
        // The clsact qdisc may already exist (a re-run): attach decides.
        let _ = hook.create();
        hook.attach()
            .map_err(|e| format!("attach {p} on ifindex {ifidx}: {e}"))?;
        Ok(())
    };
    for (name, vlan) in &args.pods {
        let pod = testbed::ifindex(name)?;
        upd("vlan_of_pod", pod, *vlan)?;
        upd("pod_of_vlan", *vlan, pod)?;
        attach(pod, "from_pod")?;
    }
    attach(vnic, "from_vnic")?;
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xvs-tagger: {e}");
            ExitCode::FAILURE
        }
    }
}
