//! Workloads: what a trial runs before and after injecting, one text file
//! per extension (format in `docs/fault-injection-campaigns.md`), and how a
//! run of one is carried out over a [`Console`].
//!
//! Invariants:
//! - Parsing rejects anything it does not understand, naming the file and
//!   line; a workload that parses can be run.
//! - Answers are compared without kernel log lines (`[  12.345678] LEVEL
//!   ...`), which arrive asynchronously and would make golden comparisons
//!   flaky.
//! - A run stops at the first failed step; the console's own failures
//!   (output ended, timeout) are reported as such, never as a failed
//!   expectation, so the classifier can tell a crash from a wrong answer.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::trial::fnv1a;

/// Where a workload file of extension `name` is looked for, in order: next
/// to the extension's crate, then among the runner's own (placeholders for
/// extensions still being written).
pub fn candidate_paths(root: &Path, name: &str) -> [PathBuf; 2] {
    [
        root.join("extensions").join(name).join("workload.txt"),
        root.join("fault-injection/workloads")
            .join(format!("{name}.txt")),
    ]
}

/// One step of a workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send a shell command; its answer becomes the current answer. With
    /// `if_supported`, an answer starting `usage:` or `unknown command`
    /// in the golden run skips it (and the checks up to the next
    /// command) in both runs.
    Run {
        /// The command line.
        command: String,
        /// `run-if-supported`.
        if_supported: bool,
    },
    /// Send a shell command again and again (every half second) until its
    /// answer contains `until`, within the step timeout; the last answer
    /// becomes the current answer.
    RunUntil {
        /// The text waited for.
        until: String,
        /// The command line.
        command: String,
    },
    /// The current answer contains the text.
    Expect(String),
    /// The current answer does not contain the text.
    ExpectNot(String),
    /// The word after `after` in the current answer, kept as `name` and
    /// compared with the golden run's.
    Capture {
        /// Capture name.
        name: String,
        /// The text the word follows.
        after: String,
    },
    /// A digest of the whole current answer, kept as `name`.
    Digest(String),
    /// Wait until the text appears on the console (e.g. a log line).
    WaitFor(String),
    /// An HTTP GET from the host through a forwarded port; the answer is
    /// the status line, an empty line and the body.
    HttpGet {
        /// Network card (0: e1000, 1: pcnet).
        card: usize,
        /// Guest port (declared with `forward`).
        port: u16,
        /// Request path, starting with `/`.
        path: String,
    },
}

/// A parsed workload file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// The file it came from.
    pub path: PathBuf,
    /// The longest per-step timeout (`timeout SECS`; default 20 s): how
    /// long the runner waits for the extension to come back after a fault.
    pub timeout: Duration,
    /// Each step's timeout (`timeout SECS` applies to the steps after it),
    /// one per entry of `steps`.
    pub step_timeouts: Vec<Duration>,
    /// Extensions loaded (isolated, in both modes) before the one under test.
    pub with: Vec<String>,
    /// TCP forwards (card, guest port) the runner gives host ports.
    pub forwards: Vec<(usize, u16)>,
    /// `pending REASON`: the workload cannot run yet.
    pub pending: Option<String>,
    /// `echo-server`: the runner serves a TCP echo server on the host,
    /// reached from the guest as 10.0.2.2:`{echo-port}`.
    pub echo_server: bool,
    /// The steps with their line numbers.
    pub steps: Vec<(usize, Step)>,
}

/// The default per-step timeout.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(20);

