//! Static storage for tinyd's tables, without a heap.
//!
//! The service table and its buffers are too big for the stack: stack
//! probes would touch (and so dirty) every page of a 64-service table even
//! with one service in use. They live in `.bss` instead, handed out once
//! as `&'static mut` by [`Once::take`], and [`ArrayVec`] initialises only
//! the elements pushed, so memory grows with the services actually used.
//!
//! This module and the others named in lib.rs are the only unsafe code.

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;

/// Storage for a static that [`static_once!`] hands out once.
pub struct Cell<T>(UnsafeCell<T>);

// SAFETY: the value is reachable only through the single `&'static mut`
// that `static_once!` hands out (guarded by its own flag), so sharing the
// cell cannot create aliasing; T must be Send to move to the taker.
unsafe impl<T: Send> Sync for Cell<T> {}

impl<T> Cell<T> {
    pub const fn new(value: T) -> Cell<T> {
        Cell(UnsafeCell::new(value))
    }

    /// # Safety
    /// At most one call for a given cell, ever (`static_once!` ensures it).
    // The point of the cell: one `&'static mut` handed out, once.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn get_once(&'static self) -> &'static mut T {
        // SAFETY: the caller guarantees no other reference was or will be
        // made.
        unsafe { &mut *self.0.get() }
    }
}

/// The flags of every [`static_once!`] cell, one bit each, kept together
/// among the small statics (a flag next to its big cell would dirty a page
/// of its own).
pub static ONCE_TAKEN: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

/// `static_once!(pub fn name() -> T = init; bit N)` defines `name()`, which
/// returns `Some(&'static mut T)` the first time and `None` after. Each
/// cell needs its own bit of [`ONCE_TAKEN`] (two cells sharing one would
/// only make the second never available: never unsound).
///
/// `...; bit N; section ".bss.tinyd.NAME"` puts the cell in a section of
/// that name, which `link.ld` places (the init must be all zero bytes).
/// A named section also keeps the compiler from merging the cell with
/// other statics (AArch64's and RISC-V's global merging does).
#[macro_export]
macro_rules! static_once {
    ($(#[$m:meta])* $vis:vis fn $name:ident() -> $t:ty = $init:expr; bit $bit:expr $(; section $sec:literal)?) => {
        $(#[$m])*
        // The one unsafe line is this macro's (util::store), wherever it
        // is expanded; the section attribute (also `unsafe`) only names
        // where the zero-initialised cell goes.
        #[allow(unsafe_code)]
        $vis fn $name() -> Option<&'static mut $t> {
            $(#[unsafe(link_section = $sec)])?
            static CELL: $crate::util::store::Cell<$t> = $crate::util::store::Cell::new($init);
            let bit: u32 = 1 << $bit;
            let was = $crate::util::store::ONCE_TAKEN.fetch_or(bit, core::sync::atomic::Ordering::AcqRel);
            if was & bit != 0 {
                return None;
            }
            // SAFETY: the bit was clear: this is the only call that gets here.
            Some(unsafe { CELL.get_once() })
        }
    };
}

/// A vector with a fixed capacity and no heap: elements past `len` are
/// never touched. `len` comes first, on the same page as the first items.
#[repr(C)]
pub struct ArrayVec<T, const N: usize> {
    len: usize,
    items: [MaybeUninit<T>; N],
}

impl<T, const N: usize> Default for ArrayVec<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const N: usize> ArrayVec<T, N> {
    pub const fn new() -> Self {
        ArrayVec {
            len: 0,
            items: [const { MaybeUninit::uninit() }; N],
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_full(&self) -> bool {
        self.len == N
    }

    /// Appends `v`, or gives it back when full.
    pub fn push(&mut self, v: T) -> Result<(), T> {
        if self.len == N {
            return Err(v);
        }
        self.items[self.len].write(v);
        self.len += 1;
        Ok(())
    }

    /// Removes and returns the last element.
    pub fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        // SAFETY: the element at the old `len - 1` was initialised by push
        // and, now that `len` excludes it, is read out exactly once.
        Some(unsafe { self.items[self.len].assume_init_read() })
    }

    /// Removes element `i`, moving the last one into its place.
    pub fn swap_remove(&mut self, i: usize) -> T {
        assert!(i < self.len);
        let last = self.len - 1;
        self.items.swap(i, last);
        self.pop().expect("not empty")
    }

    pub fn as_slice(&self) -> &[T] {
        // SAFETY: the first `len` elements are initialised, and
        // MaybeUninit<T> has the layout of T.
        unsafe { core::slice::from_raw_parts(self.items.as_ptr().cast(), self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: as for as_slice; `&mut self` makes the borrow unique.
        unsafe { core::slice::from_raw_parts_mut(self.items.as_mut_ptr().cast(), self.len) }
    }

    pub fn iter(&self) -> core::slice::Iter<'_, T> {
        self.as_slice().iter()
    }

    pub fn iter_mut(&mut self) -> core::slice::IterMut<'_, T> {
        self.as_mut_slice().iter_mut()
    }
}

impl<T, const N: usize> core::ops::Index<usize> for ArrayVec<T, N> {
    type Output = T;
    fn index(&self, i: usize) -> &T {
        &self.as_slice()[i]
    }
}

impl<T, const N: usize> core::ops::IndexMut<usize> for ArrayVec<T, N> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.as_mut_slice()[i]
    }
}

impl<T, const N: usize> Drop for ArrayVec<T, N> {
    fn drop(&mut self) {
        while self.pop().is_some() {}
    }
}

/// A pool of fixed buffers: never-used ones are handed out in order from
/// `fresh` (untouched until then), returned ones are reused first.
pub struct Pool<T: 'static, const N: usize> {
    // An Option, so that an empty pool is all zero bytes and its static
    // stays in .bss (an empty slice is a non-null dangling pointer).
    fresh: Option<&'static mut [T]>,
    free: ArrayVec<&'static mut T, N>,
}

