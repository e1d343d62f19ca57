//! The injection spec: one string that says what to inject into which
//! extension, typed in the shell (`inject EXTENSION TYPES [seed=S]
//! [count=K] [dry-run] [probability=P] [interval=N] [times=N] [nth=N]`) or
//! given on the kernel command line (`inject=EXTENSION:TYPES:seed=S:...`).
//!
//! Invariants:
//! - A spec that parses is complete and consistent: it names an
//!   extension, at least one fault type, and no knob or `dry-run` that
//!   does not apply to its types; a crash kind stands alone. (`seed=` and
//!   `count=` are accepted with every type, so a campaign can always pass
//!   them, and used where they apply: the seed by code mutations and fail
//!   points, the count by code mutations.)
//! - Every refusal is one [`SpecError`] whose text is one line.
//! - `parse_words(&spec.to_string())` gives the spec back.

use crate::fault_types::{FailPointType, FaultType, MutationType};
use crate::knobs::Knobs;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use extension_abi::CrashKind;

/// Patches per injection when `count=` is not given (Nooks injected 5
/// faults per trial).
pub const DEFAULT_COUNT: u32 = 5;
/// Most patches one injection may plan.
pub const MAX_COUNT: u32 = 64;
/// The shell usage line.
pub const USAGE: &str = "inject EXTENSION TYPES [seed=S] [count=K] [dry-run] [probability=P] [interval=N] [times=N] [nth=N] | inject status EXTENSION | inject clear EXTENSION";

/// A parsed injection spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InjectionSpec {
    /// The extension aimed at.
    pub extension: String,
    /// Code mutations to plan (no duplicates, in the order given; `all`
    /// expanded in [`MutationType::ALL`] order).
    pub mutations: Vec<MutationType>,
    /// Fail points to arm (no duplicates, in the order given).
    pub fail_points: Vec<FailPointType>,
    /// A crash kind to trigger (alone).
    pub crash: Option<CrashKind>,
    /// Seed of site selection and of the fail points' random numbers.
    pub seed: u64,
    /// Patches to plan (code mutations).
    pub count: u32,
    /// Plan the patches and list them, apply nothing.
    pub dry_run: bool,
    /// Fail-point knobs.
    pub knobs: Knobs,
}

/// Why a spec was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpecError {
    /// No extension named.
    MissingExtension,
    /// No fault types given.
    MissingTypes,
    /// The extension name has characters an extension name cannot have.
    BadExtensionName(String),
    /// A fault type nobody knows.
    UnknownType(String),
    /// A crash kind together with other types.
    CrashNotAlone(String),
    /// An option nobody knows.
    UnknownOption(String),
    /// An option given twice.
    RepeatedOption(&'static str),
    /// An option's value is not acceptable.
    BadValue {
        /// The option.
        option: &'static str,
        /// What was given.
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// An option that does not apply to the types given.
    NotApplicable {
        /// The option.
        option: &'static str,
        /// The types it applies to.
        applies_to: &'static str,
    },
    /// `nth` together with `probability`, `interval` or `times`.
    NthWithOtherKnobs,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecError::MissingExtension => write!(f, "missing EXTENSION (usage: {USAGE})"),
            SpecError::MissingTypes => write!(
                f,
                "missing fault TYPES (one type or a comma list; `all` is every code mutation)"
            ),
            SpecError::BadExtensionName(name) => write!(f, "bad extension name `{name}`"),
            SpecError::UnknownType(name) => {
                write!(f, "unknown fault type `{name}`; code mutations: all")?;
                for kind in MutationType::ALL {
                    write!(f, ", {kind}")?;
                }
                f.write_str("; fail points: ")?;
                for (index, kind) in FailPointType::ALL.iter().enumerate() {
                    let separator = if index == 0 { "" } else { ", " };
                    write!(f, "{separator}{kind}")?;
                }
                f.write_str("; crash kinds: ")?;
                for (index, kind) in CrashKind::ALL.iter().enumerate() {
                    let separator = if index == 0 { "" } else { ", " };
                    write!(f, "{separator}{kind}")?;
                }
                Ok(())
            }
            SpecError::CrashNotAlone(name) => write!(
                f,
                "crash kind `{name}` cannot be combined with other fault types"
            ),
            SpecError::UnknownOption(word) => write!(
                f,
                "unknown option `{word}` (seed=S, count=K, dry-run, probability=P, interval=N, times=N, nth=N)"
            ),
            SpecError::RepeatedOption(option) => write!(f, "option `{option}` given twice"),
            SpecError::BadValue {
                option,
                value,
                expected,
            } => write!(f, "bad value `{value}` for {option} (expected {expected})"),
            SpecError::NotApplicable { option, applies_to } => {
                write!(f, "{option} applies to {applies_to} only")
            }
            SpecError::NthWithOtherKnobs => {
                f.write_str("nth cannot be combined with probability, interval or times")
            }
        }
    }
}

