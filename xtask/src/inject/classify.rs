//! The outcome classes of a trial and the oracle logic that picks one.
//!
//! Invariants:
//! - [`classify`] is a pure function of what the runner observed, checked in
//!   a fixed order of precedence: infrastructure problems, then the whole
//!   system (crash, hang), then the extension (fault detected or not), then
//!   the golden comparison.
//! - Every outcome comes with a one-line reason for the report.

use super::trial::Mode;
use super::workload::WorkloadRun;

/// How a trial ended (REFERENCE.md §5's classes plus infrastructure errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// The fault never fired (no patched instruction ran, no fail point hit,
    /// the crash was refused).
    NotActivated,
    /// The fault fired; the workload gave the golden answers; nothing failed.
    NoEffect,
    /// The extension failed, was restarted, and the workload gave the golden
    /// answers again.
    Recovered,
    /// The kernel survived but the extension no longer works (wrong or no
    /// answers, stopped, not restarted).
    DriverFailed,
    /// The kernel stopped on a fatal fault (or QEMU died under it).
    KernelCrash,
    /// The kernel stopped answering within the timeout.
    Hang,
    /// Everything answered, but with values that differ from the golden run.
    SilentCorruption,
    /// The trial could not be run (QEMU, the golden run, the engine).
    InfraError,
}

impl Outcome {
    /// Every outcome, in report order.
    pub const ALL: [Outcome; 8] = [
        Outcome::NotActivated,
        Outcome::NoEffect,
        Outcome::Recovered,
        Outcome::DriverFailed,
        Outcome::SilentCorruption,
        Outcome::Hang,
        Outcome::KernelCrash,
        Outcome::InfraError,
    ];

    /// The record's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::NotActivated => "not-activated",
            Outcome::NoEffect => "no-effect",
            Outcome::Recovered => "recovered",
            Outcome::DriverFailed => "driver-failed",
            Outcome::KernelCrash => "kernel-crash",
            Outcome::Hang => "hang",
            Outcome::SilentCorruption => "silent-corruption",
            Outcome::InfraError => "infra-error",
        }
    }

    /// The outcome spelled `text`.
    pub fn parse(text: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.name() == text)
    }

    /// A system failure in Nooks' sense: the machine needs a reboot.
    pub fn is_system_failure(self) -> bool {
        matches!(self, Outcome::KernelCrash | Outcome::Hang)
    }

    /// A non-fatal extension failure in Nooks' sense: the system lives on,
    /// the extension does not work (or works wrongly).
    pub fn is_non_fatal_failure(self) -> bool {
        matches!(self, Outcome::DriverFailed | Outcome::SilentCorruption)
    }
}

/// How the kernel (and QEMU) ended up after the injection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelEnd {
    /// It answered the final shell round trip.
    Alive,
    /// It stopped (fatal fault report, status 37, or QEMU exited under it);
    /// the reason.
    Stopped(String),
    /// A command got no answer within the timeout; which one.
    Hung(String),
}

/// What the runner saw during one trial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The mode the extension ran in.
    pub mode: Mode,
    /// A problem that makes the trial meaningless (set by the runner).
    pub infra: Option<String>,
    /// The kernel at the end.
    pub kernel: KernelEnd,
    /// Fatal report lines in the serial log after the injection.
    pub fatal_lines: Vec<String>,
    /// The injection was refused (why).
    pub refused: Option<String>,
    /// Whether the fault fired: `None` when the kernel cannot tell.
    pub activation: Option<bool>,
    /// Indices of the patches the kernel reported as executed (for the
    /// report's causes; not used to classify).
    pub activated_patches: Vec<usize>,
    /// Faults the kernel detected in the extension after the injection.
    pub faults_detected: usize,
    /// The extension is running at the end (`None`: not known).
    pub running_after: Option<bool>,
    /// The workload after the injection (`None`: not reached).
    pub post: Option<WorkloadRun>,
    /// Its captures that differ from the golden run's.
    pub differences: Vec<String>,
    /// When the workload after the injection failed and the kernel had
    /// detected a fault in the extension: the workload once more, after the
    /// extension was running again (`None`: not run).
    pub rerun: Option<WorkloadRun>,
    /// The rerun's captures that differ from the golden run's.
    pub rerun_differences: Vec<String>,
}

impl Observation {
    /// An observation of a trial where nothing happened, for tests and as
    /// a starting point.
    pub fn quiet(mode: Mode) -> Observation {
        Observation {
            mode,
            infra: None,
            kernel: KernelEnd::Alive,
            fatal_lines: Vec::new(),
            refused: None,
            activation: None,
            activated_patches: Vec::new(),
            faults_detected: 0,
            running_after: Some(true),
            post: Some(WorkloadRun::default()),
            differences: Vec::new(),
            rerun: None,
            rerun_differences: Vec::new(),
        }
    }
}

