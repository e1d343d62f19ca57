//! `idl`: checks interface files and generates their wrappers.
//!
//! ```text
//! idl check FILE...                 report every error (exit 1 if any)
//! idl generate FILE... --out DIR    write DIR/NAME_common.rs,
//!                                   DIR/NAME_extension_side.rs and
//!                                   DIR/NAME_kernel_side.rs per interface
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!("usage: idl check FILE...\n       idl generate FILE... --out DIR");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = arguments.split_first() else {
        return usage();
    };
    let mut files = Vec::new();
    let mut out: Option<PathBuf> = None;
    let mut rest = rest.iter();
    while let Some(argument) = rest.next() {
        if argument == "--out" {
            match rest.next() {
                Some(directory) => out = Some(PathBuf::from(directory)),
                None => return usage(),
            }
        } else {
            files.push(PathBuf::from(argument));
        }
    }
    if files.is_empty() {
        return usage();
    }
    match (command.as_str(), out) {
        ("check", None) => check(&files),
        ("generate", Some(directory)) => generate(&files, &directory),
        _ => usage(),
    }
}

fn check(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for file in files {
        match idl::parse_file(file) {
            Ok(interface) => println!(
                "{}: interface `{}`: {} operations, {} enumerations",
                file.display(),
                interface.name,
                interface.operations.len(),
                interface.enums.len()
            ),
            Err(errors) => {
                eprintln!("{errors}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn generate(files: &[PathBuf], directory: &Path) -> ExitCode {
    for file in files {
        let interface = match idl::parse_file(file) {
            Ok(interface) => interface,
            Err(errors) => {
                eprintln!("{errors}");
                return ExitCode::FAILURE;
            }
        };
        for side in idl::Side::ALL {
            let text = match idl::generate(&interface, side, &idl::Options::default()) {
                Ok(text) => text,
                Err(error) => {
                    eprintln!("{}: {error}", file.display());
                    return ExitCode::FAILURE;
                }
            };
            let path = directory.join(side.file_name(&interface.name));
            if let Err(error) = std::fs::write(&path, text) {
                eprintln!("{}: cannot write: {error}", path.display());
                return ExitCode::FAILURE;
            }
            println!("wrote {}", path.display());
        }
    }
    ExitCode::SUCCESS
}
