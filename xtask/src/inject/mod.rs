//! `cargo xtask inject`: fault-injection campaigns under QEMU (DESIGN.md §6,
//! issue 6 parts 2-5). See `docs/fault-injection-campaigns.md`.
//!
//! Invariants:
//! - Bad input (unknown extension or fault type, zero trials, a bad mode,
//!   an unwritable directory, a missing or pending workload) is a one-line
//!   error before anything boots.
//! - Before the campaign, one preflight boot checks that every extension is
//!   in the boot image and, for code mutations and fail points, that the
//!   kernel has the engine's `inject` command.
//! - `trials.jsonl` grows as trials finish (a stopped campaign keeps what it
//!   ran) and is rewritten in plan order at the end, with `report.md` and
//!   `report.svg`.
//! - A trial id is self-describing ([`trial::TrialSpec::id`]); the kernel
//!   build is recorded per trial and checked when reproducing.

pub mod classify;
pub mod faults;
pub mod options;
pub mod progress;
pub mod protocol;
pub mod record;
pub mod report;
pub mod runner;
pub mod stats;
pub mod trial;
pub mod workload;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use classify::Outcome;
use faults::FaultType;
use options::{Action, InjectArgs};
use record::TrialRecord;
use runner::RunnerConfig;
use trial::{CampaignPlan, Mode, TrialSpec};
use workload::Workload;

/// How long a boot may take to reach the shell prompt.
const BOOT_TIMEOUT: Duration = Duration::from_secs(60);

/// Checks the extension names against `extensions/` and loads their
/// workloads (refusing pending ones).
pub fn workloads_of(root: &Path, names: &[String]) -> Result<BTreeMap<String, Workload>, String> {
    let known = crate::extensions::names(root)?;
    let mut out = BTreeMap::new();
    for name in names {
        if !known.contains(name) {
            return Err(format!(
                "unknown extension `{name}`; known: {}",
                known.join(", ")
            ));
        }
        let workload = Workload::load(root, name)?;
        if let Some(why) = &workload.pending {
            return Err(format!(
                "the workload of `{name}` is pending ({}): {why}",
                workload
                    .path
                    .strip_prefix(root)
                    .unwrap_or(&workload.path)
                    .display()
            ));
        }
        for helper in &workload.with {
            if !known.contains(helper) {
                return Err(format!(
                    "the workload of `{name}` needs extension `{helper}`, which does not exist"
                ));
            }
        }
        out.insert(name.clone(), workload);
    }
    Ok(out)
}

/// Creates `out` (if needed) and checks a file can be written in it.
pub fn check_output_directory(out: &Path) -> Result<(), String> {
    std::fs::create_dir_all(out)
        .map_err(|e| format!("cannot create the output directory {}: {e}", out.display()))?;
    let probe = out.join(".inject-write-test");
    std::fs::write(&probe, b"").map_err(|e| {
        format!(
            "cannot write in the output directory {}: {e}",
            out.display()
        )
    })?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Digest of the kernel ELF: the `build` of every record.
pub fn build_digest(kernel: &Path) -> Result<String, String> {
    let bytes =
        std::fs::read(kernel).map_err(|e| format!("cannot read {}: {e}", kernel.display()))?;
    Ok(format!("{:016x}", trial::fnv1a(&bytes)))
}

/// What the kernel offers, found by one boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelAbilities {
    /// Extensions in the boot image.
    pub bundled: Vec<String>,
    /// The shell has the engine's `inject` command.
    pub has_engine: bool,
}

/// Boots once, asks `help` and `ext list`, and shuts down.
pub fn preflight(qemu: &Path, kernel: &Path, cmdline: &str) -> Result<KernelAbilities, String> {
    use workload::Console;
    let config = RunnerConfig {
        qemu: qemu.to_path_buf(),
        kernel: kernel.to_path_buf(),
        build: String::new(),
        command_timeout: Duration::from_secs(20),
        boot_timeout: BOOT_TIMEOUT,
        cmdline: cmdline.to_string(),
        out: PathBuf::new(),
        reuse_boots: false,
        forwards: Vec::new(),
        echo_port: None,
    };
    let mut boot =
        runner::Boot::start(&config).map_err(|e| format!("preflight boot failed: {e}"))?;
    let timeout = Duration::from_secs(20);
    let help = boot
        .command("help", timeout)
        .map_err(|e| format!("preflight: `help`: {e:?}"))?;
    let list = boot
        .command("ext list", timeout)
        .map_err(|e| format!("preflight: `ext list`: {e:?}"))?;
    boot.kill();
    let bundled = protocol::bundled_extensions(&list).ok_or_else(|| {
        format!(
            "preflight: `ext list` under nim.autoload=0 did not answer `no extensions (bundled: ...)`: {:?}",
            workload::clean_answer(&list)
        )
    })?;
    Ok(KernelAbilities {
        bundled,
        has_engine: protocol::help_commands(&help).iter().any(|c| c == "inject"),
    })
}

