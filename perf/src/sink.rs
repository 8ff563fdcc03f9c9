//! The benchmark sink (`bpf/sink.bpf.c`): a native XDP program that counts
//! the IPv4 frames reaching an interface and drops them (or passes them, for
//! tcpdump), and optionally builds a histogram of the latency each frame's
//! trailing timestamp says it took.

use std::os::fd::AsFd;

use libbpf_rs::{MapCore, MapFlags, Object, ObjectBuilder, Xdp, XdpFlags};

use crate::netns::in_netns;

/// The compiled sink.
pub static SINK: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/sink.bpf.o"));

/// Width of a latency bucket, ns (`1 << LAT_SHIFT` in the program).
pub const LATENCY_BUCKET_NS: u64 = 256;
/// Number of latency buckets (`LAT_BUCKETS`); the last collects the rest.
pub const LATENCY_BUCKETS: u32 = 8192;

/// One sink, attached to one interface (detached when dropped).
pub struct Sink {
    obj: Object,
    ns: String,
    ifindex: i32,
}

/// What the sink has counted so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub packets: u64,
    pub bytes: u64,
}

impl Sink {
    /// Loads a sink and attaches it in native mode to `dev` in `ns`.
    pub fn attach(ns: &str, dev: &str) -> Result<Sink, String> {
        let obj = ObjectBuilder::default()
            .open_memory(SINK)
            .and_then(|o| o.load())
            .map_err(|e| format!("loading the sink (sink.bpf.o): {e}"))?;
        let ifindex = in_netns(ns, || {
            let idx = testbed::ifindex(dev)? as i32;
            let prog = obj
                .progs()
                .find(|p| p.name() == "xvs_sink")
                .ok_or("xvs_sink program missing from the sink object")?;
            Xdp::new(prog.as_fd())
                .attach(idx, XdpFlags::DRV_MODE)
                .map_err(|e| format!("attaching the sink to {ns}'s {dev}: {e}"))?;
            Ok(idx)
        })?;
        Ok(Sink {
            obj,
            ns: ns.to_string(),
            ifindex,
        })
    }

    fn map(&self, name: &str) -> Result<libbpf_rs::Map<'_>, String> {
        self.obj
            .maps()
            .find(|m| m.name() == name)
            .ok_or_else(|| format!("{name} map missing from the sink object"))
    }

    /// The counts so far (summed over CPUs).
    pub fn counts(&self) -> Result<Counts, String> {
        let per_cpu = self
            .map("sink_counts")?
            .lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY)
            .map_err(|e| format!("reading sink_counts: {e}"))?
            .unwrap_or_default();
        let mut c = Counts::default();
        for v in per_cpu.iter().filter(|v| v.len() >= 16) {
            c.packets += u64::from_ne_bytes(v[0..8].try_into().unwrap_or_default());
            c.bytes += u64::from_ne_bytes(v[8..16].try_into().unwrap_or_default());
        }
        Ok(c)
    }

    /// Pass counted frames to the kernel (`true`) or drop them; record
    /// latencies or not.
    pub fn configure(&self, pass: bool, latency: bool) -> Result<(), String> {
        let mut v = [0u8; 8];
        v[0..4].copy_from_slice(&u32::from(pass).to_ne_bytes());
        v[4..8].copy_from_slice(&u32::from(latency).to_ne_bytes());
        self.map("sink_cfg")?
            .update(&0u32.to_ne_bytes(), &v, MapFlags::ANY)
            .map_err(|e| format!("writing sink_cfg: {e}"))
    }

    /// The latency histogram (summed over CPUs), one count per bucket.
    pub fn latency(&self) -> Result<Vec<u64>, String> {
        let map = self.map("sink_latency")?;
        let mut hist = vec![0u64; LATENCY_BUCKETS as usize];
        for (i, h) in hist.iter_mut().enumerate() {
            let per_cpu = map
                .lookup_percpu(&(i as u32).to_ne_bytes(), MapFlags::ANY)
                .map_err(|e| format!("reading sink_latency: {e}"))?
                .unwrap_or_default();
            *h = per_cpu
                .iter()
                .filter(|v| v.len() >= 8)
                .map(|v| u64::from_ne_bytes(v[..8].try_into().unwrap_or_default()))
                .sum();
        }
        Ok(hist)
    }

    /// Empties the latency histogram.
    pub fn clear_latency(&self) -> Result<(), String> {
        let map = self.map("sink_latency")?;
        let ncpu = libbpf_rs::num_possible_cpus().map_err(|e| format!("possible CPUs: {e}"))?;
        let zeros = vec![vec![0u8; 8]; ncpu];
        for i in 0..LATENCY_BUCKETS {
            map.update_percpu(&i.to_ne_bytes(), &zeros, MapFlags::ANY)
                .map_err(|e| format!("clearing sink_latency: {e}"))?;
        }
        Ok(())
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let (ns, idx) = (self.ns.clone(), self.ifindex);
        // The namespace may already be gone (its interfaces with it).
        let _ = in_netns(&ns, || {
            let prog = self
                .obj
                .progs()
                .find(|p| p.name() == "xvs_sink")
                .ok_or("no program")?;
            Xdp::new(prog.as_fd())
                .detach(idx, XdpFlags::DRV_MODE)
                .map_err(|e| e.to_string())
        });
    }
}

/// The latency at quantile `q` (0..=1) of a histogram, in ns (the upper
/// edge of the bucket it falls in); None for an empty histogram.
pub fn quantile_ns(hist: &[u64], q: f64) -> Option<u64> {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return None;
    }
    let want = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0u64;
    for (i, n) in hist.iter().enumerate() {
        seen += n;
        if seen >= want {
            return Some((i as u64 + 1) * LATENCY_BUCKET_NS);
        }
    }
    Some(hist.len() as u64 * LATENCY_BUCKET_NS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_a_histogram() {
        assert_eq!(quantile_ns(&[0, 0, 0], 0.5), None);
        // 100 frames: 50 in bucket 0, 49 in bucket 3, 1 in bucket 9.
        let mut h = vec![0u64; 10];
        h[0] = 50;
        h[3] = 49;
        h[9] = 1;
        assert_eq!(quantile_ns(&h, 0.5), Some(256));
        assert_eq!(quantile_ns(&h, 0.51), Some(4 * 256));
        assert_eq!(quantile_ns(&h, 0.99), Some(4 * 256));
        assert_eq!(quantile_ns(&h, 0.999), Some(10 * 256));
        assert_eq!(quantile_ns(&h, 0.0), Some(256));
    }
}
