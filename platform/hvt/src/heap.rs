//! The heap: a first-fit, address-ordered free list with coalescing.
//!
//! The entry point hands it `[page_align(_end), mem_size - stack reserve)`. Guests that
//! use `alloc` register it with
//! `#[global_allocator] static A: platform_hvt::heap::HvtAllocator = platform_hvt::heap::HvtAllocator;`.
//!
//! Every block, free or allocated, is a multiple of [`GRANULE`] bytes at a
//! [`GRANULE`]-aligned address, so splitting never leaves a fragment too small to hold
//! a free-list node.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr;

use crate::cell::RacyCell;

/// Allocation granule and minimum alignment (holds a free-list node).
pub const GRANULE: usize = 16;

#[repr(C)]
struct FreeBlock {
    size: usize,
    next: *mut FreeBlock,
}

const _: () = assert!(size_of::<FreeBlock>() <= GRANULE);

/// A free-list allocator over one region of memory.
pub struct FreeList {
    head: *mut FreeBlock,
    total: usize,
    free: usize,
}

const fn align_up(x: usize, a: usize) -> usize {
    (x + a - 1) & !(a - 1)
}

fn block_size(layout: Layout) -> usize {
    align_up(layout.size().max(1), GRANULE)
}

impl FreeList {
    /// An allocator with no memory.
    pub const fn empty() -> Self {
        Self { head: ptr::null_mut(), total: 0, free: 0 }
    }

    /// Creates an allocator over `[start, start + len)`; the range is trimmed to the
    /// granule.
    ///
    /// # Safety
    ///
    /// The range must be writable memory that nothing else uses for as long as the
    /// allocator (or anything allocated from it) lives.
    pub unsafe fn new(start: *mut u8, len: usize) -> Self {
        let addr = start.addr();
        let begin = align_up(addr, GRANULE);
        let end = (addr.saturating_add(len)) & !(GRANULE - 1);
        if end <= begin {
            return Self::empty();
        }
        let size = end - begin;
        let node = start.wrapping_add(begin - addr).cast::<FreeBlock>();
        // SAFETY: `node` is granule-aligned and within the caller's writable range, which
        // has room for at least one granule (a `FreeBlock`).
        unsafe { node.write(FreeBlock { size, next: ptr::null_mut() }) };
        Self { head: node, total: size, free: size }
    }

    /// Bytes managed.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Bytes currently free (not counting fragmentation).
    pub fn free(&self) -> usize {
        self.free
    }

    /// Allocates a block for `layout`; null when no free block fits.
    pub fn alloc(&mut self, layout: Layout) -> *mut u8 {
        let size = block_size(layout);
        let align = layout.align().max(GRANULE);
        let mut prev: *mut FreeBlock = ptr::null_mut();
        let mut cur = self.head;
        while !cur.is_null() {
            // SAFETY: every node in the list is a valid, exclusively owned free block.
            let FreeBlock { size: cur_size, next } = unsafe { cur.read() };
            let cur_addr = cur.addr();
            let cur_end = cur_addr + cur_size;
            let mut start = align_up(cur_addr, align);
            if start != cur_addr && start - cur_addr < GRANULE {
                start = align_up(cur_addr + GRANULE, align);
            }
            if let Some(end) = start.checked_add(size).filter(|&e| e <= cur_end) {
                // Split into [cur_addr, start) and [end, cur_end); both are either empty
                // or at least one granule, since all addresses are granule multiples.
                let mut link = next;
                if end < cur_end {
                    let tail = cur.wrapping_byte_add(end - cur_addr);
                    // SAFETY: `tail` lies inside the free block `cur`, granule-aligned.
                    unsafe { tail.write(FreeBlock { size: cur_end - end, next: link }) };
                    link = tail;
                }
                if start > cur_addr {
                    // SAFETY: `cur` is still a valid free node; shrink it to the front gap.
                    unsafe { cur.write(FreeBlock { size: start - cur_addr, next: link }) };
                    link = cur;
                }
                self.set_next(prev, link);
                self.free -= size;
                return cur.wrapping_byte_add(start - cur_addr).cast::<u8>();
            }
            prev = cur;
            cur = next;
        }
        ptr::null_mut()
    }

    /// Returns a block to the free list, merging it with adjacent free blocks.
    ///
    /// # Safety
    ///
    /// `p` must have been returned by [`FreeList::alloc`] of this allocator with the same
    /// `layout`, and not freed since.
    pub unsafe fn dealloc(&mut self, p: *mut u8, layout: Layout) {
        let size = block_size(layout);
        let addr = p.addr();
        let mut prev: *mut FreeBlock = ptr::null_mut();
        let mut cur = self.head;
        while !cur.is_null() && cur.addr() < addr {
            prev = cur;
            // SAFETY: list nodes are valid free blocks.
            cur = unsafe { (*cur).next };
        }
        let node = p.cast::<FreeBlock>();
        let mut new = FreeBlock { size, next: cur };
        // Merge with the following block.
        if !cur.is_null() && addr + size == cur.addr() {
            // SAFETY: `cur` is a valid free block.
            let c = unsafe { cur.read() };
            new.size += c.size;
            new.next = c.next;
        }
        self.free += size;
        // Merge with the preceding block.
        if !prev.is_null() {
            // SAFETY: `prev` is a valid free block.
            let pv = unsafe { &mut *prev };
            if prev.addr() + pv.size == addr {
                pv.size += new.size;
                pv.next = new.next;
                return;
            }
        }
        // SAFETY: `p` is a granule-aligned block of at least `size` bytes that the caller
        // hands back to us, so it can hold a node.
        unsafe { node.write(new) };
        self.set_next(prev, node);
    }

