//! The campaign's progress line on stderr: a bar, counts, elapsed time, an
//! ETA and the outcomes so far.
//!
//! Invariants: the text is a pure function of the numbers (tested); on a
//! terminal the line is redrawn in place, otherwise a line is printed at
//! most every ten seconds and at the end, so logs stay short.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use super::classify::Outcome;
use super::trial::Mode;

/// `m:ss` or `h:mm:ss`.
pub fn clock(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds >= 3600 {
        format!(
            "{}:{:02}:{:02}",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        )
    } else {
        format!("{}:{:02}", seconds / 60, seconds % 60)
    }
}

/// Estimated time left: the remaining trials of each mode at that mode's
/// mean duration so far (the overall mean for a mode not seen yet), spread
/// over `jobs` parallel QEMUs. `None` before any trial finished.
pub fn estimate_remaining(
    remaining: &BTreeMap<Mode, usize>,
    finished: &BTreeMap<Mode, (usize, Duration)>,
    jobs: usize,
) -> Option<Duration> {
    let (count, total) = finished
        .values()
        .fold((0usize, Duration::ZERO), |(c, t), (n, d)| (c + n, t + *d));
    if count == 0 {
        return None;
    }
    let overall = total / count as u32;
    let work: Duration = remaining
        .iter()
        .map(|(mode, left)| {
            let mean = match finished.get(mode) {
                Some((n, d)) if *n > 0 => *d / *n as u32,
                _ => overall,
            };
            mean * *left as u32
        })
        .sum();
    Some(work / jobs.max(1) as u32)
}

/// One progress line (without a line ending).
pub fn line(
    done: usize,
    total: usize,
    elapsed: Duration,
    eta: Option<Duration>,
    outcomes: &BTreeMap<Outcome, usize>,
) -> String {
    const WIDTH: usize = 24;
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
    let bar: String = (0..WIDTH)
        .map(|i| if i < filled { '#' } else { '.' })
        .collect();
    let percent = (done * 100).checked_div(total).unwrap_or(100);
    let eta = eta.map_or_else(|| "?".to_string(), clock);
    let mut s = format!(
        "inject [{bar}] {done}/{total} trials {percent:>3}%  elapsed {}  ETA {eta}",
        clock(elapsed)
    );
    let counts: Vec<String> = Outcome::ALL
        .into_iter()
        .filter_map(|o| outcomes.get(&o).map(|n| format!("{} {n}", o.name())))
        .collect();
    if !counts.is_empty() {
        s.push_str("  | ");
        s.push_str(&counts.join(", "));
    }
    s
}

/// The campaign's progress display.
pub struct Progress {
    total: usize,
    jobs: usize,
    started: Instant,
    last_print: Option<Instant>,
    terminal: bool,
    remaining: BTreeMap<Mode, usize>,
    finished: BTreeMap<Mode, (usize, Duration)>,
    outcomes: BTreeMap<Outcome, usize>,
}

impl Progress {
    /// Progress over trials of the given modes.
    pub fn new(modes: impl IntoIterator<Item = Mode>, jobs: usize) -> Progress {
        let mut remaining = BTreeMap::new();
        for mode in modes {
            *remaining.entry(mode).or_default() += 1;
        }
        Progress {
            total: remaining.values().sum(),
            jobs,
            started: Instant::now(),
            last_print: None,
            terminal: std::io::stderr().is_terminal(),
            remaining,
            finished: BTreeMap::new(),
            outcomes: BTreeMap::new(),
        }
    }

    /// One trial finished.
    pub fn finished(&mut self, mode: Mode, outcome: Outcome, duration: Duration) {
        if let Some(left) = self.remaining.get_mut(&mode) {
            *left = left.saturating_sub(1);
        }
        let entry = self.finished.entry(mode).or_default();
        entry.0 += 1;
        entry.1 += duration;
        *self.outcomes.entry(outcome).or_default() += 1;
        self.show(false);
    }

    fn done(&self) -> usize {
        self.finished.values().map(|(n, _)| n).sum()
    }

    /// Draws the line (always when `force`).
    pub fn show(&mut self, force: bool) {
        let now = Instant::now();
        let due = self
            .last_print
            .is_none_or(|last| now - last >= Duration::from_secs(10));
        let complete = self.done() == self.total;
        if !(self.terminal || force || due || complete) {
            return;
        }
        self.last_print = Some(now);
        let eta = estimate_remaining(&self.remaining, &self.finished, self.jobs);
        let text = line(
            self.done(),
            self.total,
            now - self.started,
            eta,
            &self.outcomes,
        );
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(err, "\r\x1b[2K{text}");
            if complete {
                let _ = writeln!(err);
            }
        } else {
            let _ = writeln!(err, "{text}");
        }
        let _ = err.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_read_as_minutes_and_hours() {
        assert_eq!(clock(Duration::from_secs(5)), "0:05");
        assert_eq!(clock(Duration::from_secs(125)), "2:05");
        assert_eq!(clock(Duration::from_secs(3725)), "1:02:05");
    }

    #[test]
    fn the_estimate_weighs_each_mode_by_its_own_mean() {
        let remaining = BTreeMap::from([(Mode::Native, 10), (Mode::Isolated, 10)]);
        let mut finished = BTreeMap::new();
        assert_eq!(estimate_remaining(&remaining, &finished, 2), None);
        finished.insert(Mode::Native, (2, Duration::from_secs(8)));
        // Isolated not seen yet: the overall mean (4 s) stands in.
        assert_eq!(
            estimate_remaining(&remaining, &finished, 2),
            Some(Duration::from_secs(40))
        );
        finished.insert(Mode::Isolated, (4, Duration::from_secs(2)));
        // 10 x 4 s + 10 x 0.5 s over two jobs.
        assert_eq!(
            estimate_remaining(&remaining, &finished, 2),
            Some(Duration::from_millis(22_500))
        );
    }

    #[test]
    fn the_line_shows_bar_counts_eta_and_outcomes() {
        let outcomes = BTreeMap::from([(Outcome::Recovered, 3), (Outcome::KernelCrash, 1)]);
        let text = line(
            4,
            16,
            Duration::from_secs(65),
            Some(Duration::from_secs(200)),
            &outcomes,
        );
        assert_eq!(
            text,
            "inject [######..................] 4/16 trials  25%  elapsed 1:05  ETA 3:20  | recovered 3, kernel-crash 1"
        );
        let start = line(0, 3, Duration::ZERO, None, &BTreeMap::new());
        assert!(start.contains("ETA ?") && !start.contains('|'));
    }
}
