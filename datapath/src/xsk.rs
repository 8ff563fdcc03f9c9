//! AF_XDP sockets and their shared UMEM: the one place that touches the
//! kernel's rings.
//!
//! The daemon's workers share one UMEM ([`SharedUmem`]) and each owns the
//! [`XskSocket`]s of its queues (one per interface queue), so a frame
//! received on one socket can be transmitted on another, by another worker,
//! without a copy. Frames are fixed-size chunks; the kernel writes a
//! received frame `XDP_PACKET_HEADROOM` (256) bytes into its chunk, which
//! leaves room to push a VLAN tag or write Geneve headers in front of it.
//!
//! Sockets and UMEM are created through libxdp (`xsk_umem__create`,
//! `xsk_socket__create_shared`) with program loading inhibited: xvswitchd
//! loads its own XDP programs (see [`crate::xdp`]). The ring operations are
//! implemented here, on the ring structs libxdp maps, with the same
//! acquire/release protocol as libxdp's inline helpers, so that a descriptor
//! can carry any address inside its chunk (xsk-rs 0.11 cannot express that).

use std::{
    ffi::CString,
    io,
    marker::PhantomData,
    os::fd::{AsRawFd, BorrowedFd, RawFd},
    ptr::{self, NonNull},
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc, Mutex,
    },
};

use libxdp_sys::{xdp_desc, xsk_ring_cons, xsk_ring_prod, xsk_socket, xsk_umem};
use thiserror::Error;

use crate::frames::FrameMemory;
pub use crate::frames::{chunk_base, chunk_offset, FRAME_SIZE, RX_HEADROOM};

const _: () = assert!(RX_HEADROOM == libxdp_sys::XDP_PACKET_HEADROOM as usize);
const XDP_RING_NEED_WAKEUP: u32 = 1;

/// Errors from setting up AF_XDP sockets.
#[derive(Debug, Error)]
pub enum XskError {
    #[error("mmap of {bytes} bytes for the UMEM failed: {source}")]
    Mmap { bytes: usize, source: io::Error },
    #[error("creating the UMEM failed: {0}")]
    UmemCreate(io::Error),
    #[error("interface name {0:?} contains a NUL byte")]
    BadName(String),
    #[error("creating the AF_XDP socket on {interface} queue {queue} failed: {source}")]
    SocketCreate {
        interface: String,
        queue: u32,
        source: io::Error,
    },
}

/// The frame area shared by a worker's sockets.
pub struct Umem {
    ptr: NonNull<xsk_umem>,
    area: NonNull<u8>,
    len: usize,
    /// The fill/completion rings created with the UMEM; handed to the first
    /// socket, whose (interface, queue) they then serve.
    first_rings: Option<(Box<xsk_ring_prod>, Box<xsk_ring_cons>)>,
    ring_size: u32,
}

// SAFETY: the UMEM's libxdp state is used by one thread at a time: its
// owner, or under the lock of the [`SharedUmem`] that holds it; the frame
// area is accessed under the chunk-ownership contract of FrameMemory.
unsafe impl Send for Umem {}

impl Umem {
    /// Maps `frames` chunks of [`FRAME_SIZE`] bytes and registers them.
    /// `ring_size` is the size of every fill/completion/rx/tx ring.
    pub fn new(frames: u32, ring_size: u32) -> Result<Umem, XskError> {
        let len = frames as usize * FRAME_SIZE;
        let area = map_frames(len).map_err(|source| XskError::Mmap { bytes: len, source })?;
        let mut fill = Box::new(zeroed_prod());
        let mut comp = Box::new(zeroed_cons());
        let config = libxdp_sys::xsk_umem_config {
            fill_size: ring_size,
            comp_size: ring_size,
            frame_size: FRAME_SIZE as u32,
            frame_headroom: 0,
            flags: 0,
        };
        let mut umem = ptr::null_mut();
        // SAFETY: `area` is a fresh mapping of `len` bytes that outlives the
        // UMEM (unmapped in Drop after xsk_umem__delete); the ring structs are
        // boxed so their addresses stay valid for libxdp.
        let err = unsafe {
            libxdp_sys::xsk_umem__create(
                &mut umem,
                area.as_ptr().cast(),
                len as u64,
                &mut *fill,
                &mut *comp,
                &config,
            )
        };
        if err != 0 || umem.is_null() {
            // SAFETY: unmapping the mapping made above, which nothing uses.
            unsafe { libc::munmap(area.as_ptr().cast(), len) };
            return Err(XskError::UmemCreate(io::Error::from_raw_os_error(-err)));
        }
        Ok(Umem {
            ptr: NonNull::new(umem).expect("checked non-null"),
            area,
            len,
            first_rings: Some((fill, comp)),
            ring_size,
        })
    }