/// Why a workload run failed (`None`: it passed).
fn failure_of(run: &WorkloadRun) -> Option<String> {
    run.failure.clone().or_else(|| {
        run.console_error
            .as_ref()
            .map(|e| format!("console: {e:?}"))
    })
}

/// Picks the outcome of a trial, with a one-line reason.
pub fn classify(o: &Observation) -> (Outcome, String) {
    if let Some(why) = &o.infra {
        return (Outcome::InfraError, why.clone());
    }
    if let Some(line) = o.fatal_lines.first() {
        return (Outcome::KernelCrash, format!("serial log: {line}"));
    }
    match &o.kernel {
        KernelEnd::Stopped(why) => return (Outcome::KernelCrash, why.clone()),
        KernelEnd::Hung(what) => return (Outcome::Hang, what.clone()),
        KernelEnd::Alive => {}
    }
    if let Some(why) = &o.refused {
        return (Outcome::NotActivated, format!("injection refused: {why}"));
    }
    let post_failure = match &o.post {
        None => Some("the workload did not run after the injection".to_string()),
        Some(run) => failure_of(run),
    };
    let stopped = o.running_after == Some(false);
    if o.faults_detected > 0 {
        let faults = format!("{} fault(s) detected", o.faults_detected);
        if let Some(why) = post_failure {
            // The requests in flight when the extension failed fail with
            // it (nothing replays them); recovery is whether the restarted
            // extension serves the workload again.
            let Some(rerun) = &o.rerun else {
                return (Outcome::DriverFailed, format!("{faults}; then {why}"));
            };
            if let Some(again) = failure_of(rerun) {
                return (
                    Outcome::DriverFailed,
                    format!(
                        "{faults}; the workload failed ({why}), and again after the restart: {again}"
                    ),
                );
            }
            if stopped {
                return (
                    Outcome::DriverFailed,
                    format!("{faults}; the extension was not restarted"),
                );
            }
            if !o.rerun_differences.is_empty() {
                return (
                    Outcome::SilentCorruption,
                    format!(
                        "{faults}; restarted, but {}",
                        o.rerun_differences.join(", ")
                    ),
                );
            }
            return (
                Outcome::Recovered,
                format!(
                    "{faults}; the workload failed meanwhile ({why}), then ran as golden after the restart"
                ),
            );
        }
        if stopped {
            return (
                Outcome::DriverFailed,
                format!("{faults}; the extension was not restarted"),
            );
        }
        if !o.differences.is_empty() {
            return (
                Outcome::SilentCorruption,
                format!("{faults}; recovered, but {}", o.differences.join(", ")),
            );
        }
        return (
            Outcome::Recovered,
            format!("{faults}; recovered, workload as golden"),
        );
    }
    let unactivated = if o.activation == Some(false) {
        " (no patched site ran, no fail point fired)"
    } else {
        ""
    };
    if let Some(why) = post_failure {
        return (Outcome::DriverFailed, format!("{why}{unactivated}"));
    }
    if stopped {
        return (
            Outcome::DriverFailed,
            format!("the extension is no longer running{unactivated}"),
        );
    }
    if !o.differences.is_empty() {
        return (
            Outcome::SilentCorruption,
            format!(
                "answers differ from the golden run: {}",
                o.differences.join(", ")
            ),
        );
    }
    if o.activation == Some(false) {
        return (
            Outcome::NotActivated,
            "no patched site ran, no fail point fired".into(),
        );
    }
    (
        Outcome::NoEffect,
        "workload as golden, no fault detected".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inject::workload::ConsoleError;

    fn failed_post(why: &str) -> Option<WorkloadRun> {
        Some(WorkloadRun {
            failure: Some(why.into()),
            ..WorkloadRun::default()
        })
    }

    #[test]
    fn outcome_names_round_trip_and_groups_follow_nooks() {
        for outcome in Outcome::ALL {
            assert_eq!(Outcome::parse(outcome.name()), Some(outcome));
        }
        let system: Vec<_> = Outcome::ALL
            .into_iter()
            .filter(|o| o.is_system_failure())
            .collect();
        assert_eq!(system, [Outcome::Hang, Outcome::KernelCrash]);
        let non_fatal: Vec<_> = Outcome::ALL
            .into_iter()
            .filter(|o| o.is_non_fatal_failure())
            .collect();
        assert_eq!(
            non_fatal,
            [Outcome::DriverFailed, Outcome::SilentCorruption]
        );
    }

    #[test]
    fn infrastructure_problems_win_over_everything() {
        let mut o = Observation::quiet(Mode::Isolated);
        o.infra = Some("golden run failed".into());
        o.kernel = KernelEnd::Stopped("status 37".into());
        assert_eq!(classify(&o).0, Outcome::InfraError);
    }

    #[test]
    fn a_fatal_report_or_a_stopped_kernel_is_a_kernel_crash() {
        let mut o = Observation::quiet(Mode::Native);
        o.fatal_lines = vec!["kernel stopped".into()];
        assert_eq!(
            classify(&o),
            (Outcome::KernelCrash, "serial log: kernel stopped".into())
        );
        let mut o = Observation::quiet(Mode::Native);
        o.kernel = KernelEnd::Stopped("QEMU ended with status 0".into());
        o.faults_detected = 1;
        assert_eq!(classify(&o).0, Outcome::KernelCrash);
    }

    #[test]
    fn no_answer_within_the_timeout_is_a_hang() {
        let mut o = Observation::quiet(Mode::Native);
        o.kernel =
            KernelEnd::Hung("`ext crash crashtest loop-irq-off`: no prompt within 20 s".into());
        assert_eq!(classify(&o).0, Outcome::Hang);
    }

    #[test]
    fn a_detected_fault_with_a_golden_workload_after_is_recovered() {
        let mut o = Observation::quiet(Mode::Isolated);
        o.faults_detected = 1;
        o.activation = Some(true);
        assert_eq!(classify(&o).0, Outcome::Recovered);
        o.differences = vec!["checksum: 0x1 -> 0x2".into()];
        assert_eq!(classify(&o).0, Outcome::SilentCorruption);
        o.differences.clear();
        o.running_after = Some(false);
        assert_eq!(classify(&o).0, Outcome::DriverFailed);
        o.running_after = Some(true);
        o.post = failed_post("w.txt:3: expected \"up\"");
        let (outcome, why) = classify(&o);
        assert_eq!(outcome, Outcome::DriverFailed);
        assert!(why.contains("w.txt:3"), "{why}");
    }

    #[test]
    fn a_workload_that_failed_with_the_extension_is_run_again_after_its_restart() {
        let mut o = Observation::quiet(Mode::Isolated);
        o.faults_detected = 1;
        o.post = failed_post("w.txt:9: expected \"calls=50\"");
        o.rerun = Some(WorkloadRun::default());
        let (outcome, why) = classify(&o);
        assert_eq!(outcome, Outcome::Recovered);
        assert!(
            why.contains("w.txt:9") && why.contains("after the restart"),
            "{why}"
        );
        o.rerun_differences = vec!["verdict: seed=1 -> mismatch".into()];
        assert_eq!(classify(&o).0, Outcome::SilentCorruption);
        o.rerun_differences.clear();
        o.rerun = failed_post("w.txt:9: expected \"calls=50\"");
        let (outcome, why) = classify(&o);
        assert_eq!(outcome, Outcome::DriverFailed);
        assert!(why.contains("again after the restart"), "{why}");
        o.rerun = Some(WorkloadRun::default());
        o.running_after = Some(false);
        assert_eq!(classify(&o).0, Outcome::DriverFailed);
        // Without a detected fault there is no rerun: a failure is final.
        let mut o = Observation::quiet(Mode::Isolated);
        o.post = failed_post("wrong");
        o.rerun = Some(WorkloadRun::default());
        assert_eq!(classify(&o).0, Outcome::DriverFailed);
    }

    #[test]
    fn without_a_detected_fault_the_golden_comparison_decides() {
        let o = Observation::quiet(Mode::Isolated);
        assert_eq!(classify(&o).0, Outcome::NoEffect);
        let mut o = Observation::quiet(Mode::Isolated);
        o.activation = Some(false);
        assert_eq!(classify(&o).0, Outcome::NotActivated);
        o.post = failed_post("wrong");
        assert_eq!(
            classify(&o).0,
            Outcome::DriverFailed,
            "it failed all the same"
        );
        let mut o = Observation::quiet(Mode::Native);
        o.differences = vec!["page: a -> b".into()];
        assert_eq!(classify(&o).0, Outcome::SilentCorruption);
        let mut o = Observation::quiet(Mode::Native);
        o.post = Some(WorkloadRun {
            console_error: Some(ConsoleError::Other("http: refused".into())),
            ..WorkloadRun::default()
        });
        assert_eq!(classify(&o).0, Outcome::DriverFailed);
        let mut o = Observation::quiet(Mode::Native);
        o.post = None;
        assert_eq!(classify(&o).0, Outcome::DriverFailed);
    }

    #[test]
    fn a_refused_injection_is_not_activated() {
        let mut o = Observation::quiet(Mode::Isolated);
        o.refused = Some("refused".into());
        assert_eq!(classify(&o).0, Outcome::NotActivated);
    }
}
