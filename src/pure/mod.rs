//! Every decision tinyd makes, as pure code: parsing what the user wrote
//! (options, the configuration file, control requests, /etc/passwd lines,
//! sd_notify datagrams, /proc/self/status),
//! the settings table, one service's restart and stop policy (`svc`), the
//! whole supervisor's state (`model`), and time as types.
//!
//! Uses only `util`. Never makes a syscall, never reads a clock, holds no
//! unsafe code: everything here is unit-tested on the host, and the model
//! is tested with seeded random sequences and fuzzed.

pub mod args;
#[cfg(feature = "ctl")]
pub mod config;
pub mod model;
pub mod notify;
pub mod passwd;
pub mod proc;
#[cfg(feature = "ctl")]
pub mod protocol;
pub mod settings;
pub mod spec;
pub mod svc;
pub mod time;
