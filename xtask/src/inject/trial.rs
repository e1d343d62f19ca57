//! What one trial is (extension, mode, fault type, seed, count, knobs), its
//! self-describing id, and how a campaign draws its trials from a seed.
//!
//! Invariants:
//! - A trial id names everything the trial needs except the kernel build:
//!   `EXTENSION:MODE:TYPE:SEED:COUNT[:KNOBS]` (knobs as `key=value,...`).
//!   [`TrialSpec::parse_id`] inverts [`TrialSpec::id`] exactly.
//! - Planning is a pure function of the campaign's options: the same options
//!   give the same trials, in the same order, on every host.
//! - Native and isolated trial number `t` of an extension get the same fault
//!   type and seed (paired trials, as Nooks ran the same trials on both).
//! - Fault types are drawn in shuffled blocks: every block of `n` trials of
//!   an extension covers each of the `n` types once, so per-type counts
//!   differ by at most one.

use super::faults::{self, FaultType};

/// How the extension under test is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    /// Unisolated (`ext load NAME native`): a fault is the kernel's fault.
    Native,
    /// In its own protection domain (`ext load NAME isolated`).
    Isolated,
}

impl Mode {
    /// Both modes, in report order.
    pub const ALL: [Mode; 2] = [Mode::Native, Mode::Isolated];

    /// The shell's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Native => "native",
            Mode::Isolated => "isolated",
        }
    }

    /// The mode spelled `text`.
    pub fn parse(text: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|mode| mode.name() == text)
    }
}

/// Fail-point knobs passed on to the engine (`probability`, `interval`,
/// `times`, `nth`), in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Knobs(pub Vec<(String, String)>);

/// The knob names the engine's contract defines.
pub const KNOB_NAMES: [&str; 4] = ["probability", "interval", "times", "nth"];

impl Knobs {
    /// Parses `key=value` pairs separated by commas or spaces; keys must be
    /// knob names, values decimal numbers (a fraction only for
    /// `probability`).
    pub fn parse(text: &str) -> Result<Knobs, String> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for pair in text.split([',', ' ']).filter(|p| !p.is_empty()) {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(format!("knob {pair:?} is not KEY=VALUE"));
            };
            if !KNOB_NAMES.contains(&key) {
                return Err(format!(
                    "unknown knob {key:?}; known: {}",
                    KNOB_NAMES.join(", ")
                ));
            }
            let number = if key == "probability" {
                !value.is_empty()
                    && value.bytes().filter(|&b| b == b'.').count() <= 1
                    && value.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                    && value.bytes().any(|b| b.is_ascii_digit())
            } else {
                value.parse::<u64>().is_ok()
            };
            if !number {
                return Err(format!("knob {key}={value:?} is not a number"));
            }
            if pairs.iter().any(|(k, _)| k == key) {
                return Err(format!("knob {key} given twice"));
            }
            pairs.push((key.to_string(), value.to_string()));
        }
        Ok(Knobs(pairs))
    }

    /// `key=value,...` (empty when there are none).
    pub fn joined(&self, separator: &str) -> String {
        self.0
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect::<Vec<_>>()
            .join(separator)
    }

    /// No knobs.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One trial: everything needed to run it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrialSpec {
    /// The extension under test.
    pub extension: String,
    /// How it is loaded.
    pub mode: Mode,
    /// What is injected.
    pub fault: FaultType,
    /// The engine's seed (sites and patches follow from it).
    pub seed: u64,
    /// Faults per trial (code mutations; fail points and crash kinds fire
    /// as one fault each).
    pub count: u32,
    /// Fail-point knobs (only used for fail points).
    pub knobs: Knobs,
}

impl TrialSpec {
    /// The self-describing id: `EXTENSION:MODE:TYPE:SEED:COUNT[:KNOBS]`.
    pub fn id(&self) -> String {
        let mut id = format!(
            "{}:{}:{}:{}:{}",
            self.extension,
            self.mode.name(),
            self.fault.name,
            self.seed,
            self.count
        );
        if !self.knobs.is_empty() {
            id.push(':');
            id.push_str(&self.knobs.joined(","));
        }
        id
    }

