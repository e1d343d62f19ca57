//! Build script for the kernel: links with our linker script as a fixed-address
//! (non-PIE) executable and generates the 256 trap entry stubs.

use std::fmt::Write as _;
use std::path::PathBuf;

/// Vectors for which the CPU pushes an error code.
const ERROR_CODE_VECTORS: [u32; 10] = [8, 10, 11, 12, 13, 14, 17, 21, 29, 30];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let target = std::env::var("TARGET").unwrap_or_default();
    if target == "x86_64-unknown-none" {
        println!(
            "cargo:rustc-link-arg-bins=-T{}",
            manifest.join("linker.ld").display()
        );
        println!("cargo:rustc-link-arg-bins=--no-pie");
        println!("cargo:rustc-link-arg-bins=-zmax-page-size=4096");
    }
    embed_extension_bundle();
    println!("cargo:rerun-if-changed=linker.ld");
    println!("cargo:rerun-if-changed=build.rs");

    // One stub per vector: push a zero error code where the CPU does not push
    // one, push the vector number, and join the common path. The table of
    // stub addresses lives in read-only data.
    let mut asm = String::new();
    asm.push_str(".section .text.trap_stubs, \"ax\"\n");
    for vector in 0..256u32 {
        writeln!(asm, ".p2align 4\ntrap_stub_{vector}:").unwrap();
        if !ERROR_CODE_VECTORS.contains(&vector) {
            asm.push_str("    pushq $0\n");
        }
        writeln!(asm, "    pushq ${vector}\n    jmp trap_common").unwrap();
    }
    asm.push_str(".section .rodata.trap_stub_table, \"a\"\n.p2align 3\n.global trap_stub_table\ntrap_stub_table:\n");
    for vector in 0..256u32 {
        writeln!(asm, "    .quad trap_stub_{vector}").unwrap();
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("trap_stubs.s");
    std::fs::write(out, asm).unwrap();
}

/// Copies the extension bundle named by `NIM_EXTENSION_BUNDLE` (written by
/// `cargo xtask build`) to OUT_DIR, where the kernel includes it; without
/// the variable the kernel gets an empty bundle (no extensions).
fn embed_extension_bundle() {
    println!("cargo:rerun-if-env-changed=NIM_EXTENSION_BUNDLE");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("extensions.bundle");
    match std::env::var_os("NIM_EXTENSION_BUNDLE") {
        Some(path) => {
            println!("cargo:rerun-if-changed={}", PathBuf::from(&path).display());
            let bytes = std::fs::read(&path).unwrap_or_else(|error| {
                panic!("cannot read the extension bundle {path:?}: {error}")
            });
            std::fs::write(out, bytes).unwrap();
        }
        None => std::fs::write(out, []).unwrap(),
    }
}
