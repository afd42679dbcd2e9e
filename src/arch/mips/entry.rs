//! 32-bit mips (o32) process entry, for the binary only. The memory
//! functions come from `compiler_builtins`
//! (`-Zbuild-std-features=compiler-builtins-mem`, see `cross/build.sh`).

use core::arch::naked_asm;

/// The ELF entry point. The kernel leaves argc at `0($sp)`, then argv, a
/// null, envp, a null and the auxiliary vector. Point `$gp` at `_gp` (the
/// linker's small-data base) in case the compiler used it; o32 wants the
/// caller to reserve 16 bytes of argument area and an 8-byte aligned stack.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    naked_asm!(
        ".set noreorder",
        "lui $gp, %hi(_gp)",
        "addiu $gp, $gp, %lo(_gp)",
        "move $fp, $zero",
        "move $ra, $zero",
        "move $a0, $sp",
        "li $t0, -16",
        "and $sp, $sp, $t0",
        "addiu $sp, $sp, -16",
        "jal {entry}",
        "nop",
        "break",
        ".set reorder",
        entry = sym crate::entry,
    );
}
