//! `report.md` and `report.svg` from the trial records.
//!
//! Invariants:
//! - Pure functions of the records and the campaign's description: the
//!   same records give the same bytes.
//! - Percentages are of the trials that ran (infra-error excluded), each
//!   with a 95% Wilson interval; the counts are always shown too.
//! - Nooks' comparison counts system failures as kernel-crash + hang and
//!   non-fatal failures as driver-failed + silent-corruption.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::classify::Outcome;
use super::explain::CauseTag;
use super::record::TrialRecord;
use super::stats::{percent, percent_with_interval};
use super::trial::Mode;
use crate::bench::xml;

/// What the report says about the campaign itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CampaignInfo {
    /// The command line that ran it.
    pub command: String,
    /// When it started (UTC).
    pub started: String,
    /// Kernel build digest.
    pub build: String,
    /// `qemu --version`.
    pub qemu_version: String,
    /// Campaign seed.
    pub seed: u64,
    /// Faults per trial.
    pub count: u32,
    /// Parallel QEMUs.
    pub jobs: usize,
    /// Wall time, seconds.
    pub wall_s: f64,
    /// QEMU boots in all.
    pub boots: usize,
    /// Explanations attached by hand (`explanations.txt`), by trial id.
    pub explanations: BTreeMap<String, String>,
}

impl CampaignInfo {
    /// The info as `key value` lines (`campaign.txt`, read back by
    /// [`CampaignInfo::parse`] when the report is written again).
    pub fn to_text(&self) -> String {
        format!(
            "command {}\nstarted {}\nbuild {}\nqemu {}\nseed {}\ncount {}\njobs {}\nwall_s {:.3}\nboots {}\n",
            self.command.replace('\n', " "),
            self.started,
            self.build,
            self.qemu_version,
            self.seed,
            self.count,
            self.jobs,
            self.wall_s,
            self.boots
        )
    }

    /// Reads [`CampaignInfo::to_text`]'s lines (unknown keys are ignored;
    /// missing ones stay at their defaults).
    pub fn parse(text: &str) -> CampaignInfo {
        let mut info = CampaignInfo::default();
        for line in text.lines() {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            let value = value.to_string();
            match key {
                "command" => info.command = value,
                "started" => info.started = value,
                "build" => info.build = value,
                "qemu" => info.qemu_version = value,
                "seed" => info.seed = value.parse().unwrap_or_default(),
                "count" => info.count = value.parse().unwrap_or_default(),
                "jobs" => info.jobs = value.parse().unwrap_or_default(),
                "wall_s" => info.wall_s = value.parse().unwrap_or_default(),
                "boots" => info.boots = value.parse().unwrap_or_default(),
                _ => {}
            }
        }
        info
    }
}

/// Outcome counts of a group of trials.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    counts: BTreeMap<Outcome, u64>,
}

impl Tally {
    /// Counts `records`.
    pub fn of<'a>(records: impl IntoIterator<Item = &'a TrialRecord>) -> Tally {
        let mut tally = Tally::default();
        for record in records {
            *tally.counts.entry(record.outcome).or_default() += 1;
        }
        tally
    }

    /// Trials with this outcome.
    pub fn count(&self, outcome: Outcome) -> u64 {
        self.counts.get(&outcome).copied().unwrap_or(0)
    }

    /// Every trial.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Trials that ran (all but infra errors): the denominator of percentages.
    pub fn ran(&self) -> u64 {
        self.total() - self.count(Outcome::InfraError)
    }

    /// Trials whose outcome satisfies `which`.
    pub fn matching(&self, which: impl Fn(Outcome) -> bool) -> u64 {
        self.counts
            .iter()
            .filter(|(o, _)| which(**o))
            .map(|(_, n)| n)
            .sum()
    }
}

/// `n (P% [LO–HI])`, or `0` when nothing matched (keeps tables readable).
fn cell(count: u64, ran: u64) -> String {
    if count == 0 {
        "0".into()
    } else {
        format!("{count} ({})", percent_with_interval(count, ran))
    }
}

