//! The TCP connections the connection-table benchmarks track: flow `i` is
//! a distinct client address and port towards one server, in one zone,
//! with fixed initial sequence numbers, so every packet of its handshake
//! is known up front.

use conntrack::{
    tcp_flags::{ACK, SYN},
    Config, PacketFacts,
};

pub const ZONE: u32 = 1;
pub const SERVER: u128 = conntrack::v4(192, 168, 0, 1);
const ISN_A: u32 = 1_000;
const ISN_B: u32 = 7_000_000;

/// Flow `i`: a distinct client address and port towards one server.
pub fn client(i: u32) -> (u128, u16) {
    (
        conntrack::v4(10, (i >> 16) as u8, (i >> 8) as u8, i as u8),
        1024 + (i % 60000) as u16,
    )
}

/// The client's SYN of flow `i`.
pub fn syn(i: u32) -> PacketFacts {
    let (a, p) = client(i);
    PacketFacts::tcp(ZONE, a, SERVER, p, 80, SYN, ISN_A, 0, 64240)
}

/// The server's SYN-ACK of flow `i`.
pub fn synack(i: u32) -> PacketFacts {
    let (a, p) = client(i);
    PacketFacts::tcp(ZONE, SERVER, a, 80, p, SYN | ACK, ISN_B, ISN_A + 1, 65160)
}

/// A bare ACK of flow `i` once established: the server's (`reply`) or the
/// client's.
pub fn ack(i: u32, reply: bool) -> PacketFacts {
    let (a, p) = client(i);
    if reply {
        PacketFacts::tcp(ZONE, SERVER, a, 80, p, ACK, ISN_B + 1, ISN_A + 1, 65160)
    } else {
        PacketFacts::tcp(ZONE, a, SERVER, p, 80, ACK, ISN_A + 1, ISN_B + 1, 64240)
    }
}

/// A table of `n` entries (all in [`ZONE`]) with a fixed hash seed.
pub fn config(n: u32) -> Config {
    Config {
        max_entries: n,
        max_per_zone: n,
        hash_seed: 0x5eed,
        ..Config::default()
    }
}
