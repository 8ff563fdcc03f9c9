//! Compiles the node-VM tagger (`bpf/tagger.bpf.c`, tc programs) with clang,
//! to be embedded in xvs-tagger.
include!("../datapath/build_bpf.rs");

fn main() {
    println!("cargo:rerun-if-changed=../datapath/build_bpf.rs");
    compile_bpf("tagger");
}