/// Checks the kernel can run what was asked (one-line errors).
pub fn check_abilities(
    abilities: &KernelAbilities,
    extensions: &[String],
    faults: &[FaultType],
) -> Result<(), String> {
    for name in extensions {
        if !abilities.bundled.contains(name) {
            return Err(format!(
                "extension `{name}` is not in the kernel's boot image (bundled: {})",
                abilities.bundled.join(", ")
            ));
        }
    }
    let engine_types: Vec<&str> = faults
        .iter()
        .filter(|f| f.layer.needs_engine())
        .map(|f| f.name)
        .collect();
    if !abilities.has_engine && !engine_types.is_empty() {
        return Err(format!(
            "fault types {} need the kernel's `inject` command (the in-kernel engine), which this kernel lacks; crash kinds work today (--faults crash)",
            engine_types.join(", ")
        ));
    }
    Ok(())
}

/// What differs between a trial and its reproduction: the injected faults
/// (sites and bytes) and the outcome. The build is reported separately.
pub fn reproduction_differences(original: &TrialRecord, again: &TrialRecord) -> Vec<String> {
    let mut out = Vec::new();
    if original.faults != again.faults {
        out.push(format!(
            "faults differ: {} then {}",
            describe_faults(&original.faults),
            describe_faults(&again.faults)
        ));
    }
    if original.outcome != again.outcome {
        out.push(format!(
            "outcome differs: {} then {}",
            original.outcome.name(),
            again.outcome.name()
        ));
    }
    out
}

