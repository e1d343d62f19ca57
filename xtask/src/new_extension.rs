//! `cargo xtask new-extension NAME`: a new extension crate in
//! `extensions/NAME`, copied from `extensions/template`.
//!
//! Invariants:
//! - A name accepted here is packable into the bundle
//!   (`extension_image::bundle::is_valid_name`), a valid Cargo package and
//!   binary name, and a Rust identifier once `-` becomes `_`.
//! - Every check runs before anything is written. The copy is assembled in a
//!   temporary directory in the workspace root (not under `extensions/`,
//!   where every directory must be a crate) and renamed into place, so a
//!   failure leaves nothing behind.
//! - Renaming is textual and word-boundary aware, so it does not depend on
//!   what the template contains: the whole words `template`, `Template` and
//!   `TEMPLATE` become NAME (or its identifier form in Rust code and in file
//!   names), its CamelCase and its SCREAMING_CASE; `templates` or
//!   `template_x` are left alone.

use std::path::{Path, PathBuf};

use extension_image::bundle::is_valid_name;

/// The crate every new extension is copied from (under `extensions/`).
pub const TEMPLATE: &str = "template";

/// The template's type name, replaced by the CamelCase of the new name.
const TEMPLATE_TYPE: &str = "Template";

/// The template's constant prefix, replaced by the SCREAMING_CASE name.
const TEMPLATE_CONSTANT: &str = "TEMPLATE";

/// Rust keywords (strict and reserved, every edition up to 2024).
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Names Cargo refuses or that clash with the build: the standard crates,
/// and directories of `target/<triple>/release/` (where the image lands).
const RESERVED: &[&str] = &[
    "alloc",
    "core",
    "std",
    "test",
    "proc_macro",
    "proc-macro",
    "build",
    "deps",
    "examples",
    "incremental",
];

/// Prelude names a type of that name would shadow.
const PRELUDE: &[&str] = &[
    "Option",
    "Some",
    "None",
    "Result",
    "Ok",
    "Err",
    "Copy",
    "Clone",
    "Send",
    "Sync",
    "Sized",
    "Unpin",
    "Drop",
    "Fn",
    "FnMut",
    "FnOnce",
    "Default",
    "Eq",
    "PartialEq",
    "Ord",
    "PartialOrd",
    "Debug",
    "Iterator",
    "IntoIterator",
    "Extend",
    "From",
    "Into",
    "TryFrom",
    "TryInto",
    "AsRef",
    "AsMut",
    "Box",
    "String",
    "Vec",
    "ToString",
    "ToOwned",
];

/// The forms of an extension's name that replace the template's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// As given: package, binary and image name (`my-rtc`).
    pub name: String,
    /// Rust identifier (`my_rtc`).
    pub ident: String,
    /// Type name (`MyRtc`).
    pub camel: String,
    /// Constant name (`MY_RTC`).
    pub screaming: String,
}

impl Names {
    /// The forms of `name` (which [`check_name`] accepted).
    pub fn new(name: &str) -> Names {
        let ident = name.replace('-', "_");
        Names {
            name: name.to_string(),
            camel: camel_case(name),
            screaming: ident.to_ascii_uppercase(),
            ident,
        }
    }
}

