//! `cargo xtask bench NAME`: microbenchmarks that run inside the kernel under
//! QEMU, with the host side reading their results off the serial console.
//!
//! `xpc` measures cross-domain calls. The kernel, booted with `bench=xpc`
//! (and `bench.iterations=N` when asked), prints among its ordinary log lines
//!
//! ```text
//! bench-result name=NAME mode=native|isolated iterations=N median=X minimum=Y
//! bench-done
//! ```
//!
//! where X and Y are TSC ticks per call, then exits QEMU with status 33.
//!
//! Invariants:
//! - Two boots, in this order: plain TCG (ticks follow host time), then TCG
//!   with `-icount shift=0` (the guest TSC advances one tick per guest
//!   instruction, so ticks there are instructions, deterministic).
//! - A boot counts only if it printed `bench-done`, no line after it was a
//!   `bench-result`, and QEMU exited with status 33. `kernel stopped`, any other
//!   status, a timeout, a malformed or duplicate (same name and mode)
//!   `bench-result` line are errors, as is a kernel that ignored `bench=xpc`.
//! - Results keep the kernel's order; names we do not know are kept too.
//! - Nothing is written under `target/bench` unless both boots succeeded and
//!   reported every measurement in [`REQUIRED`].

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use qemu_harness::{Exit, HarnessError, Machine, Serial, Session};

use crate::args::{BenchArgs, Benchmark};

/// First word of a result line.
pub const RESULT: &str = "bench-result";
/// The line that ends the results.
pub const DONE: &str = "bench-done";

/// How a measured call crossed (or did not cross) protection domains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    /// Same address space and privilege: no domain switch.
    Native,
    /// Through the isolation manager, switching page tables.
    Isolated,
}

impl Mode {
    /// Both modes, in display order.
    pub const ALL: [Mode; 2] = [Mode::Native, Mode::Isolated];

    /// The protocol spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Native => "native",
            Mode::Isolated => "isolated",
        }
    }

    fn parse(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// One `bench-result` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Measurement name, e.g. `xpc_kernel_to_ext`.
    pub name: String,
    /// Native or isolated.
    pub mode: Mode,
    /// Calls measured.
    pub iterations: u64,
    /// Median TSC ticks per call.
    pub median: u64,
    /// Minimum TSC ticks per call.
    pub minimum: u64,
}

/// The measurements an `xpc` boot must report (others are kept if present).
pub const REQUIRED: [(&str, Mode); 5] = [
    ("direct_call", Mode::Native),
    ("xpc_kernel_to_ext", Mode::Native),
    ("xpc_kernel_to_ext", Mode::Isolated),
    ("xpc_ext_to_kernel", Mode::Native),
    ("xpc_ext_to_kernel", Mode::Isolated),
];

/// The wrapper measurements: (name, the null XPC it is compared with, how
/// many null calls it contains).
pub const WRAPPER_COSTS: [(&str, &str, u64); 5] = [
    ("wrapper_kernel_to_ext_16b", "xpc_kernel_to_ext", 1),
    ("wrapper_kernel_to_ext_4k", "xpc_kernel_to_ext", 1),
    ("wrapper_ext_to_kernel_16b", "xpc_ext_to_kernel", 1),
    ("wrapper_ext_to_kernel_4k", "xpc_ext_to_kernel", 1),
    ("wrapper_ext_to_kernel_tracked", "xpc_ext_to_kernel", 2),
];

/// The baseline every measurement is compared with.
const DIRECT: (&str, Mode) = ("direct_call", Mode::Native);

/// How a measurement name reads in the table and the chart.
pub fn label(name: &str) -> &str {
    match name {
        "direct_call" => "direct call",
        "xpc_kernel_to_ext" => "kernel -> extension",
        "xpc_ext_to_kernel" => "extension -> kernel",
        "wrapper_kernel_to_ext_16b" => "kernel -> extension, 16 B argument",
        "wrapper_kernel_to_ext_4k" => "kernel -> extension, 4 KiB argument",
        "wrapper_ext_to_kernel_16b" => "extension -> kernel, 16 B argument",
        "wrapper_ext_to_kernel_4k" => "extension -> kernel, 4 KiB argument",
        "wrapper_ext_to_kernel_tracked" => "extension -> kernel, tracked object (2 calls)",
        other => other,
    }
}

/// A non-negative decimal integer: digits only, fits in u64.
fn number(key: &str, v: &str) -> Result<u64, String> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{key}={v:?} is not a non-negative integer"));
    }
    v.parse()
        .map_err(|_| format!("{key}={v} does not fit in 64 bits"))
}

fn set<T>(slot: &mut Option<T>, key: &str, v: T) -> Result<(), String> {
    if slot.replace(v).is_some() {
        return Err(format!("{key}= given twice"));
    }
    Ok(())
}

/// Parses one `bench-result ...` line (surrounding whitespace ignored).
/// Unknown `key=value` pairs are ignored, so the kernel may add fields.
pub fn parse_result(line: &str) -> Result<Sample, String> {
    let fail = |e: String| format!("malformed bench-result line {:?}: {e}", line.trim());
    let mut words = line.split_ascii_whitespace();
    if words.next() != Some(RESULT) {
        return Err(fail(format!("does not start with `{RESULT}`")));
    }
    let (mut name, mut mode, mut iterations, mut median, mut minimum) =
        (None, None, None, None, None);
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(fail(format!("expected KEY=VALUE, got {w:?}")));
        };
        let r = match k {
            "name" => {
                let ok = !v.is_empty()
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
                if !ok {
                    return Err(fail(format!(
                        "name={v:?} is not a word of letters, digits, `_`, `-`, `.`"
                    )));
                }
                set(&mut name, k, v.to_string())
            }
            "mode" => match Mode::parse(v) {
                Some(m) => set(&mut mode, k, m),
                None => return Err(fail(format!("mode={v:?} is neither native nor isolated"))),
            },
            "iterations" => set(&mut iterations, k, number(k, v).map_err(&fail)?),
            "median" => set(&mut median, k, number(k, v).map_err(&fail)?),
            "minimum" => set(&mut minimum, k, number(k, v).map_err(&fail)?),
            _ => Ok(()),
        };
        r.map_err(&fail)?;
    }
    let missing = |k: &str| fail(format!("no {k}="));
    let s = Sample {
        name: name.ok_or_else(|| missing("name"))?,
        mode: mode.ok_or_else(|| missing("mode"))?,
        iterations: iterations.ok_or_else(|| missing("iterations"))?,
        median: median.ok_or_else(|| missing("median"))?,
        minimum: minimum.ok_or_else(|| missing("minimum"))?,
    };
    if s.iterations == 0 {
        return Err(fail("iterations=0".into()));
    }
    if s.minimum > s.median {
        return Err(fail(format!(
            "minimum={} is larger than median={}",
            s.minimum, s.median
        )));
    }
    Ok(s)
}

/// What one line of serial output meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An ordinary log line.
    Other,
    /// A result, now recorded.
    Sample(Sample),
    /// `bench-done`.
    Done,
    /// `kernel stopped`: the kernel hit a fatal fault.
    Stopped,
}

/// Reads a boot's output line by line, enforcing the protocol.
#[derive(Debug, Default)]
pub struct Collector {
    samples: Vec<Sample>,
    done: bool,
}