    /// Parses an id made by [`TrialSpec::id`].
    pub fn parse_id(id: &str) -> Result<TrialSpec, String> {
        let bad = |why: &str| {
            format!("bad trial id {id:?}: {why} (expected EXTENSION:MODE:TYPE:SEED:COUNT[:KNOBS])")
        };
        let parts: Vec<&str> = id.split(':').collect();
        if !(5..=6).contains(&parts.len()) {
            return Err(bad("wrong number of `:` fields"));
        }
        let extension = parts[0];
        let valid_name = !extension.is_empty()
            && extension
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !valid_name {
            return Err(bad("the extension name is not a-z, 0-9, '-', '_'"));
        }
        let mode =
            Mode::parse(parts[1]).ok_or_else(|| bad("mode is neither native nor isolated"))?;
        let fault = faults::find(parts[2])
            .ok_or_else(|| bad(&format!("unknown fault type {:?}", parts[2])))?;
        let seed = parts[3]
            .parse::<u64>()
            .map_err(|_| bad("the seed is not a number"))?;
        let count = match parts[4].parse::<u32>() {
            Ok(count) if count > 0 => count,
            _ => return Err(bad("the count is not a positive number")),
        };
        let knobs = match parts.get(5) {
            Some(text) => Knobs::parse(text).map_err(|e| bad(&e))?,
            None => Knobs::default(),
        };
        Ok(TrialSpec {
            extension: extension.to_string(),
            mode,
            fault,
            seed,
            count,
            knobs,
        })
    }
}

/// What a campaign asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignPlan {
    /// Extensions, in the order given.
    pub extensions: Vec<String>,
    /// Fault types to draw from.
    pub faults: Vec<FaultType>,
    /// Trials per extension per mode.
    pub trials: u32,
    /// Faults per trial.
    pub count: u32,
    /// The campaign's seed.
    pub seed: u64,
    /// Modes to run.
    pub modes: Vec<Mode>,
    /// Fail-point knobs.
    pub knobs: Knobs,
}

