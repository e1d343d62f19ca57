//! Snapshot tests: the generated code for every interface file under
//! `wrappers/interface/` (checked in under `wrappers/generated/`) and for the
//! feature fixture (checked in under `tests/snapshots/`) must equal what the
//! generator emits now. After an intended change, regenerate them with
//!
//! ```text
//! UPDATE_SNAPSHOTS=1 cargo test -p idl --test snapshots
//! ```
//!
//! and review the diff. The `idl-fixture` crate compiles the same files, so
//! a snapshot is always code that builds.

use idl::{Options, Side, generate, parse_file};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// (interface file, directory of its generated files, options): the real
/// interfaces with the default options, the fixture with its common module
/// in the `idl-fixture` crate.
fn cases() -> Vec<(PathBuf, PathBuf, Options)> {
    let mut cases = Vec::new();
    let interfaces = workspace().join("wrappers/interface");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&interfaces)
        .expect("wrappers/interface exists")
        .map(|entry| entry.expect("readable directory").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "idl"))
        .collect();
    files.sort();
    for file in files {
        cases.push((
            file,
            workspace().join("wrappers/generated"),
            Options::default(),
        ));
    }
    cases.push((
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/features.idl"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots"),
        Options {
            common_path: "crate::features_common".to_string(),
            ..Options::default()
        },
    ));
    cases
}

/// The first line where `expected` and `actual` differ: (line number,
/// expected line, actual line).
fn first_difference(expected: &str, actual: &str) -> Option<(usize, String, String)> {
    let mut expected_lines = expected.lines();
    let mut actual_lines = actual.lines();
    for number in 1.. {
        match (expected_lines.next(), actual_lines.next()) {
            (None, None) => {
                return (expected != actual)
                    .then(|| (number, "(end)".to_string(), "(end)".to_string()));
            }
            (left, right) if left != right => {
                return Some((
                    number,
                    left.unwrap_or("(end)").to_string(),
                    right.unwrap_or("(end)").to_string(),
                ));
            }
            _ => {}
        }
    }
    None
}

#[test]
fn generated_code_matches_the_checked_in_files() {
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|value| value != "0");
    let mut stale = Vec::new();
    let mut compared = 0;
    for (interface_file, directory, options) in cases() {
        let interface = parse_file(&interface_file).unwrap_or_else(|errors| panic!("{errors}"));
        for side in Side::ALL {
            let text =
                generate(&interface, side, &options).unwrap_or_else(|error| panic!("{error}"));
            let path = directory.join(side.file_name(&interface.name));
            let current = std::fs::read_to_string(&path).unwrap_or_default();
            compared += 1;
            if let Some((line, expected, actual)) = first_difference(&current, &text) {
                if update {
                    std::fs::write(&path, &text).expect("snapshot written");
                    eprintln!("updated {}", path.display());
                } else {
                    stale.push(format!(
                        "{}:{line}:\n  checked in: {expected}\n  generated:  {actual}",
                        path.display()
                    ));
                }
            }
        }
    }
    assert!(
        compared >= 9,
        "kernel, crashtest and features, three files each"
    );
    assert!(
        stale.is_empty(),
        "generated code differs from the checked-in files (run `UPDATE_SNAPSHOTS=1 cargo test -p idl --test snapshots` and review the diff):\n{}",
        stale.join("\n")
    );
}

#[test]
fn every_checked_in_generated_file_has_an_interface() {
    let mut expected: Vec<String> = Vec::new();
    for (interface_file, _, _) in cases() {
        let interface = parse_file(&interface_file).unwrap_or_else(|errors| panic!("{errors}"));
        for side in Side::ALL {
            expected.push(side.file_name(&interface.name));
        }
    }
    for directory in [
        workspace().join("wrappers/generated"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots"),
    ] {
        for entry in std::fs::read_dir(&directory).expect("directory exists") {
            let name = entry
                .expect("readable")
                .file_name()
                .to_string_lossy()
                .to_string();
            assert!(
                expected.contains(&name),
                "{}/{name} belongs to no interface file (remove it)",
                directory.display()
            );
        }
    }
}

#[test]
fn a_changed_output_is_detected_with_its_line() {
    let interface = parse_file(&workspace().join("wrappers/interface/kernel.idl")).unwrap();
    let text = generate(&interface, Side::Kernel, &Options::default()).unwrap();
    assert_eq!(first_difference(&text, &text), None);
    let changed = text.replacen("BadMessage", "Refused", 1);
    let (line, expected, actual) = first_difference(&text, &changed).expect("a difference");
    assert!(expected.contains("BadMessage") && actual.contains("Refused"));
    assert_eq!(text.lines().nth(line - 1).unwrap(), expected);
    // A change in the interface changes the output.
    let mut renumbered = interface.clone();
    renumbered.operations[0].number = 99;
    let other = generate(&renumbered, Side::Kernel, &Options::default()).unwrap();
    assert!(first_difference(&text, &other).is_some());
    // Missing trailing text counts too.
    assert!(first_difference(&text, text.trim_end()).is_some());
}
