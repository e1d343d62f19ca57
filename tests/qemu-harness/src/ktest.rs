//! Running the in-kernel tests: output parsing and crash/hang recovery.
//!
//! The test kernel prints `ktest: running N tests`, then per test
//! `ktest: start NAME` and `test NAME ... ok` / `test NAME ... FAILED: reason`,
//! then `N passed, N failed`, and exits QEMU with 33 (all passed) or 35.
//!
//! A crash or hang inside a test is a test result, not a dead run: the test is
//! recorded `FAILED (kernel crashed)` / `FAILED (hang)` and the kernel is booted
//! again with `ktest.skip=` just past it. Invariant: every relaunch strictly
//! increases `skip`, so the loop terminates.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::{Exit, HarnessError, Session};

/// One parsed line of test-kernel output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// `ktest: running N tests`
    Running(usize),
    /// `ktest: start NAME`
    Start(String),
    /// `test NAME ... ok`
    Ok(String),
    /// `test NAME ... FAILED: reason` (reason may be empty)
    Failed(String, String),
    /// `N passed, N failed`
    Summary {
        /// Tests that passed in this boot.
        passed: usize,
        /// Tests that failed in this boot.
        failed: usize,
    },
    /// Anything else (log lines, boot messages).
    Other,
}

/// Parses one line of serial output (trailing whitespace ignored).
pub fn parse_line(line: &str) -> Line {
    let line = line.trim_end();
    if let Some(rest) = line.strip_prefix("ktest: running ") {
        if let Some(n) = rest
            .strip_suffix(" tests")
            .or_else(|| rest.strip_suffix(" test"))
            && let Ok(n) = n.trim().parse()
        {
            return Line::Running(n);
        }
        return Line::Other;
    }
    if let Some(name) = line.strip_prefix("ktest: start ") {
        return Line::Start(name.trim().to_string());
    }
    if let Some(rest) = line.strip_prefix("test ") {
        if let Some(name) = rest.strip_suffix(" ... ok") {
            return Line::Ok(name.to_string());
        }
        if let Some(i) = rest.find(" ... FAILED") {
            let name = rest[..i].to_string();
            let reason = rest[i + " ... FAILED".len()..]
                .trim_start_matches(':')
                .trim()
                .to_string();
            return Line::Failed(name, reason);
        }
        return Line::Other;
    }
    if let Some((p, f)) = line.split_once(" passed, ")
        && let (Ok(passed), Some(Ok(failed))) = (
            p.parse::<usize>(),
            f.strip_suffix(" failed").map(str::parse::<usize>),
        )
    {
        return Line::Summary { passed, failed };
    }
    Line::Other
}

/// The kernel command line for a test boot.
pub fn cmdline(filter: Option<&str>, skip: usize, extra: &str) -> String {
    let mut s = String::from("ktest");
    if let Some(f) = filter {
        s.push_str(" ktest.filter=");
        s.push_str(f);
    }
    if skip > 0 {
        s.push_str(&format!(" ktest.skip={skip}"));
    }
    if !extra.trim().is_empty() {
        s.push(' ');
        s.push_str(extra.trim());
    }
    s
}

/// How a single in-kernel test ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// `test NAME ... ok`
    Passed,
    /// `test NAME ... FAILED: reason`
    Failed(String),
    /// The kernel died while the test ran (fatal fault, or QEMU exited).
    Crashed,
    /// The boot timed out while the test ran.
    Hang,
}

/// One in-kernel test result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResult {
    /// The test's name as the kernel printed it.
    pub name: String,
    /// How it ended.
    pub status: Status,
    /// For crashes and hangs: how QEMU ended and the tail of the serial log.
    pub detail: String,
}

impl TestResult {
    /// True if the test passed.
    pub fn passed(&self) -> bool {
        self.status == Status::Passed
    }