/// SplitMix64: a well-mixed 64-bit value from any 64-bit input.
pub fn mix(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a 64 of `bytes` (stable across hosts and Rust versions).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

impl CampaignPlan {
    /// Every trial, grouped by extension, then trial number, then mode.
    pub fn trials(&self) -> Vec<TrialSpec> {
        let mut out = Vec::new();
        if self.faults.is_empty() {
            return out;
        }
        let types = self.faults.len() as u64;
        for extension in &self.extensions {
            let stream = mix(self.seed ^ fnv1a(extension.as_bytes()));
            let mut order: Vec<usize> = Vec::new();
            for number in 0..u64::from(self.trials) {
                let position = (number % types) as usize;
                if position == 0 {
                    // A new block: a seeded Fisher-Yates shuffle of the types.
                    order = (0..self.faults.len()).collect();
                    let mut state = mix(stream ^ mix(number / types + 1));
                    for i in (1..order.len()).rev() {
                        state = mix(state);
                        let j = (state % (i as u64 + 1)) as usize;
                        order.swap(i, j);
                    }
                }
                let fault = self.faults[order[position]];
                // Short (32-bit) seeds keep ids readable.
                let seed = mix(stream ^ mix(number + 0x1000)) & 0xffff_ffff;
                for &mode in &self.modes {
                    out.push(TrialSpec {
                        extension: extension.clone(),
                        mode,
                        fault,
                        seed,
                        count: self.count,
                        knobs: if fault.layer == faults::Layer::FailPoint {
                            self.knobs.clone()
                        } else {
                            Knobs::default()
                        },
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(trials: u32, faults: &str, modes: &[Mode]) -> CampaignPlan {
        CampaignPlan {
            extensions: vec!["crashtest".into(), "rtc".into()],
            faults: faults::parse_list(faults).unwrap(),
            trials,
            count: 5,
            seed: 42,
            modes: modes.to_vec(),
            knobs: Knobs::default(),
        }
    }

    #[test]
    fn trial_ids_round_trip_including_knobs() {
        let spec = TrialSpec {
            extension: "my-rtc_2".into(),
            mode: Mode::Isolated,
            fault: faults::find("alloc").unwrap(),
            seed: 3_735_928_559,
            count: 5,
            knobs: Knobs::parse("interval=10,probability=0.5").unwrap(),
        };
        let id = spec.id();
        assert_eq!(
            id,
            "my-rtc_2:isolated:alloc:3735928559:5:interval=10,probability=0.5"
        );
        assert_eq!(TrialSpec::parse_id(&id).unwrap(), spec);
        let plain = TrialSpec {
            knobs: Knobs::default(),
            fault: faults::find("panic").unwrap(),
            ..spec
        };
        assert_eq!(TrialSpec::parse_id(&plain.id()).unwrap(), plain);
    }

    #[test]
    fn malformed_trial_ids_are_rejected_with_the_expected_form() {
        for bad in [
            "",
            "crashtest:isolated:panic:1",
            "crashtest:sandboxed:panic:1:5",
            "crashtest:isolated:frobnicate:1:5",
            "crashtest:isolated:panic:x:5",
            "crashtest:isolated:panic:1:0",
            "Crash Test:isolated:panic:1:5",
            "crashtest:isolated:alloc:1:5:speed=9",
            "a:native:panic:1:5:times=1:extra",
        ] {
            let error = TrialSpec::parse_id(bad).unwrap_err();
            assert!(
                error.contains("EXTENSION:MODE:TYPE:SEED:COUNT"),
                "{bad}: {error}"
            );
            assert!(!error.contains('\n'));
        }
    }

    #[test]
    fn knobs_accept_the_contract_names_and_numbers_only() {
        let knobs = Knobs::parse("probability=0.25 interval=3,times=2 nth=7").unwrap();
        assert_eq!(
            knobs.joined(" "),
            "probability=0.25 interval=3 times=2 nth=7"
        );
        assert!(Knobs::parse("interval=0.5").is_err());
        assert!(Knobs::parse("probability=.").is_err());
        assert!(Knobs::parse("probability=1..2").is_err());
        assert!(
            Knobs::parse("times=1,times=2")
                .unwrap_err()
                .contains("twice")
        );
        assert!(
            Knobs::parse("speed=1")
                .unwrap_err()
                .contains("unknown knob")
        );
        assert!(Knobs::parse("").unwrap().is_empty());
    }

    #[test]
    fn planning_is_deterministic_and_pairs_native_with_isolated() {
        let both = plan(7, "panic,null-deref,divide-error", &Mode::ALL);
        let first = both.trials();
        assert_eq!(first, both.trials());
        assert_eq!(first.len(), 2 * 7 * 2);
        for pair in first.chunks(2) {
            assert_eq!(pair[0].mode, Mode::Native);
            assert_eq!(pair[1].mode, Mode::Isolated);
            assert_eq!((pair[0].fault, pair[0].seed), (pair[1].fault, pair[1].seed));
        }
        let mut other_seed = both.clone();
        other_seed.seed = 43;
        assert_ne!(first, other_seed.trials());
        let ids: std::collections::HashSet<String> = first.iter().map(TrialSpec::id).collect();
        assert_eq!(ids.len(), first.len(), "ids are unique");
    }

    #[test]
    fn every_block_of_trials_covers_each_fault_type_once() {
        let isolated = plan(30, "crash", &[Mode::Isolated]).trials();
        let crashtest: Vec<&TrialSpec> = isolated
            .iter()
            .filter(|t| t.extension == "crashtest")
            .collect();
        assert_eq!(crashtest.len(), 30);
        for block in crashtest.chunks(13).filter(|b| b.len() == 13) {
            let mut names: Vec<&str> = block.iter().map(|t| t.fault.name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), 13, "a block repeats a type");
        }
        let first_block: Vec<&str> = crashtest[..13].iter().map(|t| t.fault.name).collect();
        let catalogue_order: Vec<&str> = faults::parse_list("crash")
            .unwrap()
            .iter()
            .map(|t| t.name)
            .collect();
        assert_ne!(first_block, catalogue_order, "the draw is shuffled");
    }

    #[test]
    fn knobs_are_kept_only_for_fail_points() {
        let mut p = plan(4, "alloc,panic", &[Mode::Isolated]);
        p.knobs = Knobs::parse("times=1").unwrap();
        for trial in p.trials() {
            assert_eq!(trial.knobs.is_empty(), trial.fault.name == "panic");
        }
    }

    #[test]
    fn mixing_and_hashing_are_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(mix(0), 0xe220_a839_7b1d_cdaf);
    }
}