impl Collector {
    /// Takes one line. Errors: a malformed or duplicate result, a result after
    /// `bench-done`, a second `bench-done`, and a kernel without bench support
    /// (it warns about the unknown option, or reaches its shell).
    pub fn feed(&mut self, line: &str) -> Result<Event, String> {
        let t = line.trim();
        if t == DONE {
            if self.done {
                return Err(format!("`{DONE}` printed twice"));
            }
            self.done = true;
            return Ok(Event::Done);
        }
        if t.split_ascii_whitespace().next() == Some(RESULT) {
            if self.done {
                return Err(format!("{t:?} after `{DONE}`"));
            }
            let s = parse_result(t)?;
            if self
                .samples
                .iter()
                .any(|x| x.name == s.name && x.mode == s.mode)
            {
                return Err(format!(
                    "duplicate result for name={} mode={}: {t:?}",
                    s.name,
                    s.mode.as_str()
                ));
            }
            self.samples.push(s.clone());
            return Ok(Event::Sample(s));
        }
        if t == "kernel stopped" {
            return Ok(Event::Stopped);
        }
        if t.contains("unknown option 'bench=") {
            return Err(format!(
                "this kernel has no benchmark support: it logged {t:?} \
                 (is the kernel side of `bench` merged? with --no-build, is the ELF current?)"
            ));
        }
        if t.contains("reached shell prompt") {
            return Err(
                "the kernel booted to its shell instead of running the benchmark: \
                 it has no support for the `bench=` command-line option"
                    .into(),
            );
        }
        Ok(Event::Other)
    }

    /// True once `bench-done` was seen.
    pub fn done(&self) -> bool {
        self.done
    }

    /// The results, if `bench-done` was seen.
    pub fn finish(self) -> Result<Vec<Sample>, String> {
        if !self.done {
            return Err(format!(
                "output ended without `{DONE}` ({} result line(s) before that)",
                self.samples.len()
            ));
        }
        Ok(self.samples)
    }
}

/// Parses a whole captured output with the same [`Collector`] that
/// [`run_boot`] streams lines through (the tests' view of the protocol).
#[cfg(test)]
pub fn parse_output(text: &str) -> Result<Vec<Sample>, String> {
    let mut c = Collector::default();
    for line in text.lines() {
        if c.feed(line)? == Event::Stopped {
            return Err("the kernel stopped on a fatal fault (`kernel stopped`)".into());
        }
    }
    c.finish()
}

/// Checks that every measurement in [`REQUIRED`] is present.
pub fn check_required(samples: &[Sample]) -> Result<(), String> {
    let missing: Vec<String> = REQUIRED
        .iter()
        .filter(|(n, m)| !samples.iter().any(|s| s.name == *n && s.mode == *m))
        .map(|(n, m)| format!("{n} ({})", m.as_str()))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the kernel reported no result for {}",
            missing.join(", ")
        ))
    }
}

/// The two boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// Plain TCG: the TSC follows host time.
    Tcg,
    /// TCG with `-icount shift=0`: one TSC tick per guest instruction.
    Icount,
}

impl Clock {
    /// Both boots, in the order they run.
    pub const ALL: [Clock; 2] = [Clock::Tcg, Clock::Icount];

    /// The QEMU arguments this boot adds.
    pub fn qemu_args(self) -> &'static [&'static str] {
        match self {
            Clock::Tcg => &[],
            Clock::Icount => &["-icount", "shift=0"],
        }
    }

    /// For progress and error messages.
    pub fn label(self) -> &'static str {
        match self {
            Clock::Tcg => "TCG",
            Clock::Icount => "TCG -icount shift=0",
        }
    }

    /// For the JSON file.
    pub fn key(self) -> &'static str {
        match self {
            Clock::Tcg => "tcg",
            Clock::Icount => "icount",
        }
    }
}

/// The kernel command line of a benchmark boot.
pub fn kernel_cmdline(bench: Benchmark, iterations: Option<u64>, extra: &str) -> String {
    let mut s = format!("bench={}", bench.name());
    if let Some(n) = iterations {
        let _ = write!(s, " bench.iterations={n}");
    }
    if !extra.trim().is_empty() {
        s.push(' ');
        s.push_str(extra.trim());
    }
    s
}

/// The QEMU machine of one boot: the usual machine, `clock`'s arguments, then
/// the user's extra QEMU arguments.
pub fn machine(
    qemu: &Path,
    kernel: &Path,
    cmdline: &str,
    clock: Clock,
    extra: &[String],
) -> Machine {
    Machine::new(kernel)
        .qemu(qemu)
        .cmdline(cmdline)
        .args(clock.qemu_args().iter().copied())
        .args(extra.iter().cloned())
}

fn indented_tail(s: &Session) -> String {
    let mut t = String::from("last lines of the serial log:");
    for l in s.tail(15).lines() {
        t.push_str("\n    ");
        t.push_str(l);
    }
    t
}

/// Runs one boot to its end; `on_sample` sees each result as it arrives.
pub fn run_boot(
    cmd: Command,
    timeout: Duration,
    on_sample: &mut dyn FnMut(&Sample),
) -> Result<Vec<Sample>, String> {
    let mut s = Session::spawn(cmd).map_err(|e| format!("could not start QEMU: {e}"))?;
    s.set_deadline(Instant::now() + timeout);
    let mut c = Collector::default();
    let mut stopped = false;
    loop {
        match s.read_line(timeout) {
            Ok(Some(line)) => match c.feed(&line) {
                Ok(Event::Sample(x)) => on_sample(&x),
                Ok(Event::Stopped) => stopped = true,
                Ok(Event::Done | Event::Other) => {}
                Err(e) => {
                    s.kill();
                    return Err(format!("{e}\n{}", indented_tail(&s)));
                }
            },
            Ok(None) => break,
            Err(HarnessError::Timeout { .. }) => {
                s.kill();
                let what = if c.done() {
                    format!("QEMU did not exit after `{DONE}`")
                } else {
                    format!("no `{DONE}`")
                };
                return Err(format!(
                    "{what} within {} s; QEMU killed (raise --timeout?)\n{}",
                    timeout.as_secs(),
                    indented_tail(&s)
                ));
            }
            Err(e) => {
                s.kill();
                return Err(format!("reading QEMU output failed: {e}"));
            }
        }
    }
    let exit = match s.wait_exit(Duration::from_secs(10)) {
        Ok(Some(e)) => e,
        _ => s.kill(),
    };
    if stopped || exit == Exit::KernelStopped {
        return Err(format!(
            "the kernel stopped on a fatal fault (QEMU ended with {exit})\n{}",
            indented_tail(&s)
        ));
    }
    if !c.done() {
        return Err(format!(
            "output ended without `{DONE}` (QEMU ended with {exit})\n{}",
            indented_tail(&s)
        ));
    }
    if exit != Exit::DebugExitSuccess {
        return Err(format!(
            "QEMU ended with {exit} after `{DONE}`; expected status 33\n{}",
            indented_tail(&s)
        ));
    }
    c.finish()
}

/// Runs both boots; `launch(clock)` returns the command of one boot.
pub fn measure(
    launch: &mut dyn FnMut(Clock) -> Command,
    timeout: Duration,
) -> Result<(Vec<Sample>, Vec<Sample>), String> {
    let mut out = Vec::new();
    for (i, clock) in Clock::ALL.into_iter().enumerate() {
        let which = format!("boot {}/{} ({})", i + 1, Clock::ALL.len(), clock.label());
        crate::stage(&format!("bench: {which} ..."));
        let start = Instant::now();
        let unit = if clock == Clock::Icount {
            "instructions"
        } else {
            "ticks"
        };
        let samples = run_boot(launch(clock), timeout, &mut |x| {
            eprintln!(
                "    {} ({}): median {} {unit}/call, minimum {}, {} iterations",
                x.name,
                x.mode.as_str(),
                x.median,
                x.minimum,
                x.iterations
            );
        })
        .and_then(|s| check_required(&s).map(|()| s))
        .map_err(|e| format!("bench: {which}: {e}"))?;
        crate::stage(&format!(
            "bench: {which} done in {:.1} s",
            start.elapsed().as_secs_f64()
        ));
        out.push(samples);
    }
    let instructions = out.pop().unwrap_or_default();
    let ticks = out.pop().unwrap_or_default();
    Ok((ticks, instructions))
}

/// Everything the table, the JSON and the chart show.
#[derive(Debug, Clone)]
pub struct Report {
    /// The kernel ELF, as displayed.
    pub kernel: String,
    /// First line of `qemu --version`.
    pub qemu_version: String,
    /// UTC, ISO 8601.
    pub date: String,
    /// The kernel command line of both boots.
    pub cmdline: String,
    /// The user's extra QEMU arguments (both boots).
    pub qemu_args: Vec<String>,
    /// `--iterations`, if given.
    pub iterations_requested: Option<u64>,
    /// Boot 1 (plain TCG): TSC ticks, following host time.
    pub ticks: Vec<Sample>,
    /// Boot 2 (`-icount shift=0`): guest instructions.
    pub instructions: Vec<Sample>,
}

