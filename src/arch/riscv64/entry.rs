//! riscv64 process entry, for the binary only. The memory functions come
//! from `compiler_builtins` (`-Zbuild-std-features=compiler-builtins-mem`,
//! see `cross/build.sh`).

use core::arch::naked_asm;

/// The ELF entry point. The kernel leaves argc at `0(sp)`, then argv, a
/// null, envp, a null and the auxiliary vector. Set the global pointer
/// (without relaxation, which would make `la gp` gp-relative itself), clear
/// the return address, align the stack as the ABI wants, never return.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    naked_asm!(
        ".option push",
        ".option norelax",
        "lla gp, __global_pointer$",
        ".option pop",
        "mv a0, sp",
        "li ra, 0",
        "andi sp, sp, -16",
        "call {entry}",
        "unimp",
        entry = sym crate::entry,
    );
}
