//! Summaries of the runs and the report: a table for people, CSV files
//! for tools, a PNG chart (gnuplot).

use std::{fmt::Write as _, fs, path::Path, process::Command};

use super::{Latency, Run};

/// Median, min and max of the runs of one case on one switch.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub runs: usize,
    pub mpps: f64,
    pub mpps_min: f64,
    pub mpps_max: f64,
    pub gbps: f64,
    pub cpu_pct: f64,
    pub steal_pct: f64,
    pub offered_mpps: f64,
    pub probe_mpps: f64,
}

/// The median of `v` (mean of the middle two for an even count).
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

pub fn summarize(runs: &[Run]) -> Summary {
    let col = |f: fn(&Run) -> f64| -> Vec<f64> { runs.iter().map(f).collect() };
    let mpps = col(|r| r.mpps);
    Summary {
        runs: runs.len(),
        mpps: median(&mpps),
        mpps_min: mpps.iter().copied().fold(f64::INFINITY, f64::min),
        mpps_max: mpps.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        gbps: median(&col(|r| r.gbps)),
        cpu_pct: median(&col(|r| r.cpu_pct)),
        steal_pct: median(&col(|r| r.steal_pct)),
        offered_mpps: median(&col(|r| r.offered_mpps)),
        probe_mpps: median(&col(|r| r.probe_mpps)),
    }
}

/// One row of the throughput table: a case, and each switch's summary.
pub struct Row {
    pub case: String,
    /// (switch name, summary), in column order; None = not measured.
    pub cells: Vec<(String, Option<Summary>)>,
}

fn cell(s: &Option<Summary>) -> String {
    match s {
        Some(s) => format!(
            "{:.3} [{:.3}-{:.3}] {:>5.2}G {:>3.0}%",
            s.mpps, s.mpps_min, s.mpps_max, s.gbps, s.cpu_pct
        ),
        None => "-".into(),
    }
}

fn ratio(a: &Option<Summary>, b: &Option<Summary>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b.mpps > 0.0 => format!("{:.2}x", a.mpps / b.mpps),
        _ => "-".into(),
    }
}

/// The throughput table: Mpps median [min-max], Gbit/s, the switch's CPU%,
/// then xvswitch's ratio to every other column.
pub fn throughput_table(rows: &[Row]) -> String {
    let mut t = String::new();
    let Some(first) = rows.first() else {
        return t;
    };
    let names: Vec<&str> = first.cells.iter().map(|(n, _)| n.as_str()).collect();
    let _ = write!(t, "{:<34}", "case");
    for n in &names {
        let _ = write!(t, " | {:<36}", format!("{n} Mpps [min-max] Gbit/s CPU"));
    }
    for n in names.iter().skip(1) {
        let _ = write!(t, " | {:>9}", format!("x/{n}"));
    }
    let _ = writeln!(t, " | steal");
    for r in rows {
        let _ = write!(t, "{:<34}", r.case);
        for (_, s) in &r.cells {
            let _ = write!(t, " | {:<36}", cell(s));
        }
        for (_, s) in r.cells.iter().skip(1) {
            let _ = write!(t, " | {:>9}", ratio(&r.cells[0].1, s));
        }
        let steal = r
            .cells
            .iter()
            .filter_map(|(_, s)| s.map(|s| s.steal_pct))
            .fold(0.0f64, f64::max);
        let _ = writeln!(t, " | {steal:.1}%");
    }
    t
}

pub fn throughput_csv(rows: &[Row]) -> String {
    let mut c = String::from(
        "case,switch,runs,mpps_median,mpps_min,mpps_max,gbps_median,cpu_pct_median,steal_pct_median,offered_mpps_median,probe_mpps_median\n",
    );
    for r in rows {
        for (n, s) in &r.cells {
            if let Some(s) = s {
                let _ = writeln!(
                    c,
                    "{},{n},{},{:.4},{:.4},{:.4},{:.4},{:.1},{:.2},{:.4},{:.3}",
                    r.case,
                    s.runs,
                    s.mpps,
                    s.mpps_min,
                    s.mpps_max,
                    s.gbps,
                    s.cpu_pct,
                    s.steal_pct,
                    s.offered_mpps,
                    s.probe_mpps
                );
            }
        }
    }
    c
}

/// A latency row: what was measured, on which switch, and the figures.
pub struct LatencyRow {
    pub what: String,
    pub switch: String,
    pub lat: Latency,
    /// The same load over a bare veth pair (no switch), for "added".
    pub baseline: Option<Latency>,
}

pub fn latency_table(rows: &[LatencyRow]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{:<36} {:<14} {:>9} {:>9} {:>9} {:>8} {:>8} {:>9} {:>24}",
        "load",
        "switch",
        "rate/s",
        "received",
        "p50 us",
        "p99 us",
        "p99.9 us",
        "CPU",
        "added p50/p99/p99.9 us"
    );
    for r in rows {
        let l = &r.lat;
        let added = match &r.baseline {
            Some(b) => format!(
                "{:.1}/{:.1}/{:.1}",
                l.p50_us - b.p50_us,
                l.p99_us - b.p99_us,
                l.p999_us - b.p999_us
            ),
            None => "-".into(),
        };
        let _ = writeln!(
            t,
            "{:<36} {:<14} {:>9} {:>9} {:>9.1} {:>8.1} {:>8.1} {:>8.1}% {:>24}",
            r.what, r.switch, l.rate, l.received, l.p50_us, l.p99_us, l.p999_us, l.cpu_pct, added
        );
    }
    t
}

