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
    /// What the stalls alone make a frame wait that arrives at a random
    /// moment and is served at once otherwise: exceeded by 1 % and by 0.1 %
    /// of such frames (the latency floor a switch on this CPU cannot go
    /// below at those percentiles).
    pub wait_p99_us: f64,
    pub wait_p999_us: f64,
}

impl std::fmt::Display for Stalls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CPU {} over {:.1} s: {} stalls ({:.2} % of the time), {} of 100 us or more, {} of 1 ms or more, the longest {:.0} us; a frame arriving at a random moment would wait for the CPU more than {:.1} us 1 % of the time, {:.1} us 0.1 %",
            self.cpu,
            self.secs,
            self.count,
            self.lost_pct,
            self.over_100us,
            self.over_1ms,
            self.max_us,
            self.wait_p99_us,
            self.wait_p999_us
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
    /// Every stall (a few thousand a second at most).
    gaps: Vec<Duration>,
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
            gaps: Vec::with_capacity(1 << 16),
        }
    }

    #[inline]
    fn gap(&mut self, gap: Duration) {
        if gap <= self.threshold {
            return;
        }
        self.s.count += 1;
        self.lost += gap;
        if self.gaps.len() < self.gaps.capacity() {
            self.gaps.push(gap);
        }
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
        self.s.wait_p99_us = wait_exceeded_by(&self.gaps, elapsed, 0.01) * 1e6;
        self.s.wait_p999_us = wait_exceeded_by(&self.gaps, elapsed, 0.001) * 1e6;
        self.s
    }
}

/// The wait `w` (seconds) that a moment drawn at random over `elapsed`
/// exceeds with probability `share`, where a moment inside a stall of
/// length `g` waits out the rest of it: P(wait > w) = sum of (g - w) over
/// the stalls longer than w, over `elapsed`. 0 when the stalls are too few.
fn wait_exceeded_by(gaps: &[Duration], elapsed: Duration, share: f64) -> f64 {
    let total = elapsed.as_secs_f64();
    let over = |w: f64| -> f64 {
        gaps.iter()
            .map(|g| (g.as_secs_f64() - w).max(0.0))
            .sum::<f64>()
            / total.max(1e-12)
    };
    if over(0.0) <= share {
        return 0.0;
    }
    // `over` falls as w grows: bisect between 0 and the longest stall.
    let (mut lo, mut hi) = (
        0.0,
        gaps.iter().map(Duration::as_secs_f64).fold(0.0, f64::max),
    );
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if over(mid) > share {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
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

    #[test]
    fn the_wait_a_random_moment_sees_comes_from_the_long_stalls() {
        let ms = Duration::from_millis;
        // One stall of 10 ms in a second: a random moment falls in it 1 %
        // of the time, and waits more than w for (10 ms - w) / 1 s of them.
        let one = [ms(10)];
        assert_eq!(wait_exceeded_by(&one, ms(1000), 0.01), 0.0);
        let w = wait_exceeded_by(&one, ms(1000), 0.001);
        assert!((w - 0.009).abs() < 1e-9, "{w}");
        // Ten stalls of 2 ms: 2 % of the time; 1 % waits more than 1 ms.
        let ten = [ms(2); 10];
        let w = wait_exceeded_by(&ten, ms(1000), 0.01);
        assert!((w - 0.001).abs() < 1e-9, "{w}");
        // No stalls, no wait.
        assert_eq!(wait_exceeded_by(&[], ms(1000), 0.01), 0.0);
    }
}
