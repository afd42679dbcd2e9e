//! Where lines go: a service's log file (rotation, a deleted file
//! noticed), syslog datagrams, tinyd's own log, and their timestamps.
//!
//! Uses `util`, `pure` and `os`. Never blocks the loop on a reader, never
//! decides what a service does.

pub mod ring;
pub mod sink;
pub mod timefmt;
pub mod writer;
