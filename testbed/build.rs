//! Compiles the tc programs in `bpf/` (the node-VM tagger) with clang into `$OUT_DIR`, to be
//! embedded in the binary and loaded with libbpf-rs at run time.
use std::{env, path::PathBuf, process::Command};

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    // libbpf-sys (a direct dependency) exports its bpf_helpers.h headers.
    let libbpf_include = env::var("DEP_BPF_INCLUDE").expect("DEP_BPF_INCLUDE from libbpf-sys");
    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("target arch");
    let multiarch = format!("/usr/include/{arch}-linux-gnu");
    for name in ["tagger"] {
        let src = format!("bpf/{name}.bpf.c");
        println!("cargo:rerun-if-changed={src}");
        let obj = out.join(format!("{name}.bpf.o"));
        let status = Command::new("clang")
            .args(["-O2", "-g", "-Wall", "-Werror", "-target", "bpf"])
            .arg(format!("-I{libbpf_include}"))
            .arg(format!("-I{multiarch}"))
            .args(["-c", &src, "-o"])
            .arg(&obj)
            .status()
            .expect("running clang (install clang: see README)");
        assert!(status.success(), "clang failed to compile {src}");
    }
}