fn describe_faults(faults: &[record::FaultRecord]) -> String {
    let parts: Vec<String> = faults
        .iter()
        .map(|f| {
            let mut s = f.fault_type.clone();
            if let Some(site) = &f.site {
                s.push('@');
                s.push_str(site);
            }
            if let (Some(old), Some(new)) = (&f.old_bytes, &f.new_bytes) {
                s.push_str(&format!(" {old}->{new}"));
            }
            s
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

/// The records in `DIR/trials.jsonl` (lines that do not parse are skipped).
pub fn read_records(path: &Path) -> Vec<TrialRecord> {
    std::fs::read_to_string(path)
        .map(|text| {
            text.lines()
                .filter_map(|l| TrialRecord::from_json(l).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn kernel_and_qemu(no_build: bool) -> Result<(PathBuf, PathBuf), String> {
    let qemu = crate::ensure_qemu()?;
    let kernel = if no_build {
        crate::kernel_path()
    } else {
        crate::build_kernel()?
    };
    Ok((qemu, kernel))
}

/// `cargo xtask inject ...`
pub fn run(args: &InjectArgs) -> Result<(), String> {
    let root = crate::root();
    match &args.action {
        Action::Campaign {
            extensions,
            faults,
            trials,
            count,
            seed,
            modes,
            knobs,
            jobs,
            reuse_boots,
        } => {
            let workloads = workloads_of(&root, extensions)?;
            check_output_directory(&args.out)?;
            let (qemu, kernel) = kernel_and_qemu(args.no_build)?;
            crate::stage("inject: preflight boot (extensions in the boot image, the engine)");
            let abilities = preflight(&qemu, &kernel, &args.cmdline)?;
            check_abilities(&abilities, extensions, faults)?;
            let plan = CampaignPlan {
                extensions: extensions.clone(),
                faults: faults.clone(),
                trials: *trials,
                count: *count,
                seed: *seed,
                modes: modes.clone(),
                knobs: knobs.clone(),
            };
            let jobs =
                jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
            let command = format!(
                "cargo xtask {}",
                std::env::args().skip(1).collect::<Vec<_>>().join(" ")
            );
            let summary = campaign(
                &plan,
                &workloads,
                &qemu,
                &kernel,
                args,
                jobs,
                *reuse_boots,
                &command,
            )?;
            println!("{}", summary.table);
            println!(
                "{} trials in {:.1} s: {:.1} trials per minute",
                summary.records.len(),
                summary.wall_s,
                report::trials_per_minute(summary.records.len(), summary.wall_s)
            );
            for file in ["trials.jsonl", "report.md", "report.svg"] {
                println!("wrote {}", args.out.join(file).display());
            }
            Ok(())
        }
        Action::Reproduce(spec) => {
            let workloads = workloads_of(&root, std::slice::from_ref(&spec.extension))?;
            check_output_directory(&args.out)?;
            let (qemu, kernel) = kernel_and_qemu(args.no_build)?;
            let (again, differences) =
                reproduce(spec, &workloads[&spec.extension], &qemu, &kernel, args)?;
            println!("trial {}", spec.id());
            println!("outcome {}: {}", again.outcome.name(), again.detail);
            for fault in &again.faults {
                println!("fault {}", describe_faults(std::slice::from_ref(fault)));
            }
            match differences {
                None => {
                    println!(
                        "no record of this trial in {} to compare with",
                        args.out.join("trials.jsonl").display()
                    );
                    Ok(())
                }
                Some(differences) if differences.is_empty() => {
                    println!("reproduced: the same faults and outcome as the recorded trial");
                    Ok(())
                }
                Some(differences) => Err(format!("not reproduced: {}", differences.join("; "))),
            }
        }
    }
}

/// What a campaign produced.
pub struct CampaignSummary {
    /// Records in plan order.
    pub records: Vec<TrialRecord>,
    /// Wall time.
    pub wall_s: f64,
    /// The summary table of the report.
    pub table: String,
}

/// Runs a planned campaign and writes `trials.jsonl`, `report.md` and
/// `report.svg` in `args.out`.
#[allow(clippy::too_many_arguments, reason = "the campaign's parts")]
pub fn campaign(
    plan: &CampaignPlan,
    workloads: &BTreeMap<String, Workload>,
    qemu: &Path,
    kernel: &Path,
    args: &InjectArgs,
    jobs: usize,
    reuse_boots: bool,
    command: &str,
) -> Result<CampaignSummary, String> {
    let trials = plan.trials();
    let mut forwards: Vec<(usize, u16)> = workloads
        .values()
        .flat_map(|w| w.forwards.clone())
        .collect();
    forwards.sort_unstable();
    forwards.dedup();
    let config = RunnerConfig {
        qemu: qemu.to_path_buf(),
        kernel: kernel.to_path_buf(),
        build: build_digest(kernel)?,
        command_timeout: args.timeout,
        boot_timeout: BOOT_TIMEOUT,
        cmdline: args.cmdline.clone(),
        out: args.out.clone(),
        reuse_boots,
        forwards,
        echo_port: if workloads.values().any(|w| w.echo_server) {
            Some(runner::start_echo_server()?)
        } else {
            None
        },
    };
    let started_utc = crate::bench::utc_date(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    );
    let jsonl_path = args.out.join("trials.jsonl");
    let mut jsonl = std::fs::File::create(&jsonl_path)
        .map_err(|e| format!("cannot write {}: {e}", jsonl_path.display()))?;
    let jobs = jobs.min(trials.len()).max(1);
    crate::stage(&format!(
        "inject: {} trials ({} extension(s) x {} mode(s) x {} trials; {} fault type(s), {} per trial) on {jobs} QEMU(s)",
        trials.len(),
        plan.extensions.len(),
        plan.modes.len(),
        plan.trials,
        plan.faults.len(),
        plan.count
    ));
    let mut progress = progress::Progress::new(trials.iter().map(|t| t.mode), jobs);
    progress.show(true);
    let started = Instant::now();
    let mut results: Vec<Option<TrialRecord>> = vec![None; trials.len()];
    let mut write_error = None;
    let boots = runner::run_pool(&trials, workloads, &config, jobs, &mut |index, result| {
        runner::save_log(&args.out, &result);
        if let Err(e) =
            writeln!(jsonl, "{}", result.record.to_json_line()).and_then(|_| jsonl.flush())
        {
            write_error.get_or_insert(format!("cannot write {}: {e}", jsonl_path.display()));
        }
        progress.finished(
            result.record.spec.mode,
            result.record.outcome,
            Duration::from_secs_f64(result.record.duration_s),
        );
        results[index] = Some(result.record);
    });
    let wall_s = started.elapsed().as_secs_f64();
    if let Some(error) = write_error {
        return Err(error);
    }
    let records: Vec<TrialRecord> = results.into_iter().flatten().collect();
    let mut text = String::new();
    for record in &records {
        text.push_str(&record.to_json_line());
        text.push('\n');
    }
    let info = report::CampaignInfo {
        command: command.to_string(),
        started: started_utc,
        build: config.build.clone(),
        qemu_version: qemu_version(qemu),
        seed: plan.seed,
        count: plan.count,
        jobs,
        wall_s,
        boots,
    };
    for (file, content) in [
        ("trials.jsonl", text),
        ("report.md", report::markdown(&records, &info)),
        ("report.svg", report::svg(&records, &info)),
    ] {
        let path = args.out.join(file);
        std::fs::write(&path, content)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(CampaignSummary {
        table: report::summary_table(&records),
        records,
        wall_s,
    })
}

fn qemu_version(qemu: &Path) -> String {
    std::process::Command::new(qemu)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "QEMU version unknown".into())
}

/// Re-runs one trial in a fresh boot; returns its record and, when
/// `DIR/trials.jsonl` has the trial, what differs from it. Appends the
/// record to `DIR/reproduced.jsonl`.
pub fn reproduce(
    spec: &TrialSpec,
    workload: &Workload,
    qemu: &Path,
    kernel: &Path,
    args: &InjectArgs,
) -> Result<(TrialRecord, Option<Vec<String>>), String> {
    let config = RunnerConfig {
        qemu: qemu.to_path_buf(),
        kernel: kernel.to_path_buf(),
        build: build_digest(kernel)?,
        command_timeout: args.timeout,
        boot_timeout: BOOT_TIMEOUT,
        cmdline: args.cmdline.clone(),
        out: args.out.clone(),
        reuse_boots: false,
        forwards: workload.forwards.clone(),
        echo_port: if workload.echo_server {
            Some(runner::start_echo_server()?)
        } else {
            None
        },
    };
    let original = read_records(&args.out.join("trials.jsonl"))
        .into_iter()
        .find(|r| r.spec.id() == spec.id());
    if let Some(original) = &original
        && original.build != config.build
    {
        eprintln!(
            "warning: the kernel (build {}) differs from the one that ran the trial (build {}): sites and patches may differ",
            config.build, original.build
        );
    }
    let mut boots = 0;
    let (result, _) = runner::run_one(spec, workload, &config, None, &mut boots);
    let mut again = result.record.clone();
    if let Some(log) = &mut again.log {
        *log = log.replace(".log", ".reproduced.log");
    }
    let mut saved = result;
    saved.record.log = again.log.clone();
    runner::save_log(&args.out, &saved);
    let path = args.out.join("reproduced.jsonl");
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| writeln!(f, "{}", again.to_json_line()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let differences = original.map(|o| reproduction_differences(&o, &again));
    Ok((again, differences))
}

/// The small campaign `cargo xtask test` runs (crashtest, isolated, every
/// crash kind a few times; engine types too when the kernel has the
/// engine), with its checks as named test results.
pub fn test_campaign(
    qemu: &Path,
    kernel: &Path,
    jobs: usize,
) -> Vec<(String, Result<Option<String>, String>)> {
    /// Crash kinds: each must be recovered in isolated mode.
    const CRASH_FAULTS: &str = "crash";
    /// Added when the kernel has the engine: reproducibility is checked.
    const ENGINE_FAULTS: &str = "pointer,nop,invert,alloc";
    let mut results = Vec::new();
    let out = crate::target_directory().join("inject-test");
    let _ = std::fs::remove_dir_all(&out);
    let root = crate::root();
    let setup = (|| -> Result<(CampaignPlan, BTreeMap<String, Workload>, InjectArgs), String> {
        check_output_directory(&out)?;
        let abilities = preflight(qemu, kernel, "")?;
        let extensions = vec!["crashtest".to_string()];
        let mut fault_text = CRASH_FAULTS.to_string();
        if abilities.has_engine {
            fault_text.push(',');
            fault_text.push_str(ENGINE_FAULTS);
        }
        let faults = faults::parse_list(&fault_text)?;
        check_abilities(&abilities, &extensions, &faults)?;
        let plan = CampaignPlan {
            extensions: extensions.clone(),
            trials: 2 * faults.len() as u32,
            faults,
            count: 3,
            seed: 6,
            modes: vec![Mode::Isolated],
            knobs: trial::Knobs::default(),
        };
        let args = InjectArgs {
            action: Action::Reproduce(plan.trials()[0].clone()),
            out: out.clone(),
            timeout: Duration::from_secs(20),
            no_build: true,
            cmdline: String::new(),
        };
        Ok((plan, workloads_of(&root, &extensions)?, args))
    })();
    let (plan, workloads, args) = match setup {
        Ok(parts) => parts,
        Err(why) => {
            results.push(("inject::campaign_setup".into(), Err(why)));
            return results;
        }
    };
    let summary = match campaign(
        &plan,
        &workloads,
        qemu,
        kernel,
        &args,
        jobs,
        true,
        "cargo xtask test (inject campaign)",
    ) {
        Ok(summary) => summary,
        Err(why) => {
            results.push((
                "inject::campaign_runs_and_writes_its_files".into(),
                Err(why),
            ));
            return results;
        }
    };
    let rate = report::trials_per_minute(summary.records.len(), summary.wall_s);
    let files = (|| -> Result<Option<String>, String> {
        let lines = std::fs::read_to_string(out.join("trials.jsonl")).map_err(|e| e.to_string())?;
        let parsed = lines
            .lines()
            .filter(|l| TrialRecord::from_json(l).is_ok())
            .count();
        if parsed != plan.trials().len() {
            return Err(format!(
                "trials.jsonl has {parsed} readable records, expected {}",
                plan.trials().len()
            ));
        }
        for file in ["report.md", "report.svg"] {
            let text =
                std::fs::read_to_string(out.join(file)).map_err(|e| format!("{file}: {e}"))?;
            if text.is_empty() {
                return Err(format!("{file} is empty"));
            }
        }
        Ok(Some(format!(
            "{} trials, {rate:.0} trials/min",
            summary.records.len()
        )))
    })();
    results.push((
        "inject::campaign_writes_records_report_and_chart".into(),
        files,
    ));
    let crash_trials: Vec<&TrialRecord> = summary
        .records
        .iter()
        .filter(|r| r.spec.fault.layer == faults::Layer::CrashKind)
        .collect();
    let not_recovered: Vec<String> = crash_trials
        .iter()
        .filter(|r| r.outcome != Outcome::Recovered)
        .map(|r| format!("{} ended {}: {}", r.spec.id(), r.outcome.name(), r.detail))
        .collect();
    results.push((
        "inject::every_isolated_crash_kind_is_recovered".into(),
        if not_recovered.is_empty() {
            Ok(Some(format!("{} trials", crash_trials.len())))
        } else {
            Err(not_recovered.join("\n"))
        },
    ));
    let engine_problems: Vec<String> = summary
        .records
        .iter()
        .filter(|r| r.spec.fault.layer.needs_engine() && r.outcome == Outcome::InfraError)
        .map(|r| format!("{}: {}", r.spec.id(), r.detail))
        .collect();
    if summary
        .records
        .iter()
        .any(|r| r.spec.fault.layer.needs_engine())
    {
        results.push((
            "inject::engine_trials_run_without_infra_errors".into(),
            if engine_problems.is_empty() {
                Ok(None)
            } else {
                Err(engine_problems.join("\n"))
            },
        ));
    }
    // Reproduce one trial of each layer present, in a fresh boot.
    let mut picked: Vec<&TrialRecord> = Vec::new();
    for record in &summary.records {
        if !picked
            .iter()
            .any(|p| p.spec.fault.layer == record.spec.fault.layer)
        {
            picked.push(record);
        }
    }
    let mut problems = Vec::new();
    for original in &picked {
        match reproduce(&original.spec, &workloads["crashtest"], qemu, kernel, &args) {
            Ok((_, Some(differences))) if differences.is_empty() => {}
            Ok((_, Some(differences))) => problems.push(format!(
                "{}: {}",
                original.spec.id(),
                differences.join("; ")
            )),
            Ok((_, None)) => {
                problems.push(format!("{}: not found in trials.jsonl", original.spec.id()))
            }
            Err(why) => problems.push(format!("{}: {why}", original.spec.id())),
        }
    }
    results.push((
        "inject::reproducing_a_trial_gives_the_same_faults_and_outcome".into(),
        if problems.is_empty() {
            Ok(Some(format!("{} trial(s) re-run", picked.len())))
        } else {
            Err(problems.join("\n"))
        },
    ));
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_extensions_and_missing_workloads_are_refused_before_booting() {
        let root = crate::root();
        let error = workloads_of(&root, &["no-such-driver".into()]).unwrap_err();
        assert!(
            error.starts_with("unknown extension `no-such-driver`; known: "),
            "{error}"
        );
        assert!(error.contains("crashtest") && !error.contains('\n'));
        let error = workloads_of(&root, &["hostile".into()]).unwrap_err();
        assert!(error.contains("has no workload"), "{error}");
        assert!(
            workloads_of(
                &root,
                &["crashtest".into(), "rtc".into(), "template".into()]
            )
            .is_ok()
        );
    }

    #[test]
    fn an_unwritable_output_directory_is_refused() {
        let file =
            std::env::temp_dir().join(format!("inject-not-a-directory-{}", std::process::id()));
        std::fs::write(&file, b"x").unwrap();
        let error = check_output_directory(&file.join("sub")).unwrap_err();
        assert!(
            error.starts_with("cannot create the output directory"),
            "{error}"
        );
        assert!(!error.contains('\n'));
        let _ = std::fs::remove_file(file);
        let directory = std::env::temp_dir().join(format!("inject-ok-{}", std::process::id()));
        check_output_directory(&directory).unwrap();
        assert_eq!(
            std::fs::read_dir(&directory).unwrap().count(),
            0,
            "the probe is removed"
        );
        let _ = std::fs::remove_dir(directory);
    }

    #[test]
    fn kernel_abilities_are_checked_against_the_request() {
        let abilities = KernelAbilities {
            bundled: vec!["crashtest".into(), "rtc".into()],
            has_engine: false,
        };
        let crash = faults::parse_list("crash").unwrap();
        assert!(check_abilities(&abilities, &["crashtest".into()], &crash).is_ok());
        let error = check_abilities(&abilities, &["template".into()], &crash).unwrap_err();
        assert!(error.contains("not in the kernel's boot image (bundled: crashtest, rtc)"));
        let error = check_abilities(
            &abilities,
            &["crashtest".into()],
            &faults::parse_list("pointer,panic").unwrap(),
        )
        .unwrap_err();
        assert!(
            error.starts_with("fault types pointer need the kernel's `inject` command"),
            "{error}"
        );
        let engine = KernelAbilities {
            has_engine: true,
            ..abilities
        };
        assert!(
            check_abilities(
                &engine,
                &["crashtest".into()],
                &faults::parse_list("all").unwrap()
            )
            .is_ok()
        );
    }

    #[test]
    fn reproductions_compare_faults_and_outcome() {
        let line = "{\"id\":\"crashtest:isolated:pointer:7:1\",\"build\":\"b\",\"extension\":\"crashtest\",\"mode\":\"isolated\",\"fault_type\":\"pointer\",\"seed\":7,\"count\":1,\"knobs\":\"\",\"faults\":[{\"type\":\"pointer\",\"site\":\"f+0x1\",\"address\":\"0x10\",\"old_bytes\":\"aa\",\"new_bytes\":\"ab\",\"before\":null,\"after\":null}],\"outcome\":\"recovered\",\"detail\":\"\",\"activated\":true,\"recovery_ms\":1.000,\"detected\":[],\"reused_boot\":false,\"duration_s\":1.000,\"started\":\"t\",\"reproduce\":\"r\",\"log\":null}";
        let original = TrialRecord::from_json(line).unwrap();
        assert!(reproduction_differences(&original, &original).is_empty());
        let mut again = original.clone();
        again.faults[0].new_bytes = Some("ac".into());
        again.outcome = Outcome::KernelCrash;
        let differences = reproduction_differences(&original, &again);
        assert_eq!(differences.len(), 2);
        assert_eq!(
            differences[0],
            "faults differ: [pointer@f+0x1 aa->ab] then [pointer@f+0x1 aa->ac]"
        );
        assert_eq!(
            differences[1],
            "outcome differs: recovered then kernel-crash"
        );
    }
}
