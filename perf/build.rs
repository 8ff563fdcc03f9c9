//! Compiles the benchmark sink (`bpf/sink.bpf.c`, an XDP program) with clang.
include!("../datapath/build_bpf.rs");

fn main() {
    println!("cargo:rerun-if-changed=../datapath/build_bpf.rs");
    compile_bpf("sink");
}