    fn set_next(&mut self, prev: *mut FreeBlock, to: *mut FreeBlock) {
        if prev.is_null() {
            self.head = to;
        } else {
            // SAFETY: `prev` is a valid node of this list.
            unsafe { (*prev).next = to };
        }
    }
}

static HEAP: RacyCell<FreeList> = RacyCell::new(FreeList::empty());

/// Hands `[start, end)` to the global heap (called once by the entry point).
///
/// # Safety
///
/// The range must be unused RW guest memory that stays reserved for the heap.
pub(crate) unsafe fn init(start: usize, end: usize) {
    let p = ptr::with_exposed_provenance_mut::<u8>(start);
    // SAFETY: the caller guarantees the range; we run before `main`, so no allocation
    // can be in progress.
    unsafe { *HEAP.get() = FreeList::new(p, end.saturating_sub(start)) };
}

/// Allocates from the global heap; null when it is exhausted.
pub fn alloc(layout: Layout) -> *mut u8 {
    // SAFETY: single vCPU without interrupts and the trap handler never allocates, so
    // this is the only access to HEAP while it runs.
    unsafe { (*HEAP.get()).alloc(layout) }
}

/// Returns a block to the global heap.
///
/// # Safety
///
/// `p` must come from [`alloc`] (or [`HvtAllocator`]) with the same `layout`, not yet freed.
pub unsafe fn dealloc(p: *mut u8, layout: Layout) {
    // SAFETY: exclusive access as in `alloc`; the caller vouches for `p` and `layout`.
    unsafe { (*HEAP.get()).dealloc(p, layout) }
}

/// `(total, free)` bytes of the global heap.
pub fn stats() -> (usize, usize) {
    // SAFETY: single vCPU without interrupts: nothing else touches HEAP concurrently.
    let h = unsafe { &*HEAP.get() };
    (h.total(), h.free())
}

/// The global allocator over the runtime's heap.
pub struct HvtAllocator;

// SAFETY: `FreeList` returns distinct, suitably aligned blocks of at least the requested
// size from memory reserved for it; accesses to the shared list are never concurrent
// (one vCPU, no interrupts, and the trap handler never allocates).
unsafe impl GlobalAlloc for HvtAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl comment: exclusive access to HEAP for this call.
        unsafe { (*HEAP.get()).alloc(layout) }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        // SAFETY: exclusive access as above; `p`/`layout` come from `alloc` per the
        // GlobalAlloc contract.
        unsafe { (*HEAP.get()).dealloc(p, layout) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(align(4096))]
    struct Arena([u8; 65536]);

    #[test]
    fn alloc_free_coalesce() {
        let mut arena = Arena([0; 65536]);
        // SAFETY: the arena outlives the allocator and nothing else uses it.
        let mut h = unsafe { FreeList::new(arena.0.as_mut_ptr().wrapping_add(3), 65536 - 3) };
        let total = h.total();
        assert_eq!(total, 65536 - 16);
        let l1 = Layout::from_size_align(100, 8).unwrap();
        let l2 = Layout::from_size_align(1000, 256).unwrap();
        let l3 = Layout::from_size_align(1, 1).unwrap();
        let a = h.alloc(l1);
        let b = h.alloc(l2);
        let c = h.alloc(l3);
        assert!(!a.is_null() && !b.is_null() && !c.is_null());
        assert_eq!(b.addr() % 256, 0);
        assert_eq!(a.addr() % 16, 0);
        // No overlap.
        let mut spans = [(a.addr(), 112), (b.addr(), 1008), (c.addr(), 16)];
        spans.sort();
        assert!(spans[0].0 + spans[0].1 <= spans[1].0 && spans[1].0 + spans[1].1 <= spans[2].0);
        // SAFETY: blocks from this allocator with their layouts.
        unsafe {
            h.dealloc(b, l2);
            h.dealloc(a, l1);
            h.dealloc(c, l3);
        }
        assert_eq!(h.free(), total);
        // Fully coalesced: one block covers everything again.
        let all = h.alloc(Layout::from_size_align(total, 16).unwrap());
        assert!(!all.is_null());
        assert!(h.alloc(l3).is_null());
    }

    #[test]
    fn many_small() {
        let mut arena = Arena([0; 65536]);
        // SAFETY: as above.
        let mut h = unsafe { FreeList::new(arena.0.as_mut_ptr(), 65536) };
        let l = Layout::from_size_align(24, 8).unwrap();
        let mut ptrs = [ptr::null_mut(); 100];
        for p in ptrs.iter_mut() {
            *p = h.alloc(l);
            assert!(!p.is_null());
        }
        for p in ptrs.iter().step_by(2) {
            // SAFETY: allocated above with `l`.
            unsafe { h.dealloc(*p, l) };
        }
        for p in ptrs.iter().skip(1).step_by(2) {
            // SAFETY: allocated above with `l`.
            unsafe { h.dealloc(*p, l) };
        }
        assert_eq!(h.free(), 65536);
    }
}
