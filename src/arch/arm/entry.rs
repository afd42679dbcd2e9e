//! 32-bit arm process entry, for the binary only. The memory functions come
//! from `compiler_builtins` (`-Zbuild-std-features=compiler-builtins-mem`,
//! see `cross/build.sh`).

use core::arch::naked_asm;

/// The ELF entry point. The kernel leaves argc at `[sp]`, then argv, a
/// null, envp, a null and the auxiliary vector. Clear the frame pointer and
/// link register, align the stack to 8 bytes as the EABI wants (16 here),
/// and never return.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    naked_asm!(
        "mov fp, #0",
        "mov lr, #0",
        "mov r0, sp",
        "bic sp, sp, #15",
        "bl {entry}",
        "udf #0",
        entry = sym crate::entry,
    );
}
