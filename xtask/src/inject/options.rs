//! The options of `cargo xtask inject`.
//!
//! Invariants: strict, like the rest of xtask's parsing: unknown flags,
//! missing values, zero trials, bad modes, unknown fault types and malformed
//! trial ids are one-line errors, found before anything is built or booted.

use std::path::PathBuf;
use std::time::Duration;

use super::faults::{self, FaultType};
use super::trial::{Knobs, Mode, TrialSpec};

/// Default faults per trial (as Nooks).
pub const DEFAULT_COUNT: u32 = 5;
/// Default campaign seed.
pub const DEFAULT_SEED: u64 = 1;
/// Default trials per extension per mode.
pub const DEFAULT_TRIALS: u32 = 10;
/// Default time a command may take before the trial counts as a hang.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A campaign.
    Campaign {
        /// Extensions under test.
        extensions: Vec<String>,
        /// Fault types drawn from.
        faults: Vec<FaultType>,
        /// Trials per extension per mode.
        trials: u32,
        /// Faults per trial.
        count: u32,
        /// Campaign seed.
        seed: u64,
        /// Modes.
        modes: Vec<Mode>,
        /// Fail-point knobs.
        knobs: Knobs,
        /// Parallel QEMUs (`None`: one per CPU).
        jobs: Option<usize>,
        /// Isolated trials may share a boot while the kernel survives.
        reuse_boots: bool,
    },
    /// Re-run one trial.
    Reproduce(TrialSpec),
    /// Write `report.md` and `report.svg` again from the output directory
    /// (after adding explanations).
    Report,
}

/// Options of `inject`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectArgs {
    /// What to do.
    pub action: Action,
    /// Output directory.
    pub out: PathBuf,
    /// Per-command timeout (a hang past it is the outcome `hang`).
    pub timeout: Duration,
    /// Use the kernel ELF as it is.
    pub no_build: bool,
    /// More kernel command line (after `nim.autoload=0`).
    pub cmdline: String,
}

fn positive<T: std::str::FromStr + PartialOrd + Default>(
    flag: &str,
    text: &str,
) -> Result<T, String> {
    match text.parse::<T>() {
        Ok(n) if n > T::default() => Ok(n),
        _ => Err(format!("{flag} expects a positive number, got {text:?}")),
    }
}