fn find(samples: &[Sample], name: &str, mode: Mode) -> Option<u64> {
    samples
        .iter()
        .find(|s| s.name == name && s.mode == mode)
        .map(|s| s.median)
}

fn ratio(a: Option<u64>, b: Option<u64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0 => Some(a as f64 / b as f64),
        _ => None,
    }
}

fn show_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{r:.1}x"))
}

fn show(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// What one wrapper measurement adds over its null XPC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WrapperCost<'a> {
    /// The measurement.
    pub name: &'a str,
    /// Native or isolated.
    pub mode: Mode,
    /// Instructions per call (or per round) minus the null calls'.
    pub added_instructions: Option<i64>,
    /// Ticks per call (or per round) minus the null calls'.
    pub added_ticks: Option<i64>,
}

impl Report {
    /// The wrapper measurements present, each less its null calls.
    pub fn wrapper_costs(&self) -> Vec<WrapperCost<'static>> {
        let mut costs = Vec::new();
        for (name, baseline, calls) in WRAPPER_COSTS {
            for mode in Mode::ALL {
                let added = |samples: &[Sample]| {
                    let value = find(samples, name, mode)?;
                    let null = find(samples, baseline, mode)?;
                    Some(value as i64 - (null * calls) as i64)
                };
                let (added_instructions, added_ticks) =
                    (added(&self.instructions), added(&self.ticks));
                if find(&self.instructions, name, mode).is_some()
                    || find(&self.ticks, name, mode).is_some()
                {
                    costs.push(WrapperCost {
                        name,
                        mode,
                        added_instructions,
                        added_ticks,
                    });
                }
            }
        }
        costs
    }

    /// Names in the kernel's order (first appearance, boot 1 then boot 2).
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for s in self.ticks.iter().chain(&self.instructions) {
            if !names.contains(&s.name.as_str()) {
                names.push(&s.name);
            }
        }
        names
    }

    /// Every (name, mode) measured, grouped by name, native before isolated.
    pub fn rows(&self) -> Vec<(&str, Mode)> {
        let all = || self.ticks.iter().chain(&self.instructions);
        let mut rows = Vec::new();
        for n in self.names() {
            for m in Mode::ALL {
                if all().any(|s| s.name == n && s.mode == m) {
                    rows.push((n, m));
                }
            }
        }
        rows
    }

    /// The iteration count shared by every result, if there is one.
    pub fn iterations(&self) -> Option<u64> {
        let mut it = self
            .ticks
            .iter()
            .chain(&self.instructions)
            .map(|s| s.iterations);
        let first = it.next()?;
        it.all(|n| n == first).then_some(first)
    }

    /// The table printed on stdout, ending with a newline.
    pub fn table(&self) -> String {
        let iterations = match self.iterations() {
            Some(n) => format!("{n} iterations per measurement"),
            None => "iterations per measurement vary, see xpc.json".into(),
        };
        let mut out = format!(
            "XPC microbenchmark (QEMU TCG; kernel ELF {}; {iterations})\n",
            self.kernel
        );
        let direct = find(&self.instructions, DIRECT.0, DIRECT.1);
        let mut cells: Vec<[String; 5]> = vec![[
            "measurement".into(),
            "mode".into(),
            "instructions/call".into(),
            "ticks/call (median)".into(),
            "vs direct call".into(),
        ]];
        for (n, m) in self.rows() {
            let instr = find(&self.instructions, n, m);
            cells.push([
                label(n).into(),
                m.as_str().into(),
                show(instr),
                show(find(&self.ticks, n, m)),
                show_ratio(ratio(instr, direct)),
            ]);
        }
        let mut width = [0usize; 5];
        for row in &cells {
            for (w, c) in width.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        for row in &cells {
            let mut line = String::new();
            for (i, (c, w)) in row.iter().zip(width).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                if i < 2 {
                    let _ = write!(line, "{c:<w$}");
                } else {
                    let _ = write!(line, "{c:>w$}");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        let lw = self
            .names()
            .iter()
            .map(|n| label(n).len())
            .max()
            .unwrap_or(0);
        for n in self.names() {
            let get = |s: &[Sample], m| find(s, n, m);
            let ri = ratio(
                get(&self.instructions, Mode::Isolated),
                get(&self.instructions, Mode::Native),
            );
            let rt = ratio(
                get(&self.ticks, Mode::Isolated),
                get(&self.ticks, Mode::Native),
            );
            if ri.is_some() || rt.is_some() {
                let _ = writeln!(
                    out,
                    "isolated/native  {:<lw$}  {} instructions, {} ticks",
                    label(n),
                    show_ratio(ri),
                    show_ratio(rt)
                );
            }
        }
        let costs = self.wrapper_costs();
        if !costs.is_empty() {
            let _ = writeln!(
                out,
                "\nWrapper cost over a null XPC of the same direction and mode (checks, copy, tracking):"
            );
            let lw = costs.iter().map(|c| label(c.name).len()).max().unwrap_or(0);
            let _ = writeln!(
                out,
                "{:<lw$}  {:<8}  {:>14}  {:>14}",
                "measurement", "mode", "+instructions", "+ticks"
            );
            for c in &costs {
                let signed = |v: Option<i64>| v.map_or("-".to_string(), |v| format!("{v:+}"));
                let _ = writeln!(
                    out,
                    "{:<lw$}  {:<8}  {:>14}  {:>14}",
                    label(c.name),
                    c.mode.as_str(),
                    signed(c.added_instructions),
                    signed(c.added_ticks)
                );
            }
        }
        out.push_str(
            "\ninstructions/call: guest instructions per call, median (boot 2, -icount shift=0):\n\
             \x20 exact and repeatable, but every instruction weighs the same (a CR3 write counts as one).\n\
             ticks/call: TSC ticks per call, median (boot 1, plain TCG): ticks follow host time,\n\
             \x20 so they vary between runs and hosts. Under TCG every CR3 write flushes QEMU's whole\n\
             \x20 software TLB, so isolated-mode tick figures are inflated relative to hardware.\n\
             vs direct call: instructions per call divided by the direct call's.\n",
        );
        out
    }

    /// The JSON document (pretty-printed, ending with a newline).
    pub fn json(&self) -> String {
        let num = |v: Option<u64>| v.map_or(Json::Null, Json::Num);
        let i = |n, m| num(find(&self.instructions, n, m));
        let t = |n, m| num(find(&self.ticks, n, m));
        let (k2e, e2k, direct) = ("xpc_kernel_to_ext", "xpc_ext_to_kernel", "direct_call");
        let (nat, iso) = (Mode::Native, Mode::Isolated);
        let strs = |v: &[String]| Json::Arr(v.iter().cloned().map(Json::Str).collect());
        let static_strs =
            |v: &[&str]| Json::Arr(v.iter().map(|s| Json::Str(s.to_string())).collect());
        let mut results = Vec::new();
        for (clock, samples) in [
            (Clock::Tcg, &self.ticks),
            (Clock::Icount, &self.instructions),
        ] {
            for s in samples {
                results.push(Json::Obj(vec![
                    ("boot", Json::Str(clock.key().into())),
                    ("name", Json::Str(s.name.clone())),
                    ("mode", Json::Str(s.mode.as_str().into())),
                    ("iterations", Json::Num(s.iterations)),
                    ("median", Json::Num(s.median)),
                    ("minimum", Json::Num(s.minimum)),
                ]));
            }
        }
        let boots = Clock::ALL
            .iter()
            .map(|c| {
                Json::Obj(vec![
                    ("boot", Json::Str(c.key().into())),
                    ("qemu_args", static_strs(c.qemu_args())),
                    (
                        "unit",
                        Json::Str(
                            match c {
                                Clock::Tcg => "TSC ticks per call (host time)",
                                Clock::Icount => "guest instructions per call",
                            }
                            .into(),
                        ),
                    ),
                ])
            })
            .collect();
        let signed = |v: Option<i64>| match v {
            Some(v) if v >= 0 => Json::Num(v as u64),
            Some(v) => Json::Neg(v),
            None => Json::Null,
        };
        let wrapper_costs = self
            .wrapper_costs()
            .into_iter()
            .map(|c| {
                Json::Obj(vec![
                    ("name", Json::Str(c.name.into())),
                    ("mode", Json::Str(c.mode.as_str().into())),
                    ("instructions", i(c.name, c.mode)),
                    ("ticks", t(c.name, c.mode)),
                    ("added_instructions", signed(c.added_instructions)),
                    ("added_ticks", signed(c.added_ticks)),
                ])
            })
            .collect();
        let doc = Json::Obj(vec![
            ("benchmark", Json::Str("xpc".into())),
            ("date", Json::Str(self.date.clone())),
            ("qemu_version", Json::Str(self.qemu_version.clone())),
            ("kernel", Json::Str(self.kernel.clone())),
            ("cmdline", Json::Str(self.cmdline.clone())),
            ("qemu_extra_args", strs(&self.qemu_args)),
            ("iterations", num(self.iterations())),
            ("iterations_requested", num(self.iterations_requested)),
            ("direct_call_instructions", i(direct, nat)),
            ("xpc_kernel_to_ext_instructions", i(k2e, iso)),
            ("xpc_ext_to_kernel_instructions", i(e2k, iso)),
            ("xpc_kernel_to_ext_instructions_native", i(k2e, nat)),
            ("xpc_ext_to_kernel_instructions_native", i(e2k, nat)),
            ("direct_call_ticks", t(direct, nat)),
            ("xpc_kernel_to_ext_ticks_isolated", t(k2e, iso)),
            ("xpc_ext_to_kernel_ticks_isolated", t(e2k, iso)),
            ("xpc_kernel_to_ext_ticks_native", t(k2e, nat)),
            ("xpc_ext_to_kernel_ticks_native", t(e2k, nat)),
            ("wrapper_costs", Json::Arr(wrapper_costs)),
            ("boots", Json::Arr(boots)),
            ("results", Json::Arr(results)),
        ]);
        let mut out = String::new();
        doc.write(0, &mut out);
        out.push('\n');
        out
    }

    /// A horizontal bar chart of instructions per call (boot 2), native vs
    /// isolated, as a standalone SVG document.
    pub fn svg(&self) -> String {
        const W: u64 = 820;
        const LEFT: u64 = 190;
        const PLOT: u64 = 530;
        const TOP: u64 = 84;
        const BAR: u64 = 22;
        const GAP: u64 = 4;
        const GROUP_GAP: u64 = 18;
        const COLORS: [(Mode, &str); 2] = [(Mode::Native, "#4e79a7"), (Mode::Isolated, "#e15759")];
        let color = |m: Mode| COLORS.iter().find(|(c, _)| *c == m).map_or("#888", |c| c.1);

        // Groups of bars: (label, [(mode, value)]).
        let groups: Vec<(&str, Vec<(Mode, u64)>)> = self
            .names()
            .into_iter()
            .map(|n| {
                let bars = Mode::ALL
                    .into_iter()
                    .filter_map(|m| find(&self.instructions, n, m).map(|v| (m, v)))
                    .collect();
                (label(n), bars)
            })
            .filter(|(_, b): &(&str, Vec<_>)| !b.is_empty())
            .collect();
        let max = groups
            .iter()
            .flat_map(|(_, b)| b.iter().map(|&(_, v)| v))
            .max()
            .unwrap_or(0);
        let (step, axis_max) = axis(max);
        let x = |v: u64| LEFT as f64 + v as f64 / axis_max as f64 * PLOT as f64;
        let plot_h: u64 = groups
            .iter()
            .map(|(_, b)| b.len() as u64 * (BAR + GAP) - GAP + GROUP_GAP)
            .sum::<u64>()
            .max(GROUP_GAP);
        let h = TOP + plot_h + 56;

        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" viewBox="0 0 {W} {h}" font-family="sans-serif" font-size="13">"#
        );
        let iterations = self
            .iterations()
            .map_or_else(String::new, |n| format!(", median of {n} iterations"));
        let _ = writeln!(
            s,
            "<title>XPC microbenchmark: guest instructions per call</title>\n\
             <rect width=\"{W}\" height=\"{h}\" fill=\"white\"/>\n\
             <text x=\"20\" y=\"28\" font-size=\"17\" font-weight=\"bold\">XPC: guest instructions per call (lower is better)</text>\n\
             <text x=\"20\" y=\"50\" fill=\"#555\">{}</text>",
            xml(&format!(
                "QEMU TCG -icount shift=0{iterations}; {}",
                self.qemu_version
            ))
        );
        // Legend.
        for (i, (m, c)) in COLORS.iter().enumerate() {
            let lx = LEFT + i as u64 * 110;
            let _ = writeln!(
                s,
                "<rect x=\"{lx}\" y=\"60\" width=\"14\" height=\"14\" fill=\"{c}\"/>\
                 <text x=\"{}\" y=\"72\">{}</text>",
                lx + 20,
                m.as_str()
            );
        }
        // Grid and axis labels.
        let bottom = TOP + plot_h;
        let mut v = 0;
        while v <= axis_max {
            let gx = x(v);
            let _ = writeln!(
                s,
                "<line x1=\"{gx:.1}\" y1=\"{TOP}\" x2=\"{gx:.1}\" y2=\"{bottom}\" stroke=\"#ddd\"/>\
                 <text x=\"{gx:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\">{v}</text>",
                bottom + 18
            );
            match v.checked_add(step) {
                Some(next) => v = next,
                None => break,
            }
        }
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\">guest instructions per call</text>",
            x(axis_max / 2),
            bottom + 40
        );
        // Bars.
        let mut y = TOP + GROUP_GAP / 2;
        for (name, bars) in &groups {
            let gh = bars.len() as u64 * (BAR + GAP) - GAP;
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-weight=\"bold\">{}</text>",
                LEFT - 10,
                y + gh / 2 + 5,
                xml(name)
            );
            for &(m, v) in bars {
                let w = x(v) - LEFT as f64;
                let _ = writeln!(
                    s,
                    "<rect x=\"{LEFT}\" y=\"{y}\" width=\"{w:.1}\" height=\"{BAR}\" fill=\"{}\"><title>{}</title></rect>\
                     <text x=\"{:.1}\" y=\"{}\">{v}</text>",
                    color(m),
                    xml(&format!("{name}, {}: {v} instructions/call", m.as_str())),
                    x(v) + 6.0,
                    y + BAR / 2 + 5
                );
                y += BAR + GAP;
            }
            y += GROUP_GAP - GAP;
        }
        let _ = writeln!(
            s,
            "<line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{bottom}\" stroke=\"#333\"/>"
        );
        s.push_str("</svg>\n");
        s
    }
}