/// Parses the shell form: `words` are what follows `inject`
/// (`EXTENSION TYPES OPTION...`).
pub fn parse_words(words: &[&str]) -> Result<InjectionSpec, SpecError> {
    let (extension, rest) = words.split_first().ok_or(SpecError::MissingExtension)?;
    let (types, options) = rest.split_first().ok_or(SpecError::MissingTypes)?;
    build(extension, types, options)
}

/// Parses the kernel command-line form, the value of `inject=`:
/// `EXTENSION:TYPES[:OPTION]...` (options as in the shell form).
pub fn parse_command_line_value(value: &str) -> Result<InjectionSpec, SpecError> {
    let words: Vec<&str> = value.split(':').collect();
    if words.first().is_none_or(|word| word.is_empty()) {
        return Err(SpecError::MissingExtension);
    }
    if words.get(1).is_none_or(|word| word.is_empty()) {
        return Err(SpecError::MissingTypes);
    }
    parse_words(&words)
}

fn valid_extension_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 31
        && name.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-' || byte == b'_'
        })
}

fn build(extension: &str, types: &str, options: &[&str]) -> Result<InjectionSpec, SpecError> {
    if !valid_extension_name(extension) {
        return Err(SpecError::BadExtensionName(extension.to_string()));
    }
    let mut spec = InjectionSpec {
        extension: extension.to_string(),
        mutations: Vec::new(),
        fail_points: Vec::new(),
        crash: None,
        seed: 0,
        count: DEFAULT_COUNT,
        dry_run: false,
        knobs: Knobs::default(),
    };
    let mut type_count = 0;
    for name in types.split(',') {
        if name.is_empty() {
            return Err(SpecError::MissingTypes);
        }
        type_count += 1;
        if name == "all" {
            for kind in MutationType::ALL {
                if !spec.mutations.contains(&kind) {
                    spec.mutations.push(kind);
                }
            }
            continue;
        }
        match FaultType::from_name(name) {
            Some(FaultType::Mutation(kind)) => {
                if !spec.mutations.contains(&kind) {
                    spec.mutations.push(kind);
                }
            }
            Some(FaultType::FailPoint(kind)) => {
                if !spec.fail_points.contains(&kind) {
                    spec.fail_points.push(kind);
                }
            }
            Some(FaultType::Crash(kind)) => spec.crash = Some(kind),
            None => return Err(SpecError::UnknownType(name.to_string())),
        }
    }
    if let Some(kind) = spec.crash
        && type_count > 1
    {
        return Err(SpecError::CrashNotAlone(kind.name().to_string()));
    }
    let mut seen: Vec<&'static str> = Vec::new();
    let mut mark = |option: &'static str| {
        if seen.contains(&option) {
            return Err(SpecError::RepeatedOption(option));
        }
        seen.push(option);
        Ok(())
    };
    for word in options {
        let (option, value) = match word.split_once('=') {
            Some((option, value)) => (option, Some(value)),
            None => (*word, None),
        };
        match (option, value) {
            ("dry-run", None) => {
                mark("dry-run")?;
                spec.dry_run = true;
            }
            ("seed", Some(value)) => {
                mark("seed")?;
                spec.seed = parse_number(value).ok_or_else(|| SpecError::BadValue {
                    option: "seed",
                    value: value.to_string(),
                    expected: "a number, decimal or 0x hex, below 2^64",
                })?;
            }
            ("count", Some(value)) => {
                mark("count")?;
                spec.count = parse_number(value)
                    .filter(|count| (1..=u64::from(MAX_COUNT)).contains(count))
                    .ok_or_else(|| SpecError::BadValue {
                        option: "count",
                        value: value.to_string(),
                        expected: "1 to 64",
                    })? as u32;
            }
            ("probability", Some(value)) => {
                mark("probability")?;
                spec.knobs.probability_percent = parse_number(value)
                    .filter(|percent| *percent <= 100)
                    .ok_or_else(|| SpecError::BadValue {
                        option: "probability",
                        value: value.to_string(),
                        expected: "a percentage, 0 to 100",
                    })? as u8;
            }
            ("interval", Some(value)) => {
                mark("interval")?;
                spec.knobs.interval = parse_positive_u32(value, "interval")?;
            }
            ("times", Some(value)) => {
                mark("times")?;
                spec.knobs.times = match value {
                    "-1" => None,
                    _ => Some(
                        parse_number(value)
                            .and_then(|times| u32::try_from(times).ok())
                            .ok_or_else(|| SpecError::BadValue {
                                option: "times",
                                value: value.to_string(),
                                expected: "-1 (no limit) or 0 to 4294967295",
                            })?,
                    ),
                };
            }
            ("nth", Some(value)) => {
                mark("nth")?;
                spec.knobs.nth = Some(parse_positive_u32(value, "nth")?);
            }
            _ => return Err(SpecError::UnknownOption(word.to_string())),
        }
    }
    let fail_point_knobs = ["probability", "interval", "times", "nth"];
    if spec.fail_points.is_empty()
        && let Some(option) = seen.iter().find(|option| fail_point_knobs.contains(option))
    {
        return Err(SpecError::NotApplicable {
            option,
            applies_to: "fail points",
        });
    }
    if spec.knobs.nth.is_some()
        && seen
            .iter()
            .any(|option| *option != "nth" && fail_point_knobs.contains(option))
    {
        return Err(SpecError::NthWithOtherKnobs);
    }
    if spec.dry_run && (spec.mutations.is_empty() || !spec.fail_points.is_empty()) {
        return Err(SpecError::NotApplicable {
            option: "dry-run",
            applies_to: "code mutations (without fail points)",
        });
    }
    Ok(spec)
}

