//! Validate, load and relocate a real static PIE built by rustc for
//! `x86_64-unknown-none`. Ignored by default because it runs a nested
//! `cargo build` (about a second, no network); run it with
//! `cargo test -p extension-image -- --ignored`.

use extension_image::*;
use std::path::PathBuf;
use std::process::Command;

const MANIFEST: &str = r#"[package]
name = "probe-extension"
version = "0.1.0"
edition = "2024"

[workspace]

[profile.release]
panic = "abort"
debug = true
"#;

const SOURCE: &str = r#"#![no_std]
#![no_main]

static NAMES: [&str; 3] = ["a", "bb", "ccc"];
static mut TABLE: &[&str; 3] = &NAMES;
static mut COUNTER: usize = 0;

#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    let names = core::hint::black_box(&NAMES);
    let mut total = 0;
    for name in names.iter() {
        total += name.len();
    }
    // SAFETY: single-threaded probe.
    unsafe {
        COUNTER += total;
        TABLE = core::hint::black_box(TABLE);
    }
    loop {}
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
"#;

fn build_probe() -> Vec<u8> {
    let directory = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("probe-extension");
    std::fs::create_dir_all(directory.join("src")).unwrap();
    std::fs::write(directory.join("Cargo.toml"), MANIFEST).unwrap();
    std::fs::write(directory.join("src/main.rs"), SOURCE).unwrap();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--offline",
            "--target",
            "x86_64-unknown-none",
        ])
        .current_dir(&directory)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .expect("run cargo");
    assert!(status.success(), "building the probe extension failed");
    std::fs::read(directory.join("target/x86_64-unknown-none/release/probe-extension")).unwrap()
}

#[test]
#[ignore = "runs a nested cargo build of a tiny x86_64-unknown-none binary"]
fn rustc_static_pie_validates_and_relocates() {
    let bytes = build_probe();
    let image = validate(&bytes, &ImageLimits::default()).expect("rustc's static PIE is accepted");
    let rights: Vec<_> = image.segments().iter().map(|s| s.rights).collect();
    assert!(rights.contains(&SegmentRights::ReadOnly));
    assert!(rights.contains(&SegmentRights::ReadExecute));
    assert!(rights.contains(&SegmentRights::ReadWrite));
    assert!(
        image.relocation_count() >= 4,
        "string table and static pointer"
    );
    assert!(image.relro().is_some());
    assert_eq!(
        image.executable_symbol_offset("_start"),
        Some(image.entry_offset())
    );
    let base = 0xffff_a000_0000_0000_u64;
    let mut memory = vec![0u8; image.memory_span() as usize];
    copy_segments(&image, &mut memory).unwrap();
    apply_relocations(&image, base, &mut memory).unwrap();
    // Every relocated pointer now points into [base, base + span].
    for relocation in image.relocations() {
        let at = relocation.offset as usize;
        let value = u64::from_le_bytes(memory[at..at + 8].try_into().unwrap());
        assert!(value >= base && value <= base + image.memory_span());
    }
    // The &str table holds pointers to "a", "bb", "ccc" followed by lengths.
    let lengths: Vec<u64> = image
        .relocations()
        .filter_map(|relocation| {
            let at = relocation.offset as usize + 8;
            memory
                .get(at..at + 8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
        })
        .collect();
    assert!(
        lengths.windows(3).any(|w| w == [1, 2, 3]),
        "lengths {lengths:?}"
    );
}