/// `my-rtc` / `my_rtc` → `MyRtc`.
pub fn camel_case(name: &str) -> String {
    name.split(['-', '_'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Checks what can be checked without the file system: bundle name rules,
/// Cargo's rules and Rust's keywords.
pub fn check_name(name: &str) -> Result<(), String> {
    if !is_valid_name(name) {
        return Err(format!(
            "invalid extension name {name:?}: names are 1..=31 bytes of a-z, 0-9, '-', '_'"
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(format!(
            "invalid extension name {name:?}: it must start with a letter a-z"
        ));
    }
    let ident = name.replace('-', "_");
    if KEYWORDS.contains(&ident.as_str()) {
        return Err(format!(
            "invalid extension name {name:?}: `{ident}` is a Rust keyword"
        ));
    }
    if RESERVED.contains(&name) || RESERVED.contains(&ident.as_str()) {
        return Err(format!(
            "invalid extension name {name:?}: reserved by Rust or Cargo"
        ));
    }
    let camel = camel_case(name);
    if PRELUDE.contains(&camel.as_str()) {
        return Err(format!(
            "invalid extension name {name:?}: its type `{camel}` would shadow the prelude's"
        ));
    }
    Ok(())
}

/// `-` and `_` are the same to Rust (and to crates.io).
fn normalized(name: &str) -> String {
    name.replace('-', "_")
}

/// The package name a manifest declares, if any.
fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package
            && let Some(value) = line
                .strip_prefix("name")
                .map(str::trim_start)
                .and_then(|rest| rest.strip_prefix('='))
        {
            return Some(value.trim().trim_matches('"').to_string());
        }
    }
    None
}

/// The dependencies `Cargo.lock` lists (packages with a `source`: the
/// workspace's own crates have none, and may be stale there).
fn locked_dependencies(lock: &str) -> Vec<String> {
    let mut names = Vec::new();
    for block in lock.split("[[package]]").skip(1) {
        let field = |key: &str| {
            block.lines().find_map(|line| {
                line.strip_prefix(key)?
                    .trim_start()
                    .strip_prefix('=')
                    .map(|value| value.trim().trim_matches('"').to_string())
            })
        };
        if let (Some(name), Some(_)) = (field("name"), field("source")) {
            names.push(name);
        }
    }
    names
}

/// Every package name the new crate must not take: the workspace's crates
/// (manifests up to two levels deep) and the dependencies in `Cargo.lock`.
fn taken_package_names(root: &Path) -> Vec<String> {
    let mut names = std::fs::read_to_string(root.join("Cargo.lock"))
        .map(|lock| locked_dependencies(&lock))
        .unwrap_or_default();
    let mut directories = vec![root.to_path_buf()];
    for depth in 0..3 {
        let mut next = Vec::new();
        for directory in &directories {
            if let Some(name) = std::fs::read_to_string(directory.join("Cargo.toml"))
                .ok()
                .as_deref()
                .and_then(package_name)
            {
                names.push(name);
            }
            if depth == 2 {
                continue;
            }
            for entry in std::fs::read_dir(directory).into_iter().flatten().flatten() {
                let file_name = entry.file_name().to_string_lossy().into_owned();
                if entry.path().is_dir() && !file_name.starts_with('.') && file_name != "target" {
                    next.push(entry.path());
                }
            }
        }
        directories = next;
    }
    names
}

/// Checks that `name` is free in the workspace at `root`.
pub fn check_available(root: &Path, name: &str) -> Result<(), String> {
    let extensions = root.join("extensions");
    let target = extensions.join(name);
    if target.symlink_metadata().is_ok() {
        return Err(format!("extensions/{name} already exists"));
    }
    for entry in std::fs::read_dir(&extensions)
        .map_err(|error| format!("cannot list {}: {error}", extensions.display()))?
        .flatten()
    {
        let existing = entry.file_name().to_string_lossy().into_owned();
        if normalized(&existing) == normalized(name) {
            return Err(format!(
                "extensions/{existing} already exists ('-' and '_' count as the same)"
            ));
        }
    }
    if let Some(taken) = taken_package_names(root)
        .into_iter()
        .find(|taken| normalized(taken) == normalized(name))
    {
        return Err(format!(
            "the workspace already has a package named {taken:?} (a crate or a dependency)"
        ));
    }
    Ok(())
}

fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// Replaces every whole-word occurrence of each `(word, replacement)` pair
/// (words: ASCII letters, digits and `_`).
pub fn replace_words(text: &str, pairs: &[(&str, &str)]) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut index = 0;
    while index < bytes.len() {
        let at_word_start = index == 0 || !is_word_byte(bytes[index - 1]);
        let matched = at_word_start
            .then(|| {
                pairs.iter().find(|(word, _)| {
                    let end = index + word.len();
                    bytes[index..].starts_with(word.as_bytes())
                        && bytes.get(end).is_none_or(|&next| !is_word_byte(next))
                })
            })
            .flatten();
        if let Some((word, replacement)) = matched {
            out.push_str(&text[copied..index]);
            out.push_str(replacement);
            index += word.len();
            copied = index;
        } else {
            index += 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Splits Rust source into `(is_code, segment)`: comments and string
/// literals are not code. A light lexer: enough to tell an identifier from
/// prose, not a validator.
pub fn rust_segments(text: &str) -> Vec<(bool, &str)> {
    let bytes = text.as_bytes();
    // (is_code, from, to)
    let mut spans = vec![];
    let mut start = 0;
    let mut index = 0;
    while index < bytes.len() {
        let rest = &bytes[index..];
        // A raw string's `r` starts a token, or follows the `b` that does.
        let raw_may_start = match index {
            0 => true,
            1 => !is_word_byte(bytes[0]) || bytes[0] == b'b',
            _ => {
                !is_word_byte(bytes[index - 1])
                    || (bytes[index - 1] == b'b' && !is_word_byte(bytes[index - 2]))
            }
        };
        let end = if rest.starts_with(b"//") {
            Some(
                rest.iter()
                    .position(|&byte| byte == b'\n')
                    .map_or(bytes.len(), |at| index + at),
            )
        } else if rest.starts_with(b"/*") {
            let mut depth = 0usize;
            let mut at = index;
            loop {
                if at >= bytes.len() {
                    break Some(bytes.len());
                } else if bytes[at..].starts_with(b"/*") {
                    depth += 1;
                    at += 2;
                } else if bytes[at..].starts_with(b"*/") {
                    depth -= 1;
                    at += 2;
                    if depth == 0 {
                        break Some(at);
                    }
                } else {
                    at += 1;
                }
            }
        } else if rest[0] == b'"' {
            let mut at = index + 1;
            while at < bytes.len() && bytes[at] != b'"' {
                at += if bytes[at] == b'\\' { 2 } else { 1 };
            }
            Some((at + 1).min(bytes.len()))
        } else if raw_may_start && (rest.starts_with(b"r#") || rest.starts_with(b"r\"")) {
            let hashes = rest[1..].iter().take_while(|&&byte| byte == b'#').count();
            if rest.get(1 + hashes) == Some(&b'"') {
                let closing: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                let body = index + 2 + hashes;
                Some(
                    bytes[body..]
                        .windows(closing.len())
                        .position(|window| window == closing.as_slice())
                        .map_or(bytes.len(), |at| body + at + closing.len()),
                )
            } else {
                None
            }
        } else {
            None
        };
        match end {
            Some(end) => {
                spans.push((true, start, index));
                spans.push((false, index, end));
                start = end;
                index = end;
            }
            None if rest[0] == b'\'' => {
                // A char literal ('"' must not open a string); else a lifetime.
                let after = text[index + 1..].chars().next().map_or(0, char::len_utf8);
                if rest.get(1) == Some(&b'\\') {
                    let close = rest[2..].iter().skip(1).position(|&byte| byte == b'\'');
                    index += close.map_or(rest.len(), |at| at + 4);
                } else if after > 0 && rest.get(1 + after) == Some(&b'\'') {
                    index += 2 + after;
                } else {
                    index += 1;
                }
            }
            None => index += 1,
        }
    }
    spans.push((true, start, bytes.len()));
    spans
        .into_iter()
        .filter(|(_, from, to)| from < to)
        .map(|(is_code, from, to)| (is_code, &text[from..to]))
        .collect()
}

/// The template's file `text` with the names replaced; `rust` selects the
/// identifier form of the name in Rust code (the plain name elsewhere).
pub fn substitute(text: &str, names: &Names, rust: bool) -> String {
    let prose = [
        (TEMPLATE, names.name.as_str()),
        (TEMPLATE_TYPE, names.camel.as_str()),
        (TEMPLATE_CONSTANT, names.screaming.as_str()),
    ];
    if !rust {
        return replace_words(text, &prose);
    }
    let code = [
        (TEMPLATE, names.ident.as_str()),
        (TEMPLATE_TYPE, names.camel.as_str()),
        (TEMPLATE_CONSTANT, names.screaming.as_str()),
    ];
    rust_segments(text)
        .into_iter()
        .map(|(is_code, segment)| replace_words(segment, if is_code { &code } else { &prose }))
        .collect()
}

/// Whether `word` occurs as a whole word in `text`.
fn contains_word(text: &str, word: &str) -> bool {
    replace_words(text, &[(word, "")]).len() != text.len()
}

/// Refuses names whose forms already occur as identifiers in the template's
/// Rust code where the template's own name does too (`status` would turn
/// `Template` into a second `Status`).
fn check_no_clash(name: &str, names: &Names, sources: &[&str]) -> Result<(), String> {
    let code: String = sources
        .iter()
        .flat_map(|source| rust_segments(source))
        .filter(|(is_code, _)| *is_code)
        .map(|(_, segment)| format!("{segment}\n"))
        .collect();
    for (from, to) in [
        (TEMPLATE, &names.ident),
        (TEMPLATE_TYPE, &names.camel),
        (TEMPLATE_CONSTANT, &names.screaming),
    ] {
        if contains_word(&code, from) && contains_word(&code, to) {
            return Err(format!(
                "extension name {name:?} clashes with the template: `{from}` would become `{to}`, which its code already uses"
            ));
        }
    }
    Ok(())
}

/// Every file under `directory` (relative paths, sorted), skipping `target/`.
fn files(directory: &Path) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let path = directory.join(&relative);
        let listing = std::fs::read_dir(&path)
            .map_err(|error| format!("cannot list {}: {error}", path.display()))?;
        for entry in listing {
            let entry =
                entry.map_err(|error| format!("cannot list {}: {error}", path.display()))?;
            let child = relative.join(entry.file_name());
            let kind = std::fs::metadata(entry.path())
                .map_err(|error| format!("cannot read {}: {error}", entry.path().display()))?;
            if kind.is_dir() {
                if !(relative.as_os_str().is_empty() && entry.file_name() == "target") {
                    pending.push(child);
                }
            } else {
                found.push(child);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Removes a directory when dropped (unless disarmed).
struct Cleanup(Option<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

/// Creates `extensions/NAME` in the workspace at `root` from
/// `extensions/template`; returns the new directory.
pub fn create(root: &Path, name: &str) -> Result<PathBuf, String> {
    check_name(name)?;
    let template = root.join("extensions").join(TEMPLATE);
    if !template.join("Cargo.toml").is_file() {
        return Err(format!("no template crate at {}", template.display()));
    }
    check_available(root, name)?;
    let names = Names::new(name);

    let mut contents = Vec::new();
    for relative in files(&template)? {
        let path = template.join(&relative);
        let bytes = std::fs::read(&path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        contents.push((relative, bytes));
    }
    let sources: Vec<&str> = contents
        .iter()
        .filter(|(relative, _)| relative.extension().is_some_and(|e| e == "rs"))
        .filter_map(|(_, bytes)| std::str::from_utf8(bytes).ok())
        .collect();
    check_no_clash(name, &names, &sources)?;

    let mut output = Vec::new();
    for (relative, bytes) in &contents {
        let path: PathBuf = relative
            .iter()
            .map(|part| match part.to_str() {
                Some(part) => substitute(part, &names, true).into(),
                None => part.to_os_string(),
            })
            .collect();
        let bytes = match std::str::from_utf8(bytes) {
            Ok(text) => {
                let rust = relative.extension().is_some_and(|e| e == "rs");
                substitute(text, &names, rust).into_bytes()
            }
            Err(_) => bytes.clone(),
        };
        output.push((path, bytes));
    }
    let manifest = output
        .iter()
        .find(|(path, _)| path == Path::new("Cargo.toml"))
        .and_then(|(_, bytes)| package_name(&String::from_utf8_lossy(bytes)));
    if manifest.as_deref() != Some(name) {
        return Err(format!(
            "{}/Cargo.toml does not declare `[package] name = \"{TEMPLATE}\"`; cannot rename it",
            template.display()
        ));
    }

    let destination = root.join("extensions").join(name);
    let staging = root.join(format!(".new-extension-{name}.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let mut cleanup = Cleanup(Some(staging.clone()));
    for (relative, bytes) in &output {
        let path = staging.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|error| format!("cannot create {}: {error}", parent.display()))?;
        }
        std::fs::write(&path, bytes)
            .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    }
    if destination.symlink_metadata().is_ok() {
        return Err(format!("extensions/{name} already exists"));
    }
    std::fs::rename(&staging, &destination).map_err(|error| {
        format!(
            "cannot move {} to {}: {error}",
            staging.display(),
            destination.display()
        )
    })?;
    cleanup.0 = None;
    Ok(destination)
}

/// The one line printed after [`create`].
pub fn success_message(name: &str) -> String {
    format!(
        "created extensions/{name} (type {}), copied from extensions/{TEMPLATE}; next: `cargo xtask run` (builds and bundles it), then in the shell `ext list` and `ext crash {name} panic`",
        camel_case(name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh, empty directory under the system temp directory.
    fn scratch(label: &str) -> PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let directory = std::env::temp_dir().join(format!(
            "xtask-new-extension-{label}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory).unwrap();
        directory
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    const MANIFEST: &str = "[package]\nname = \"template\"\nversion = \"0.1.0\"\n\n[[bin]]\nname = \"template\"\ntest = false\n\n[dependencies]\nextension-api.workspace = true\n";

    const SOURCE: &str = "//! `template`: the smallest useful extension; see templates.\n#![no_std]\n\nuse extension_api::{Extension, Status};\n\n/// The state.\nstruct Template {\n    template_x: u64,\n}\n\nconst TEMPLATE_OPERATION: u64 = 0x100;\n\nimpl Extension for Template {\n    fn init() -> Result<Self, Status> {\n        log(format_args!(\"template: up {}\", '\"'));\n        Ok(Template { template_x: TEMPLATE_OPERATION })\n    }\n}\n\nextension_api::extension!(Template);\n";

    /// A workspace with `extensions/template`, another crate and a lock file.
    fn fake_workspace() -> PathBuf {
        let root = scratch("workspace");
        write(&root.join("extensions/template/Cargo.toml"), MANIFEST);
        write(&root.join("extensions/template/src/main.rs"), SOURCE);
        write(
            &root.join("extensions/template/notes/template.txt"),
            "template Template\n",
        );
        write(
            &root.join("extensions/template/target/junk"),
            "build output",
        );
        write(&root.join("extensions/README.md"), "# extensions\n");
        write(
            &root.join("kernel/kernel/Cargo.toml"),
            "[package]\nname = \"kernel\"\n",
        );
        write(
            &root.join("Cargo.lock"),
            "version = 4\n\n[[package]]\nname = \"gone\"\nversion = \"0.1.0\"\n\n[[package]]\nname = \"spin\"\nversion = \"0.10.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n",
        );
        root
    }

    #[test]
    fn name_validation() {
        for good in [
            "hello",
            "my-rtc",
            "e1000",
            "a",
            "ata_fat",
            "x-1-y",
            &"a".repeat(31),
        ] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "Bad Name",
            "Hello",
            "my.rtc",
            "1abc",
            "-x",
            "_x",
            "héllo",
            &"a".repeat(32),
            "fn",
            "self",
            "async",
            "gen",
            "core",
            "std",
            "build",
            "deps",
            "option",
            "result",
        ] {
            let error = check_name(bad).unwrap_err();
            assert!(!error.contains('\n'), "{bad}: {error}");
        }
        assert!(check_name("type").unwrap_err().contains("keyword"));
        assert!(check_name("Bad Name").unwrap_err().contains("a-z"));
    }

    #[test]
    fn name_availability() {
        let root = fake_workspace();
        assert_eq!(check_available(&root, "hello"), Ok(()));
        assert!(
            check_available(&root, "template")
                .unwrap_err()
                .contains("already exists")
        );
        std::fs::create_dir_all(root.join("extensions/my-rtc")).unwrap();
        assert!(
            check_available(&root, "my-rtc")
                .unwrap_err()
                .contains("already exists")
        );
        assert!(
            check_available(&root, "my_rtc")
                .unwrap_err()
                .contains("my-rtc")
        );
        assert!(
            check_available(&root, "kernel")
                .unwrap_err()
                .contains("\"kernel\"")
        );
        assert!(
            check_available(&root, "spin")
                .unwrap_err()
                .contains("\"spin\"")
        );
        // A removed crate still in Cargo.lock (no `source`) is free again.
        assert_eq!(check_available(&root, "gone"), Ok(()));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn camel_case_conversion() {
        assert_eq!(camel_case("hello"), "Hello");
        assert_eq!(camel_case("my-rtc"), "MyRtc");
        assert_eq!(camel_case("ata_fat"), "AtaFat");
        assert_eq!(camel_case("e1000"), "E1000");
        assert_eq!(camel_case("sb16-mixer_2"), "Sb16Mixer2");
        let names = Names::new("my-rtc");
        assert_eq!(names.ident, "my_rtc");
        assert_eq!(names.camel, "MyRtc");
        assert_eq!(names.screaming, "MY_RTC");
    }

    #[test]
    fn substitution_replaces_whole_words_only() {
        let names = Names::new("my-rtc");
        assert_eq!(
            replace_words(
                "template templates template_x xtemplate template-x Template TemplateX",
                &[("template", "my-rtc"), ("Template", "MyRtc")]
            ),
            "my-rtc templates template_x xtemplate my-rtc-x MyRtc TemplateX"
        );
        let manifest = substitute(MANIFEST, &names, false);
        assert_eq!(package_name(&manifest).as_deref(), Some("my-rtc"));
        assert!(
            manifest.contains("[[bin]]\nname = \"my-rtc\"\n"),
            "{manifest}"
        );
        assert!(manifest.contains("extension-api.workspace"), "{manifest}");
        let source = substitute(SOURCE, &names, true);
        assert!(
            source.starts_with("//! `my-rtc`: the smallest useful extension; see templates.\n")
        );
        assert!(
            source.contains("struct MyRtc {\n    template_x: u64,"),
            "{source}"
        );
        assert!(source.contains("const TEMPLATE_OPERATION"), "{source}");
        assert!(source.contains("impl Extension for MyRtc {"), "{source}");
        assert!(source.contains("\"my-rtc: up {}\", '\"'"), "{source}");
        assert!(source.contains("Ok(MyRtc { template_x: TEMPLATE_OPERATION })"));
        assert!(source.contains("extension!(MyRtc);"), "{source}");
        assert!(!source.contains("Template"), "{source}");
        // In Rust code (not prose) the identifier form is used.
        assert_eq!(
            substitute(
                "use template::X; // template\nconst TEMPLATE: u8 = 1;",
                &names,
                true
            ),
            "use my_rtc::X; // my-rtc\nconst MY_RTC: u8 = 1;"
        );
        assert_eq!(
            substitute(
                "let c = '\\''; let s = \"\\\"template\"; b'\"' br\"\\\" template",
                &names,
                true
            ),
            "let c = '\\''; let s = \"\\\"my-rtc\"; b'\"' br\"\\\" my_rtc"
        );
        assert_eq!(
            substitute(
                "/* a /* template */ template */ r#\"template\"# 'a template",
                &names,
                true
            ),
            "/* a /* my-rtc */ my-rtc */ r#\"my-rtc\"# 'a my_rtc"
        );
    }

    #[test]
    fn clashing_names_are_refused() {
        let names = Names::new("status");
        assert!(
            check_no_clash("status", &names, &[SOURCE])
                .unwrap_err()
                .contains("`Status`")
        );
        assert_eq!(
            check_no_clash("hello", &Names::new("hello"), &[SOURCE]),
            Ok(())
        );
        // Words in comments and strings do not count.
        let names = Names::new("smallest");
        assert_eq!(check_no_clash("smallest", &names, &[SOURCE]), Ok(()));
    }

    #[test]
    fn creates_a_renamed_copy() {
        let root = fake_workspace();
        let created = create(&root, "my-rtc").unwrap();
        assert_eq!(created, root.join("extensions/my-rtc"));
        assert_eq!(
            files(&created).unwrap(),
            [
                PathBuf::from("Cargo.toml"),
                PathBuf::from("notes/my_rtc.txt"),
                PathBuf::from("src/main.rs")
            ]
        );
        let manifest = std::fs::read_to_string(created.join("Cargo.toml")).unwrap();
        assert_eq!(manifest, MANIFEST.replace("\"template\"", "\"my-rtc\""));
        let source = std::fs::read_to_string(created.join("src/main.rs")).unwrap();
        assert_eq!(source, substitute(SOURCE, &Names::new("my-rtc"), true));
        let notes = std::fs::read_to_string(created.join("notes/my_rtc.txt")).unwrap();
        assert_eq!(notes, "my-rtc MyRtc\n");
        // The template is untouched; nothing is left in the workspace root.
        assert_eq!(
            std::fs::read_to_string(root.join("extensions/template/Cargo.toml")).unwrap(),
            MANIFEST
        );
        let mut top: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        top.sort();
        assert_eq!(top, ["Cargo.lock", "extensions", "kernel"]);
        // A second time, and bad names: an error, nothing written.
        assert!(
            create(&root, "my-rtc")
                .unwrap_err()
                .contains("already exists")
        );
        for bad in ["Bad Name", "status", "kernel"] {
            let error = create(&root, bad).unwrap_err();
            assert!(!error.contains('\n'), "{error}");
        }
        let mut extensions: Vec<String> = std::fs::read_dir(root.join("extensions"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        extensions.sort();
        assert_eq!(extensions, ["README.md", "my-rtc", "template"]);
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 3);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_template_without_its_name_is_refused() {
        let root = fake_workspace();
        write(
            &root.join("extensions/template/Cargo.toml"),
            "[package]\nname = \"something-else\"\n",
        );
        assert!(
            create(&root, "hello")
                .unwrap_err()
                .contains("does not declare")
        );
        assert!(!root.join("extensions/hello").exists());
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 3);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn success_message_is_one_line_with_next_steps() {
        let message = success_message("my-rtc");
        assert!(!message.contains('\n'));
        for part in [
            "extensions/my-rtc",
            "MyRtc",
            "cargo xtask run",
            "ext list",
            "ext crash my-rtc panic",
        ] {
            assert!(message.contains(part), "{part}: {message}");
        }
    }
}