fn parse_positive_u32(value: &str, option: &'static str) -> Result<u32, SpecError> {
    parse_number(value)
        .and_then(|number| u32::try_from(number).ok())
        .filter(|number| *number >= 1)
        .ok_or_else(|| SpecError::BadValue {
            option,
            value: value.to_string(),
            expected: "1 to 4294967295",
        })
}

/// A decimal or `0x` hexadecimal number below 2^64.
fn parse_number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) if !hex.is_empty() && hex.bytes().all(|byte| byte.is_ascii_hexdigit()) => {
            u64::from_str_radix(hex, 16).ok()
        }
        Some(_) => None,
        None if !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()) => {
            text.parse().ok()
        }
        None => None,
    }
}

impl InjectionSpec {
    /// The types as a comma list (as typed, `all` expanded).
    pub fn type_list(&self) -> String {
        let mut names: Vec<&str> = self.mutations.iter().map(|kind| kind.name()).collect();
        names.extend(self.fail_points.iter().map(|kind| kind.name()));
        names.extend(self.crash.iter().map(|kind| kind.name()));
        names.join(",")
    }
}

/// The canonical shell form (`EXTENSION TYPES seed=S count=K OPTION...`,
/// without the word `inject`); knobs at their defaults are left out.
impl fmt::Display for InjectionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} seed={} count={}",
            self.extension,
            self.type_list(),
            self.seed,
            self.count
        )?;
        if self.dry_run {
            f.write_str(" dry-run")?;
        }
        let knobs = self.knobs;
        if let Some(nth) = knobs.nth {
            return write!(f, " nth={nth}");
        }
        if knobs.probability_percent != 100 {
            write!(f, " probability={}", knobs.probability_percent)?;
        }
        if knobs.interval != 1 {
            write!(f, " interval={}", knobs.interval)?;
        }
        if let Some(times) = knobs.times {
            write!(f, " times={times}")?;
        }
        Ok(())
    }
}
