//! Frame memory: where the pipeline's frames live. The daemon's is the
//! AF_XDP UMEM ([`crate::xsk::Umem`]); tests and benchmarks use a plain heap
//! arena ([`HeapFrames`]) with the same layout, so every stage runs without
//! privileges.
//!
//! Memory is cut into [`FRAME_SIZE`] chunks; a frame lies inside one chunk,
//! received [`RX_HEADROOM`] bytes into it, which leaves room to push a VLAN
//! tag or write Geneve headers in front of it.

/// Size of one chunk. A frame plus its headroom must fit in one.
pub const FRAME_SIZE: usize = 4096;
/// Where received data starts inside a chunk (the kernel's
/// `XDP_PACKET_HEADROOM`).
pub const RX_HEADROOM: usize = 256;

/// Base address of the chunk holding offset `addr`.
#[inline]
pub fn chunk_base(addr: u64) -> u64 {
    addr & !(FRAME_SIZE as u64 - 1)
}

/// Offset of `addr` inside its chunk.
#[inline]
pub fn chunk_offset(addr: u64) -> usize {
    (addr & (FRAME_SIZE as u64 - 1)) as usize
}

/// Memory the pipeline's frames live in.
pub trait FrameMemory {
    /// Number of chunks.
    fn chunks(&self) -> u32;

    /// The whole chunk that contains offset `addr`.
    ///
    /// # Safety
    ///
    /// The caller owns the chunk: it was received from, completed by, or
    /// never handed to the kernel, and is not on any ring the kernel reads
    /// or writes while the returned borrow lives.
    unsafe fn chunk_mut(&mut self, addr: u64) -> &mut [u8];

    /// Copies the `len` bytes at `from` into chunk `to_chunk` at the
    /// receive offset and returns the copy's address.
    ///
    /// # Safety
    ///
    /// The caller owns both chunks (as for [`FrameMemory::chunk_mut`]), and
    /// they are different chunks.
    unsafe fn copy_frame(&mut self, from: u64, len: usize, to_chunk: u64) -> u64;

    /// Asks the CPU to fetch the cache line at `addr` (a hint: it reads
    /// nothing and changes nothing; an address outside the memory is
    /// ignored). A received frame was written by the kernel on another
    /// core: the pipeline prefetches a batch's headers before its first
    /// stage, so their misses overlap instead of stalling one by one.
    fn prefetch(&self, addr: u64);
}

/// Prefetches the cache line at `base + addr` if `addr < len`.
#[inline(always)]
pub fn prefetch_in(base: *const u8, len: usize, addr: u64) {
    if (addr as usize) < len {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the intrinsic needs SSE, which every x86_64 CPU has; a
        // prefetch is a hint that never faults and reads or writes nothing.
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                base.wrapping_add(addr as usize).cast(),
            )
        };
    }
}

/// A heap arena laid out like a UMEM: for tests, benchmarks and fuzzing.
pub struct HeapFrames {
    mem: Vec<u8>,
}

impl HeapFrames {
    pub fn new(chunks: u32) -> HeapFrames {
        HeapFrames {
            mem: vec![0; chunks as usize * FRAME_SIZE],
        }
    }

    /// Writes `bytes` into chunk `chunk` at the receive offset, as the
    /// kernel would; returns the frame's address. Panics if it does not fit
    /// (test input).
    pub fn receive(&mut self, chunk: u64, bytes: &[u8]) -> u64 {
        assert!(RX_HEADROOM + bytes.len() <= FRAME_SIZE, "frame too large");
        let at = chunk_base(chunk) as usize + RX_HEADROOM;
        self.mem[at..at + bytes.len()].copy_from_slice(bytes);
        at as u64
    }

    /// Copies chunk `addr` of `other` into the same chunk here: a frame
    /// that moves between two arenas standing for one shared memory.
    pub fn copy_chunk_from(&mut self, other: &HeapFrames, addr: u64) {
        let base = chunk_base(addr) as usize;
        self.mem[base..base + FRAME_SIZE].copy_from_slice(&other.mem[base..base + FRAME_SIZE]);
    }

    /// The bytes of a frame.
    pub fn bytes(&self, addr: u64, len: usize) -> &[u8] {
        &self.mem[addr as usize..addr as usize + len]
    }
}

impl FrameMemory for HeapFrames {
    fn chunks(&self) -> u32 {
        (self.mem.len() / FRAME_SIZE) as u32
    }

    unsafe fn chunk_mut(&mut self, addr: u64) -> &mut [u8] {
        let base = chunk_base(addr) as usize;
        &mut self.mem[base..base + FRAME_SIZE]
    }

    unsafe fn copy_frame(&mut self, from: u64, len: usize, to_chunk: u64) -> u64 {
        let to = chunk_base(to_chunk) as usize + RX_HEADROOM;
        assert!(chunk_offset(from) + len <= FRAME_SIZE && RX_HEADROOM + len <= FRAME_SIZE);
        self.mem.copy_within(from as usize..from as usize + len, to);
        to as u64
    }

    #[inline]
    fn prefetch(&self, addr: u64) {
        prefetch_in(self.mem.as_ptr(), self.mem.len(), addr);
    }
}
