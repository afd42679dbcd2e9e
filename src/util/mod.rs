//! Fixed-capacity building blocks: buffers, static tables, numbers, word
//! lists, line splitting, argv, and the limits they are sized by.
//!
//! Uses nothing else of the crate. Never makes a syscall (it may name
//! rustix's `Errno`, to print it), never allocates: every capacity is a
//! constant in `limits`.

#[allow(unsafe_code)]
pub mod argv;
pub mod buf;
pub mod limits;
pub mod lines;
pub mod num;
#[allow(unsafe_code)]
pub mod store;
pub mod words;