/// `n/N, P% [LO–HI]` for the comparison table.
fn share(count: u64, ran: u64) -> String {
    format!("{count}/{ran}, {}", percent_with_interval(count, ran))
}

fn outcome_header(first: &str) -> String {
    let mut header = format!("| {first} | trials |");
    let mut rule = String::from("|");
    for _ in 0..first.matches('|').count() + 2 {
        rule.push_str("---|");
    }
    for outcome in Outcome::ALL {
        let _ = write!(header, " {} |", outcome.name());
        rule.push_str("---:|");
    }
    format!("{header}\n{rule}\n")
}

fn outcome_row(first: &str, tally: &Tally) -> String {
    let mut row = format!("| {first} | {} |", tally.total());
    for outcome in Outcome::ALL {
        if outcome == Outcome::InfraError {
            let _ = write!(row, " {} |", tally.count(outcome));
        } else {
            let _ = write!(row, " {} |", cell(tally.count(outcome), tally.ran()));
        }
    }
    row.push('\n');
    row
}

/// Extensions in first-seen order.
fn extensions(records: &[TrialRecord]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for record in records {
        if !seen.contains(&record.spec.extension) {
            seen.push(record.spec.extension.clone());
        }
    }
    seen
}

/// Trials per minute of wall time.
pub fn trials_per_minute(trials: usize, wall_s: f64) -> f64 {
    if wall_s <= 0.0 {
        0.0
    } else {
        trials as f64 * 60.0 / wall_s
    }
}

/// The summary table alone (per extension and mode), as in `report.md`.
pub fn summary_table(records: &[TrialRecord]) -> String {
    let mut s = outcome_header("extension | mode");
    for extension in extensions(records) {
        for mode in Mode::ALL {
            let group: Vec<&TrialRecord> = records
                .iter()
                .filter(|r| r.spec.extension == extension && r.spec.mode == mode)
                .collect();
            if !group.is_empty() {
                s.push_str(&outcome_row(
                    &format!("{extension} | {}", mode.name()),
                    &Tally::of(group),
                ));
            }
        }
    }
    s
}

