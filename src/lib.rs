//! tinyd: a tiny libc-free daemon and supervisor for embedded Linux.
//!
//! The library holds every part of the daemon; `src/main.rs` is only the
//! entry point. It is laid out by layer, and a layer uses only the layers
//! before it in this list (`tests/layers.rs` fails the build's tests if an
//! import points the other way):
//!
//! - [`util`]: fixed-capacity building blocks (buffers, static tables,
//!   numbers, word lists, line splitting, the limits);
//! - [`pure`]: every decision, as pure functions and state machines, with
//!   no syscall and no clock: argument, configuration and passwd parsing,
//!   the settings table, the control protocol, one service's policy
//!   (`svc`) and the whole supervisor's (`model`), typed time;
//! - [`arch`] and [`os`]: every syscall and nearly all unsafe code (the
//!   raw syscall shims, the signal handler, spawning, daemonizing, the
//!   pidfile, reading /etc/passwd);
//! - [`log`]: where lines go (files with rotation, syslog), timestamps;
//! - [`sup`]: the one poll(2) loop, which carries out `pure::model`'s
//!   actions, the control socket and reload;
//! - [`app`]: startup (options, configuration, detaching) and the `tinyd
//!   ctl` client.
//!
//! Unsafe code lives in `arch`, `os` (sys, sig, spawn), `util::store`
//! (static tables) and `util::argv` (argv off the initial stack), and in
//! the entry point, each block with its reason.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]
// Unsafe code only where a module says `allow(unsafe_code)`: arch, os::sys,
// os::sig, os::spawn, util::store, util::argv.
#![deny(unsafe_code)]
// Inline assembly on mips is still unstable (src/arch/mips): the cross
// build runs with RUSTC_BOOTSTRAP=1 already, for -Zbuild-std.
#![cfg_attr(target_arch = "mips", feature(asm_experimental_arch))]

pub mod app;
#[allow(unsafe_code)]
pub mod arch;
pub mod log;
pub mod os;
pub mod pure;
pub mod sup;
pub mod util;

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