    /// The libtest-style result line, e.g. `test NAME ... FAILED (hang)`.
    pub fn line(&self) -> String {
        match &self.status {
            Status::Passed => format!("test {} ... ok", self.name),
            Status::Failed(r) if r.is_empty() => format!("test {} ... FAILED", self.name),
            Status::Failed(r) => format!("test {} ... FAILED: {r}", self.name),
            Status::Crashed => format!("test {} ... FAILED (kernel crashed)", self.name),
            Status::Hang => format!("test {} ... FAILED (hang)", self.name),
        }
    }
}

/// Everything one `run` found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Test results in the order they happened.
    pub results: Vec<TestResult>,
    /// How many times the kernel was booted.
    pub boots: usize,
    /// Problems not attributable to one test (boot failure, count mismatch, ...).
    /// Each counts as one failure.
    pub problems: Vec<String>,
}

impl Report {
    /// Number of tests that passed.
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.passed()).count()
    }

    /// Number of failures: failed tests plus problems.
    pub fn failed(&self) -> usize {
        self.results.len() - self.passed() + self.problems.len()
    }
}

/// Knobs of a run.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Timeout of one boot (from spawn to exit).
    pub boot_timeout: Duration,
    /// Lines of serial log kept in a crashed test's detail.
    pub tail_lines: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            boot_timeout: Duration::from_secs(120),
            tail_lines: 30,
        }
    }
}

/// How one boot ended.
enum End {
    Exited(Exit),
    Hang,
}

/// What one boot produced.
struct Boot {
    running: Option<usize>,
    started: usize,
    current: Option<String>,
    summary: Option<(usize, usize)>,
    passed: usize,
    failed: usize,
    end: End,
    tail: String,
}

fn run_boot(
    cmd: Command,
    opts: &Options,
    emit: &mut dyn FnMut(TestResult),
) -> Result<Boot, String> {
    let mut s = Session::spawn(cmd).map_err(|e| format!("could not start QEMU: {e}"))?;
    let deadline = Instant::now() + opts.boot_timeout;
    s.set_deadline(deadline);
    let mut b = Boot {
        running: None,
        started: 0,
        current: None,
        summary: None,
        passed: 0,
        failed: 0,
        end: End::Hang,
        tail: String::new(),
    };
    let mut hang = false;
    loop {
        match s.read_line(opts.boot_timeout) {
            Ok(Some(line)) => match parse_line(&line) {
                Line::Running(n) => b.running = Some(n),
                Line::Start(name) => {
                    b.started += 1;
                    b.current = Some(name);
                }
                Line::Ok(name) => {
                    b.passed += 1;
                    b.current = None;
                    emit(TestResult {
                        name,
                        status: Status::Passed,
                        detail: String::new(),
                    });
                }
                Line::Failed(name, reason) => {
                    b.failed += 1;
                    b.current = None;
                    emit(TestResult {
                        name,
                        status: Status::Failed(reason),
                        detail: String::new(),
                    });
                }
                Line::Summary { passed, failed } => b.summary = Some((passed, failed)),
                Line::Other => {}
            },
            Ok(None) => break,
            Err(HarnessError::Timeout { .. }) => {
                hang = true;
                break;
            }
            Err(e) => return Err(format!("reading QEMU output failed: {e}")),
        }
    }
    b.end = if hang {
        s.kill();
        End::Hang
    } else {
        // Output ended; the exit follows at once. Bounded anyway.
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(5));
        match s.wait_exit(left) {
            Ok(Some(e)) => End::Exited(e),
            _ => {
                s.kill();
                End::Hang
            }
        }
    };
    b.tail = s.tail(opts.tail_lines);
    Ok(b)
}

