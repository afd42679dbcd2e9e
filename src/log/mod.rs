//! Where lines go: the rings that carry them to the log writer (`ring`),
//! the writer itself (`writer`, the child `tinyd-log` that owns the files:
//! rotation, a deleted file noticed), syslog datagrams, and timestamps.
//!
//! Uses `util`, `pure` and `os`. tinyd's side (rings, datagrams) never
//! blocks on a reader or a disk: only the writer writes files. Never
//! decides what a service does.

pub mod ring;
pub mod sink;
pub mod timefmt;
pub mod writer;
