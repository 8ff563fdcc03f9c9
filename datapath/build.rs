//! Compiles the XDP programs (`bpf/xvs_xdp.bpf.c`) with clang, to be
//! embedded in xvswitchd and loaded with libbpf-rs at run time.
include!("build_bpf.rs");

fn main() {
    println!("cargo:rerun-if-changed=build_bpf.rs");
    compile_bpf("xvs_xdp");
}
