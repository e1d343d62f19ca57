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
pub mod explain;
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
    let stable = |faults: &[record::FaultRecord]| -> Vec<record::FaultRecord> {
        faults
            .iter()
            .map(|fault| {
                let mut fault = fault.clone();
                fault.site = fault.site.as_deref().map(stable_site);
                fault
            })
            .collect()
    };
    if stable(&original.faults) != stable(&again.faults) {
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

/// A site without the hash LLVM appends to local symbols (`.llvm.DIGITS`),
/// which changes between builds of the same code.
pub fn stable_site(site: &str) -> String {
    match site.find(".llvm.") {
        Some(at) => {
            let rest = &site[at + ".llvm.".len()..];
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            format!("{}{}", &site[..at], &rest[digits..])
        }
        None => site.to_string(),
    }
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
        Action::Report => {
            let (records, problems) = rewrite_report(&args.out)?;
            for problem in &problems {
                eprintln!("warning: {problem}");
            }
            println!("{}", report::summary_table(&records));
            for file in ["report.md", "report.svg"] {
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

/// Writes `report.md` and `report.svg` in `out` again from its
/// `trials.jsonl`, `campaign.txt` and `explanations.txt` (nothing boots);
/// returns the records and the malformed lines of `explanations.txt`.
pub fn rewrite_report(out: &Path) -> Result<(Vec<TrialRecord>, Vec<String>), String> {
    let path = out.join("trials.jsonl");
    if !path.exists() {
        return Err(format!(
            "{} does not exist: --report needs a campaign's output directory",
            path.display()
        ));
    }
    let records = read_records(&path);
    let mut info = std::fs::read_to_string(out.join("campaign.txt"))
        .map(|text| report::CampaignInfo::parse(&text))
        .unwrap_or_default();
    let (explanations, mut problems) = explain::read_explanations(&out.join("explanations.txt"));
    for id in explanations.keys() {
        if !records.iter().any(|r| r.spec.id() == *id) {
            problems.push(format!("explanations.txt: no trial {id} in trials.jsonl"));
        }
    }
    info.explanations = explanations;
    for (file, content) in [
        ("report.md", report::markdown(&records, &info)),
        ("report.svg", report::svg(&records, &info)),
    ] {
        let path = out.join(file);
        std::fs::write(&path, content)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok((records, problems))
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
        explanations: explain::read_explanations(&args.out.join("explanations.txt")).0,
    };
    for (file, content) in [
        ("trials.jsonl", text),
        ("campaign.txt", info.to_text()),
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

/// The names of the results [`test_campaign`] reports (for `--filter`).
pub const TEST_NAMES: [&str; 7] = [
    "inject::campaign_setup",
    "inject::campaign_writes_records_report_and_chart",
    "inject::every_fault_type_runs_without_infra_errors",
    "inject::every_isolated_crash_kind_is_recovered",
    "inject::mutations_and_fail_points_activate",
    "inject::no_isolated_system_failure_inside_the_extension",
    "inject::reproducing_a_trial_gives_the_same_faults_and_outcome",
];

/// The trials [`test_campaign`] re-runs: per layer, the first trial whose
/// fault fired and that ended `recovered`, else the first whose fault fired
/// and did not hang, else the first (a reproduction of an activated fault
/// checks the outcome too, not only the patches).
pub fn trials_to_reproduce(records: &[TrialRecord]) -> Vec<&TrialRecord> {
    let mut picked = Vec::new();
    for layer in [
        faults::Layer::CodeMutation,
        faults::Layer::FailPoint,
        faults::Layer::CrashKind,
    ] {
        let of_layer: Vec<&TrialRecord> = records
            .iter()
            .filter(|r| r.spec.fault.layer == layer && r.outcome != Outcome::InfraError)
            .collect();
        let fired = |r: &&&TrialRecord| r.activated == Some(true);
        let choice = of_layer
            .iter()
            .filter(fired)
            .find(|r| r.outcome == Outcome::Recovered)
            .or_else(|| {
                of_layer
                    .iter()
                    .filter(fired)
                    .find(|r| r.outcome != Outcome::Hang)
            })
            .or_else(|| of_layer.first());
        if let Some(record) = choice {
            picked.push(*record);
        }
    }
    picked
}

/// The small campaign `cargo xtask test` runs: crashtest and rtc,
/// isolated, two trials of every fault type each (code mutations, fail
/// points, crash kinds; crash kinds alone on a kernel without the engine),
/// three faults per trial; then one trial per layer re-run in a fresh
/// boot. Its checks come
/// back as named test results.
pub fn test_campaign(
    qemu: &Path,
    kernel: &Path,
    jobs: usize,
) -> Vec<(String, Result<Option<String>, String>)> {
    /// Trials per fault type.
    const TRIALS_PER_TYPE: u32 = 2;
    let mut results = Vec::new();
    let top = crate::target_directory().join("inject-test");
    let _ = std::fs::remove_dir_all(&top);
    let root = crate::root();
    // crashtest runs its own code under every type; rtc's workload reads
    // its device's ports, so its fail points have something to fail (its
    // mutations are left out: a mutated rtc may poll the clock forever
    // through `read-io-port`, which the watchdog does not see, and the
    // shell's `devices read` has no deadline).
    type Part = (CampaignPlan, BTreeMap<String, Workload>, InjectArgs);
    let setup = (|| -> Result<Vec<Part>, String> {
        check_output_directory(&top)?;
        let abilities = preflight(qemu, kernel, "")?;
        let mut parts = Vec::new();
        let mut wanted = vec![(
            "crashtest",
            if abilities.has_engine { "all" } else { "crash" },
        )];
        if abilities.has_engine {
            wanted.push(("rtc", "fail-point"));
        }
        for (extension, fault_text) in wanted {
            let extensions = vec![extension.to_string()];
            let faults = faults::parse_list(fault_text)?;
            check_abilities(&abilities, &extensions, &faults)?;
            let plan = CampaignPlan {
                extensions: extensions.clone(),
                trials: TRIALS_PER_TYPE * faults.len() as u32,
                faults,
                count: 3,
                seed: 6,
                modes: vec![Mode::Isolated],
                knobs: trial::Knobs::default(),
            };
            let out = top.join(format!("{extension}-{fault_text}"));
            check_output_directory(&out)?;
            let args = InjectArgs {
                action: Action::Reproduce(plan.trials()[0].clone()),
                out,
                timeout: Duration::from_secs(20),
                no_build: true,
                cmdline: String::new(),
            };
            parts.push((plan, workloads_of(&root, &extensions)?, args));
        }
        Ok(parts)
    })();
    let parts = match setup {
        Ok(parts) => parts,
        Err(why) => {
            results.push(("inject::campaign_setup".into(), Err(why)));
            return results;
        }
    };
    // Each part's records, with the part they belong to.
    let mut records: Vec<(usize, TrialRecord)> = Vec::new();
    let mut notes = Vec::new();
    let mut problems = Vec::new();
    for (index, (plan, workloads, args)) in parts.iter().enumerate() {
        let summary = match campaign(
            plan,
            workloads,
            qemu,
            kernel,
            args,
            jobs,
            true,
            "cargo xtask test (inject campaign)",
        ) {
            Ok(summary) => summary,
            Err(why) => {
                problems.push(why);
                continue;
            }
        };
        let out = &args.out;
        let written = (|| -> Result<(), String> {
            let lines =
                std::fs::read_to_string(out.join("trials.jsonl")).map_err(|e| e.to_string())?;
            let parsed = lines
                .lines()
                .filter(|l| TrialRecord::from_json(l).is_ok())
                .count();
            if parsed != plan.trials().len() {
                return Err(format!(
                    "{}: trials.jsonl has {parsed} readable records, expected {}",
                    out.display(),
                    plan.trials().len()
                ));
            }
            for file in ["report.md", "report.svg", "campaign.txt"] {
                let text = std::fs::read_to_string(out.join(file))
                    .map_err(|e| format!("{}: {e}", out.join(file).display()))?;
                if text.is_empty() {
                    return Err(format!("{} is empty", out.join(file).display()));
                }
            }
            Ok(())
        })();
        if let Err(why) = written {
            problems.push(why);
        }
        notes.push(format!(
            "{}: {} trials in {:.1} s",
            plan.extensions.join(","),
            summary.records.len(),
            summary.wall_s
        ));
        records.extend(summary.records.into_iter().map(|r| (index, r)));
    }
    results.push((
        "inject::campaign_writes_records_report_and_chart".into(),
        if problems.is_empty() {
            Ok(Some(notes.join("; ")))
        } else {
            Err(problems.join("\n"))
        },
    ));
    if records.is_empty() {
        return results;
    }
    let all: Vec<TrialRecord> = records.iter().map(|(_, r)| r.clone()).collect();
    let check = |problems: Vec<String>, note: String| {
        if problems.is_empty() {
            Ok(Some(note))
        } else {
            Err(problems.join("\n"))
        }
    };
    // Every type was tried as often as planned, and none was an infra error.
    let mut problems: Vec<String> = all
        .iter()
        .filter(|r| r.outcome == Outcome::InfraError)
        .map(|r| format!("{}: {}", r.spec.id(), r.detail))
        .collect();
    let mut planned_types = 0;
    for (plan, _, _) in &parts {
        for fault in &plan.faults {
            planned_types += 1;
            let tried = all
                .iter()
                .filter(|r| {
                    r.spec.extension == plan.extensions[0] && r.spec.fault.name == fault.name
                })
                .count();
            if tried < TRIALS_PER_TYPE as usize {
                problems.push(format!(
                    "{} {}: {tried} trial(s)",
                    plan.extensions[0], fault.name
                ));
            }
        }
    }
    results.push((
        "inject::every_fault_type_runs_without_infra_errors".into(),
        check(
            problems,
            format!("{planned_types} extension x type pairs x {TRIALS_PER_TYPE}"),
        ),
    ));
    let crash_trials: Vec<&TrialRecord> = all
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
        check(not_recovered, format!("{} trials", crash_trials.len())),
    ));
    if all.iter().any(|r| r.spec.fault.layer.needs_engine()) {
        let fired = |layer: faults::Layer| {
            all.iter()
                .filter(|r| r.spec.fault.layer == layer && r.activated == Some(true))
                .count()
        };
        let (mutations, fail_points) = (
            fired(faults::Layer::CodeMutation),
            fired(faults::Layer::FailPoint),
        );
        let mut problems = Vec::new();
        if mutations == 0 {
            problems.push("no code-mutation trial executed a patched site".to_string());
        }
        if fail_points == 0 {
            problems.push("no fail point fired".to_string());
        }
        results.push((
            "inject::mutations_and_fail_points_activate".into(),
            check(
                problems,
                format!(
                    "{mutations} mutation trial(s) activated, {fail_points} fail-point trial(s) fired"
                ),
            ),
        ));
    }
    // The bar: no isolated kernel-crash or hang for a fault inside
    // the extension's own behaviour.
    let inside: Vec<String> = all
        .iter()
        .filter(|r| r.outcome.is_system_failure())
        .filter(|r| {
            !r.cause
                .as_deref()
                .is_some_and(|c| explain::CauseTag::of(c).leaves_the_extension())
        })
        .map(|r| {
            format!(
                "{} ended {}: {}",
                r.spec.id(),
                r.outcome.name(),
                r.cause.as_deref().unwrap_or(&r.detail)
            )
        })
        .collect();
    let system_failures = all.iter().filter(|r| r.outcome.is_system_failure()).count();
    results.push((
        "inject::no_isolated_system_failure_inside_the_extension".into(),
        check(
            inside,
            format!("{system_failures} isolated system failure(s), all from faults that leave the extension"),
        ),
    ));
    // Reproduce one trial of each layer present, in a fresh boot.
    let picked = trials_to_reproduce(&all);
    let mut problems = Vec::new();
    for original in &picked {
        let Some((part, _)) = records
            .iter()
            .find(|(_, r)| r.spec.id() == original.spec.id())
        else {
            continue;
        };
        let (_, workloads, args) = &parts[*part];
        match reproduce(
            &original.spec,
            &workloads[&original.spec.extension],
            qemu,
            kernel,
            args,
        ) {
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
    let described: Vec<String> = picked
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r.spec.extension,
                r.spec.fault.name,
                r.outcome.name()
            )
        })
        .collect();
    results.push((
        "inject::reproducing_a_trial_gives_the_same_faults_and_outcome".into(),
        check(problems, described.join(", ")),
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
    fn one_trial_per_layer_is_reproduced_preferring_activated_recoveries() {
        let line = |id: &str, outcome: &str, activated: &str| {
            format!(
                "{{\"id\":\"{id}\",\"build\":\"b\",\"faults\":[],\"outcome\":\"{outcome}\",\"activated\":{activated}}}"
            )
        };
        let records: Vec<TrialRecord> = [
            line("crashtest:isolated:nop:1:3", "not-activated", "false"),
            line("crashtest:isolated:text:2:3", "hang", "true"),
            line("crashtest:isolated:pointer:3:3", "driver-failed", "true"),
            line("crashtest:isolated:source:4:3", "recovered", "true"),
            line("crashtest:isolated:alloc:5:3", "not-activated", "false"),
            line("crashtest:isolated:panic:6:3", "infra-error", "null"),
            line("crashtest:isolated:null-deref:7:3", "recovered", "true"),
        ]
        .iter()
        .map(|l| TrialRecord::from_json(l).unwrap())
        .collect();
        let picked: Vec<String> = trials_to_reproduce(&records)
            .iter()
            .map(|r| r.spec.id())
            .collect();
        assert_eq!(
            picked,
            [
                "crashtest:isolated:source:4:3",
                "crashtest:isolated:alloc:5:3",
                "crashtest:isolated:null-deref:7:3"
            ]
        );
        assert_eq!(
            trials_to_reproduce(&records[1..3])[0].spec.fault.name,
            "pointer"
        );
    }

    #[test]
    fn llvm_local_symbol_hashes_do_not_count_as_different_sites() {
        assert_eq!(
            stable_site("_ZN5pcnet8Hardware10initialize17h242cE.llvm.7949868397813432725+0x95"),
            "_ZN5pcnet8Hardware10initialize17h242cE+0x95"
        );
        assert_eq!(stable_site("plain+0x1"), "plain+0x1");
        assert_eq!(stable_site("f.llvm.12"), "f");
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
