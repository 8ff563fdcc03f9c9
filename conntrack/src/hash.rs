//! A small seeded non-cryptographic hash: the "folded multiply" (128-bit
//! product, halves xored) of wyhash/foldhash. Seeded per table so that flows
//! chosen to collide on one table do not collide on another; not a defence
//! against an attacker who can observe timings at length.

use std::hash::{BuildHasher, Hasher};

#[inline]
pub(crate) fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// splitmix64: spreads one seed into independent constants.
pub(crate) fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Four per-table constants derived from the configured seed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seed(pub [u64; 4]);

impl Seed {
    pub fn new(seed: u64) -> Self {
        let mut s = seed;
        // Odd constants never make a product collapse to 0 on their own.
        Self([
            splitmix(&mut s) | 1,
            splitmix(&mut s) | 1,
            splitmix(&mut s) | 1,
            splitmix(&mut s) | 1,
        ])
    }

    /// Hash of a connection key: addresses as four words, then zone, ports
    /// and protocol packed in two.
    #[inline]
    pub fn key(&self, addr: &[u64; 4], w4: u64, w5: u64) -> u64 {
        let s = &self.0;
        let h1 = fold_mul(addr[0] ^ s[0], addr[1] ^ s[1]);
        let h2 = fold_mul(addr[2] ^ s[2], addr[3] ^ s[3]);
        let h3 = fold_mul(w4 ^ s[1], w5 ^ s[2]);
        fold_mul(h1 ^ h3 ^ s[3], h2 ^ s[0])
    }
}

/// `BuildHasher` for the small side maps (zones, fragments).
#[derive(Clone, Copy, Debug)]
pub(crate) struct FoldBuild(pub u64);

impl BuildHasher for FoldBuild {
    type Hasher = FoldHasher;
    fn build_hasher(&self) -> FoldHasher {
        FoldHasher(self.0)
    }
}

pub(crate) struct FoldHasher(u64);

const K: u64 = 0x2d35_8dcc_aa6c_78a5;
const K2: u64 = 0x8bb8_4b93_962e_acc9;

impl Hasher for FoldHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    fn write_u8(&mut self, x: u8) {
        self.write_u64(u64::from(x));
    }
    fn write_u16(&mut self, x: u16) {
        self.write_u64(u64::from(x));
    }
    fn write_u32(&mut self, x: u32) {
        self.write_u64(u64::from(x));
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = fold_mul(self.0 ^ x, K);
    }
    fn write_u128(&mut self, x: u128) {
        self.write_u64(x as u64);
        self.write_u64((x >> 64) as u64);
    }
    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64);
    }
    fn finish(&self) -> u64 {
        fold_mul(self.0 ^ K2, K)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_change_the_hash() {
        let a = [1, 2, 3, 4];
        assert_ne!(Seed::new(1).key(&a, 5, 6), Seed::new(2).key(&a, 5, 6));
        assert_ne!(Seed::new(1).key(&a, 5, 6), Seed::new(1).key(&a, 5, 7));
    }
}