/// The Markdown report.
pub fn markdown(records: &[TrialRecord], info: &CampaignInfo) -> String {
    let mut s = String::new();
    let rate = trials_per_minute(records.len(), info.wall_s);
    let _ = writeln!(s, "# Fault-injection campaign\n");
    let _ = writeln!(s, "- command: `{}`", info.command);
    let _ = writeln!(s, "- started: {}", info.started);
    let _ = writeln!(s, "- kernel build: `{}`; {}", info.build, info.qemu_version);
    let _ = writeln!(
        s,
        "- campaign seed {}; {} fault(s) per trial (code mutations; a fail point or a crash kind is one fault)",
        info.seed, info.count
    );
    let _ = writeln!(
        s,
        "- {} trials in {:.1} s with {} parallel QEMU(s), {} boot(s): **{rate:.1} trials per minute**",
        records.len(),
        info.wall_s,
        info.jobs,
        info.boots
    );
    let _ = writeln!(
        s,
        "\nPercentages are of the trials that ran (infra-error excluded), with 95% Wilson intervals in brackets. Outcome classes: see docs/fault-injection-campaigns.md.\n"
    );

    let _ = writeln!(s, "## Summary\n");
    s.push_str(&summary_table(records));

    let _ = writeln!(s, "\n## Nooks-style comparison\n");
    let _ = writeln!(
        s,
        "System crashes are kernel-crash + hang; non-fatal failures are driver-failed + silent-corruption (the kernel lives, the extension does not work or works wrongly). Nooks (SOSP 2003): native 317 crashes, isolated 4; non-fatal failures native 512, isolated 212.\n"
    );
    let _ = writeln!(
        s,
        "| extension | system crashes, native | system crashes, isolated | crashes prevented | non-fatal failures, native | non-fatal failures, isolated |\n|---|---:|---:|---:|---:|---:|"
    );
    let mut rows: Vec<(String, Vec<&TrialRecord>)> = extensions(records)
        .into_iter()
        .map(|e| {
            let group = records.iter().filter(|r| r.spec.extension == e).collect();
            (e, group)
        })
        .collect();
    if rows.len() > 1 {
        rows.push(("all".into(), records.iter().collect()));
    }
    for (name, group) in rows {
        let of_mode = |mode: Mode| Tally::of(group.iter().copied().filter(|r| r.spec.mode == mode));
        let (native, isolated) = (of_mode(Mode::Native), of_mode(Mode::Isolated));
        let crashes = |t: &Tally| t.matching(Outcome::is_system_failure);
        let non_fatal = |t: &Tally| t.matching(Outcome::is_non_fatal_failure);
        let show = |t: &Tally, n: u64| {
            if t.ran() == 0 {
                "–".to_string()
            } else {
                share(n, t.ran())
            }
        };
        let prevented = if native.ran() == 0 || isolated.ran() == 0 || crashes(&native) == 0 {
            "–".to_string()
        } else {
            let native_rate = crashes(&native) as f64 / native.ran() as f64;
            let isolated_rate = crashes(&isolated) as f64 / isolated.ran() as f64;
            percent((native_rate - isolated_rate) / native_rate)
        };
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {prevented} | {} | {} |",
            show(&native, crashes(&native)),
            show(&isolated, crashes(&isolated)),
            show(&native, non_fatal(&native)),
            show(&isolated, non_fatal(&isolated)),
        );
    }

    s.push_str(&isolated_system_failures(records, info));

    let _ = writeln!(s, "\n## Per fault type\n");
    s.push_str(&outcome_header("extension | fault type | mode"));
    for extension in extensions(records) {
        let mut types: Vec<&str> = Vec::new();
        for r in records.iter().filter(|r| r.spec.extension == extension) {
            if !types.contains(&r.spec.fault.name) {
                types.push(r.spec.fault.name);
            }
        }
        let catalogue_position = |name: &&str| {
            super::faults::CATALOGUE
                .iter()
                .position(|t| t.name == *name)
                .unwrap_or(usize::MAX)
        };
        types.sort_by_key(catalogue_position);
        for fault in types {
            for mode in Mode::ALL {
                let group: Vec<&TrialRecord> = records
                    .iter()
                    .filter(|r| {
                        r.spec.extension == extension
                            && r.spec.fault.name == fault
                            && r.spec.mode == mode
                    })
                    .collect();
                if !group.is_empty() {
                    s.push_str(&outcome_row(
                        &format!("{extension} | {fault} | {}", mode.name()),
                        &Tally::of(group),
                    ));
                }
            }
        }
    }

    let _ = writeln!(s, "\n## Recovery time (isolated)\n");
    let mut any_recovery = false;
    for extension in extensions(records) {
        let mut times: Vec<f64> = records
            .iter()
            .filter(|r| r.spec.extension == extension && r.spec.mode == Mode::Isolated)
            .filter_map(|r| r.recovery_ms)
            .collect();
        if times.is_empty() {
            continue;
        }
        any_recovery = true;
        times.sort_by(f64::total_cmp);
        let mean = times.iter().sum::<f64>() / times.len() as f64;
        let _ = writeln!(
            s,
            "- {extension}: {} recoveries, mean {mean:.2} ms, median {:.2} ms, max {:.2} ms (fault detected -> new instance running)",
            times.len(),
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
    if !any_recovery {
        let _ = writeln!(s, "No recoveries were timed.");
    }

    let _ = writeln!(s, "\n## Trials isolation did not save\n");
    let unsaved: Vec<&TrialRecord> = records
        .iter()
        .filter(|r| {
            r.spec.mode == Mode::Isolated
                && (r.outcome.is_system_failure() || r.outcome.is_non_fatal_failure())
        })
        .collect();
    if unsaved.is_empty() {
        let _ = writeln!(
            s,
            "None: every isolated trial that ran ended not-activated, no-effect or recovered."
        );
    } else {
        let _ = writeln!(
            s,
            "Isolated trials that ended in a system failure or a non-fatal failure ({}), worst first:\n",
            unsaved.len()
        );
        let mut sorted = unsaved;
        let severity = |o: Outcome| match o {
            Outcome::KernelCrash => 0,
            Outcome::Hang => 1,
            Outcome::SilentCorruption => 2,
            _ => 3,
        };
        sorted.sort_by_key(|r| severity(r.outcome));
        const LIMIT: usize = 100;
        for r in sorted.iter().take(LIMIT) {
            let mut notes = String::new();
            if let Some(cause) = &r.cause {
                let _ = write!(notes, "  \n  cause: {cause}");
            }
            if let Some(explanation) = info.explanations.get(&r.spec.id()) {
                let _ = write!(notes, "  \n  explanation: {explanation}");
            }
            let _ = writeln!(
                s,
                "- `{}` **{}**: {}{notes}  \n  `{}`{}",
                r.spec.id(),
                r.outcome.name(),
                r.detail,
                r.reproduce,
                r.log
                    .as_deref()
                    .map(|l| format!(" (log: {l})"))
                    .unwrap_or_default()
            );
        }
        if sorted.len() > LIMIT {
            let _ = writeln!(s, "- ... {} more in trials.jsonl", sorted.len() - LIMIT);
        }
    }

    let infra: Vec<&TrialRecord> = records
        .iter()
        .filter(|r| r.outcome == Outcome::InfraError)
        .collect();
    if !infra.is_empty() {
        let _ = writeln!(s, "\n## Infrastructure errors\n");
        for r in infra.iter().take(50) {
            let _ = writeln!(s, "- `{}`: {}", r.spec.id(), r.detail);
        }
    }

    let _ = writeln!(s, "\n## Throughput\n");
    for mode in Mode::ALL {
        let group: Vec<&TrialRecord> = records.iter().filter(|r| r.spec.mode == mode).collect();
        if group.is_empty() {
            continue;
        }
        let mean = group.iter().map(|r| r.duration_s).sum::<f64>() / group.len() as f64;
        let reused = group.iter().filter(|r| r.reused_boot).count();
        let _ = writeln!(
            s,
            "- {}: {} trials, mean {mean:.2} s per trial, {reused} in a reused boot",
            mode.name(),
            group.len()
        );
    }
    let _ = writeln!(s, "- overall: {rate:.1} trials per minute");
    s
}

/// The section on isolated `kernel-crash` and `hang` trials: how many,
/// their causes, which of them leave the extension's own behaviour, and
/// which still need an explanation.
fn isolated_system_failures(records: &[TrialRecord], info: &CampaignInfo) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "\n## Isolated system failures\n");
    let failures: Vec<&TrialRecord> = records
        .iter()
        .filter(|r| r.spec.mode == Mode::Isolated && r.outcome.is_system_failure())
        .collect();
    let isolated = records
        .iter()
        .filter(|r| r.spec.mode == Mode::Isolated)
        .count();
    if failures.is_empty() {
        let _ = writeln!(
            s,
            "None of the {isolated} isolated trials ended in kernel-crash or hang."
        );
        return s;
    }
    let tag_of = |r: &TrialRecord| {
        r.cause
            .as_deref()
            .map_or(CauseTag::Unexplained, CauseTag::of)
    };
    let inside: Vec<&&TrialRecord> = failures
        .iter()
        .filter(|r| !tag_of(r).leaves_the_extension())
        .collect();
    let crashes_inside = inside
        .iter()
        .filter(|r| r.outcome == Outcome::KernelCrash)
        .count();
    let unexplained = inside
        .iter()
        .filter(|r| !info.explanations.contains_key(&r.spec.id()))
        .count();
    let _ = writeln!(
        s,
        "{} of the {isolated} isolated trials ended in kernel-crash or hang. Causes are suggested by the runner from the injected faults and the serial log; `software-interrupt` and `privileged-instruction` mutations leave the extension's own behaviour (ring-0 code acting on the processor's kernel state, which page tables cannot contain), every other cause is inside it. Explanations come from `explanations.txt` in the output directory (`TRIAL-ID TEXT` per line; `cargo xtask inject --report DIR` writes the report again).\n",
        failures.len()
    );
    let _ = writeln!(
        s,
        "**Isolated kernel-crashes for faults inside the extension's own behaviour: {crashes_inside}**; isolated system failures inside it without an explanation: {unexplained}.\n"
    );
    let _ = writeln!(
        s,
        "| cause | leaves the extension | kernel-crash | hang |\n|---|---|---:|---:|"
    );
    for tag in CauseTag::ALL {
        let of_tag: Vec<&&TrialRecord> = failures.iter().filter(|r| tag_of(r) == tag).collect();
        if of_tag.is_empty() {
            continue;
        }
        let count = |o: Outcome| of_tag.iter().filter(|r| r.outcome == o).count();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            tag.name(),
            if tag.leaves_the_extension() {
                "yes"
            } else {
                "no"
            },
            count(Outcome::KernelCrash),
            count(Outcome::Hang)
        );
    }
    let _ = writeln!(s);
    for r in &failures {
        let explanation = match info.explanations.get(&r.spec.id()) {
            Some(text) => format!("explanation: {text}"),
            None if tag_of(r).leaves_the_extension() => {
                "explanation: none needed (the fault leaves the extension)".to_string()
            }
            None => "explanation: **none yet**".to_string(),
        };
        let _ = writeln!(
            s,
            "- `{}` **{}**: {}  \n  {explanation}",
            r.spec.id(),
            r.outcome.name(),
            r.cause
                .as_deref()
                .unwrap_or("unexplained: no cause recorded"),
        );
    }
    s
}

