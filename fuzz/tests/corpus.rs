//! Every committed seed through its target's checks, without libFuzzer
//! (`cargo test` in fuzz/): the seeds stay valid inputs that pass.

use std::{fs, path::Path};

use xvswitch_fuzz::pipeline::{check_pipeline, Path as Via};

fn each_seed(target: &str, check: impl Fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut n = 0;
    for entry in fs::read_dir(&dir).expect("corpus dir") {
        let path = entry.expect("entry").path();
        check(&fs::read(&path).expect("seed"));
        n += 1;
    }
    assert!(n >= 10, "{target}: only {n} seeds");
}

#[test]
fn parse_seeds() {
    each_seed("parse", xvswitch_fuzz::check_parse);
}

#[test]
fn geneve_decap_seeds() {
    each_seed("geneve_decap", xvswitch_fuzz::check_geneve_decap);
}

#[test]
fn guards_seeds() {
    each_seed("guards", xvswitch_fuzz::check_guards);
}

#[test]
fn pipeline_vif_seeds() {
    each_seed("pipeline_vif", |d| check_pipeline(Via::Vif, d));
}

#[test]
fn pipeline_uplink_seeds() {
    each_seed("pipeline_uplink", |d| check_pipeline(Via::Uplink, d));
}

/// Not a check: which drop reasons the pipeline corpora reach.
/// `FUZZ_CORPUS=<dir> cargo test --release -- --ignored --nocapture
/// drop_reasons_of` (a campaign's corpus; the seeds by default).
#[test]
#[ignore]
fn drop_reasons_of_a_corpus() {
    for (target, via) in [("pipeline_vif", Via::Vif), ("pipeline_uplink", Via::Uplink)] {
        let dir = std::env::var("FUZZ_CORPUS").map_or_else(
            |_| Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"),
            std::path::PathBuf::from,
        );
        let before = xvswitch_fuzz::pipeline::drop_totals();
        let mut n = 0;
        for entry in fs::read_dir(dir.join(target)).expect("corpus dir") {
            check_pipeline(via, &fs::read(entry.expect("entry").path()).expect("input"));
            n += 1;
        }
        println!("{target}: {n} inputs");
        for ((r, after), (_, before)) in xvswitch_fuzz::pipeline::drop_totals().iter().zip(before) {
            println!("  {:<24} {}", r.as_str(), after - before);
        }
    }
}