    /// Number of chunks in the UMEM.
    pub fn frames(&self) -> u32 {
        (self.len / FRAME_SIZE) as u32
    }

    /// Opens an AF_XDP socket on `interface` queue `queue`, sharing this
    /// UMEM. XDP program loading is inhibited; bind the socket into a program's
    /// xskmap with [`XskSocket::fd`].
    pub fn socket(&mut self, interface: &str, queue: u32) -> Result<XskSocket, XskError> {
        let name = CString::new(interface).map_err(|_| XskError::BadName(interface.into()))?;
        let (mut fill, mut comp) = self
            .first_rings
            .take()
            .unwrap_or_else(|| (Box::new(zeroed_prod()), Box::new(zeroed_cons())));
        let mut rx = Box::new(zeroed_cons());
        let mut tx = Box::new(zeroed_prod());
        let config = libxdp_sys::xsk_socket_config {
            rx_size: self.ring_size,
            tx_size: self.ring_size,
            __bindgen_anon_1: libxdp_sys::xsk_socket_config__bindgen_ty_1 {
                libxdp_flags: libxdp_sys::XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
            },
            xdp_flags: 0,
            bind_flags: libxdp_sys::XDP_USE_NEED_WAKEUP as u16,
        };
        let mut xsk = ptr::null_mut();
        // SAFETY: all ring structs are boxed and kept alive in the returned
        // socket (or restored for the next socket on failure); the UMEM
        // outlives every socket because the worker drops sockets first.
        let err = unsafe {
            libxdp_sys::xsk_socket__create_shared(
                &mut xsk,
                name.as_ptr(),
                queue,
                self.ptr.as_ptr(),
                &mut *rx,
                &mut *tx,
                &mut *fill,
                &mut *comp,
                &config,
            )
        };
        if err != 0 || xsk.is_null() {
            if self.first_rings.is_none() && fill.ring.is_null() {
                self.first_rings = Some((fill, comp));
            }
            return Err(XskError::SocketCreate {
                interface: interface.into(),
                queue,
                source: io::Error::from_raw_os_error(-err),
            });
        }
        // SAFETY: `xsk` was just created and is valid.
        let fd = unsafe { libxdp_sys::xsk_socket__fd(xsk) };
        Ok(XskSocket {
            xsk: NonNull::new(xsk).expect("checked non-null"),
            fd,
            rx: RxRing::new(rx),
            tx: TxRing::new(tx),
            fill: FillRing::new(fill),
            comp: CompRing::new(comp),
            shared: None,
        })
    }
}

impl FrameMemory for Umem {
    fn chunks(&self) -> u32 {
        self.frames()
    }

    #[inline]
    unsafe fn chunk_mut(&mut self, addr: u64) -> &mut [u8] {
        // SAFETY: the area is the UMEM's mapping of `len` bytes; the
        // caller owns the chunk (this fn's contract) and `&mut self`
        // excludes any other borrow of UMEM memory through this handle.
        unsafe { area_chunk(self.area.as_ptr(), self.len, addr) }
    }

    #[inline]
    unsafe fn copy_frame(&mut self, from: u64, len: usize, to_chunk: u64) -> u64 {
        // SAFETY: as for chunk_mut; the caller owns both chunks.
        unsafe { area_copy(self.area.as_ptr(), self.len, from, len, to_chunk) }
    }

    #[inline]
    fn prefetch(&self, addr: u64) {
        crate::frames::prefetch_in(self.area.as_ptr(), self.len, addr);
    }
}

