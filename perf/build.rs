//! Compiles the benchmark sink (`bpf/sink.bpf.c`) and the packet generator
//! engine (`bpf/pktgen.bpf.c`), both XDP programs, with clang.
include!("../datapath/build_bpf.rs");

fn main() {
    println!("cargo:rerun-if-changed=../datapath/build_bpf.rs");
    compile_bpf("sink");
    compile_bpf("pktgen");
}