impl Workload {
    /// Parses workload text; `path` is used in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Workload, String> {
        let mut workload = Workload {
            path: path.to_path_buf(),
            timeout: DEFAULT_STEP_TIMEOUT,
            step_timeouts: Vec::new(),
            with: Vec::new(),
            forwards: Vec::new(),
            pending: None,
            echo_server: false,
            steps: Vec::new(),
        };
        let mut have_answer = false;
        let mut names: Vec<String> = Vec::new();
        let mut step_timeout = DEFAULT_STEP_TIMEOUT;
        let mut longest: Option<Duration> = None;
        for (index, raw) in text.lines().enumerate() {
            let number = index + 1;
            let fail = |why: String| format!("{}:{number}: {why}", path.display());
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (directive, rest) = match line.split_once(char::is_whitespace) {
                Some((directive, rest)) => (directive, rest.trim()),
                None => (line, ""),
            };
            let need_rest = |what: &str| {
                if rest.is_empty() {
                    Err(fail(format!("`{directive}` needs {what}")))
                } else {
                    Ok(rest.to_string())
                }
            };
            let need_answer = || {
                if have_answer {
                    Ok(())
                } else {
                    Err(fail(format!(
                        "`{directive}` before any `run`, `run-until` or `http-get`: there is no answer to check"
                    )))
                }
            };
            let mut new_name = |name: &str| {
                let valid = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !valid {
                    return Err(fail(format!("capture name {name:?} is not a word")));
                }
                if names.iter().any(|n| n == name) {
                    return Err(fail(format!("capture name {name:?} used twice")));
                }
                names.push(name.to_string());
                Ok(name.to_string())
            };
            let step = match directive {
                "timeout" => {
                    match rest.parse::<u64>() {
                        Ok(seconds) if seconds > 0 => step_timeout = Duration::from_secs(seconds),
                        _ => {
                            return Err(fail(format!(
                                "timeout {rest:?} is not a positive number of seconds"
                            )));
                        }
                    }
                    continue;
                }
                "with" => {
                    workload.with.push(need_rest("an extension name")?);
                    continue;
                }
                "pending" => {
                    workload.pending = Some(need_rest("a reason")?);
                    continue;
                }
                "forward" => {
                    let words: Vec<&str> = rest.split_whitespace().collect();
                    let parsed = match words[..] {
                        [card, port] => card
                            .parse::<usize>()
                            .ok()
                            .filter(|c| *c < 2)
                            .zip(port.parse::<u16>().ok().filter(|p| *p > 0)),
                        _ => None,
                    };
                    let Some(forward) = parsed else {
                        return Err(fail("`forward CARD PORT` expects card 0 (e1000) or 1 (pcnet) and a guest port".into()));
                    };
                    workload.forwards.push(forward);
                    continue;
                }
                "echo-server" if rest.is_empty() => {
                    workload.echo_server = true;
                    continue;
                }
                "run-until" => {
                    let Some((until, command)) = rest.split_once(" :: ") else {
                        return Err(fail(
                            "`run-until TEXT :: COMMAND` needs a text, ` :: ` and a command".into(),
                        ));
                    };
                    let (until, command) = (until.trim(), command.trim());
                    if until.is_empty() || command.is_empty() {
                        return Err(fail(
                            "`run-until TEXT :: COMMAND` needs a text, ` :: ` and a command".into(),
                        ));
                    }
                    have_answer = true;
                    Step::RunUntil {
                        until: until.to_string(),
                        command: command.to_string(),
                    }
                }
                "run" | "run-if-supported" => {
                    have_answer = true;
                    Step::Run {
                        command: need_rest("a shell command")?,
                        if_supported: directive == "run-if-supported",
                    }
                }
                "expect" => {
                    need_answer()?;
                    Step::Expect(need_rest("a text")?)
                }
                "expect-not" => {
                    need_answer()?;
                    Step::ExpectNot(need_rest("a text")?)
                }
                "capture" => {
                    need_answer()?;
                    let Some((name, after)) = rest.split_once(char::is_whitespace) else {
                        return Err(fail("`capture NAME AFTER` needs a name and a text".into()));
                    };
                    Step::Capture {
                        name: new_name(name)?,
                        after: after.trim().to_string(),
                    }
                }
                "digest" => {
                    need_answer()?;
                    Step::Digest(new_name(rest)?)
                }
                "wait-for" => Step::WaitFor(need_rest("a text")?),
                "http-get" => {
                    let words: Vec<&str> = rest.split_whitespace().collect();
                    let parsed = match words[..] {
                        [card, port, path] if path.starts_with('/') => card
                            .parse::<usize>()
                            .ok()
                            .zip(port.parse::<u16>().ok())
                            .map(|(card, port)| (card, port, path.to_string())),
                        _ => None,
                    };
                    let Some((card, port, path)) = parsed else {
                        return Err(fail(
                            "`http-get CARD PORT /PATH` expects a card, a guest port and a path"
                                .into(),
                        ));
                    };
                    if !workload.forwards.contains(&(card, port)) {
                        return Err(fail(format!(
                            "`http-get {card} {port}` needs `forward {card} {port}` above it"
                        )));
                    }
                    have_answer = true;
                    Step::HttpGet { card, port, path }
                }
                other => {
                    return Err(fail(format!(
                        "unknown directive `{other}` (timeout, with, forward, echo-server, pending, run, run-if-supported, run-until, expect, expect-not, capture, digest, wait-for, http-get)"
                    )));
                }
            };
            workload.steps.push((number, step));
            workload.step_timeouts.push(step_timeout);
            longest = longest.max(Some(step_timeout));
        }
        workload.timeout = longest.unwrap_or(step_timeout);
        if workload.pending.is_none()
            && !workload.steps.iter().any(|(_, s)| {
                matches!(
                    s,
                    Step::Run { .. } | Step::RunUntil { .. } | Step::HttpGet { .. }
                )
            })
        {
            return Err(format!(
                "{}: no `run` or `http-get` step: the workload does nothing",
                path.display()
            ));
        }
        Ok(workload)
    }

    /// Reads and parses the workload of extension `name`.
    pub fn load(root: &Path, name: &str) -> Result<Workload, String> {
        let candidates = candidate_paths(root, name);
        for path in &candidates {
            if let Ok(text) = std::fs::read_to_string(path) {
                // Named relative to the repository in messages and records.
                return Workload::parse(path.strip_prefix(root).unwrap_or(path), &text);
            }
        }
        Err(format!(
            "extension `{name}` has no workload: write {} (see docs/fault-injection-campaigns.md)",
            candidates[0]
                .strip_prefix(root)
                .unwrap_or(&candidates[0])
                .display()
        ))
    }
}