/// Parses the arguments after `inject`.
pub fn parse(arguments: &[String]) -> Result<InjectArgs, String> {
    let mut extensions: Option<Vec<String>> = None;
    let mut fault_list: Option<Vec<FaultType>> = None;
    let mut trials = None;
    let mut count = None;
    let mut seed = None;
    let mut modes = None;
    let mut knobs = None;
    let mut jobs = None;
    let mut reuse_boots = true;
    let mut reproduce = None;
    let mut report_only = false;
    let mut out = None;
    let mut timeout = DEFAULT_TIMEOUT;
    let mut no_build = false;
    let mut cmdline = String::new();
    let mut it = arguments.iter();
    while let Some(argument) = it.next() {
        let (flag, inline) = match argument.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (argument.as_str(), None),
        };
        let mut value = || -> Result<String, String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("{flag} needs a value")),
            }
        };
        match flag {
            "--extension" | "--extensions" => {
                let text = value()?;
                let mut names: Vec<String> = Vec::new();
                for name in text.split(',').map(str::trim) {
                    let valid = !name.is_empty()
                        && name.bytes().all(|b| {
                            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                        });
                    if !valid {
                        return Err(format!("--extension: {name:?} is not an extension name"));
                    }
                    if !names.iter().any(|n| n == name) {
                        names.push(name.to_string());
                    }
                }
                extensions = Some(names);
            }
            "--faults" => fault_list = Some(faults::parse_list(&value()?)?),
            "--trials" => trials = Some(positive::<u32>(flag, &value()?)?),
            "--count" => count = Some(positive::<u32>(flag, &value()?)?),
            "--seed" => {
                let text = value()?;
                seed = Some(
                    text.parse::<u64>()
                        .map_err(|_| format!("--seed expects a number, got {text:?}"))?,
                );
            }
            "--mode" => {
                let text = value()?;
                modes = Some(match text.as_str() {
                    "both" => Mode::ALL.to_vec(),
                    other => vec![Mode::parse(other).ok_or_else(|| {
                        format!("--mode expects native, isolated or both, got {text:?}")
                    })?],
                });
            }
            "--knobs" => {
                knobs = Some(Knobs::parse(&value()?).map_err(|e| format!("--knobs: {e}"))?)
            }
            "--jobs" => jobs = Some(positive::<usize>(flag, &value()?)?),
            "--no-reuse" if inline.is_none() => reuse_boots = false,
            "--reproduce" => reproduce = Some(TrialSpec::parse_id(&value()?)?),
            "--report" if inline.is_none() => report_only = true,
            "--out" => {
                let text = value()?;
                if text.is_empty() {
                    return Err("--out needs a directory".into());
                }
                out = Some(PathBuf::from(text));
            }
            "--timeout" => {
                timeout = Duration::from_secs(positive::<u64>(flag, &value()?)?);
            }
            "--no-build" if inline.is_none() => no_build = true,
            "--cmdline" => cmdline = value()?,
            _ => return Err(format!("unknown argument {argument:?} for `inject`")),
        }
    }
    let out = out.ok_or("`inject` needs --out DIR")?;
    let campaign_flags = [
        (extensions.is_some(), "--extension"),
        (fault_list.is_some(), "--faults"),
        (trials.is_some(), "--trials"),
        (count.is_some(), "--count"),
        (seed.is_some(), "--seed"),
        (modes.is_some(), "--mode"),
        (knobs.is_some(), "--knobs"),
        (jobs.is_some(), "--jobs"),
    ];
    if report_only {
        let other = campaign_flags
            .into_iter()
            .chain([(reproduce.is_some(), "--reproduce")])
            .find(|(given, _)| *given);
        if let Some((_, flag)) = other {
            return Err(format!(
                "--report only writes the report of --out DIR again; {flag} does not go with it"
            ));
        }
    }
    let action = match reproduce {
        _ if report_only => Action::Report,
        Some(spec) => {
            let campaign_flag = campaign_flags.into_iter().find(|(given, _)| *given);
            if let Some((_, flag)) = campaign_flag {
                return Err(format!(
                    "--reproduce takes everything from the trial id; {flag} does not go with it"
                ));
            }
            Action::Reproduce(spec)
        }
        None => Action::Campaign {
            extensions: extensions
                .ok_or("`inject` needs --extension E[,E...] (or --reproduce ID)")?,
            faults: fault_list.ok_or("`inject` needs --faults T[,T...]|all")?,
            trials: trials.unwrap_or(DEFAULT_TRIALS),
            count: count.unwrap_or(DEFAULT_COUNT),
            seed: seed.unwrap_or(DEFAULT_SEED),
            modes: modes.unwrap_or_else(|| Mode::ALL.to_vec()),
            knobs: knobs.unwrap_or_default(),
            jobs,
            reuse_boots,
        },
    };
    Ok(InjectArgs {
        action,
        out,
        timeout,
        no_build,
        cmdline,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(arguments: &[&str]) -> Result<InjectArgs, String> {
        parse(&arguments.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn a_full_campaign_command_parses() {
        let args = p(&[
            "--extension",
            "crashtest,rtc,crashtest",
            "--faults",
            "panic,null-dereference",
            "--trials",
            "4",
            "--count=3",
            "--seed",
            "42",
            "--mode",
            "both",
            "--jobs",
            "2",
            "--out",
            "/tmp/c1",
            "--knobs",
            "times=1",
            "--timeout",
            "9",
            "--no-build",
            "--no-reuse",
        ])
        .unwrap();
        let Action::Campaign {
            extensions,
            faults,
            trials,
            count,
            seed,
            modes,
            knobs,
            jobs,
            reuse_boots,
        } = args.action
        else {
            panic!("not a campaign");
        };
        assert_eq!(extensions, ["crashtest", "rtc"]);
        assert_eq!(
            faults.iter().map(|f| f.name).collect::<Vec<_>>(),
            ["null-deref", "panic"]
        );
        assert_eq!((trials, count, seed, jobs), (4, 3, 42, Some(2)));
        assert_eq!(modes, Mode::ALL);
        assert_eq!(knobs.joined(","), "times=1");
        assert!(!reuse_boots && args.no_build);
        assert_eq!(args.out, PathBuf::from("/tmp/c1"));
        assert_eq!(args.timeout, Duration::from_secs(9));
    }

    #[test]
    fn report_only_takes_the_output_directory_alone() {
        let args = p(&["--report", "--out", "/tmp/c1"]).unwrap();
        assert_eq!(args.action, Action::Report);
        let error = p(&["--report", "--out", "d", "--trials", "3"]).unwrap_err();
        assert_eq!(
            error,
            "--report only writes the report of --out DIR again; --trials does not go with it"
        );
        let error = p(&[
            "--report",
            "--reproduce",
            "crashtest:isolated:panic:1:5",
            "--out",
            "d",
        ])
        .unwrap_err();
        assert!(error.contains("--reproduce does not go with it"), "{error}");
        assert!(p(&["--report"]).unwrap_err().contains("needs --out DIR"));
    }

    #[test]
    fn defaults_follow_nooks() {
        let args = p(&["--extension", "crashtest", "--faults", "all", "--out", "d"]).unwrap();
        let Action::Campaign {
            count,
            trials,
            seed,
            modes,
            reuse_boots,
            ..
        } = args.action
        else {
            panic!("not a campaign");
        };
        assert_eq!((count, trials, seed), (5, 10, 1));
        assert_eq!(modes, Mode::ALL);
        assert!(reuse_boots);
        assert_eq!(args.timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn reproduce_takes_everything_from_the_id() {
        let args = p(&["--reproduce", "crashtest:native:panic:7:5", "--out", "d"]).unwrap();
        let Action::Reproduce(spec) = args.action else {
            panic!("not a reproduction");
        };
        assert_eq!(spec.id(), "crashtest:native:panic:7:5");
        let error = p(&[
            "--reproduce",
            "crashtest:native:panic:7:5",
            "--out",
            "d",
            "--seed",
            "3",
        ])
        .unwrap_err();
        assert!(error.contains("--seed does not go with it"), "{error}");
    }

    #[test]
    fn bad_input_is_a_one_line_error() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["--extension", "crashtest", "--faults", "all"],
                "needs --out",
            ),
            (&["--faults", "all", "--out", "d"], "needs --extension"),
            (
                &["--extension", "crashtest", "--out", "d"],
                "needs --faults",
            ),
            (
                &["--extension", "crashtest", "--faults", "frob", "--out", "d"],
                "unknown fault type \"frob\"",
            ),
            (
                &[
                    "--extension",
                    "crashtest",
                    "--faults",
                    "all",
                    "--trials",
                    "0",
                    "--out",
                    "d",
                ],
                "--trials expects a positive number, got \"0\"",
            ),
            (
                &[
                    "--extension",
                    "crashtest",
                    "--faults",
                    "all",
                    "--mode",
                    "sandbox",
                    "--out",
                    "d",
                ],
                "--mode expects native, isolated or both",
            ),
            (
                &["--extension", "Crash Test", "--faults", "all", "--out", "d"],
                "is not an extension name",
            ),
            (
                &[
                    "--extension",
                    "crashtest",
                    "--faults",
                    "all",
                    "--out",
                    "d",
                    "--jobs",
                    "x",
                ],
                "--jobs expects a positive number",
            ),
            (
                &[
                    "--extension",
                    "crashtest",
                    "--faults",
                    "all",
                    "--out",
                    "d",
                    "--verbose",
                ],
                "unknown argument \"--verbose\"",
            ),
            (
                &["--extension", "crashtest", "--faults", "all", "--out"],
                "--out needs a value",
            ),
            (&["--reproduce", "nonsense", "--out", "d"], "bad trial id"),
            (
                &[
                    "--extension",
                    "crashtest",
                    "--faults",
                    "all",
                    "--out",
                    "d",
                    "--knobs",
                    "speed=1",
                ],
                "--knobs: unknown knob",
            ),
            (
                &[
                    "--extension",
                    "crashtest",
                    "--faults",
                    "all",
                    "--out",
                    "d",
                    "--seed",
                    "-1",
                ],
                "--seed expects a number",
            ),
        ];
        for (arguments, needle) in cases {
            let error = p(arguments).unwrap_err();
            assert!(error.contains(needle), "{arguments:?}: {error}");
            assert!(!error.contains('\n'), "{arguments:?}: {error}");
        }
    }
}
