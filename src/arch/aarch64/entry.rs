//! aarch64 process entry, for the binary only. The memory functions come
//! from `compiler_builtins` (`-Zbuild-std-features=compiler-builtins-mem`,
//! see `cross/build.sh`).

use core::arch::naked_asm;

/// The ELF entry point. The kernel leaves argc at `[sp]` (16-byte aligned),
/// then argv, a null, envp, a null and the auxiliary vector. Clear the frame
/// and link registers so that a backtrace ends here, and never return.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    naked_asm!(
        "mov x29, xzr",
        "mov x30, xzr",
        "mov x0, sp",
        "bl {entry}",
        "udf #0",
        entry = sym crate::entry,
    );
}