/// Whether a console line is a kernel log line (`[    1.234567] LEVEL ...`).
pub fn is_log_line(line: &str) -> bool {
    let Some(rest) = line.strip_prefix('[') else {
        return false;
    };
    let Some((stamp, _)) = rest.split_once("] ") else {
        return false;
    };
    let stamp = stamp.trim();
    !stamp.is_empty()
        && stamp.contains('.')
        && stamp.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// An answer without kernel log lines and trailing whitespace.
pub fn clean_answer(answer: &str) -> String {
    let mut out: Vec<&str> = answer.lines().filter(|l| !is_log_line(l)).collect();
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    out.join("\n")
}

/// Whether an answer says the shell does not know the command.
pub fn is_unsupported_answer(answer: &str) -> bool {
    let first = answer.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    first.starts_with("usage:") || first.starts_with("unknown command '")
}

/// How talking to the kernel failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleError {
    /// QEMU's output ended (the kernel stopped or QEMU exited).
    Exited,
    /// Nothing came within the timeout.
    Timeout,
    /// Anything else (I/O, the host side of an HTTP fetch, ...).
    Other(String),
}

/// The kernel as a workload sees it.
pub trait Console {
    /// Runs a shell command; returns its answer.
    fn command(&mut self, line: &str, timeout: Duration) -> Result<String, ConsoleError>;
    /// Waits until `text` appears on the console.
    fn wait_for(&mut self, text: &str, timeout: Duration) -> Result<(), ConsoleError>;
    /// Fetches `path` from guest port `port` through card `card`'s forward.
    fn http_get(
        &mut self,
        card: usize,
        port: u16,
        path: &str,
        timeout: Duration,
    ) -> Result<String, ConsoleError>;
}

