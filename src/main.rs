//! The `tinyd` binary: no std, no libc, its own entry point.
//!
//! `_start` (in `arch/ARCH/entry.rs`) passes the initial stack pointer to
//! [`entry`], which reads argc, argv and envp from it, hands the
//! environment to rustix (for the auxiliary vector and the vDSO, without
//! needing /proc) and calls the safe `tinyd::app::run::main`.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]
// Inline assembly on mips is still unstable (src/arch/mips): the cross
// build runs with RUSTC_BOOTSTRAP=1 already, for -Zbuild-std.
#![cfg_attr(target_arch = "mips", feature(asm_experimental_arch))]

#[path = "arch/entry.rs"]
mod arch_entry;

use tinyd::util::argv::Argv;

/// Called by `_start` with the initial stack pointer.
///
/// # Safety
/// `sp` must be the stack pointer the kernel gave the process: argc, argv
/// pointers, a null, envp pointers, a null, then the auxiliary vector.
unsafe extern "C" fn entry(sp: *const usize) -> ! {
    // SAFETY: the kernel's initial stack layout, as described above; the
    // strings it points to live and stay unchanged for the whole process.
    let (argv, envp) = unsafe {
        let argc = *sp;
        let argv = sp.add(1) as *const *const u8;
        let envp = argv.add(argc + 1);
        rustix::param::init(envp as *mut *mut u8);
        let mut envc = 0;
        while !(*envp.add(envc)).is_null() {
            envc += 1;
        }
        (Argv::from_raw(argc, argv), Argv::from_raw(envc, envp))
    };
    tinyd::app::run::main(argv, envp)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut m = tinyd::util::buf::Buf::<256>::new();
    m.s(b"tinyd: internal error");
    if let Some(l) = info.location() {
        m.s(b" at ")
            .s(l.file().as_bytes())
            .s(b":")
            .u(l.line() as u64);
    }
    m.s(b"\n");
    tinyd::log::sink::stderr(m.as_bytes());
    tinyd::os::sys::exit(tinyd::code::SOFTWARE as i32)
}

/// core is built with unwinding; a debug build refers to this even with
/// `panic = "abort"`. It is never called.
#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {}