/// Runs the in-kernel tests, relaunching past crashed or hung tests.
///
/// `launch(skip)` returns the command for a boot that skips the first `skip`
/// tests of the (filtered) list — normally a [`crate::Machine`] with
/// [`cmdline`]. `on_result` sees each result as soon as it is known.
pub fn run(
    launch: &mut dyn FnMut(usize) -> Command,
    opts: &Options,
    on_result: &mut dyn FnMut(&TestResult),
) -> Report {
    let mut report = Report::default();
    let mut skip = 0usize;
    let mut expected_total: Option<usize> = None;
    loop {
        report.boots += 1;
        let results = &mut report.results;
        let mut emit = |r: TestResult| {
            on_result(&r);
            results.push(r);
        };
        let boot = match run_boot(launch(skip), opts, &mut emit) {
            Ok(b) => b,
            Err(e) => {
                report
                    .problems
                    .push(format!("ktest boot (skip={skip}): {e}"));
                break;
            }
        };
        if skip == 0 {
            expected_total = boot.running;
        }
        let how = match &boot.end {
            End::Exited(e) => format!("QEMU ended with {e}"),
            End::Hang => format!(
                "no exit within {:.0} s, QEMU killed",
                opts.boot_timeout.as_secs_f64()
            ),
        };
        if let Some(name) = boot.current {
            // Crashed or hung inside a test: record it and run the rest.
            let status = match boot.end {
                End::Hang => Status::Hang,
                End::Exited(_) => Status::Crashed,
            };
            let r = TestResult {
                name,
                status,
                detail: format!("{how}; serial log tail:\n{}", boot.tail),
            };
            on_result(&r);
            report.results.push(r);
            skip += boot.started;
            continue;
        }
        match (boot.summary, &boot.end) {
            (Some((p, f)), End::Exited(e @ (Exit::DebugExitSuccess | Exit::TestsFailed))) => {
                if (p, f) != (boot.passed, boot.failed) {
                    report.problems.push(format!(
                        "ktest summary says {p} passed, {f} failed but the boot printed {} ok and {} FAILED lines",
                        boot.passed, boot.failed
                    ));
                }
                let want = if f == 0 {
                    Exit::DebugExitSuccess
                } else {
                    Exit::TestsFailed
                };
                if *e != want {
                    report.problems.push(format!(
                        "ktest: {f} failed but QEMU ended with {e} (expected {want})"
                    ));
                }
                break;
            }
            (Some(_), _) => {
                report.problems.push(format!(
                    "ktest: kernel printed its summary but then {how}\n{}",
                    boot.tail
                ));
                break;
            }
            (None, _) => {
                report.problems.push(format!(
                    "ktest boot (skip={skip}) ended outside any test: {how}; serial log tail:\n{}",
                    boot.tail
                ));
                if boot.started == 0 {
                    break; // no progress: relaunching would loop
                }
                skip += boot.started;
            }
        }
    }
    if let Some(n) = expected_total
        && report.results.len() != n
    {
        report.problems.push(format!(
            "ktest: kernel announced {n} tests but {} results were recorded",
            report.results.len()
        ));
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines() {
        assert_eq!(parse_line("ktest: running 12 tests\r"), Line::Running(12));
        assert_eq!(parse_line("ktest: running 1 test"), Line::Running(1));
        assert_eq!(
            parse_line("ktest: start heap::alloc"),
            Line::Start("heap::alloc".into())
        );
        assert_eq!(
            parse_line("test heap::alloc ... ok"),
            Line::Ok("heap::alloc".into())
        );
        assert_eq!(
            parse_line("test a::b ... FAILED: expected 1, got 2"),
            Line::Failed("a::b".into(), "expected 1, got 2".into())
        );
        assert_eq!(
            parse_line("test a::b ... FAILED"),
            Line::Failed("a::b".into(), String::new())
        );
        assert_eq!(
            parse_line("3 passed, 1 failed"),
            Line::Summary {
                passed: 3,
                failed: 1
            }
        );
        assert_eq!(
            parse_line("[    1.234567] INFO  ktest: 3 passed, 1 failed"),
            Line::Other
        );
        assert_eq!(parse_line("[    0.1] INFO  boot: hello"), Line::Other);
        assert_eq!(
            parse_line("test result: ok. 3 passed; 0 failed"),
            Line::Other
        );
    }

    #[test]
    fn cmdlines() {
        assert_eq!(cmdline(None, 0, ""), "ktest");
        assert_eq!(
            cmdline(Some("heap"), 3, "log=debug"),
            "ktest ktest.filter=heap ktest.skip=3 log=debug"
        );
    }

    /// A fake test kernel over 4 tests: `a` ok, `b` crashes (exit 37),
    /// `c` hangs, `d` fails. Honours the skip argument like the real one.
    fn fake(skip: usize) -> Command {
        let script = r#"
            skip=$1
            printf 'ktest: running %s tests\n' $((4 - skip))
            i=0; passed=0; failed=0
            for t in a b c d; do
                if [ $i -lt $skip ]; then i=$((i+1)); continue; fi
                i=$((i+1))
                printf 'ktest: start %s\n' $t
                printf '[    0.1] INFO  noise: interleaved log\n'
                case $t in
                    a) printf 'test a ... ok\n'; passed=$((passed+1)) ;;
                    b) printf 'EXCEPTION: page fault\nkernel stopped\n'; exit 37 ;;
                    c) sleep 30 ;;
                    d) printf 'test d ... FAILED: 1 != 2\n'; failed=$((failed+1)) ;;
                esac
            done
            printf '%s passed, %s failed\n' $passed $failed
            [ $failed -eq 0 ] && exit 33
            exit 35
        "#;
        let mut c = Command::new("sh");
        c.args(["-c", script, "sh", &skip.to_string()]);
        c
    }

    #[test]
    fn recovers_from_crash_and_hang() {
        let mut skips = Vec::new();
        let mut seen = Vec::new();
        let opts = Options {
            boot_timeout: Duration::from_millis(700),
            tail_lines: 5,
        };
        let report = run(
            &mut |skip| {
                skips.push(skip);
                fake(skip)
            },
            &opts,
            &mut |r| seen.push(r.line()),
        );
        assert_eq!(skips, vec![0, 2, 3]);
        assert_eq!(
            seen,
            vec![
                "test a ... ok",
                "test b ... FAILED (kernel crashed)",
                "test c ... FAILED (hang)",
                "test d ... FAILED: 1 != 2",
            ]
        );
        assert_eq!(report.boots, 3);
        assert_eq!(report.passed(), 1);
        assert_eq!(report.failed(), 3, "{:?}", report.problems);
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert!(report.results[1].detail.contains("status 37"));
        assert!(report.results[1].detail.contains("EXCEPTION: page fault"));
    }

    fn sh(script: &'static str) -> impl FnMut(usize) -> Command {
        move |_| {
            let mut c = Command::new("sh");
            c.args(["-c", script]);
            c
        }
    }

    #[test]
    fn all_pass() {
        let report = run(
            &mut sh(
                "printf 'ktest: running 2 tests\\nktest: start x\\ntest x ... ok\\nktest: start y\\ntest y ... ok\\n2 passed, 0 failed\\n'; exit 33",
            ),
            &Options::default(),
            &mut |_| {},
        );
        assert_eq!((report.passed(), report.failed(), report.boots), (2, 0, 1));
    }

    #[test]
    fn crash_before_any_test_is_one_failure_without_relaunch() {
        let report = run(
            &mut sh("printf 'EXCEPTION: general protection\\n'; exit 37"),
            &Options::default(),
            &mut |_| {},
        );
        assert_eq!(report.boots, 1);
        assert_eq!(report.failed(), 1);
        assert!(report.problems[0].contains("status 37"));
    }

    #[test]
    fn wrong_exit_code_and_missing_tests_are_problems() {
        let report = run(
            &mut sh(
                "printf 'ktest: running 3 tests\\nktest: start x\\ntest x ... FAILED: no\\n0 passed, 1 failed\\n'; exit 33",
            ),
            &Options::default(),
            &mut |_| {},
        );
        assert_eq!(report.passed(), 0);
        // the failed test, the wrong exit code, the missing 2 results
        assert_eq!(report.failed(), 3, "{:?}", report.problems);
    }
}