/// The colour of each outcome in the chart.
pub fn colour(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::NotActivated => "#c9c9c9",
        Outcome::NoEffect => "#a0cbe8",
        Outcome::Recovered => "#59a14f",
        Outcome::DriverFailed => "#f28e2b",
        Outcome::SilentCorruption => "#b07aa1",
        Outcome::Hang => "#8c2d04",
        Outcome::KernelCrash => "#e15759",
        Outcome::InfraError => "#ffffff",
    }
}

/// Stacked horizontal bars, native above isolated, per extension: the share
/// of each outcome among all trials (infra errors shown, outlined).
pub fn svg(records: &[TrialRecord], info: &CampaignInfo) -> String {
    const WIDTH: f64 = 900.0;
    const LEFT: f64 = 170.0;
    const PLOT: f64 = 680.0;
    const TOP: f64 = 110.0;
    const BAR: f64 = 26.0;
    const GAP: f64 = 6.0;
    const GROUP_GAP: f64 = 22.0;
    let groups: Vec<(String, Vec<(Mode, Tally)>)> = extensions(records)
        .into_iter()
        .map(|e| {
            let bars = Mode::ALL
                .into_iter()
                .filter_map(|m| {
                    let tally = Tally::of(
                        records
                            .iter()
                            .filter(|r| r.spec.extension == e && r.spec.mode == m),
                    );
                    (tally.total() > 0).then_some((m, tally))
                })
                .collect();
            (e, bars)
        })
        .collect();
    let plot_height: f64 = groups
        .iter()
        .map(|(_, bars)| bars.len() as f64 * (BAR + GAP) - GAP + GROUP_GAP)
        .sum::<f64>()
        .max(GROUP_GAP);
    let height = TOP + plot_height + 50.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(
        s,
        "<title>Fault-injection outcomes, native vs isolated</title>\n<rect width=\"{WIDTH}\" height=\"{height}\" fill=\"white\"/>\n<text x=\"20\" y=\"28\" font-size=\"17\" font-weight=\"bold\">Fault injection: outcome of each trial, native vs isolated</text>\n<text x=\"20\" y=\"48\" fill=\"#555\">{}</text>",
        xml(&format!(
            "{} trials, {} fault(s) per trial, seed {}, kernel build {}",
            records.len(),
            info.count,
            info.seed,
            info.build
        ))
    );
    // Legend, two rows of four.
    for (index, outcome) in Outcome::ALL.into_iter().enumerate() {
        let x = 20.0 + (index % 4) as f64 * 170.0;
        let y = 62.0 + (index / 4) as f64 * 20.0;
        let _ = writeln!(
            s,
            "<rect x=\"{x}\" y=\"{y}\" width=\"14\" height=\"14\" fill=\"{}\" stroke=\"#666\" stroke-width=\"0.5\"/><text x=\"{}\" y=\"{}\">{}</text>",
            colour(outcome),
            x + 20.0,
            y + 12.0,
            outcome.name()
        );
    }
    let bottom = TOP + plot_height;
    for tick in 0..=4 {
        let fraction = f64::from(tick) / 4.0;
        let x = LEFT + fraction * PLOT;
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{bottom}\" stroke=\"#ddd\"/><text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\">{}</text>",
            bottom + 18.0,
            percent(fraction)
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\">share of trials</text>",
        LEFT + PLOT / 2.0,
        bottom + 38.0
    );
    let mut y = TOP + GROUP_GAP / 2.0;
    for (extension, bars) in &groups {
        let group_height = bars.len() as f64 * (BAR + GAP) - GAP;
        let _ = writeln!(
            s,
            "<text x=\"12\" y=\"{:.1}\" font-weight=\"bold\">{}</text>",
            y + group_height / 2.0 + 5.0,
            xml(extension)
        );
        for (mode, tally) in bars {
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{} ({})</text>",
                LEFT - 8.0,
                y + BAR / 2.0 + 5.0,
                mode.name(),
                tally.total()
            );
            let mut x = LEFT;
            for outcome in Outcome::ALL {
                let count = tally.count(outcome);
                if count == 0 {
                    continue;
                }
                let width = count as f64 / tally.total() as f64 * PLOT;
                let _ = writeln!(
                    s,
                    "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"{BAR}\" fill=\"{}\" stroke=\"#666\" stroke-width=\"0.5\"><title>{}</title></rect>",
                    colour(outcome),
                    xml(&format!(
                        "{extension}, {}: {} {count} of {} ({})",
                        mode.name(),
                        outcome.name(),
                        tally.total(),
                        percent(count as f64 / tally.total() as f64)
                    ))
                );
                if width >= 28.0 {
                    let dark = matches!(
                        outcome,
                        Outcome::KernelCrash
                            | Outcome::Hang
                            | Outcome::Recovered
                            | Outcome::SilentCorruption
                    );
                    let _ = writeln!(
                        s,
                        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{}\">{count}</text>",
                        x + width / 2.0,
                        y + BAR / 2.0 + 5.0,
                        if dark { "white" } else { "#222" }
                    );
                }
                x += width;
            }
            y += BAR + GAP;
        }
        y += GROUP_GAP - GAP;
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inject::faults;
    use crate::inject::record::FaultRecord;
    use crate::inject::trial::{Knobs, TrialSpec};

    fn record(
        extension: &str,
        mode: Mode,
        fault: &str,
        seed: u64,
        outcome: Outcome,
    ) -> TrialRecord {
        let spec = TrialSpec {
            extension: extension.into(),
            mode,
            fault: faults::find(fault).unwrap(),
            seed,
            count: 5,
            knobs: Knobs::default(),
        };
        TrialRecord {
            reproduce: format!("cargo xtask inject --reproduce {} --out /tmp/c", spec.id()),
            spec,
            build: "b".into(),
            outcome,
            detail: "why".into(),
            cause: None,
            faults: vec![FaultRecord::at_site(fault, "ext crash")],
            activated: Some(true),
            recovery_ms: (outcome == Outcome::Recovered).then_some(2.0),
            detected: Vec::new(),
            reused_boot: mode == Mode::Isolated,
            duration_s: 1.0,
            started: "t".into(),
            log: None,
        }
    }

    fn campaign() -> Vec<TrialRecord> {
        let mut records = Vec::new();
        for seed in 0..10 {
            records.push(record(
                "crashtest",
                Mode::Native,
                "panic",
                seed,
                Outcome::KernelCrash,
            ));
            records.push(record(
                "crashtest",
                Mode::Isolated,
                "panic",
                seed,
                if seed == 0 {
                    Outcome::Hang
                } else {
                    Outcome::Recovered
                },
            ));
        }
        records.push(record(
            "rtc",
            Mode::Native,
            "null-deref",
            1,
            Outcome::NoEffect,
        ));
        records.push(record(
            "rtc",
            Mode::Isolated,
            "null-deref",
            1,
            Outcome::InfraError,
        ));
        records
    }

    fn info() -> CampaignInfo {
        CampaignInfo {
            command: "cargo xtask inject ...".into(),
            wall_s: 60.0,
            jobs: 2,
            ..CampaignInfo::default()
        }
    }

    #[test]
    fn tallies_exclude_infra_errors_from_the_denominator() {
        let records = campaign();
        let tally = Tally::of(records.iter().filter(|r| r.spec.extension == "rtc"));
        assert_eq!((tally.total(), tally.ran()), (2, 1));
        assert_eq!(tally.matching(Outcome::is_system_failure), 0);
    }

    #[test]
    fn the_summary_table_has_a_row_per_extension_and_mode_with_intervals() {
        let table = summary_table(&campaign());
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2 + 4);
        assert!(lines[0].starts_with("| extension | mode | trials | not-activated |"));
        assert_eq!(lines[1].matches("---").count(), 3 + Outcome::ALL.len());
        let native = lines
            .iter()
            .find(|l| l.starts_with("| crashtest | native |"))
            .unwrap();
        assert!(native.contains("| 10 (100% [72–100%]) |"), "{native}");
        let isolated = lines
            .iter()
            .find(|l| l.starts_with("| crashtest | isolated |"))
            .unwrap();
        assert!(isolated.contains("9 (90% [60–98%])"), "{isolated}");
    }

    #[test]
    fn the_report_compares_modes_and_lists_unsaved_trials_with_reproduce_commands() {
        let report = markdown(&campaign(), &info());
        assert!(report.contains("**22.0 trials per minute**"), "{report}");
        let comparison = report
            .lines()
            .find(|l| l.starts_with("| crashtest | 10/10"))
            .expect("comparison row");
        assert!(
            comparison.contains("| 1/10, 10% [1.8–40%] | 90% |"),
            "{comparison}"
        );
        assert!(report.contains("| all |"));
        assert!(report.contains("## Trials isolation did not save"));
        assert!(report.contains("`crashtest:isolated:panic:0:5` **hang**"));
        assert!(report.contains("cargo xtask inject --reproduce crashtest:isolated:panic:0:5"));
        assert!(report.contains("| crashtest | panic | isolated | 10 |"));
        assert!(report.contains("## Infrastructure errors"));
        assert!(report.contains("- crashtest: 9 recoveries, mean 2.00 ms"));
    }

    #[test]
    fn isolated_system_failures_are_listed_with_causes_and_explanations() {
        let mut records = campaign();
        let hang = records
            .iter_mut()
            .find(|r| r.outcome == Outcome::Hang)
            .unwrap();
        hang.cause = Some("no-answer: `ext list`: no answer within 20 s; ...".into());
        let mut crash = record("crashtest", Mode::Isolated, "text", 4, Outcome::KernelCrash);
        crash.cause =
            Some("software-interrupt: patch 0 at f+0x1 turned `a` into `int 0x89`; ...".into());
        records.push(crash);
        let report = markdown(&records, &info());
        assert!(report.contains("## Isolated system failures"));
        assert!(report.contains(
            "**Isolated kernel-crashes for faults inside the extension's own behaviour: 0**; isolated system failures inside it without an explanation: 1."
        ), "{report}");
        assert!(report.contains("| software-interrupt | yes | 1 | 0 |"));
        assert!(report.contains("| no-answer | no | 0 | 1 |"));
        assert!(report.contains("explanation: none needed (the fault leaves the extension)"));
        assert!(report.contains("explanation: **none yet**"));
        assert!(report.contains("  \n  cause: no-answer: `ext list`"));
        let mut explained = info();
        explained.explanations.insert(
            "crashtest:isolated:panic:0:5".into(),
            "the shell waited on a call that never returned".into(),
        );
        let report = markdown(&records, &explained);
        assert!(report.contains("without an explanation: 0."), "{report}");
        assert!(report.contains("explanation: the shell waited on a call that never returned"));
        let clean = markdown(&records[10..12], &info());
        assert!(clean.contains("None of the 1 isolated trials ended in kernel-crash or hang."));
    }

    #[test]
    fn campaign_info_round_trips_through_its_text() {
        let info = CampaignInfo {
            command: "cargo xtask inject --extension crashtest --faults all".into(),
            started: "2026-01-01 00:00 UTC".into(),
            build: "0123456789abcdef".into(),
            qemu_version: "QEMU emulator version 9.0".into(),
            seed: 7,
            count: 5,
            jobs: 2,
            wall_s: 812.5,
            boots: 120,
            explanations: BTreeMap::new(),
        };
        assert_eq!(CampaignInfo::parse(&info.to_text()), info);
        assert_eq!(CampaignInfo::parse(""), CampaignInfo::default());
    }

    #[test]
    fn a_clean_campaign_says_nothing_was_lost() {
        let records: Vec<TrialRecord> = (0..3)
            .map(|seed| {
                record(
                    "crashtest",
                    Mode::Isolated,
                    "panic",
                    seed,
                    Outcome::Recovered,
                )
            })
            .collect();
        let report = markdown(&records, &info());
        assert!(report.contains("None: every isolated trial"));
        assert!(!report.contains("## Infrastructure errors"));
    }

    #[test]
    fn the_chart_is_well_formed_with_one_bar_per_extension_and_mode() {
        let chart = svg(&campaign(), &info());
        assert!(chart.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(chart.trim_end().ends_with("</svg>"));
        assert_eq!(chart.matches("<svg").count(), 1);
        let bar_labels = chart.matches("text-anchor=\"end\">").count();
        assert_eq!(bar_labels, 4, "native and isolated for crashtest and rtc");
        // Every segment of a bar adds up to the plot width.
        let segments = chart.matches("<title>crashtest, isolated:").count();
        assert_eq!(segments, 2, "recovered and hang");
        assert!(chart.contains("hang 1 of 10 (10%)"));
        assert_balanced(&chart);
    }

    /// Every element is closed, in order (`<x/>` closes itself).
    fn assert_balanced(document: &str) {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = document;
        while let Some(start) = rest.find('<') {
            let end = rest[start..].find('>').expect("an unclosed tag") + start;
            let tag = &rest[start + 1..end];
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
            } else if !tag.ends_with('/') {
                stack.push(
                    tag.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
            rest = &rest[end + 1..];
        }
        assert!(stack.is_empty(), "unclosed: {stack:?}");
    }

    #[test]
    fn an_empty_campaign_still_renders() {
        let chart = svg(&[], &info());
        assert!(chart.trim_end().ends_with("</svg>"));
        assert_balanced(&chart);
        assert!(markdown(&[], &info()).contains("0 trials"));
    }
}