pub fn latency_csv(rows: &[LatencyRow]) -> String {
    let mut c = String::from(
        "load,switch,rate,sent,received,p50_us,p99_us,p999_us,cpu_pct,base_p50_us,base_p99_us,base_p999_us,switch_cpu_stalled_pct,switch_cpu_stalls_over_1ms,switch_cpu_longest_stall_us,switch_cpu_wait_p99_us,switch_cpu_wait_p999_us\n",
    );
    for r in rows {
        let l = &r.lat;
        let (b50, b99, b999) = r.baseline.map_or((f64::NAN, f64::NAN, f64::NAN), |b| {
            (b.p50_us, b.p99_us, b.p999_us)
        });
        let (lost, over_1ms, longest, w99, w999) = r.baseline.and_then(|b| b.stalls).map_or(
            (f64::NAN, 0, f64::NAN, f64::NAN, f64::NAN),
            |s| {
                (
                    s.lost_pct,
                    s.over_1ms,
                    s.max_us,
                    s.wait_p99_us,
                    s.wait_p999_us,
                )
            },
        );
        let _ = writeln!(
            c,
            "{},{},{},{},{},{:.2},{:.2},{:.2},{:.1},{:.2},{:.2},{:.2},{:.3},{},{:.0},{:.1},{:.1}",
            r.what,
            r.switch,
            l.rate,
            l.sent,
            l.received,
            l.p50_us,
            l.p99_us,
            l.p999_us,
            l.cpu_pct,
            b50,
            b99,
            b999,
            lost,
            over_1ms,
            longest,
            w99,
            w999
        );
    }
    c
}

/// A PNG bar chart of the median Mpps per case and switch, drawn by
/// gnuplot from `csv`. Returns false (and says why) if gnuplot is missing.
pub fn chart(rows: &[Row], png: &Path) -> Result<(), String> {
    let dir = png.parent().unwrap_or(Path::new("."));
    let data = dir.join("throughput.dat");
    let mut d = String::new();
    let names: Vec<String> = rows
        .first()
        .map(|r| r.cells.iter().map(|(n, _)| n.clone()).collect())
        .unwrap_or_default();
    let _ = writeln!(d, "case {}", names.join(" "));
    for r in rows {
        let _ = write!(d, "\"{}\"", r.case);
        for (_, s) in &r.cells {
            let _ = write!(d, " {:.4}", s.map_or(f64::NAN, |s| s.mpps));
        }
        d.push('\n');
    }
    fs::write(&data, d).map_err(|e| e.to_string())?;
    let mut plot = format!(
        "set terminal png size {},720 font ',9'\nset output '{}'\n\
         set title 'Forwarding rate, one forwarding core (median of the runs)'\n\
         set ylabel 'Mpps'\nset style data histograms\nset style histogram clustered gap 1\n\
         set style fill solid 0.8 border -1\nset xtics rotate by -45 scale 0\nset key top right\nset bmargin 12\nset rmargin 14\n\
         set grid ytics\nset yrange [0:*]\nplot ",
        (400 + rows.len() * 45).min(4000),
        png.display()
    );
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            plot.push_str(", ");
        }
        let _ = write!(
            plot,
            "'{}' using {}:xtic(1) title '{n}'",
            data.display(),
            i + 2
        );
    }
    plot.push('\n');
    let script = dir.join("throughput.gp");
    fs::write(&script, plot).map_err(|e| e.to_string())?;
    crate::netns::check(Command::new("gnuplot").arg(&script))
        .map_err(|e| format!("{e} (apt-get install gnuplot-nox)"))?;
    let _ = fs::remove_file(&script);
    let _ = fs::remove_file(&data);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(mpps: f64) -> Run {
        Run {
            mpps,
            gbps: mpps * 0.5,
            cpu_pct: 100.0,
            steal_pct: 0.0,
            offered_mpps: 5.0,
            probe_mpps: 5.0,
        }
    }

    #[test]
    fn medians_and_ranges() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        let s = summarize(&[run(0.9), run(1.1), run(1.0), run(0.5), run(1.2)]);
        assert_eq!(s.runs, 5);
        assert_eq!(s.mpps, 1.0);
        assert_eq!((s.mpps_min, s.mpps_max), (0.5, 1.2));
    }

    #[test]
    fn table_and_csv_carry_every_switch_and_the_ratios() {
        let rows = vec![Row {
            case: "vif-uplink fw-1000 64B 1fl".into(),
            cells: vec![
                ("xvswitch".into(), Some(summarize(&[run(1.0)]))),
                ("testpmd".into(), Some(summarize(&[run(0.8)]))),
                ("ovs".into(), None),
            ],
        }];
        let t = throughput_table(&rows);
        assert!(t.contains("x/testpmd") && t.contains("x/ovs"), "{t}");
        assert!(t.contains("1.25x"), "{t}");
        let c = throughput_csv(&rows);
        assert_eq!(c.lines().count(), 3, "{c}");
        assert!(
            c.contains("vif-uplink fw-1000 64B 1fl,testpmd,1,0.8000"),
            "{c}"
        );
    }
}