/// The chunk holding `addr` in the frame area at `area` (`len` bytes).
///
/// # Safety
///
/// `area` is a live mapping of `len` bytes, and the caller owns the chunk
/// (see [`FrameMemory::chunk_mut`]): no one else reads or writes it while
/// the borrow lives.
#[inline]
unsafe fn area_chunk<'a>(area: *mut u8, len: usize, addr: u64) -> &'a mut [u8] {
    let base = chunk_base(addr) as usize;
    assert!(base + FRAME_SIZE <= len, "UMEM address out of range");
    // SAFETY: the chunk lies inside the mapping (checked above); the
    // caller owns it (this fn's contract), so neither the kernel nor
    // another worker touches it while the borrow lives.
    unsafe { std::slice::from_raw_parts_mut(area.add(base), FRAME_SIZE) }
}

/// [`FrameMemory::copy_frame`] in the frame area at `area` (`len` bytes).
///
/// # Safety
///
/// As [`area_chunk`], for both chunks.
#[inline]
unsafe fn area_copy(area: *mut u8, size: usize, from: u64, len: usize, to_chunk: u64) -> u64 {
    let src = from as usize;
    let dst = chunk_base(to_chunk) as usize + RX_HEADROOM;
    assert!(chunk_offset(from) + len <= FRAME_SIZE && RX_HEADROOM + len <= FRAME_SIZE);
    assert!(
        src + len <= size && dst + len <= size,
        "UMEM address out of range"
    );
    assert!(
        chunk_base(from) != chunk_base(to_chunk),
        "copy within one chunk"
    );
    // SAFETY: both ranges lie inside the mapping, each within its own
    // chunk (checked above), and the chunks differ, so they do not
    // overlap; the caller owns both chunks (this fn's contract).
    unsafe { ptr::copy_nonoverlapping(area.add(src), area.add(dst), len) };
    dst as u64
}

/// A UMEM shared by the sockets of several workers (one per interface
/// queue each; libxdp gives every (interface, queue) its own fill and
/// completion rings). Creating and deleting sockets goes through a lock
/// (libxdp's UMEM bookkeeping is not thread-safe: control path only);
/// frames are read and written through each worker's [`UmemFrames`],
/// without one: a chunk belongs to one worker (or the kernel) at a time,
/// and passes between workers over rings that order the accesses.
pub struct SharedUmem {
    umem: Mutex<Umem>,
    /// The frame area's address (the mapping lives as long as the UMEM).
    area: usize,
    len: usize,
}

impl SharedUmem {
    pub fn new(umem: Umem) -> Arc<SharedUmem> {
        Arc::new(SharedUmem {
            area: umem.area.as_ptr() as usize,
            len: umem.len,
            umem: Mutex::new(umem),
        })
    }

