//! Building the extension crates and packing their images into the bundle
//! the kernel embeds.
//!
//! Invariants:
//! - Every directory under `extensions/` with a `Cargo.toml` is an
//!   extension; its package name is its directory name and its image name.
//! - Images are built with the same profile as the kernel (release), with
//!   debug info stripped (symbols stay, for fault reports).
//! - Every crate under `extensions/` (nested helper crates too) forbids
//!   `unsafe` at its root (`#![forbid(unsafe_code)]`); a build refuses one
//!   that does not.
//! - The bundle is written only when its bytes change, so an unchanged
//!   build does not relink the kernel.

use std::path::{Path, PathBuf};

use extension_image::bundle::{BundleEntry, is_valid_name, write_bundle};

/// The environment variable through which the kernel's build script finds
/// the bundle.
pub const BUNDLE_VARIABLE: &str = "NIM_EXTENSION_BUNDLE";

/// Names of every extension crate, sorted.
pub fn names(root: &Path) -> Result<Vec<String>, String> {
    let directory = root.join("extensions");
    let mut names = Vec::new();
    let listing = std::fs::read_dir(&directory)
        .map_err(|error| format!("cannot list {}: {error}", directory.display()))?;
    for entry in listing.flatten() {
        if entry.path().join("Cargo.toml").is_file() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !is_valid_name(&name) {
                return Err(format!(
                    "extension directory {name:?}: names are 1..=31 bytes of a-z, 0-9, '-', '_'"
                ));
            }
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// The crates under `extensions/` whose root file (`src/main.rs` or
/// `src/lib.rs`) does not start by forbidding `unsafe`: each as
/// `path: reason`. Nested crates (a driver's host-testable helpers) count
/// too.
pub fn unsafe_policy_violations(root: &Path) -> Vec<String> {
    let mut manifests = Vec::new();
    let mut pending = vec![root.join("extensions")];
    while let Some(directory) = pending.pop() {
        let Ok(listing) = std::fs::read_dir(&directory) else {
            continue;
        };
        for entry in listing.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() && name != "target" && !name.to_string_lossy().starts_with('.') {
                pending.push(path);
            } else if name == "Cargo.toml" {
                manifests.push(directory.clone());
            }
        }
    }
    manifests.sort();
    let mut violations = Vec::new();
    for crate_directory in manifests {
        let shown = crate_directory
            .strip_prefix(root)
            .unwrap_or(&crate_directory)
            .display()
            .to_string();
        let roots: Vec<PathBuf> = ["src/main.rs", "src/lib.rs"]
            .iter()
            .map(|file| crate_directory.join(file))
            .filter(|path| path.is_file())
            .collect();
        if roots.is_empty() {
            violations.push(format!("{shown}: no src/main.rs or src/lib.rs"));
        }
        for file in roots {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let forbids = text.lines().any(|line| {
                line.split_whitespace().collect::<String>() == "#![forbid(unsafe_code)]"
            });
            if !forbids {
                violations.push(format!(
                    "{}: does not start with #![forbid(unsafe_code)] (extensions are safe Rust; unsafe belongs in wrappers/extension-api)",
                    file.strip_prefix(root).unwrap_or(&file).display()
                ));
            }
        }
    }
    violations
}

/// Where the bundle goes.
pub fn bundle_path(target_directory: &Path) -> PathBuf {
    target_directory.join("extensions.bundle")
}

/// The build command for every extension image.
pub fn build_command(mut cargo: std::process::Command, names: &[String]) -> std::process::Command {
    cargo.args(["build", "--release", "--target", "x86_64-unknown-none"]);
    for name in names {
        cargo.args(["-p", name]);
    }
    cargo.env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo");
    cargo
}

/// Packs the built images of `names` (found in `image_directory`) into the
/// bundle at `bundle`. Returns the bundle's size.
pub fn pack(names: &[String], image_directory: &Path, bundle: &Path) -> Result<usize, String> {
    let mut images = Vec::new();
    for name in names {
        let path = image_directory.join(name);
        let image = std::fs::read(&path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        images.push((name.as_str(), image));
    }
    let entries: Vec<BundleEntry<'_>> = images
        .iter()
        .map(|(name, image)| BundleEntry { name, image })
        .collect();
    let bytes = write_bundle(&entries).map_err(|error| format!("packing extensions: {error}"))?;
    if std::fs::read(bundle).ok().as_deref() != Some(bytes.as_slice()) {
        if let Some(parent) = bundle.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|error| format!("cannot create {}: {error}", parent.display()))?;
        }
        std::fs::write(bundle, &bytes)
            .map_err(|error| format!("cannot write {}: {error}", bundle.display()))?;
    }
    Ok(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lists_only_crate_directories_sorted() {
        let root = std::env::temp_dir().join(format!("xtask-ext-names-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for name in ["zeta", "alpha"] {
            std::fs::create_dir_all(root.join("extensions").join(name)).unwrap();
            std::fs::write(root.join("extensions").join(name).join("Cargo.toml"), "").unwrap();
        }
        std::fs::create_dir_all(root.join("extensions/not-a-crate")).unwrap();
        std::fs::write(root.join("extensions/README.md"), "").unwrap();
        assert_eq!(names(&root).unwrap(), ["alpha", "zeta"]);
        std::fs::create_dir_all(root.join("extensions/Bad Name")).unwrap();
        std::fs::write(root.join("extensions/Bad Name/Cargo.toml"), "").unwrap();
        assert!(names(&root).unwrap_err().contains("Bad Name"));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn crates_that_do_not_forbid_unsafe_are_named() {
        let root = std::env::temp_dir().join(format!("xtask-ext-unsafe-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let write = |path: &str, text: &str| {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("extensions/good/Cargo.toml", "");
        write(
            "extensions/good/src/main.rs",
            "#![no_std]\n#![forbid(unsafe_code)]\n",
        );
        write("extensions/good/helper/Cargo.toml", "");
        write(
            "extensions/good/helper/src/lib.rs",
            "#![forbid( unsafe_code )]\n",
        );
        assert!(unsafe_policy_violations(&root).is_empty());
        write("extensions/bad/Cargo.toml", "");
        write(
            "extensions/bad/src/main.rs",
            "#![no_std]\n// #![forbid(unsafe_code)] is a comment here\n",
        );
        write("extensions/good/helper2/Cargo.toml", "");
        write(
            "extensions/good/helper2/src/lib.rs",
            "#![deny(unsafe_code)]\n",
        );
        write("extensions/empty/Cargo.toml", "");
        let violations = unsafe_policy_violations(&root);
        assert_eq!(violations.len(), 3, "{violations:?}");
        assert!(
            violations[0].starts_with("extensions/bad/src/main.rs"),
            "{violations:?}"
        );
        assert!(
            violations[1].starts_with("extensions/empty: no src"),
            "{violations:?}"
        );
        assert!(
            violations[2].starts_with("extensions/good/helper2/src/lib.rs"),
            "{violations:?}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn pack_writes_a_parseable_bundle_and_reports_missing_images() {
        let directory = std::env::temp_dir().join(format!("xtask-ext-pack-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory).unwrap();
        std::fs::write(directory.join("one"), b"image-one").unwrap();
        let bundle = directory.join("out/extensions.bundle");
        let size = pack(&["one".into()], &directory, &bundle).unwrap();
        let bytes = std::fs::read(&bundle).unwrap();
        assert_eq!(bytes.len(), size);
        let entries = extension_image::bundle::parse_bundle(&bytes).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].image, b"image-one");
        let error = pack(&["missing".into()], &directory, &bundle).unwrap_err();
        assert!(error.contains("missing"), "{error}");
        std::fs::remove_dir_all(&directory).unwrap();
    }
}
