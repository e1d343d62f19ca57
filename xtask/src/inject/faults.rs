//! The fault types a campaign can inject, by layer, and the parsing of
//! `--faults` lists.
//!
//! Invariants:
//! - Every name here is the kernel's spelling: code-mutation types and fail
//!   points as the engine's `inject` command takes them, crash kinds as
//!   `ext crash NAME KIND` takes them (`nim/extension-abi/src/crash.rs`).
//! - Aliases (`null-dereference`) are resolved to the kernel's spelling when
//!   parsed, so records and trial ids only ever hold canonical names.
//! - A parsed list has no duplicates and keeps the catalogue's order.

/// How a fault is injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layer {
    /// The engine patches the extension's code (`inject E TYPES seed=S count=K`).
    CodeMutation,
    /// The engine arms a fail point in the wrappers (`inject E TYPE seed=S KNOBS`).
    FailPoint,
    /// A direct crash, made today with `ext crash E KIND`.
    CrashKind,
}

impl Layer {
    /// The group name accepted by `--faults` (`mutation`, `fail-point`, `crash`).
    pub fn group_name(self) -> &'static str {
        match self {
            Layer::CodeMutation => "mutation",
            Layer::FailPoint => "fail-point",
            Layer::CrashKind => "crash",
        }
    }

    /// Whether this layer needs the kernel's `inject` command (the engine).
    pub fn needs_engine(self) -> bool {
        !matches!(self, Layer::CrashKind)
    }
}

/// One fault type of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultType {
    /// The kernel's spelling.
    pub name: &'static str,
    /// How it is injected.
    pub layer: Layer,
}

const fn mutation(name: &'static str) -> FaultType {
    FaultType {
        name,
        layer: Layer::CodeMutation,
    }
}

const fn fail_point(name: &'static str) -> FaultType {
    FaultType {
        name,
        layer: Layer::FailPoint,
    }
}

const fn crash(name: &'static str) -> FaultType {
    FaultType {
        name,
        layer: Layer::CrashKind,
    }
}

/// Every fault type, in the order reports list them.
pub const CATALOGUE: &[FaultType] = &[
    mutation("text"),
    mutation("nop"),
    mutation("destination"),
    mutation("source"),
    mutation("pointer"),
    mutation("branch"),
    mutation("invert"),
    mutation("interface"),
    mutation("init"),
    mutation("irq"),
    mutation("off-by-one"),
    fail_point("alloc"),
    fail_point("dma"),
    fail_point("read-ones"),
    fail_point("read-garbage"),
    fail_point("lost-irq"),
    fail_point("spurious-irq"),
    fail_point("timer-never"),
    fail_point("copy-overrun"),
    crash("null-deref"),
    crash("write-kernel-text"),
    crash("write-kernel-data"),
    crash("write-kernel-heap"),
    crash("write-other-domain"),
    crash("write-own-rodata"),
    crash("invalid-opcode"),
    crash("divide-error"),
    crash("stack-overflow"),
    crash("bad-return-address"),
    crash("panic"),
    crash("loop-irq-on"),
    crash("loop-irq-off"),
];

/// Other spellings people use, and the canonical name they stand for.
const ALIASES: &[(&str, &str)] = &[
    ("null-dereference", "null-deref"),
    ("while1", "loop-irq-on"),
    ("bcopy", "copy-overrun"),
];

/// The catalogue entry named `name` (canonical or alias).
pub fn find(name: &str) -> Option<FaultType> {
    let canonical = ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map_or(name, |(_, canonical)| *canonical);
    CATALOGUE.iter().copied().find(|t| t.name == canonical)
}

/// Parses a `--faults` value: `all`, group names (`mutation`, `fail-point`,
/// `crash`) and type names, comma separated. Errors name the bad word and
/// stay on one line.
pub fn parse_list(text: &str) -> Result<Vec<FaultType>, String> {
    let mut wanted = vec![false; CATALOGUE.len()];
    let mut any = false;
    for word in text.split(',').map(str::trim) {
        if word.is_empty() {
            return Err(format!("--faults {text:?} has an empty entry"));
        }
        any = true;
        let group = [Layer::CodeMutation, Layer::FailPoint, Layer::CrashKind]
            .into_iter()
            .find(|layer| layer.group_name() == word);
        if word == "all" {
            wanted.iter_mut().for_each(|w| *w = true);
        } else if let Some(layer) = group {
            for (index, fault) in CATALOGUE.iter().enumerate() {
                if fault.layer == layer {
                    wanted[index] = true;
                }
            }
        } else if let Some(fault) = find(word) {
            let index = CATALOGUE
                .iter()
                .position(|t| t.name == fault.name)
                .expect("found in the catalogue");
            wanted[index] = true;
        } else {
            return Err(format!(
                "unknown fault type {word:?}; known: all, mutation, fail-point, crash, {}",
                CATALOGUE
                    .iter()
                    .map(|t| t.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    if !any {
        return Err("--faults needs at least one fault type".into());
    }
    Ok(CATALOGUE
        .iter()
        .zip(wanted)
        .filter(|(_, wanted)| *wanted)
        .map(|(fault, _)| *fault)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_names_are_unique_and_cover_every_layer() {
        let mut names: Vec<&str> = CATALOGUE.iter().map(|t| t.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CATALOGUE.len());
        assert_eq!(
            CATALOGUE
                .iter()
                .filter(|t| t.layer == Layer::CodeMutation)
                .count(),
            11
        );
        assert_eq!(
            CATALOGUE
                .iter()
                .filter(|t| t.layer == Layer::FailPoint)
                .count(),
            8
        );
        assert_eq!(
            CATALOGUE
                .iter()
                .filter(|t| t.layer == Layer::CrashKind)
                .count(),
            13
        );
    }

    #[test]
    fn aliases_resolve_to_the_kernel_spelling() {
        let list = parse_list("panic,null-dereference").unwrap();
        let names: Vec<&str> = list.iter().map(|t| t.name).collect();
        assert_eq!(names, ["null-deref", "panic"], "catalogue order, canonical");
        assert_eq!(find("while1").unwrap().name, "loop-irq-on");
    }

    #[test]
    fn groups_and_all_expand_without_duplicates() {
        assert_eq!(parse_list("all").unwrap().len(), CATALOGUE.len());
        assert_eq!(
            parse_list("crash,panic,crash").unwrap().len(),
            13,
            "duplicates collapse"
        );
        let mixed = parse_list("pointer, alloc").unwrap();
        assert_eq!(mixed[0].layer, Layer::CodeMutation);
        assert_eq!(mixed[1].layer, Layer::FailPoint);
        assert!(
            parse_list("fail-point")
                .unwrap()
                .iter()
                .all(|t| t.layer.needs_engine())
        );
    }

    #[test]
    fn unknown_or_empty_fault_types_are_one_line_errors() {
        let error = parse_list("panic,frobnicate").unwrap_err();
        assert!(
            error.starts_with("unknown fault type \"frobnicate\""),
            "{error}"
        );
        assert!(!error.contains('\n'));
        assert!(parse_list("panic,").unwrap_err().contains("empty entry"));
        assert!(parse_list("").is_err());
    }
}