    /// Number of chunks in the UMEM.
    pub fn frames(&self) -> u32 {
        (self.len / FRAME_SIZE) as u32
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Umem> {
        self.umem.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens an AF_XDP socket on `interface` queue `queue` (see
    /// [`Umem::socket`]); the socket keeps the UMEM alive.
    pub fn socket(self: &Arc<Self>, interface: &str, queue: u32) -> Result<XskSocket, XskError> {
        let mut sock = self.lock().socket(interface, queue)?;
        sock.shared = Some(Arc::clone(self));
        Ok(sock)
    }

    /// A worker's access to the frames.
    pub fn frames_handle(self: &Arc<Self>) -> UmemFrames {
        UmemFrames {
            area: self.area,
            len: self.len,
            _umem: Arc::clone(self),
        }
    }
}

/// One worker's access to the frames of a [`SharedUmem`].
pub struct UmemFrames {
    area: usize,
    len: usize,
    _umem: Arc<SharedUmem>,
}

impl FrameMemory for UmemFrames {
    fn chunks(&self) -> u32 {
        (self.len / FRAME_SIZE) as u32
    }

    #[inline]
    unsafe fn chunk_mut(&mut self, addr: u64) -> &mut [u8] {
        // SAFETY: `area` is the shared UMEM's mapping of `len` bytes, kept
        // alive by `_umem`; the caller owns the chunk (this fn's contract):
        // received from its own socket, taken from its own pool, or handed
        // over a ring by the worker that owned it before.
        unsafe { area_chunk(self.area as *mut u8, self.len, addr) }
    }

    #[inline]
    unsafe fn copy_frame(&mut self, from: u64, len: usize, to_chunk: u64) -> u64 {
        // SAFETY: as for chunk_mut; the caller owns both chunks.
        unsafe { area_copy(self.area as *mut u8, self.len, from, len, to_chunk) }
    }

    #[inline]
    fn prefetch(&self, addr: u64) {
        crate::frames::prefetch_in(self.area as *const u8, self.len, addr);
    }
}

impl Drop for Umem {
    fn drop(&mut self) {
        // SAFETY: every socket of this UMEM has been deleted (the worker drops
        // its sockets before the UMEM), so libxdp can release it; the area is
        // unmapped only afterwards.
        unsafe {
            libxdp_sys::xsk_umem__delete(self.ptr.as_ptr());
            libc::munmap(self.area.as_ptr().cast(), self.len);
        }
    }
}

fn zeroed_prod() -> xsk_ring_prod {
    xsk_ring_prod {
        cached_prod: 0,
        cached_cons: 0,
        mask: 0,
        size: 0,
        producer: ptr::null_mut(),
        consumer: ptr::null_mut(),
        ring: ptr::null_mut(),
        flags: ptr::null_mut(),
    }
}

fn zeroed_cons() -> xsk_ring_cons {
    xsk_ring_cons {
        cached_prod: 0,
        cached_cons: 0,
        mask: 0,
        size: 0,
        producer: ptr::null_mut(),
        consumer: ptr::null_mut(),
        ring: ptr::null_mut(),
        flags: ptr::null_mut(),
    }
}

/// 2 MiB: a transparent huge page on x86_64.
const HUGE_PAGE: usize = 2 << 20;

/// Maps `len` bytes for frames, 2 MiB-aligned and advised as transparent
/// huge pages, then faults them all in. A batch touches up to 64 frames,
/// each in its own 4 KiB chunk: with 4 KiB pages that is 64 TLB entries per
/// stage over the batch; with huge pages 32 chunks share one (the pipeline
/// benchmark measures the difference). Falls back to 4 KiB pages where the
/// kernel does not do THP.
fn map_frames(len: usize) -> io::Result<NonNull<u8>> {
    let span = len + HUGE_PAGE;
    // SAFETY: anonymous private mapping with no address hint; the result is
    // checked against MAP_FAILED before use.
    let raw = unsafe {
        libc::mmap(
            ptr::null_mut(),
            span,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let start = raw as usize;
    let aligned = (start + HUGE_PAGE - 1) & !(HUGE_PAGE - 1);
    let head = aligned - start;
    let tail = span - head - len;
    // SAFETY: the head and tail pieces lie inside the mapping just made and
    // nothing refers to them; what stays mapped is [aligned, aligned + len).
    unsafe {
        if head > 0 {
            libc::munmap(raw, head);
        }
        if tail > 0 {
            libc::munmap((aligned + len) as *mut libc::c_void, tail);
        }
        // Advice only: without THP the mapping keeps 4 KiB pages.
        libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
    }
    // Fault every page in now (as MAP_POPULATE did), not on the datapath.
    for page in (0..len).step_by(FRAME_SIZE) {
        // SAFETY: `page` is inside the mapping, which nothing else uses yet.
        unsafe { ptr::write_volatile((aligned + page) as *mut u8, 0) };
    }
    Ok(NonNull::new(aligned as *mut u8).expect("mmap returned a non-null mapping"))
}

/// One AF_XDP socket: an interface queue's rx/tx rings and the fill and
/// completion rings of its (interface, queue) in the shared UMEM.
pub struct XskSocket {
    xsk: NonNull<xsk_socket>,
    /// Owned by libxdp: closed by `xsk_socket__delete`.
    fd: RawFd,
    pub rx: RxRing,
    pub tx: TxRing,
    pub fill: FillRing,
    pub comp: CompRing,
    /// The UMEM when it is shared between workers: deleting the socket
    /// takes its lock, and the socket keeps it alive.
    shared: Option<Arc<SharedUmem>>,
}

// SAFETY: owned and used by one worker thread at a time.
unsafe impl Send for XskSocket {}

impl XskSocket {
    /// The socket's file descriptor, for the xskmap and for poll(); valid
    /// while the socket lives.
    pub fn fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the fd is open for as long as `self` (closed in Drop by
        // xsk_socket__delete), and the borrow cannot outlive `self`.
        unsafe { BorrowedFd::borrow_raw(self.fd) }
    }

    /// Asks the kernel to transmit what is on the tx ring (copy mode never
    /// drains it on its own). Returns false if the kernel made no progress.
    pub fn kick_tx(&self) -> bool {
        // SAFETY: a zero-length sendto on our own socket fd; no buffers.
        let ret =
            unsafe { libc::sendto(self.fd, ptr::null(), 0, libc::MSG_DONTWAIT, ptr::null(), 0) };
        if ret >= 0 {
            return true;
        }
        !matches!(
            io::Error::last_os_error().raw_os_error(),
            Some(libc::ENOBUFS | libc::EAGAIN | libc::EBUSY | libc::ENETDOWN)
        )
    }
}

/// Kernel statistics of the AF_XDP socket `fd` (readable from any thread).
pub fn socket_statistics(fd: BorrowedFd<'_>) -> io::Result<libxdp_sys::xdp_statistics> {
    let mut stats = libxdp_sys::xdp_statistics {
        rx_dropped: 0,
        rx_invalid_descs: 0,
        tx_invalid_descs: 0,
        rx_ring_full: 0,
        rx_fill_ring_empty_descs: 0,
        tx_ring_empty_descs: 0,
    };
    let mut len = std::mem::size_of_val(&stats) as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `stats`.
    let ret = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_XDP,
            libxdp_sys::XDP_STATISTICS as i32,
            (&mut stats as *mut libxdp_sys::xdp_statistics).cast(),
            &mut len,
        )
    };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(stats)
}

impl Drop for XskSocket {
    fn drop(&mut self) {
        // libxdp's UMEM bookkeeping, shared with the other workers' sockets.
        let _guard = self.shared.as_ref().map(|s| s.lock());
        // SAFETY: the socket was created by xsk_socket__create_shared and is
        // deleted once; its ring structs are still alive (fields drop after),
        // and so is the UMEM (held by `shared`, or by the worker that drops
        // its sockets first).
        unsafe { libxdp_sys::xsk_socket__delete(self.xsk.as_ptr()) };
    }
}

#[inline]
fn atomic<'a>(p: *mut u32) -> &'a AtomicU32 {
    // SAFETY: `p` points into a ring mapped by the kernel for the lifetime of
    // the socket, is 4-byte aligned, and is shared with the kernel only
    // through atomic accesses.
    unsafe { AtomicU32::from_ptr(p) }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for u64 {}
    impl Sealed for libxdp_sys::xdp_desc {}
}

/// The entry type of a ring: `u64` frame addresses for the fill and
/// completion rings, [`xdp_desc`] descriptors for rx and tx. Sealed: no
/// other type can be a ring entry.
pub trait RingEntry: Copy + sealed::Sealed {}
impl RingEntry for u64 {}
impl RingEntry for xdp_desc {}

/// A ring we produce into, typed by its entry: [`FillRing`] or [`TxRing`].
pub struct ProdRing<T: RingEntry>(Box<xsk_ring_prod>, PhantomData<T>);
/// Frame addresses handed to the kernel for receiving.
pub type FillRing = ProdRing<u64>;
/// Descriptors handed to the kernel for transmitting.
pub type TxRing = ProdRing<xdp_desc>;

impl<T: RingEntry> ProdRing<T> {
    fn new(ring: Box<xsk_ring_prod>) -> Self {
        ProdRing(ring, PhantomData)
    }

    /// Free slots, refreshing the cached consumer index only when needed.
    #[inline]
    pub fn free(&mut self, wanted: u32) -> u32 {
        let r = &mut *self.0;
        let free = r.cached_cons.wrapping_sub(r.cached_prod);
        if free >= wanted {
            return free;
        }
        r.cached_cons = atomic(r.consumer)
            .load(Ordering::Acquire)
            .wrapping_add(r.size);
        r.cached_cons.wrapping_sub(r.cached_prod)
    }

    /// Number of entries produced but not yet consumed by the kernel.
    #[inline]
    pub fn outstanding(&self) -> u32 {
        let r = &*self.0;
        r.cached_prod
            .wrapping_sub(atomic(r.consumer).load(Ordering::Acquire))
    }

    /// Writes as many entries as fit; returns how many.
    #[inline]
    pub fn produce(&mut self, items: &[T]) -> usize {
        let n = (self.free(items.len() as u32) as usize).min(items.len());
        let r = &mut *self.0;
        let ring = r.ring.cast::<T>();
        for (i, item) in items[..n].iter().enumerate() {
            let idx = r.cached_prod.wrapping_add(i as u32) & r.mask;
            // SAFETY: idx is masked into the ring, whose entries are `T` (the
            // type parameter is fixed by the ring's constructor); the slot is
            // ours until we publish it.
            unsafe { ring.add(idx as usize).write(*item) };
        }
        self.publish(n as u32);
        n
    }

    #[inline]
    fn publish(&mut self, n: u32) {
        if n == 0 {
            return;
        }
        let r = &mut *self.0;
        r.cached_prod = r.cached_prod.wrapping_add(n);
        atomic(r.producer).store(r.cached_prod, Ordering::Release);
    }

    /// Entries produced but not yet taken by the kernel, in ring order. Used
    /// to take back fill-ring frames before the socket is deleted.
    pub fn unconsumed(&self) -> Vec<T> {
        let r = &*self.0;
        if r.ring.is_null() {
            return Vec::new();
        }
        let cons = atomic(r.consumer).load(Ordering::Acquire);
        let n = r.cached_prod.wrapping_sub(cons);
        let ring = r.ring.cast::<T>();
        (0..n)
            .map(|i| {
                let idx = cons.wrapping_add(i) & r.mask;
                // SAFETY: idx is masked into the ring of `T`s, and the entries
                // between the kernel's consumer index and our producer index
                // are ones we wrote and the kernel has not taken.
                unsafe { ring.add(idx as usize).read() }
            })
            .collect()
    }

    /// Whether the kernel asked to be woken for this ring.
    #[inline]
    pub fn needs_wakeup(&self) -> bool {
        atomic(self.0.flags).load(Ordering::Relaxed) & XDP_RING_NEED_WAKEUP != 0
    }
}

/// A ring we consume from, typed by its entry: [`RxRing`] or [`CompRing`].
pub struct ConsRing<T: RingEntry>(Box<xsk_ring_cons>, PhantomData<T>);
/// Received descriptors.
pub type RxRing = ConsRing<xdp_desc>;
/// Addresses of transmitted frames, back from the kernel.
pub type CompRing = ConsRing<u64>;

impl<T: RingEntry> ConsRing<T> {
    fn new(ring: Box<xsk_ring_cons>) -> Self {
        ConsRing(ring, PhantomData)
    }

    #[inline]
    fn available(&mut self, wanted: u32) -> u32 {
        let r = &mut *self.0;
        let mut entries = r.cached_prod.wrapping_sub(r.cached_cons);
        if entries == 0 {
            r.cached_prod = atomic(r.producer).load(Ordering::Acquire);
            entries = r.cached_prod.wrapping_sub(r.cached_cons);
        }
        entries.min(wanted)
    }

    #[inline]
    fn release(&mut self, n: u32) {
        if n == 0 {
            return;
        }
        let r = &mut *self.0;
        r.cached_cons = r.cached_cons.wrapping_add(n);
        atomic(r.consumer).store(r.cached_cons, Ordering::Release);
    }

    /// Takes up to `out.len()` entries; returns how many.
    #[inline]
    pub fn consume(&mut self, out: &mut [T]) -> usize {
        let n = self.available(out.len() as u32) as usize;
        let r = &*self.0;
        let ring = r.ring.cast::<T>();
        for (i, o) in out[..n].iter_mut().enumerate() {
            let idx = r.cached_cons.wrapping_add(i as u32) & r.mask;
            // SAFETY: idx is masked into the ring of `T`s (fixed by the
            // ring's constructor), and below the producer index the kernel
            // published, so the entry is initialised.
            *o = unsafe { ring.add(idx as usize).read() };
        }
        self.release(n as u32);
        n
    }
}
