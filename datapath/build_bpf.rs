// Shared by the build scripts of `datapath` and `testbed` (via include!):
// compiles `bpf/<name>.bpf.c` with clang into `$OUT_DIR/<name>.bpf.o`.
// The crate must depend on libbpf-sys directly, which exports its
// bpf_helpers.h headers as DEP_BPF_INCLUDE.

fn compile_bpf(name: &str) {
    use std::{env, path::PathBuf, process::Command};
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let libbpf_include = env::var("DEP_BPF_INCLUDE").expect("DEP_BPF_INCLUDE from libbpf-sys");
    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("target arch");
    let src = format!("bpf/{name}.bpf.c");
    println!("cargo:rerun-if-changed={src}");
    let obj = out.join(format!("{name}.bpf.o"));
    let status = Command::new("clang")
        .args(["-O2", "-g", "-Wall", "-Werror", "-target", "bpf"])
        .arg(format!("-I{libbpf_include}"))
        .arg(format!("-I/usr/include/{arch}-linux-gnu"))
        .args(["-c", &src, "-o"])
        .arg(&obj)
        .status()
        .expect("running clang (install clang: see README)");
    assert!(status.success(), "clang failed to compile {src}");
}
