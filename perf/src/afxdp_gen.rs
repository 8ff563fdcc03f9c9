//! A paced sender on an AF_XDP socket: the latency generator of `xvs-bench`.
//!
//! `xvs-pktgen` (XDP live frames) is the generator for throughput, but it
//! sends in test runs of thousands of frames at full speed and cannot pace
//! finely. Latency at a given load needs evenly spaced frames, each stamped
//! just before it leaves: this sender puts `burst` frames on the socket's
//! transmit ring every `burst / rate` seconds (spinning for the last part of
//! each gap), each with the CLOCK_MONOTONIC time in its last 8 bytes, where
//! the benchmark sink reads it. A copy-mode AF_XDP socket reaches about
//! 1 Mpps here: enough for half of a switch's maximum and for light load.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use datapath::{
    frames::{chunk_base, FrameMemory, FRAME_SIZE, RX_HEADROOM},
    xsk::Umem,
};
use libxdp_sys::xdp_desc;

use crate::{netns::in_netns, pktgen::tail_timestamp_offset};

/// What to send.
pub struct Paced<'a> {
    /// Namespace and interface to send out of.
    pub ns: &'a str,
    pub dev: &'a str,
    /// The frame (its last 8 bytes are overwritten by the timestamp; its
    /// L4 checksum must not cover them, e.g. UDP with checksum 0).
    pub frame: &'a [u8],
    /// Frames per second.
    pub rate: u64,
    pub duration: Duration,
    /// Stop after this many frames.
    pub count: Option<u64>,
    /// Vary a big-endian 16-bit word over the flows (frame i carries
    /// `base + i % flows`); the L4 checksum must not cover it either.
    pub vary: Option<VaryWord>,
    /// CPU to pin the sending thread to.
    pub cpu: Option<usize>,
}

/// A word varied per frame.
#[derive(Debug, Clone, Copy)]
pub struct VaryWord {
    pub offset: usize,
    pub base: u16,
    pub flows: u32,
}

/// What was sent.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    pub frames: u64,
    pub secs: f64,
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Sends `p.frame` at `p.rate` for `p.duration` (or until `stop`), on the
/// calling thread.
pub fn send(p: &Paced<'_>, stop: &AtomicBool) -> Result<Sent, String> {
    if p.rate == 0 {
        return Err("rate must be at least 1 frame/s".into());
    }
    if p.frame.len() < 60 || p.frame.len() > FRAME_SIZE - RX_HEADROOM {
        return Err(format!("frame of {} bytes does not fit", p.frame.len()));
    }
    if let Some(v) = p.vary {
        if v.flows == 0 || v.offset + 2 > p.frame.len() - 8 {
            return Err(format!("bad varied word {v:?}"));
        }
    }
    if let Some(id) = p.cpu {
        if !core_affinity::set_for_current(core_affinity::CoreId { id }) {
            return Err(format!("pinning the latency sender to CPU {id}"));
        }
    }
    const RING: u32 = 2048;
    let (mut umem, mut sock) = in_netns(p.ns, || {
        let mut umem = Umem::new(RING * 2, RING).map_err(|e| format!("sender UMEM: {e}"))?;
        let sock = umem
            .socket(p.dev, 0)
            .map_err(|e| format!("sender socket on {}'s {}: {e}", p.ns, p.dev))?;
        Ok((umem, sock))
    })?;
    let mut free: Vec<u64> = (0..umem.frames() as u64)
        .map(|i| i * FRAME_SIZE as u64)
        .collect();
    for chunk in &free {
        // SAFETY: nothing is on any ring yet: every chunk is ours.
        let bytes = unsafe { umem.chunk_mut(*chunk) };
        bytes[RX_HEADROOM..RX_HEADROOM + p.frame.len()].copy_from_slice(p.frame);
    }
    let ts_off = RX_HEADROOM + tail_timestamp_offset(p.frame);
    // Bursts as short as the sender can afford (a copy-mode kick costs a
    // syscall, each frame ~1 µs): one frame per burst below 200 kpps, 5 at
    // 1 Mpps.
    let burst = (p.rate / 200_000).clamp(1, 16) as usize;
    let gap = Duration::from_secs_f64(burst as f64 / p.rate as f64);
    let mut descs = Vec::with_capacity(burst);
    let mut done = [0u64; 256];
    let start = Instant::now();
    let mut next = start;
    let mut sent = 0u64;
    let limit = p.count.unwrap_or(u64::MAX);
    while !stop.load(Ordering::Relaxed) && start.elapsed() < p.duration && sent < limit {
        // Wait for the burst's time: sleep most of a long gap, spin the rest.
        loop {
            let now = Instant::now();
            if now >= next {
                break;
            }
            let left = next - now;
            if left > Duration::from_micros(200) {
                std::thread::sleep(left - Duration::from_micros(100));
            } else {
                std::hint::spin_loop();
            }
        }
        next += gap;
        let c = sock.comp.consume(&mut done);
        free.extend(done[..c].iter().map(|a| chunk_base(*a)));
        descs.clear();
        let now = monotonic_ns().to_be_bytes();
        let want = (burst as u64).min(limit - sent) as usize;
        while descs.len() < want {
            let Some(chunk) = free.pop() else { break };
            // SAFETY: the chunk is on no ring (taken from the free list).
            let bytes = unsafe { umem.chunk_mut(chunk) };
            bytes[ts_off..ts_off + 8].copy_from_slice(&now);
            if let Some(v) = p.vary {
                let i = sent + descs.len() as u64;
                let word = v.base.wrapping_add((i % u64::from(v.flows)) as u16);
                let at = RX_HEADROOM + v.offset;
                bytes[at..at + 2].copy_from_slice(&word.to_be_bytes());
            }
            descs.push(xdp_desc {
                addr: chunk + RX_HEADROOM as u64,
                len: p.frame.len() as u32,
                options: 0,
            });
        }
        let n = sock.tx.produce(&descs);
        for d in &descs[n..] {
            free.push(d.addr - RX_HEADROOM as u64);
        }
        sock.kick_tx();
        sent += n as u64;
    }
    // Let the last frames leave before the socket closes.
    let drain = Instant::now() + Duration::from_millis(200);
    let mut outstanding = umem.frames() as usize - free.len();
    while outstanding > 0 && Instant::now() < drain {
        sock.kick_tx();
        let c = sock.comp.consume(&mut done);
        free.extend(done[..c].iter().map(|a| chunk_base(*a)));
        outstanding = umem.frames() as usize - free.len();
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(Sent {
        frames: sent,
        secs: start.elapsed().as_secs_f64(),
    })
}