impl<T: 'static, const N: usize> Pool<T, N> {
    pub const fn empty() -> Self {
        Pool {
            fresh: None,
            free: ArrayVec::new(),
        }
    }

    pub fn fill(&mut self, all: &'static mut [T]) {
        self.fresh = Some(all);
    }

    pub fn take(&mut self) -> Option<&'static mut T> {
        if let Some(t) = self.free.pop() {
            return Some(t);
        }
        let (first, rest) = self.fresh.take()?.split_first_mut()?;
        self.fresh = Some(rest);
        Some(first)
    }

    pub fn give(&mut self, t: &'static mut T) {
        let _ = self.free.push(t);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::rc::Rc;

    #[test]
    fn push_pop_swap_remove_and_drop() {
        let token = Rc::new(());
        let mut v = ArrayVec::<Rc<()>, 3>::new();
        for _ in 0..3 {
            v.push(token.clone()).unwrap();
        }
        assert!(v.is_full());
        assert!(v.push(token.clone()).is_err());
        assert_eq!(Rc::strong_count(&token), 4);
        drop(v.swap_remove(0));
        assert_eq!(v.len(), 2);
        assert_eq!(Rc::strong_count(&token), 3);
        drop(v);
        assert_eq!(Rc::strong_count(&token), 1, "every element dropped once");
    }

    #[test]
    fn swap_remove_keeps_order_of_the_rest() {
        let mut v = ArrayVec::<u32, 4>::new();
        for i in 0..4 {
            v.push(i).unwrap();
        }
        assert_eq!(v.swap_remove(1), 1);
        assert_eq!(v.as_slice(), &[0, 3, 2]);
        v[0] = 9;
        assert_eq!(v.iter().copied().collect::<std::vec::Vec<_>>(), [9, 3, 2]);
    }

    #[test]
    fn pool_reuses_returned_buffers_first() {
        crate::static_once!(fn bufs() -> [[u8; 2]; 3] = [[0; 2]; 3]; bit 30);
        let mut pool = Pool::<[u8; 2], 3>::empty();
        pool.fill(bufs().unwrap());
        let a = pool.take().unwrap();
        a[0] = 7;
        let _b = pool.take().unwrap();
        pool.give(a);
        assert_eq!(pool.take().unwrap()[0], 7, "the returned buffer comes back");
        assert!(pool.take().is_some());
        assert!(pool.take().is_none(), "three buffers in all");
    }

    #[test]
    fn once_hands_out_one_borrow() {
        crate::static_once!(fn cell() -> [u8; 4] = [0; 4]; bit 31);
        let a = cell().unwrap();
        a[0] = 1;
        assert!(cell().is_none());
        assert_eq!(a[0], 1);
    }
}