/// A 1-2-5 axis for values up to `max`: (tick step, axis end), at most ~6 ticks.
fn axis(max: u64) -> (u64, u64) {
    let max = max.max(1);
    let mut mag: u64 = 1;
    loop {
        for m in [1, 2, 5] {
            let step = m * mag;
            if step.saturating_mul(5) >= max {
                return match max.div_ceil(step).checked_mul(step) {
                    Some(end) => (step, end),
                    None => (step, max),
                };
            }
        }
        match mag.checked_mul(10) {
            Some(next) if next.checked_mul(5).is_some() => mag = next,
            _ => return (max, max),
        }
    }
}

/// Escapes text for XML content and attribute values.
pub fn xml(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t') => o.push('?'),
            c => o.push(c),
        }
    }
    o
}

/// A JSON value, written by hand (xtask has no serde).
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`
    Null,
    /// A non-negative integer.
    Num(u64),
    /// A negative integer.
    Neg(i64),
    /// A string, escaped on output.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object, keys in the given order.
    Obj(Vec<(&'static str, Json)>),
}

impl Json {
    /// Appends the value, pretty-printed with two-space indentation.
    pub fn write(&self, indent: usize, out: &mut String) {
        let pad = |n: usize, out: &mut String| out.extend(std::iter::repeat_n(' ', n));
        match self {
            Json::Null => out.push_str("null"),
            Json::Num(n) => {
                let _ = write!(out, "{n}");
            }
            Json::Neg(n) => {
                let _ = write!(out, "{n}");
            }
            Json::Str(s) => json_string(s, out),
            Json::Arr(v) if v.is_empty() => out.push_str("[]"),
            Json::Arr(v) => {
                out.push_str("[\n");
                for (i, x) in v.iter().enumerate() {
                    pad(indent + 2, out);
                    x.write(indent + 2, out);
                    out.push_str(if i + 1 < v.len() { ",\n" } else { "\n" });
                }
                pad(indent, out);
                out.push(']');
            }
            Json::Obj(v) if v.is_empty() => out.push_str("{}"),
            Json::Obj(v) => {
                out.push_str("{\n");
                for (i, (k, x)) in v.iter().enumerate() {
                    pad(indent + 2, out);
                    json_string(k, out);
                    out.push_str(": ");
                    x.write(indent + 2, out);
                    out.push_str(if i + 1 < v.len() { ",\n" } else { "\n" });
                }
                pad(indent, out);
                out.push('}');
            }
        }
    }
}

/// Appends `s` as a JSON string literal.
pub fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the Unix epoch.
pub fn utc_date(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// First line of `qemu --version`.
fn qemu_version(qemu: &Path) -> String {
    match Command::new(qemu).arg("--version").output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string(),
        Ok(o) => format!(
            "unknown (`{} --version` ended with {})",
            qemu.display(),
            o.status
        ),
        Err(e) => format!("unknown (`{} --version`: {e})", qemu.display()),
    }
}

/// Where the results go: `target/bench` (respecting `CARGO_TARGET_DIR`).
fn bench_dir() -> PathBuf {
    crate::target_directory().join("bench")
}

/// Writes `xpc.json` and `xpc.svg` into `dir` (created if needed).
pub fn write_outputs(dir: &Path, r: &Report) -> Result<[PathBuf; 2], String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("could not create {}: {e}", dir.display()))?;
    let json = dir.join("xpc.json");
    let svg = dir.join("xpc.svg");
    for (p, text) in [(&json, r.json()), (&svg, r.svg())] {
        std::fs::write(p, text).map_err(|e| format!("could not write {}: {e}", p.display()))?;
    }
    Ok([json, svg])
}

/// A path for messages: relative to the workspace root when inside it.
fn shown(p: &Path) -> String {
    let root = crate::root();
    p.strip_prefix(&root).unwrap_or(p).display().to_string()
}

/// `cargo xtask bench NAME ...`
pub fn run(a: &BenchArgs) -> Result<(), String> {
    match a.benchmark {
        Benchmark::Xpc => xpc(a),
        Benchmark::Recovery => crate::bench_recovery::run(a),
        Benchmark::Net => crate::bench_net::run(a),
    }
}

fn xpc(a: &BenchArgs) -> Result<(), String> {
    let qemu = crate::ensure_qemu()?;
    let kernel = if a.no_build {
        let k = crate::kernel_path();
        if !k.is_file() {
            return Err(format!(
                "{} does not exist; run without --no-build",
                k.display()
            ));
        }
        k
    } else {
        crate::build_kernel()?
    };
    let cmdline = kernel_cmdline(a.benchmark, a.iterations, &a.cmdline);
    let qemu_version = qemu_version(&qemu);
    crate::stage(&format!(
        "bench: xpc, kernel command line {cmdline:?}, per-boot timeout {} s, {qemu_version}",
        a.timeout.as_secs()
    ));
    let (ticks, instructions) = measure(
        &mut |clock| machine(&qemu, &kernel, &cmdline, clock, &a.qemu_args).command(Serial::Piped),
        a.timeout,
    )?;
    let report = Report {
        kernel: shown(&kernel),
        qemu_version,
        date: utc_date(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        ),
        cmdline,
        qemu_args: a.qemu_args.clone(),
        iterations_requested: a.iterations,
        ticks,
        instructions,
    };
    if let Some(n) = a.iterations
        && let Some(s) = report
            .ticks
            .iter()
            .chain(&report.instructions)
            .find(|s| s.iterations != n)
    {
        eprintln!(
            "warning: asked for {n} iterations, but the kernel reports {} for {} ({})",
            s.iterations,
            s.name,
            s.mode.as_str()
        );
    }
    let [json, svg] = write_outputs(&bench_dir(), &report)?;
    print!("{}", report.table());
    println!("wrote {} and {}", shown(&json), shown(&svg));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
[    0.001000] INFO  kernel: nooks kernel booting (PVH), command line 'bench=xpc'
bench-result name=direct_call mode=native iterations=1000 median=12 minimum=10
[    0.200000] INFO  bench: some log line with bench-result inside it
bench-result name=xpc_kernel_to_ext mode=native iterations=1000 median=40 minimum=38
garbage ### = == bench-done-ish
bench-result name=xpc_kernel_to_ext mode=isolated iterations=1000 median=400 minimum=380\r
  bench-result   name=xpc_ext_to_kernel mode=native iterations=1000 median=41 minimum=39
bench-result name=xpc_ext_to_kernel mode=isolated iterations=1000 median=420 minimum=401 extra=ignored
bench-result name=future_thing mode=isolated iterations=1000 median=7 minimum=7
bench-done
";

    fn sample(name: &str, mode: Mode, median: u64) -> Sample {
        Sample {
            name: name.into(),
            mode,
            iterations: 1000,
            median,
            minimum: median / 2,
        }
    }

    #[test]
    fn parses_good_output_with_garbage_mixed_in() {
        let s = parse_output(GOOD).unwrap();
        let got: Vec<(&str, Mode, u64, u64)> = s
            .iter()
            .map(|s| (s.name.as_str(), s.mode, s.median, s.minimum))
            .collect();
        assert_eq!(
            got,
            [
                ("direct_call", Mode::Native, 12, 10),
                ("xpc_kernel_to_ext", Mode::Native, 40, 38),
                ("xpc_kernel_to_ext", Mode::Isolated, 400, 380),
                ("xpc_ext_to_kernel", Mode::Native, 41, 39),
                ("xpc_ext_to_kernel", Mode::Isolated, 420, 401),
                ("future_thing", Mode::Isolated, 7, 7),
            ]
        );
        assert!(s.iter().all(|s| s.iterations == 1000));
        assert!(check_required(&s).is_ok());
    }

    #[test]
    fn missing_bench_done_is_an_error() {
        let text = GOOD.replace("bench-done\n", "");
        let e = parse_output(&text).unwrap_err();
        assert!(e.contains("without `bench-done`"), "{e}");
        assert!(e.contains("6 result line(s)"), "{e}");
        assert!(parse_output("").is_err());
    }

    #[test]
    fn duplicate_result_is_an_error() {
        let text = GOOD.replace(
            "bench-done",
            "bench-result name=xpc_kernel_to_ext mode=native iterations=5 median=1 minimum=1\nbench-done",
        );
        let e = parse_output(&text).unwrap_err();
        assert!(
            e.contains("duplicate result for name=xpc_kernel_to_ext mode=native"),
            "{e}"
        );
        // Same name with the other mode is not a duplicate.
        let mut c = Collector::default();
        c.feed("bench-result name=a mode=native iterations=1 median=1 minimum=1")
            .unwrap();
        c.feed("bench-result name=a mode=isolated iterations=1 median=1 minimum=1")
            .unwrap();
        assert!(c.feed("bench-done").is_ok());
        assert!(c.feed("bench-done").is_err(), "second bench-done");
    }

    #[test]
    fn malformed_numbers_are_errors() {
        for bad in [
            "median=12x",
            "median=-3",
            "median=",
            "median=1.5",
            "median=+4",
            "median=99999999999999999999999",
        ] {
            let line =
                format!("bench-result name=direct_call mode=native iterations=10 {bad} minimum=1");
            let e = parse_result(&line).unwrap_err();
            assert!(e.contains("median="), "{bad}: {e}");
            // And through the whole-output parser.
            let text = GOOD.replace(
                "bench-result name=direct_call mode=native iterations=1000 median=12 minimum=10",
                &line,
            );
            assert!(parse_output(&text).is_err(), "{bad}");
        }
    }

    #[test]
    fn other_malformed_lines_are_errors() {
        let base = "bench-result name=direct_call mode=native iterations=10 median=5 minimum=4";
        assert!(parse_result(base).is_ok());
        for (bad, why) in [
            (base.replace("mode=native", "mode=fast"), "mode="),
            (base.replace("mode=native ", ""), "no mode="),
            (base.replace(" minimum=4", ""), "no minimum="),
            (
                base.replace("iterations=10", "iterations=0"),
                "iterations=0",
            ),
            (base.replace("minimum=4", "minimum=6"), "larger than median"),
            (base.replace("name=direct_call", "name=a<b"), "name="),
            (format!("{base} median=5"), "twice"),
            (format!("{base} stray"), "KEY=VALUE"),
            ("bench-result".to_string(), "no name="),
        ] {
            let e = parse_result(&bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
            let mut c = Collector::default();
            assert!(c.feed(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn result_after_done_and_stops_are_errors() {
        let text =
            format!("{GOOD}bench-result name=late mode=native iterations=1 median=1 minimum=1\n");
        assert!(
            parse_output(&text)
                .unwrap_err()
                .contains("after `bench-done`")
        );
        let text = GOOD.replace("bench-done", "KERNEL PANIC in x: y\nkernel stopped");
        assert!(parse_output(&text).unwrap_err().contains("kernel stopped"));
    }

    #[test]
    fn kernel_without_bench_support_is_recognised() {
        let mut c = Collector::default();
        let e = c
            .feed("[    0.000500] WARN  kernel: command line: unknown option 'bench=xpc' ignored")
            .unwrap_err();
        assert!(e.contains("no benchmark support"), "{e}");
        let e = Collector::default()
            .feed("[    0.9] INFO  shell: reached shell prompt in 900 ms (since ...)")
            .unwrap_err();
        assert!(e.contains("booted to its shell"), "{e}");
        // Another unknown option is not taken for a missing `bench`.
        assert_eq!(
            Collector::default().feed("command line: unknown option 'bench.foo=1' ignored"),
            Ok(Event::Other)
        );
    }

    #[test]
    fn required_measurements_are_checked() {
        let mut s = parse_output(GOOD).unwrap();
        s.retain(|s| !(s.name == "xpc_ext_to_kernel" && s.mode == Mode::Isolated));
        let e = check_required(&s).unwrap_err();
        assert_eq!(
            e,
            "the kernel reported no result for xpc_ext_to_kernel (isolated)"
        );
    }

    #[test]
    fn cmdline_and_machines() {
        assert_eq!(kernel_cmdline(Benchmark::Xpc, None, ""), "bench=xpc");
        assert_eq!(
            kernel_cmdline(Benchmark::Xpc, Some(7), " log=debug "),
            "bench=xpc bench.iterations=7 log=debug"
        );
        let extra = vec!["-device".to_string(), "e1000".to_string()];
        let q = Path::new("qemu-system-x86_64");
        let k = Path::new("/k/kernel");
        let tcg = machine(q, k, "bench=xpc", Clock::Tcg, &extra).display(Serial::Piped);
        let ic = machine(q, k, "bench=xpc", Clock::Icount, &extra).display(Serial::Piped);
        assert!(!tcg.contains("-icount"), "{tcg}");
        assert!(tcg.ends_with("-append bench=xpc -device e1000"), "{tcg}");
        assert!(
            ic.ends_with("-append bench=xpc -icount shift=0 -device e1000"),
            "{ic}"
        );
        assert!(
            bench_dir().ends_with("target/bench") || std::env::var_os("CARGO_TARGET_DIR").is_some()
        );
    }

    fn report() -> Report {
        let ticks = vec![
            sample("direct_call", Mode::Native, 310),
            sample("xpc_kernel_to_ext", Mode::Native, 900),
            sample("xpc_kernel_to_ext", Mode::Isolated, 9800),
            sample("xpc_ext_to_kernel", Mode::Isolated, 9900),
            sample("xpc_ext_to_kernel", Mode::Native, 950),
        ];
        let instructions = vec![
            sample("direct_call", Mode::Native, 40),
            sample("xpc_kernel_to_ext", Mode::Native, 120),
            sample("xpc_kernel_to_ext", Mode::Isolated, 480),
            sample("xpc_ext_to_kernel", Mode::Isolated, 500),
            sample("xpc_ext_to_kernel", Mode::Native, 125),
        ];
        Report {
            kernel: "target/x86_64-unknown-none/release/kernel".into(),
            qemu_version: "QEMU emulator version 7.2.22 (Debian \"1:7.2\")".into(),
            date: utc_date(951_827_696),
            cmdline: "bench=xpc bench.iterations=1000 note=\"a\\b\"\u{1}\n".into(),
            qemu_args: vec!["-device".into(), "e1000".into()],
            iterations_requested: Some(1000),
            ticks,
            instructions,
        }
    }

    #[test]
    fn table_layout() {
        let t = report().table();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "XPC microbenchmark (QEMU TCG; kernel ELF target/x86_64-unknown-none/release/kernel; 1000 iterations per measurement)"
        );
        assert_eq!(
            lines[1..7],
            [
                "measurement          mode      instructions/call  ticks/call (median)  vs direct call",
                "direct call          native                   40                  310            1.0x",
                "kernel -> extension  native                  120                  900            3.0x",
                "kernel -> extension  isolated                480                 9800           12.0x",
                "extension -> kernel  native                  125                  950            3.1x",
                "extension -> kernel  isolated                500                 9900           12.5x",
            ]
        );
        assert_eq!(
            lines[7..9],
            [
                "isolated/native  kernel -> extension  4.0x instructions, 10.9x ticks",
                "isolated/native  extension -> kernel  4.0x instructions, 10.4x ticks",
            ]
        );
        assert!(t.contains("flushes QEMU's whole\n  software TLB"), "{t}");
        assert!(t.contains("ticks follow host time"));
        assert!(t.contains("every instruction weighs the same"));
    }

    #[test]
    fn table_keeps_unknown_names_and_gaps() {
        let mut r = report();
        r.instructions.push(Sample {
            iterations: 5,
            ..sample("future_thing", Mode::Isolated, 77)
        });
        let t = r.table();
        assert!(t.contains("iterations per measurement vary"), "{t}");
        let row = t.lines().find(|l| l.starts_with("future_thing")).unwrap();
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells, ["future_thing", "isolated", "77", "-", "1.9x"]);
        assert!(!t.contains("isolated/native  future_thing"), "{t}");
    }

    /// A minimal JSON reader, to check the writer's output is valid JSON.
    #[derive(Debug, Clone, PartialEq)]
    enum J {
        Null,
        Bool(bool),
        Num(f64),
        Str(String),
        Arr(Vec<J>),
        Obj(Vec<(String, J)>),
    }

    impl J {
        fn get(&self, k: &str) -> Option<&J> {
            match self {
                J::Obj(v) => v.iter().find(|(x, _)| x == k).map(|(_, j)| j),
                _ => None,
            }
        }
    }

    struct P<'a>(&'a [u8], usize);

    impl P<'_> {
        fn ws(&mut self) {
            while self.1 < self.0.len() && b" \t\n\r".contains(&self.0[self.1]) {
                self.1 += 1;
            }
        }
        fn eat(&mut self, s: &str) -> Result<(), String> {
            if self.0[self.1..].starts_with(s.as_bytes()) {
                self.1 += s.len();
                Ok(())
            } else {
                Err(format!("expected {s:?} at {}", self.1))
            }
        }
        fn value(&mut self) -> Result<J, String> {
            self.ws();
            let r = match self.0.get(self.1).copied() {
                Some(b'n') => self.eat("null").map(|_| J::Null),
                Some(b't') => self.eat("true").map(|_| J::Bool(true)),
                Some(b'f') => self.eat("false").map(|_| J::Bool(false)),
                Some(b'"') => self.string().map(J::Str),
                Some(b'[') => {
                    self.1 += 1;
                    let mut v = Vec::new();
                    self.ws();
                    if self.eat("]").is_err() {
                        loop {
                            v.push(self.value()?);
                            self.ws();
                            if self.eat(",").is_err() {
                                self.eat("]")?;
                                break;
                            }
                        }
                    }
                    Ok(J::Arr(v))
                }
                Some(b'{') => {
                    self.1 += 1;
                    let mut v = Vec::new();
                    self.ws();
                    if self.eat("}").is_err() {
                        loop {
                            self.ws();
                            let k = self.string()?;
                            self.ws();
                            self.eat(":")?;
                            v.push((k, self.value()?));
                            self.ws();
                            if self.eat(",").is_err() {
                                self.eat("}")?;
                                break;
                            }
                        }
                    }
                    Ok(J::Obj(v))
                }
                Some(c) if c == b'-' || c.is_ascii_digit() => {
                    let start = self.1;
                    while self.1 < self.0.len() && b"-+.eE0123456789".contains(&self.0[self.1]) {
                        self.1 += 1;
                    }
                    std::str::from_utf8(&self.0[start..self.1])
                        .unwrap()
                        .parse()
                        .map(J::Num)
                        .map_err(|e| format!("number at {start}: {e}"))
                }
                other => Err(format!("unexpected {other:?} at {}", self.1)),
            };
            self.ws();
            r
        }
        fn string(&mut self) -> Result<String, String> {
            self.eat("\"")?;
            let mut out = Vec::new();
            loop {
                let Some(&c) = self.0.get(self.1) else {
                    return Err("unterminated string".into());
                };
                self.1 += 1;
                match c {
                    b'"' => break,
                    b'\\' => {
                        let e = self.0.get(self.1).copied().ok_or("bad escape")?;
                        self.1 += 1;
                        match e {
                            b'"' | b'\\' | b'/' => out.push(e),
                            b'n' => out.push(b'\n'),
                            b'r' => out.push(b'\r'),
                            b't' => out.push(b'\t'),
                            b'b' => out.push(8),
                            b'f' => out.push(12),
                            b'u' => {
                                let h = std::str::from_utf8(&self.0[self.1..self.1 + 4]).unwrap();
                                let c =
                                    char::from_u32(u32::from_str_radix(h, 16).unwrap()).unwrap();
                                self.1 += 4;
                                out.extend(c.to_string().bytes());
                            }
                            _ => return Err(format!("bad escape \\{}", e as char)),
                        }
                    }
                    c if c < 0x20 => return Err(format!("raw control byte {c} in string")),
                    c => out.push(c),
                }
            }
            String::from_utf8(out).map_err(|e| e.to_string())
        }
    }

    fn parse_json(s: &str) -> Result<J, String> {
        let mut p = P(s.as_bytes(), 0);
        let v = p.value()?;
        if p.1 != s.len() {
            return Err(format!("trailing text at {}", p.1));
        }
        Ok(v)
    }

    #[test]
    fn json_reader_rejects_bad_json() {
        // The checker itself must be able to fail.
        assert!(parse_json("{\"a\": 1,}").is_err());
        assert!(parse_json("{\"a\": \"x\ny\"}").is_err());
        assert!(parse_json("[1 2]").is_err());
        assert!(parse_json("{\"a\": [1, {\"b\": null}]}").is_ok());
    }

    #[test]
    fn json_has_the_agreed_keys_and_values() {
        let r = report();
        let text = r.json();
        let j = parse_json(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let num = |k: &str| match j.get(k) {
            Some(J::Num(n)) => *n,
            other => panic!("{k}: {other:?}"),
        };
        for (k, v) in [
            ("direct_call_instructions", 40.0),
            ("xpc_kernel_to_ext_instructions", 480.0),
            ("xpc_ext_to_kernel_instructions", 500.0),
            ("xpc_kernel_to_ext_instructions_native", 120.0),
            ("xpc_ext_to_kernel_instructions_native", 125.0),
            ("direct_call_ticks", 310.0),
            ("xpc_kernel_to_ext_ticks_isolated", 9800.0),
            ("xpc_ext_to_kernel_ticks_isolated", 9900.0),
            ("xpc_kernel_to_ext_ticks_native", 900.0),
            ("xpc_ext_to_kernel_ticks_native", 950.0),
            ("iterations", 1000.0),
            ("iterations_requested", 1000.0),
        ] {
            assert_eq!(num(k), v, "{k}");
        }
        assert_eq!(j.get("date"), Some(&J::Str("2000-02-29T12:34:56Z".into())));
        assert_eq!(j.get("qemu_version"), Some(&J::Str(r.qemu_version.clone())));
        assert_eq!(
            j.get("cmdline"),
            Some(&J::Str(r.cmdline.clone())),
            "escaping round trip"
        );
        let Some(J::Arr(results)) = j.get("results") else {
            panic!("no results array");
        };
        assert_eq!(results.len(), 10);
        assert_eq!(results[0].get("boot"), Some(&J::Str("tcg".into())));
        assert_eq!(results[5].get("boot"), Some(&J::Str("icount".into())));
        assert_eq!(
            results[8].get("name"),
            Some(&J::Str("xpc_ext_to_kernel".into()))
        );
        assert_eq!(results[8].get("mode"), Some(&J::Str("isolated".into())));
        assert_eq!(results[8].get("median"), Some(&J::Num(500.0)));
        assert_eq!(results[8].get("minimum"), Some(&J::Num(250.0)));
        // Missing measurements become null, not absent keys.
        let mut r = report();
        r.ticks.clear();
        let j = parse_json(&r.json()).unwrap();
        assert_eq!(j.get("direct_call_ticks"), Some(&J::Null));
    }

    #[test]
    fn json_string_escapes_everything_needed() {
        let mut s = String::new();
        json_string("a\"b\\c\nd\te\r\u{1}\u{7f}é", &mut s);
        assert_eq!(s, r#""a\"b\\c\nd\te\r\u0001\u007fé""#);
        assert_eq!(
            parse_json(&s),
            Ok(J::Str("a\"b\\c\nd\te\r\u{1}\u{7f}é".into()))
        );
    }

    /// Checks that tags nest properly; returns (element name, attributes) of
    /// every start tag, in order.
    fn xml_elements(s: &str) -> Result<Vec<(String, String)>, String> {
        let mut stack: Vec<String> = Vec::new();
        let mut out = Vec::new();
        let mut rest = s;
        let mut roots = 0;
        while let Some(i) = rest.find('<') {
            let text = &rest[..i];
            if text.contains('>') || (text.contains('&') && !text.contains(';')) {
                return Err(format!("stray markup in text {text:?}"));
            }
            if stack.is_empty() && !text.trim().is_empty() {
                return Err(format!("text outside the root: {text:?}"));
            }
            let end = rest[i..].find('>').ok_or("unclosed tag")? + i;
            let tag = &rest[i + 1..end];
            rest = &rest[end + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                match stack.pop() {
                    Some(open) if open == name.trim() => {}
                    other => return Err(format!("</{name}> closes {other:?}")),
                }
            } else {
                let self_closing = tag.ends_with('/');
                let tag = tag.trim_end_matches('/');
                let (name, attrs) = tag.split_once(' ').unwrap_or((tag, ""));
                if attrs.matches('"').count() % 2 != 0 || attrs.contains('<') {
                    return Err(format!("bad attributes in <{tag}>"));
                }
                if stack.is_empty() {
                    roots += 1;
                }
                out.push((name.to_string(), attrs.to_string()));
                if !self_closing {
                    stack.push(name.to_string());
                }
            }
        }
        if !stack.is_empty() || roots != 1 || !rest.trim().is_empty() {
            return Err(format!("unbalanced: open {stack:?}, {roots} roots"));
        }
        Ok(out)
    }

    fn attr(attrs: &str, key: &str) -> f64 {
        let k = format!("{key}=\"");
        let i = attrs
            .find(&k)
            .unwrap_or_else(|| panic!("no {key} in {attrs}"))
            + k.len();
        attrs[i..].split('"').next().unwrap().parse().unwrap()
    }

    #[test]
    fn xml_checker_rejects_bad_markup() {
        assert!(xml_elements("<svg><g></svg>").is_err());
        assert!(xml_elements("<svg><text>a -> b</text></svg>").is_err());
        assert!(xml_elements("<svg/><svg/>").is_err());
        assert!(xml_elements("<svg><rect x=\"1\"/><text>a -&gt; b</text></svg>").is_ok());
    }

    #[test]
    fn svg_is_well_formed_with_one_bar_per_measurement() {
        let r = report();
        let svg = r.svg();
        let els = xml_elements(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
        assert_eq!(els[0].0, "svg");
        assert!(els[0].1.contains("xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("kernel -&gt; extension"), "labels are escaped");
        assert!(svg.contains("Debian &quot;1:7.2&quot;"), "{svg}");
        // Bars: rects with a <title>, i.e. not self-closing, in table order.
        let bars: Vec<(f64, &str)> = els
            .iter()
            .filter(|(n, a)| n == "rect" && a.contains("height=\"22\""))
            .map(|(_, a)| {
                (
                    attr(a, "width"),
                    if a.contains("#e15759") { "iso" } else { "nat" },
                )
            })
            .collect();
        assert_eq!(bars.len(), 5, "{svg}");
        let kinds: Vec<&str> = bars.iter().map(|b| b.1).collect();
        assert_eq!(kinds, ["nat", "nat", "iso", "nat", "iso"]);
        // Widths are proportional to the values (40, 120, 480, 125, 500).
        let unit = bars[0].0 / 40.0;
        for (b, v) in bars.iter().zip([40.0, 120.0, 480.0, 125.0, 500.0]) {
            assert!((b.0 - v * unit).abs() < 0.2, "{b:?} vs {v}");
        }
        assert!(bars[4].0 <= 530.0 + 0.01, "bars fit the plot");
        for v in ["40", "120", "480", "125", "500"] {
            assert!(svg.contains(&format!(">{v}</text>")), "value label {v}");
        }
    }

    #[test]
    fn svg_with_no_data_is_still_well_formed() {
        let mut r = report();
        r.instructions.clear();
        let svg = r.svg();
        assert!(xml_elements(&svg).is_ok(), "{svg}");
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    }

    #[test]
    fn axis_steps() {
        assert_eq!(axis(0), (1, 1));
        assert_eq!(axis(500), (100, 500));
        assert_eq!(axis(501), (200, 600));
        assert_eq!(axis(9), (2, 10));
        assert_eq!(axis(12_345), (5000, 15_000));
        let (s, m) = axis(u64::MAX);
        assert!(s > 0 && m >= s);
        // Even absurd values give a finite, well-formed chart.
        let mut r = report();
        r.instructions[0].median = u64::MAX;
        assert!(xml_elements(&r.svg()).is_ok());
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc_date(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_date(951_827_696), "2000-02-29T12:34:56Z");
        assert_eq!(utc_date(1_735_689_599), "2024-12-31T23:59:59Z");
        assert_eq!(utc_date(4_107_542_400), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn writes_both_files() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let [j, s] = write_outputs(&dir.join("bench"), &report()).unwrap();
        assert!(parse_json(&std::fs::read_to_string(&j).unwrap()).is_ok());
        assert!(xml_elements(&std::fs::read_to_string(&s).unwrap()).is_ok());
        assert!(j.ends_with("bench/xpc.json") && s.ends_with("bench/xpc.svg"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    // --- Whole boots against fake kernels (`sh -c`), no QEMU. ---

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    const FAKE_RESULTS: &str = "printf '[    0.001] INFO  kernel: booting\\r\\n'; \
        printf 'bench-result name=direct_call mode=native iterations=9 median=%s minimum=1\\r\\n' \"$M\"; \
        printf 'bench-result name=xpc_kernel_to_ext mode=native iterations=9 median=20 minimum=2\\n'; \
        printf 'bench-result name=xpc_kernel_to_ext mode=isolated iterations=9 median=30 minimum=3\\n'; \
        printf 'bench-result name=xpc_ext_to_kernel mode=native iterations=9 median=21 minimum=2\\n'; \
        printf 'bench-result name=xpc_ext_to_kernel mode=isolated iterations=9 median=31 minimum=3\\n'; ";

    #[test]
    fn fake_kernel_boot_succeeds_and_streams_results() {
        let mut seen = Vec::new();
        let s = run_boot(
            sh(&format!(
                "M=10; {FAKE_RESULTS} printf 'bench-done\\n'; exit 33"
            )),
            Duration::from_secs(10),
            &mut |x| seen.push(x.name.clone()),
        )
        .unwrap();
        assert_eq!(s.len(), 5);
        assert_eq!(s[0].median, 10);
        assert_eq!(seen.len(), 5);
        assert_eq!(seen[0], "direct_call");
    }

    #[test]
    fn fake_kernel_failures_are_errors() {
        let t = Duration::from_secs(10);
        let run = |script: String, t| run_boot(sh(&script), t, &mut |_| {}).unwrap_err();
        let e = run(
            format!("M=1; {FAKE_RESULTS} printf 'bench-done\\n'; exit 0"),
            t,
        );
        assert!(e.contains("expected status 33"), "{e}");
        let e = run(format!("M=1; {FAKE_RESULTS} exit 33"), t);
        assert!(e.contains("without `bench-done`"), "{e}");
        let e = run(
            format!(
                "M=1; {FAKE_RESULTS} printf 'KERNEL PANIC in t: x\\nkernel stopped\\n'; exit 37"
            ),
            t,
        );
        assert!(
            e.contains("stopped on a fatal fault") && e.contains("KERNEL PANIC"),
            "{e}"
        );
        let e = run(
            format!("M=1x; {FAKE_RESULTS} printf 'bench-done\\n'; exit 33"),
            t,
        );
        assert!(e.contains("malformed bench-result"), "{e}");
        // A kernel that ignores the option and sits in its shell: a quick, clear error.
        let start = Instant::now();
        let e = run(
            "printf \"WARN  kernel: command line: unknown option 'bench=xpc' ignored\\n\"; sleep 30"
                .into(),
            t,
        );
        assert!(e.contains("no benchmark support"), "{e}");
        assert!(start.elapsed() < Duration::from_secs(5));
        // A hang: bounded by the timeout.
        let start = Instant::now();
        let e = run(
            format!("M=1; {FAKE_RESULTS} sleep 30"),
            Duration::from_millis(500),
        );
        assert!(e.contains("no `bench-done` within"), "{e}");
        assert!(start.elapsed() < Duration::from_secs(5));
        let e = run("exit 1".into(), t);
        assert!(
            e.contains("without `bench-done`") && e.contains("status 1"),
            "{e}"
        );
    }

    #[test]
    fn measure_runs_tcg_then_icount() {
        let mut order = Vec::new();
        let (ticks, instr) = measure(
            &mut |clock| {
                order.push(clock);
                let m = if clock == Clock::Icount { 111 } else { 222 };
                sh(&format!(
                    "M={m}; {FAKE_RESULTS} printf 'bench-done\\n'; exit 33"
                ))
            },
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(order, [Clock::Tcg, Clock::Icount]);
        assert_eq!(ticks[0].median, 222);
        assert_eq!(instr[0].median, 111);
        // A boot missing a required measurement stops the run.
        let e = measure(
            &mut |_| sh("printf 'bench-result name=direct_call mode=native iterations=1 median=1 minimum=1\\nbench-done\\n'; exit 33"),
            Duration::from_secs(10),
        )
        .unwrap_err();
        assert!(e.starts_with("bench: boot 1/2 (TCG): the kernel reported no result for xpc_kernel_to_ext (native)"), "{e}");
    }
}
