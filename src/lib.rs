//! tinyd: a tiny libc-free daemon and supervisor for embedded Linux.
//!
//! The library holds every part of the daemon; `src/main.rs` is only the
//! entry point. Unsafe code lives in `arch`, `sys`, `sig`, `store`,
//! `args` (argv off the initial stack), `spawn` (execve) and the entry
//! point, each block with its reason; everything else is safe Rust on top.
//! Pure parts (argument and passwd parsing, line splitting, the supervision
//! state machine, time formatting) are unit-tested on the host.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]
// Inline assembly on mips is still unstable (src/arch/mips): the cross
// build runs with RUSTC_BOOTSTRAP=1 already, for -Zbuild-std.
#![cfg_attr(target_arch = "mips", feature(asm_experimental_arch))]

pub mod arch;
pub mod args;
pub mod buf;
#[cfg(feature = "ctl")]
pub mod config;
#[cfg(feature = "ctl")]
pub mod control;
#[cfg(feature = "ctl")]
pub mod ctl;
pub mod daemon;
pub mod limits;
pub mod lines;
pub mod model;
pub mod num;
pub mod passwd;
pub mod pidfile;
pub mod run;
pub mod settings;
pub mod sig;
pub mod sink;
pub mod spawn;
pub mod spec;
pub mod store;
pub mod sup;
pub mod svc;
pub mod sys;
pub mod time;
pub mod timefmt;
pub mod words;

/// Exit codes (sysexits.h and the shell's conventions).
pub mod code {
    /// Failed to start: pidfile locked or unwritable, chdir failed, ...
    pub const FAIL: u8 = 1;
    /// Usage error (EX_USAGE).
    pub const USAGE: u8 = 64;
    /// Unknown user or group (EX_NOUSER).
    pub const NOUSER: u8 = 67;
    /// Internal error: tinyd panicked (EX_SOFTWARE).
    pub const SOFTWARE: u8 = 70;
    /// Configuration error (EX_CONFIG).
    pub const CONFIG: u8 = 78;
    /// COMMAND found but not executable.
    pub const CANNOT_EXEC: u8 = 126;
    /// COMMAND not found.
    pub const NOT_FOUND: u8 = 127;
}
