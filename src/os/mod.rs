//! The operating system: every syscall tinyd makes beyond its descriptors'
//! reads and writes, and the unsafe code that needs (raw syscalls in
//! `sys`, the signal handler in `sig`, execve in `spawn`, the log rings'
//! shared memory in `shm`), plus detaching
//! (`daemon`), the pidfile, the sd_notify socket, and reading /etc/passwd
//! and /etc/group.
//!
//! Uses `util`, `pure` (for the values it acts on) and `arch`. Never
//! decides anything (what to start, stop or restart is `pure::model`'s),
//! never logs (it returns errors to its caller).

pub mod daemon;
pub mod notify;
pub mod pidfile;
#[allow(unsafe_code)]
pub mod shm;
#[allow(unsafe_code)]
pub mod sig;
#[allow(unsafe_code)]
pub mod spawn;
#[allow(unsafe_code)]
pub mod sys;
pub mod users;
