//! How long a CPU goes without running a thread that wants it: a busy loop
//! pinned to the CPU reads the clock as fast as it can, and every gap
//! between two reads longer than a threshold is a stall (the thread was
//! not running: the hypervisor ran another vCPU, the kernel ran interrupts
//! or another task). On a dedicated core the gaps are a few microseconds at
//! most; on a shared VM's vCPU they can be milliseconds, and every frame a
//! switch on that CPU holds during one waits as long. `xvs-bench` measures
//! the switch's CPU this way while it is otherwise idle, next to the
//! latencies, so that a tail the machine makes is told from one the switch
//! makes.

use std::time::{Duration, Instant};

/// The stalls seen over one measurement.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stalls {
    pub cpu: usize,
    pub secs: f64,
    /// Gaps longer than the threshold.
    pub count: u64,
    /// Their total, as a share of the time measured.
    pub lost_pct: f64,
    /// Gaps of 100 µs or more, and of 1 ms or more.
    pub over_100us: u64,
    pub over_1ms: u64,
    pub max_us: f64,
}

impl std::fmt::Display for Stalls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CPU {} over {:.1} s: {} stalls ({:.2} % of the time), {} of 100 us or more, {} of 1 ms or more, the longest {:.0} us",
            self.cpu, self.secs, self.count, self.lost_pct, self.over_100us, self.over_1ms, self.max_us
        )
    }
}

/// Spins on `cpu` (pinned) for `dur`, counting every gap longer than
/// `threshold` between two clock reads. Runs on the calling thread.
pub fn measure(cpu: usize, dur: Duration, threshold: Duration) -> Result<Stalls, String> {
    if !core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
        return Err(format!("pinning the stall probe to CPU {cpu}"));
    }
    let mut tally = Tally::new(cpu, threshold);
    let start = Instant::now();
    let mut last = start;
    loop {
        let now = Instant::now();
        tally.gap(now - last);
        last = now;
        if now - start >= dur {
            break;
        }
    }
    Ok(tally.finish(last - start))
}

/// The stalls among the gaps between clock reads.
struct Tally {
    threshold: Duration,
    s: Stalls,
    lost: Duration,
    max: Duration,
}

impl Tally {
    fn new(cpu: usize, threshold: Duration) -> Tally {
        Tally {
            threshold,
            s: Stalls {
                cpu,
                ..Stalls::default()
            },
            lost: Duration::ZERO,
            max: Duration::ZERO,
        }
    }

    #[inline]
    fn gap(&mut self, gap: Duration) {
        if gap <= self.threshold {
            return;
        }
        self.s.count += 1;
        self.lost += gap;
        self.max = self.max.max(gap);
        if gap >= Duration::from_micros(100) {
            self.s.over_100us += 1;
        }
        if gap >= Duration::from_millis(1) {
            self.s.over_1ms += 1;
        }
    }

    fn finish(mut self, elapsed: Duration) -> Stalls {
        self.s.secs = elapsed.as_secs_f64();
        self.s.lost_pct = self.lost.as_secs_f64() / self.s.secs.max(1e-9) * 100.0;
        self.s.max_us = self.max.as_secs_f64() * 1e6;
        self.s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_above_the_threshold_are_stalls_binned_by_length() {
        let us = Duration::from_micros;
        let mut t = Tally::new(1, us(20));
        for g in [
            us(1),
            us(20),
            us(21),
            us(99),
            us(100),
            us(999),
            us(1000),
            us(4000),
        ] {
            t.gap(g);
        }
        let s = t.finish(Duration::from_millis(100));
        assert_eq!((s.cpu, s.count, s.over_100us, s.over_1ms), (1, 6, 4, 2));
        // 21 + 99 + 100 + 999 + 1000 + 4000 µs of 100 ms.
        assert!((s.lost_pct - 6.219).abs() < 1e-9, "{s}");
        assert!((s.max_us - 4000.0).abs() < 1e-9, "{s}");
    }
}