/// The result of one run of a workload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkloadRun {
    /// The first failed expectation (`file:line: what`), if any.
    pub failure: Option<String>,
    /// The console failed (the run stopped there).
    pub console_error: Option<ConsoleError>,
    /// Captured values, in order.
    pub captures: Vec<(String, String)>,
    /// Line numbers of `run-if-supported` steps the kernel does not support.
    pub unsupported: Vec<usize>,
}

impl WorkloadRun {
    /// Every step held.
    pub fn passed(&self) -> bool {
        self.failure.is_none() && self.console_error.is_none()
    }

    /// Captures that differ from `golden`'s: `name: golden -> now`.
    pub fn differences(&self, golden: &WorkloadRun) -> Vec<String> {
        golden
            .captures
            .iter()
            .filter_map(|(name, before)| {
                let now = self
                    .captures
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v);
                match now {
                    Some(now) if now == before => None,
                    Some(now) => Some(format!("{name}: {before} -> {now}")),
                    None => Some(format!("{name}: {before} -> (not captured)")),
                }
            })
            .collect()
    }
}

/// Runs `workload` over `console`. `golden` is the fault-free run the
/// kernel gave before (its unsupported steps are skipped without being
/// sent); `None` makes this run the golden one.
pub fn execute(
    workload: &Workload,
    console: &mut dyn Console,
    golden: Option<&WorkloadRun>,
) -> WorkloadRun {
    let mut run = WorkloadRun::default();
    let mut answer = String::new();
    let mut skipping = false;
    for ((line, step), &timeout) in workload.steps.iter().zip(&workload.step_timeouts) {
        let fail = |why: String| format!("{}:{line}: {why}", workload.path.display());
        let result: Result<(), String> = match step {
            Step::Run {
                command,
                if_supported,
            } => {
                skipping = false;
                if *if_supported && golden.is_some_and(|g| g.unsupported.contains(line)) {
                    skipping = true;
                    continue;
                }
                match console.command(command, timeout) {
                    Ok(text) => {
                        answer = clean_answer(&text);
                        if *if_supported && golden.is_none() && is_unsupported_answer(&answer) {
                            run.unsupported.push(*line);
                            skipping = true;
                        }
                        Ok(())
                    }
                    Err(error) => {
                        run.console_error = Some(error);
                        return run;
                    }
                }
            }
            _ if skipping => continue,
            Step::RunUntil { until, command } => {
                let started = std::time::Instant::now();
                loop {
                    match console.command(command, timeout) {
                        Ok(text) => answer = clean_answer(&text),
                        Err(error) => {
                            run.console_error = Some(error);
                            return run;
                        }
                    }
                    if answer.contains(until.as_str()) {
                        break Ok(());
                    }
                    if started.elapsed() >= timeout {
                        break Err(fail(format!(
                            "`{command}` did not answer {until:?} within {} s; last answer {:?}",
                            timeout.as_secs(),
                            shorten(&answer)
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
            Step::HttpGet { card, port, path } => {
                match console.http_get(*card, *port, path, timeout) {
                    Ok(text) => {
                        answer = text;
                        Ok(())
                    }
                    Err(ConsoleError::Other(why)) => Err(fail(format!("http-get {path}: {why}"))),
                    Err(error) => {
                        run.console_error = Some(error);
                        return run;
                    }
                }
            }
            Step::WaitFor(text) => match console.wait_for(text, timeout) {
                Ok(()) => Ok(()),
                Err(ConsoleError::Timeout) => Err(fail(format!(
                    "{text:?} did not appear within {} s",
                    timeout.as_secs()
                ))),
                Err(error) => {
                    run.console_error = Some(error);
                    return run;
                }
            },
            Step::Expect(text) => {
                if answer.contains(text.as_str()) {
                    Ok(())
                } else {
                    Err(fail(format!(
                        "expected {text:?} in the answer {:?}",
                        shorten(&answer)
                    )))
                }
            }
            Step::ExpectNot(text) => {
                if answer.contains(text.as_str()) {
                    Err(fail(format!(
                        "did not expect {text:?} in the answer {:?}",
                        shorten(&answer)
                    )))
                } else {
                    Ok(())
                }
            }
            Step::Capture { name, after } => match answer.find(after.as_str()) {
                Some(at) => {
                    let word: String = answer[at + after.len()..]
                        .chars()
                        .take_while(|c| !c.is_whitespace())
                        .collect();
                    run.captures.push((name.clone(), word));
                    Ok(())
                }
                None => Err(fail(format!(
                    "capture {name}: no {after:?} in the answer {:?}",
                    shorten(&answer)
                ))),
            },
            Step::Digest(name) => {
                run.captures
                    .push((name.clone(), format!("{:016x}", fnv1a(answer.as_bytes()))));
                Ok(())
            }
        };
        if let Err(why) = result {
            run.failure = Some(why);
            return run;
        }
    }
    run
}

/// At most 160 characters of `text`, for messages.
fn shorten(text: &str) -> String {
    let mut out: String = text.chars().take(160).collect();
    if out.len() < text.len() {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    fn parse(text: &str) -> Result<Workload, String> {
        Workload::parse(Path::new("w.txt"), text)
    }

    /// Answers commands from a script of (command, answer) pairs.
    struct ScriptedConsole {
        answers: VecDeque<(&'static str, Result<&'static str, ConsoleError>)>,
        sent: Vec<String>,
    }

    impl Console for ScriptedConsole {
        fn command(&mut self, line: &str, _: Duration) -> Result<String, ConsoleError> {
            self.sent.push(line.to_string());
            let (expected, answer) = self.answers.pop_front().expect("an answer is scripted");
            assert_eq!(line, expected);
            answer.map(str::to_string)
        }
        fn wait_for(&mut self, text: &str, _: Duration) -> Result<(), ConsoleError> {
            if text == "never" {
                Err(ConsoleError::Timeout)
            } else {
                Ok(())
            }
        }
        fn http_get(
            &mut self,
            _: usize,
            _: u16,
            path: &str,
            _: Duration,
        ) -> Result<String, ConsoleError> {
            Ok(format!("HTTP/1.0 200 OK\n\nbody of {path}"))
        }
    }

    fn console(
        answers: Vec<(&'static str, Result<&'static str, ConsoleError>)>,
    ) -> ScriptedConsole {
        ScriptedConsole {
            answers: answers.into(),
            sent: Vec::new(),
        }
    }

    const CHECKSUM: &str = "\
# a comment
timeout 5
run ext list
expect running
run-if-supported ext call crashtest checksum 1 2 3
expect value=0x
capture checksum value=
run uptime
expect up
";

    #[test]
    fn a_workload_parses_into_settings_and_numbered_steps() {
        let w = parse("with e1000\nforward 0 80\ntimeout 7\nrun ping 10.0.2.2 3\nexpect 3 received\ndigest reply\nhttp-get 0 80 /index.html\nexpect-not 404\nwait-for dhcp: bound\n").unwrap();
        assert_eq!(w.timeout, Duration::from_secs(7));
        assert_eq!(w.with, ["e1000"]);
        assert_eq!(w.forwards, [(0, 80)]);
        assert_eq!(w.steps.len(), 6);
        assert_eq!(
            w.steps[0],
            (
                4,
                Step::Run {
                    command: "ping 10.0.2.2 3".into(),
                    if_supported: false
                }
            )
        );
        assert_eq!(
            w.steps[3].1,
            Step::HttpGet {
                card: 0,
                port: 80,
                path: "/index.html".into()
            }
        );
        assert_eq!(w.steps[5].1, Step::WaitFor("dhcp: bound".into()));
        assert!(w.step_timeouts.iter().all(|t| *t == Duration::from_secs(7)));
    }

    #[test]
    fn a_timeout_applies_to_the_steps_after_it() {
        let w = parse("run a\ntimeout 5\nrun b\nexpect x\ntimeout 40\nrun c\ntimeout 2\nrun d\n")
            .unwrap();
        let seconds: Vec<u64> = w.step_timeouts.iter().map(|t| t.as_secs()).collect();
        assert_eq!(seconds, [20, 5, 5, 40, 2]);
        assert_eq!(w.timeout, Duration::from_secs(40), "the longest");
        assert_eq!(
            parse("timeout 3\nrun a\n").unwrap().timeout,
            Duration::from_secs(3)
        );
    }

    #[test]
    fn bad_workloads_name_the_file_and_line() {
        for (text, needle) in [
            ("expect x\nrun uptime\n", "w.txt:1: `expect` before any"),
            (
                "run uptime\nfrobnicate\n",
                "w.txt:2: unknown directive `frobnicate`",
            ),
            ("run uptime\ncapture a x\ncapture a y\n", "used twice"),
            ("timeout 0\nrun uptime\n", "positive number"),
            ("http-get 0 80 /\n", "needs `forward 0 80`"),
            ("forward 2 80\n", "card 0 (e1000) or 1 (pcnet)"),
            ("# nothing\n", "does nothing"),
            ("run\n", "needs a shell command"),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains(needle), "{text:?}: {error}");
            assert!(!error.contains('\n'));
        }
        assert!(
            parse("pending the e1000 driver\n")
                .unwrap()
                .pending
                .is_some()
        );
    }

    #[test]
    fn log_lines_are_dropped_from_answers() {
        assert!(is_log_line("[    0.029149] WARN  nim::services: x"));
        assert!(!is_log_line("[x] not a log"));
        assert!(!is_log_line("NAME MODE"));
        assert_eq!(
            clean_answer("a\n[    1.000001] INFO  nim: restarted\nb\n\n"),
            "a\nb"
        );
    }

    #[test]
    fn a_golden_run_captures_values_and_notes_unsupported_steps() {
        let w = parse(CHECKSUM).unwrap();
        let mut c = console(vec![
            ("ext list", Ok("crashtest isolated running\n")),
            (
                "ext call crashtest checksum 1 2 3",
                Ok("usage: ext list | load NAME\n"),
            ),
            ("uptime", Ok("up 1.000 s\n")),
        ]);
        let golden = execute(&w, &mut c, None);
        assert!(golden.passed(), "{golden:?}");
        assert_eq!(golden.unsupported, [5]);
        assert!(golden.captures.is_empty(), "skipped checks capture nothing");
        // The post-injection run does not even send the unsupported command.
        let mut c = console(vec![
            ("ext list", Ok("crashtest isolated running\n")),
            ("uptime", Ok("up 2.000 s\n")),
        ]);
        let after = execute(&w, &mut c, Some(&golden));
        assert!(after.passed());
        assert_eq!(c.sent, ["ext list", "uptime"]);
    }

    #[test]
    fn captures_are_compared_with_the_golden_run() {
        let w = parse(CHECKSUM).unwrap();
        let answers = |value: &'static str| {
            vec![
                ("ext list", Ok("crashtest running")),
                ("ext call crashtest checksum 1 2 3", Ok(value)),
                ("uptime", Ok("up 3 s")),
            ]
        };
        let golden = execute(
            &w,
            &mut console(answers("crashtest: value=0x1234 calls=3")),
            None,
        );
        assert_eq!(
            golden.captures,
            [("checksum".to_string(), "0x1234".to_string())]
        );
        let same = execute(
            &w,
            &mut console(answers("[ 1.5] INFO  x\ncrashtest: value=0x1234")),
            Some(&golden),
        );
        assert!(same.differences(&golden).is_empty());
        let corrupt = execute(
            &w,
            &mut console(answers("crashtest: value=0x9999")),
            Some(&golden),
        );
        assert!(corrupt.passed());
        assert_eq!(corrupt.differences(&golden), ["checksum: 0x1234 -> 0x9999"]);
    }

    #[test]
    fn failed_expectations_and_console_errors_are_kept_apart() {
        let w = parse(CHECKSUM).unwrap();
        let wrong = execute(
            &w,
            &mut console(vec![("ext list", Ok("crashtest stopped"))]),
            None,
        );
        assert!(
            wrong
                .failure
                .as_deref()
                .unwrap()
                .starts_with("w.txt:4: expected \"running\"")
        );
        assert_eq!(wrong.console_error, None);
        let died = execute(
            &w,
            &mut console(vec![("ext list", Err(ConsoleError::Exited))]),
            None,
        );
        assert_eq!(died.console_error, Some(ConsoleError::Exited));
        assert_eq!(died.failure, None);
        let w = parse("wait-for never\nrun uptime\n").unwrap();
        let waited = execute(&w, &mut console(vec![]), None);
        assert!(waited.failure.unwrap().contains("did not appear"));
    }

    #[test]
    fn digests_and_http_answers_work_together() {
        let w = parse("forward 1 80\nhttp-get 1 80 /a\nexpect 200 OK\ndigest page\n").unwrap();
        let run = execute(&w, &mut console(vec![]), None);
        assert!(run.passed(), "{run:?}");
        assert_eq!(run.captures[0].0, "page");
        assert_eq!(run.captures[0].1.len(), 16);
    }

    #[test]
    fn run_until_repeats_a_command_until_its_answer_holds() {
        let w = parse(
            "timeout 5\necho-server\nrun-until inet 10.0.2.15/24 :: ifconfig\nexpect e1000-0\n",
        )
        .unwrap();
        assert!(w.echo_server);
        assert_eq!(
            w.steps[0].1,
            Step::RunUntil {
                until: "inet 10.0.2.15/24".into(),
                command: "ifconfig".into()
            }
        );
        let mut c = console(vec![
            (
                "ifconfig",
                Ok("e1000-0: mac 52:54:00:12:34:56\n    inet none (waiting for a DHCP lease)"),
            ),
            (
                "ifconfig",
                Ok("e1000-0: mac 52:54:00:12:34:56\n    inet 10.0.2.15/24 gateway 10.0.2.2"),
            ),
        ]);
        let run = execute(&w, &mut c, None);
        assert!(run.passed(), "{run:?}");
        assert_eq!(c.sent.len(), 2);
        let w = parse("timeout 1\nrun-until never :: ifconfig\n").unwrap();
        let mut c = console(vec![
            ("ifconfig", Ok("a")),
            ("ifconfig", Ok("b")),
            ("ifconfig", Ok("c")),
        ]);
        let run = execute(&w, &mut c, None);
        assert!(
            run.failure
                .unwrap()
                .contains("did not answer \"never\" within 1 s; last answer")
        );
        assert!(
            parse("run-until ifconfig\n")
                .unwrap_err()
                .contains("` :: `")
        );
    }

    #[test]
    fn unsupported_answers_are_recognised() {
        assert!(is_unsupported_answer("usage: ext list | ..."));
        assert!(is_unsupported_answer(
            "\nunknown command 'ping' (type 'help')"
        ));
        assert!(!is_unsupported_answer("ping: 3 replies"));
    }

    #[test]
    fn bundled_workload_files_parse() {
        let root = crate::root();
        for name in ["crashtest", "rtc", "template", "e1000", "pcnet", "httpd"] {
            let workload = Workload::load(&root, name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(workload.pending, None, "{name}");
            let next_to_the_crate = workload.path.starts_with("extensions");
            assert_eq!(
                next_to_the_crate,
                !["rtc", "template"].contains(&name),
                "{name}: {}",
                workload.path.display()
            );
        }
        let httpd = Workload::load(&root, "httpd").unwrap();
        assert_eq!(httpd.with, ["e1000"]);
        assert_eq!(httpd.forwards, [(0, 80)]);
        for name in ["e1000", "pcnet"] {
            assert!(Workload::load(&root, name).unwrap().echo_server, "{name}");
        }
        assert!(
            Workload::load(&root, "no-such-extension")
                .unwrap_err()
                .contains("has no workload")
        );
    }
}
