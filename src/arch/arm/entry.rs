//! 32-bit arm process entry, for the binary only. The memory functions come
//! from `compiler_builtins` (`-Zbuild-std-features=compiler-builtins-mem`,
//! see `cross/build.sh`).

use core::arch::naked_asm;

/// The ELF entry point. The kernel leaves argc at `[sp]`, then argv, a
/// null, envp, a null and the auxiliary vector. Clear the frame pointers
/// (r11 in ARM mode, r7 in Thumb) and the link register, align the stack to
/// 8 bytes as the EABI wants (16 here; through r1, since Thumb-2 cannot
/// `bic` sp itself), and never return. The kernel starts us in whichever
/// mode the entry address says.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    naked_asm!(
        "mov r0, sp",
        "mov r1, #0",
        "mov r11, r1",
        "mov r7, r1",
        "mov lr, r1",
        "bic r1, r0, #15",
        "mov sp, r1",
        "bl {entry}",
        "udf #0",
        entry = sym crate::entry,
    );
}
