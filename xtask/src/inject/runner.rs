//! Running trials under QEMU: boots, the trial procedure, boot reuse and
//! the pool of parallel workers.
//!
//! Invariants:
//! - Every wait is bounded (the boot timeout, the workload's step timeout,
//!   the campaign's command timeout); a QEMU that outlives its trial is
//!   killed (a [`Session`] kills its child when dropped).
//! - Every boot starts with `nim.autoload=0`: the runner loads exactly the
//!   extensions a trial needs, the one under test in the trial's mode.
//! - Native trials always boot fresh and never leave their boot to another
//!   trial. An isolated trial leaves its boot to the next isolated trial of
//!   the same extension only if the kernel answered to the end and the
//!   extension unloaded cleanly; a golden run that fails in a reused boot is
//!   retried once in a fresh boot.
//! - A command's answer is the text between its echo and the next prompt
//!   (prompts redrawn after log lines are not answers).
//! - A workload that failed while the kernel detected a fault in the
//!   isolated extension runs once more after the extension is running
//!   again; fail points are followed by a restart of the extension.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use qemu_harness::{HarnessError, Machine, NetworkForward, Serial, Session};

use super::classify::{KernelEnd, Observation, Outcome, classify};
use super::faults::Layer;
use super::protocol::{CrashAnswer, InjectAnswer, InjectStatus, LogFindings, parse_crash_answer};
use super::record::{FaultRecord, TrialRecord};
use super::trial::{Mode, TrialSpec};
use super::workload::{self, Console, ConsoleError, Workload};

/// What every trial of a campaign shares.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// The emulator.
    pub qemu: PathBuf,
    /// The kernel ELF.
    pub kernel: PathBuf,
    /// Digest of the kernel ELF.
    pub build: String,
    /// How long a command may take before the trial is a hang.
    pub command_timeout: Duration,
    /// How long a boot may take to reach the prompt.
    pub boot_timeout: Duration,
    /// More kernel command line.
    pub cmdline: String,
    /// Where logs go (`DIR/logs/...`); also named in reproduce commands.
    pub out: PathBuf,
    /// Isolated trials may share boots.
    pub reuse_boots: bool,
    /// Guest TCP ports (card, port) every boot forwards (the union of the
    /// workloads' `forward` lines).
    pub forwards: Vec<(usize, u16)>,
    /// The host echo server's port (`{echo-port}` in workload commands).
    pub echo_port: Option<u16>,
}

/// Starts a TCP echo server on 127.0.0.1 (guests reach it as
/// 10.0.2.2:PORT) for the rest of the process; each connection is served on
/// its own thread until the peer closes or 30 s pass without data.
pub fn start_echo_server() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("echo server: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("echo server: {e}"))?
        .port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
                let mut buffer = vec![0u8; 64 * 1024];
                while let Ok(count) = stream.read(&mut buffer) {
                    if count == 0 || stream.write_all(&buffer[..count]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    Ok(port)
}

/// The command that re-runs trial `id` with results in `out`.
pub fn reproduce_command(id: &str, out: &Path) -> String {
    let out = out.display().to_string();
    let quoted = if out.contains(|c: char| c.is_whitespace() || "'\"$`\\".contains(c)) {
        format!("'{}'", out.replace('\'', "'\\''"))
    } else {
        out
    };
    format!("cargo xtask inject --reproduce {id} --out {quoted}")
}

/// A file name for trial `id`'s log.
pub fn log_file_name(id: &str) -> String {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.=".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("logs/{safe}.log")
}

/// A free TCP port on 127.0.0.1 (the OS picks it; it is released at once,
/// so QEMU can take it).
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free TCP port on 127.0.0.1: {e}"))
}

/// The end of the echo of command `line`: the line and its newline, or the
/// line with one character missing. The shell echoes a typed character
/// before it records it as typed, so a log line printed in between draws
/// the input line again without that character, and the rest of the echo
/// follows the redrawn (shorter) line.
pub fn echo_patterns(line: &str) -> Vec<String> {
    let mut patterns = vec![format!("{line}\n")];
    for (at, c) in line.char_indices() {
        let shorter = format!("{}{}\n", &line[..at], &line[at + c.len_utf8()..]);
        if shorter.len() > 1 && !patterns.contains(&shorter) {
            patterns.push(shorter);
        }
    }
    patterns
}

/// How long an answer of log lines only waits for the command's echo to
/// follow (see [`Boot`]'s `command`).
const REDRAW_GRACE: Duration = Duration::from_millis(200);

/// One running kernel.
pub struct Boot {
    session: Session,
    /// (card, guest port, host port).
    forwards: Vec<(usize, u16, u16)>,
    /// Trials run in it so far.
    trials: usize,
    /// Helper extensions (`with`) already loaded.
    helpers: Vec<String>,
    /// Where the current trial's part of the transcript starts.
    trial_start: usize,
    /// The host echo server's port.
    echo_port: Option<u16>,
}

impl Boot {
    /// Boots QEMU and waits for the first prompt.
    pub fn start(config: &RunnerConfig) -> Result<Boot, String> {
        let mut forwards = Vec::new();
        let mut machine_forwards = Vec::new();
        for &(card, guest_port) in &config.forwards {
            let host_port = free_port()?;
            forwards.push((card, guest_port, host_port));
            machine_forwards.push(NetworkForward {
                card,
                host_port,
                guest_port,
            });
        }
        let cmdline = format!("nim.autoload=0 {}", config.cmdline)
            .trim()
            .to_string();
        let command = Machine::new(&config.kernel)
            .qemu(&config.qemu)
            .cmdline(cmdline)
            .with_network_cards(&machine_forwards)
            .command(Serial::Piped);
        let mut session = Session::spawn(command)
            .map_err(|e| format!("could not start {}: {e}", config.qemu.display()))?;
        if let Err(error) = session.expect_prompt_within(config.boot_timeout) {
            session.kill();
            return Err(format!("boot: {error}\n{}", session.tail(10)));
        }
        Ok(Boot {
            session,
            forwards,
            trials: 0,
            helpers: Vec::new(),
            trial_start: 0,
            echo_port: config.echo_port,
        })
    }

    /// The transcript so far.
    pub fn transcript(&self) -> String {
        self.session.transcript()
    }

    /// Kills QEMU.
    pub fn kill(&mut self) {
        self.session.kill();
    }
}

fn console_error(error: HarnessError) -> ConsoleError {
    match error {
        HarnessError::Timeout { .. } => ConsoleError::Timeout,
        HarnessError::Exited { .. } => ConsoleError::Exited,
        HarnessError::Io(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ConsoleError::Exited,
        HarnessError::Io(e) => ConsoleError::Other(e.to_string()),
    }
}

impl Console for Boot {
    fn command(&mut self, line: &str, timeout: Duration) -> Result<String, ConsoleError> {
        let line = match self.echo_port {
            Some(port) => line.replace("{echo-port}", &port.to_string()),
            None => line.to_string(),
        };
        let started = Instant::now();
        self.session
            .send(&format!("{line}\n"))
            .map_err(console_error)?;
        // The answer starts after the echo of the command. A kernel log line
        // printed while the shell waits for input starts a new line, and the
        // prompt and what was typed so far are drawn again after it, so
        // prompts seen before the echo say nothing; the redrawn line may
        // miss the character echoed just before the log line (see
        // [`echo_patterns`]). One case looks like an answer: a log line
        // after the whole command was typed but before
        // its Enter was read shows `COMMAND\n[log line]\n> COMMAND`; that
        // "answer" is log lines only, and the redrawn command's own end of
        // line follows at once (nothing else was sent), so it is skipped.
        let echoes = echo_patterns(&line);
        let echoes: Vec<&str> = echoes.iter().map(String::as_str).collect();
        self.session
            .expect_any(&echoes, timeout)
            .map_err(console_error)?;
        loop {
            let answer = self
                .session
                .expect_prompt_within(timeout.saturating_sub(started.elapsed()))
                .map_err(console_error)?;
            if !workload::clean_answer(&answer).trim().is_empty()
                || self.session.expect_any(&echoes, REDRAW_GRACE).is_err()
            {
                return Ok(answer);
            }
        }
    }

    fn wait_for(&mut self, text: &str, timeout: Duration) -> Result<(), ConsoleError> {
        // Seen already during this trial (a log line that came early)?
        if self
            .transcript()
            .get(self.trial_start..)
            .is_some_and(|t| t.contains(text))
        {
            return Ok(());
        }
        self.session
            .expect_within(text, timeout)
            .map(|_| ())
            .map_err(console_error)
    }

    fn http_get(
        &mut self,
        card: usize,
        port: u16,
        path: &str,
        timeout: Duration,
    ) -> Result<String, ConsoleError> {
        let host_port = self
            .forwards
            .iter()
            .find(|(c, p, _)| *c == card && *p == port)
            .map(|(_, _, h)| *h)
            .ok_or_else(|| {
                ConsoleError::Other(format!("no forward for card {card} port {port}"))
            })?;
        http_get(host_port, path, timeout).map_err(ConsoleError::Other)
    }
}

/// `GET path` from 127.0.0.1:`port`: the status line, the body's summary
/// line, an empty line and the body ([`split_http_response`]).
pub fn http_get(port: u16, path: &str, timeout: Duration) -> Result<String, String> {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, timeout)
        .map_err(|e| format!("connect to {address}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|_| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .map_err(|e| format!("send request: {e}"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| format!("read response: {e}"))?;
    split_http_response(&response)
}

/// `STATUS LINE\nbody N bytes, fnv1a 0xHEX\n\nBODY` of a raw HTTP
/// response: the length and 64-bit FNV-1a are of the body's raw bytes (so a
/// workload can check a binary body exactly); the body itself is shown as
/// lossy UTF-8.
pub fn split_http_response(response: &[u8]) -> Result<String, String> {
    let end = |separator: &[u8]| {
        response
            .windows(separator.len())
            .position(|w| w == separator)
            .map(|at| (at, at + separator.len()))
    };
    let (head_end, body_start) = end(b"\r\n\r\n")
        .or_else(|| end(b"\n\n"))
        .ok_or_else(|| format!("no end of headers in a {}-byte response", response.len()))?;
    let head = String::from_utf8_lossy(&response[..head_end]);
    let body = &response[body_start..];
    let status = head.lines().next().unwrap_or_default().trim();
    if !status.starts_with("HTTP/") {
        return Err(format!("not an HTTP response: {status:?}"));
    }
    Ok(format!(
        "{status}\nbody {} bytes, fnv1a {:#018x}\n\n{}",
        body.len(),
        super::trial::fnv1a(body),
        String::from_utf8_lossy(body)
    ))
}

/// A trial's result plus whether its boot may serve the next trial.
pub struct TrialResult {
    /// The record.
    pub record: TrialRecord,
    /// The serial log of the trial.
    pub log: String,
    /// The boot is fit for another isolated trial.
    pub reusable: bool,
    /// The golden run failed (in a reused boot, the trial is retried fresh).
    pub golden_failed: bool,
}

/// The UTC time now.
fn now_utc() -> String {
    crate::bench::utc_date(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    )
}

/// How a command to the kernel ended, for the oracles.
fn kernel_end(boot: &mut Boot, error: &ConsoleError, what: &str, timeout: Duration) -> KernelEnd {
    match error {
        ConsoleError::Timeout => {
            KernelEnd::Hung(format!("{what}: no answer within {} s", timeout.as_secs()))
        }
        ConsoleError::Exited => {
            let exit = boot
                .session
                .wait_exit(Duration::from_secs(5))
                .ok()
                .flatten();
            KernelEnd::Stopped(match exit {
                Some(exit) => format!("{what}: QEMU ended with {exit}"),
                None => format!("{what}: the console closed"),
            })
        }
        ConsoleError::Other(why) => KernelEnd::Stopped(format!("{what}: {why}")),
    }
}

/// Runs one trial in `boot`.
pub fn run_trial(
    boot: &mut Boot,
    spec: &TrialSpec,
    workload: &Workload,
    config: &RunnerConfig,
) -> TrialResult {
    let started = Instant::now();
    let started_utc = now_utc();
    let reused_boot = boot.trials > 0;
    boot.trials += 1;
    let start_offset = if reused_boot {
        boot.transcript().len()
    } else {
        0
    };
    boot.trial_start = start_offset;
    let name = spec.extension.as_str();
    let timeout = config.command_timeout;
    let mut observation = Observation::quiet(spec.mode);
    observation.post = None;
    observation.running_after = None;
    let mut faults: Vec<FaultRecord> = Vec::new();
    let mut recovery_us: Option<u64> = None;
    let mut golden_failed = false;
    let mut alive = true;

    // Everything up to the injection; an error here is an infra error.
    let setup = (|| -> Result<(workload::WorkloadRun, u64), String> {
        let needed: Vec<String> = workload
            .with
            .iter()
            .filter(|h| !boot.helpers.contains(h))
            .cloned()
            .collect();
        for helper in needed {
            let answer = boot
                .command(&format!("ext load {helper} isolated"), timeout)
                .map_err(|e| format!("`ext load {helper} isolated`: {e:?}"))?;
            if !answer.contains("loaded (isolated)") {
                return Err(format!(
                    "`ext load {helper} isolated` answered {:?}",
                    answer.trim()
                ));
            }
            boot.helpers.push(helper);
        }
        let load = format!("ext load {name} {}", spec.mode.name());
        let answer = boot
            .command(&load, timeout)
            .map_err(|e| format!("`{load}`: {e:?}"))?;
        if !answer.contains(&format!("loaded ({})", spec.mode.name())) {
            return Err(format!(
                "`{load}` answered {:?}",
                workload::clean_answer(&answer)
            ));
        }
        let golden = workload::execute(workload, boot, None);
        if !golden.passed() {
            golden_failed = true;
            return Err(format!(
                "golden run failed: {}",
                golden
                    .failure
                    .clone()
                    .unwrap_or_else(|| format!("console {:?}", golden.console_error))
            ));
        }
        let list = boot
            .command("ext list", timeout)
            .map_err(|e| format!("`ext list`: {e:?}"))?;
        let row =
            scenarios::checks::ext_row(&list, name).map_err(|e| format!("`ext list`: {e}"))?;
        Ok((golden, row.faults))
    })();
    let (golden, faults_before) = match setup {
        Ok(values) => values,
        Err(why) => {
            observation.infra = Some(why);
            return finish(
                boot,
                spec,
                config,
                observation,
                faults,
                None,
                start_offset,
                started,
                started_utc,
                reused_boot,
                golden_failed,
                false,
            );
        }
    };

    // The injection.
    let injection = match spec.fault.layer {
        Layer::CrashKind => format!("ext crash {name} {}", spec.fault.name),
        Layer::CodeMutation => format!(
            "inject {name} {} seed={} count={}",
            spec.fault.name, spec.seed, spec.count
        ),
        Layer::FailPoint => {
            let mut command = format!("inject {name} {} seed={}", spec.fault.name, spec.seed);
            if !spec.knobs.is_empty() {
                command.push(' ');
                command.push_str(&spec.knobs.joined(" "));
            }
            command
        }
    };
    match boot.command(&injection, timeout) {
        Err(error) => {
            observation.kernel = kernel_end(boot, &error, &format!("`{injection}`"), timeout);
            alive = false;
            if spec.fault.layer == Layer::CrashKind {
                // The crash was sent and the kernel never answered: it fired.
                faults.push(FaultRecord::at_site(spec.fault.name, "ext crash"));
                observation.activation = Some(true);
            }
        }
        Ok(answer) => match spec.fault.layer {
            Layer::CrashKind => {
                faults.push(FaultRecord::at_site(spec.fault.name, "ext crash"));
                match parse_crash_answer(&answer, name) {
                    Some(CrashAnswer::Recovered { microseconds, .. }) => {
                        recovery_us = Some(microseconds)
                    }
                    Some(CrashAnswer::Refused(why)) => observation.refused = Some(why),
                    _ => {}
                }
                observation.activation = Some(observation.refused.is_none());
            }
            Layer::CodeMutation | Layer::FailPoint => {
                if workload::is_unsupported_answer(&workload::clean_answer(&answer)) {
                    observation.infra = Some(format!(
                        "the kernel has no `inject` command (the engine has not landed?): {:?}",
                        workload::clean_answer(&answer)
                    ));
                    return finish(
                        boot,
                        spec,
                        config,
                        observation,
                        faults,
                        None,
                        start_offset,
                        started,
                        started_utc,
                        reused_boot,
                        false,
                        false,
                    );
                }
                let parsed = InjectAnswer::parse(&answer);
                faults.extend(parsed.patches.iter().map(FaultRecord::from_patch));
                for kind in &parsed.fail_points {
                    let mut fault = FaultRecord::at_site(kind, "fail-point");
                    if !spec.knobs.is_empty() {
                        fault.site = Some(format!("fail-point {}", spec.knobs.joined(",")));
                    }
                    faults.push(fault);
                }
                if let Some(error) = parsed.error {
                    observation.refused = Some(error);
                } else if !parsed.accepted() {
                    observation.infra = Some(format!(
                        "`{injection}` gave no `inject armed` or `inject fail-point` line: {:?}",
                        workload::clean_answer(&answer)
                    ));
                }
            }
        },
    }
    // A fail point models the extension's environment, which it meets
    // most at its initialisation (memory, DMA buffers, the device's
    // configuration): the extension is restarted under it (fail points
    // stay armed across restarts; a failed start is the trial's outcome).
    if alive
        && spec.fault.layer == Layer::FailPoint
        && observation.refused.is_none()
        && observation.infra.is_none()
    {
        let restart = format!("ext restart {name}");
        if let Err(error) = boot.command(&restart, timeout) {
            observation.kernel = kernel_end(boot, &error, &format!("`{restart}`"), timeout);
            alive = false;
        }
    }

    // The workload again, activation, a round trip, the extension's state.
    if alive && observation.refused.is_none() && observation.infra.is_none() {
        let post = workload::execute(workload, boot, Some(&golden));
        if let Some(error) = &post.console_error
            && !matches!(error, ConsoleError::Other(_))
        {
            observation.kernel = kernel_end(
                boot,
                error,
                "the workload after the injection",
                workload.timeout,
            );
            alive = false;
        }
        observation.differences = post.differences(&golden);
        let failed = !post.passed();
        observation.post = Some(post);
        // The workload failed with the extension (a fault the kernel
        // detected in it since the injection: its fault count grew; the log
        // line may trail the answer): once it runs again, the workload once
        // more. Native extensions are not restarted.
        if alive && failed && spec.mode == Mode::Isolated {
            match wait_until_running(boot, name, faults_before, workload.timeout) {
                Ok(Restart::Running) => {
                    let rerun = workload::execute(workload, boot, Some(&golden));
                    if let Some(error) = &rerun.console_error
                        && !matches!(error, ConsoleError::Other(_))
                    {
                        observation.kernel = kernel_end(
                            boot,
                            error,
                            "the workload after the restart",
                            workload.timeout,
                        );
                        alive = false;
                    }
                    observation.rerun_differences = rerun.differences(&golden);
                    observation.rerun = Some(rerun);
                }
                Ok(Restart::NoFault | Restart::NotRunning) => {}
                Err(error) => {
                    observation.kernel = kernel_end(
                        boot,
                        &error,
                        "`ext list` (waiting for the restart)",
                        timeout,
                    );
                    alive = false;
                }
            }
        }
    } else if alive {
        observation.post = Some(golden.clone());
    }
    if alive && spec.fault.layer.needs_engine() && observation.infra.is_none() {
        match boot.command(&format!("inject status {name}"), timeout) {
            Ok(answer) => {
                let mut status = InjectStatus::parse(&answer);
                // Only this trial's layer speaks of its fault.
                match spec.fault.layer {
                    Layer::CodeMutation => status.fired.clear(),
                    _ => status.activated.clear(),
                }
                observation.activation = status.any_activated();
                observation.activated_patches = status
                    .activated
                    .iter()
                    .filter(|(_, yes)| *yes)
                    .map(|(index, _)| *index as usize)
                    .collect();
            }
            Err(error) => {
                observation.kernel = kernel_end(boot, &error, "`inject status`", timeout);
                alive = false;
            }
        }
    }
    let mut faults_after = faults_before;
    if alive {
        match boot.command("uptime", timeout) {
            Ok(answer) if answer.contains("up ") => {}
            Ok(answer) => {
                observation.kernel =
                    KernelEnd::Hung(format!("`uptime` answered {:?}", answer.trim()));
                alive = false;
            }
            Err(error) => {
                observation.kernel =
                    kernel_end(boot, &error, "`uptime` (the responsiveness check)", timeout);
                alive = false;
            }
        }
    }
    if alive {
        match boot.command("ext list", timeout) {
            Ok(answer) => match scenarios::checks::ext_row(&answer, name) {
                Ok(row) => {
                    observation.running_after = Some(row.state == "running");
                    faults_after = row.faults;
                }
                Err(_) => observation.running_after = Some(false),
            },
            Err(error) => {
                observation.kernel = kernel_end(boot, &error, "`ext list`", timeout);
                alive = false;
            }
        }
    }
    let transcript = boot.transcript();
    let findings = LogFindings::scan(transcript.get(start_offset..).unwrap_or(""), name);
    observation.fatal_lines = findings.fatal.clone();
    observation.faults_detected = findings
        .faults
        .len()
        .max(faults_after.saturating_sub(faults_before) as usize);
    if recovery_us.is_none() {
        recovery_us = findings.recoveries_us.first().copied();
    }
    let mut detected = findings.faults;
    if detected.is_empty() && observation.faults_detected > 0 {
        detected.push("unknown".into());
    }

    // Clean up for the next trial.
    let mut reusable = false;
    if alive
        && observation.fatal_lines.is_empty()
        && spec.mode == Mode::Isolated
        && config.reuse_boots
    {
        let mut clean = true;
        if spec.fault.layer.needs_engine() {
            clean &= boot
                .command(&format!("inject clear {name}"), timeout)
                .is_ok_and(|a| a.contains(&format!("inject cleared {name}")));
        }
        clean &= boot
            .command(&format!("ext unload {name}"), timeout)
            .is_ok_and(|a| a.contains("unloaded"));
        reusable = clean;
    }
    let mut result = finish(
        boot,
        spec,
        config,
        observation,
        faults,
        recovery_us,
        start_offset,
        started,
        started_utc,
        reused_boot,
        golden_failed,
        reusable,
    );
    result.record.detected = detected;
    result
}

/// What [`wait_until_running`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Restart {
    /// No fault was recorded in the extension since the count was taken.
    NoFault,
    /// A fault was recorded and the extension runs again.
    Running,
    /// A fault was recorded and the extension did not run again in time.
    NotRunning,
}

/// If `ext list` counts more faults of extension `name` than
/// `faults_before`, asks it every half second until the extension is
/// running again, for at most `timeout`.
fn wait_until_running(
    boot: &mut Boot,
    name: &str,
    faults_before: u64,
    timeout: Duration,
) -> Result<Restart, ConsoleError> {
    let started = Instant::now();
    loop {
        let answer = boot.command("ext list", timeout)?;
        let Ok(row) = scenarios::checks::ext_row(&answer, name) else {
            return Ok(Restart::NotRunning);
        };
        if row.faults <= faults_before {
            return Ok(Restart::NoFault);
        }
        if row.state == "running" {
            return Ok(Restart::Running);
        }
        if started.elapsed() >= timeout {
            return Ok(Restart::NotRunning);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[allow(clippy::too_many_arguments, reason = "the parts of one record")]
fn finish(
    boot: &mut Boot,
    spec: &TrialSpec,
    config: &RunnerConfig,
    observation: Observation,
    faults: Vec<FaultRecord>,
    recovery_us: Option<u64>,
    start_offset: usize,
    started: Instant,
    started_utc: String,
    reused_boot: bool,
    golden_failed: bool,
    reusable: bool,
) -> TrialResult {
    let (outcome, detail) = classify(&observation);
    let transcript = boot.transcript();
    let log = transcript.get(start_offset..).unwrap_or("").to_string();
    let cause = super::explain::automatic_cause(
        spec,
        outcome,
        &faults,
        &observation.activated_patches,
        &log,
        &detail,
    );
    let keep_log = std::env::var_os("INJECT_KEEP_LOGS").is_some()
        || !matches!(
            outcome,
            Outcome::Recovered | Outcome::NoEffect | Outcome::NotActivated
        );
    let id = spec.id();
    TrialResult {
        record: TrialRecord {
            reproduce: reproduce_command(&id, &config.out),
            spec: spec.clone(),
            build: config.build.clone(),
            outcome,
            detail,
            cause,
            faults,
            activated: observation.activation,
            recovery_ms: recovery_us.map(|us| us as f64 / 1000.0),
            detected: Vec::new(),
            reused_boot,
            duration_s: started.elapsed().as_secs_f64(),
            started: started_utc,
            log: keep_log.then(|| log_file_name(&id)),
        },
        log,
        reusable,
        golden_failed,
    }
}

/// Runs `spec` in `boot` if given (and reusable), else in a fresh boot;
/// returns the result and the boot to keep (if any).
pub fn run_one(
    spec: &TrialSpec,
    workload: &Workload,
    config: &RunnerConfig,
    held: Option<Boot>,
    boots: &mut usize,
) -> (TrialResult, Option<Boot>) {
    let reuse = spec.mode == Mode::Isolated && config.reuse_boots;
    let mut held = if reuse { held } else { None };
    for attempt in 0..2 {
        let started = Instant::now();
        let mut boot = match held.take() {
            Some(boot) => boot,
            None => {
                *boots += 1;
                match Boot::start(config) {
                    Ok(boot) => boot,
                    Err(why) => return (infra_result(spec, config, why), None),
                }
            }
        };
        let reused = boot.trials > 0;
        let mut result = run_trial(&mut boot, spec, workload, config);
        // A fresh boot's time counts towards its trial.
        result.record.duration_s = started.elapsed().as_secs_f64();
        if result.golden_failed && reused && attempt == 0 {
            boot.kill();
            continue;
        }
        let keep = (result.reusable && reuse).then_some(boot);
        return (result, keep);
    }
    unreachable!("the second attempt always returns")
}

fn infra_result(spec: &TrialSpec, config: &RunnerConfig, why: String) -> TrialResult {
    let id = spec.id();
    let detail = why.lines().next().unwrap_or_default().to_string();
    TrialResult {
        record: TrialRecord {
            reproduce: reproduce_command(&id, &config.out),
            spec: spec.clone(),
            build: config.build.clone(),
            outcome: Outcome::InfraError,
            detail,
            cause: None,
            faults: Vec::new(),
            activated: None,
            recovery_ms: None,
            detected: Vec::new(),
            reused_boot: false,
            duration_s: 0.0,
            started: now_utc(),
            log: Some(log_file_name(&id)),
        },
        log: why,
        reusable: false,
        golden_failed: false,
    }
}

/// Saves a trial's serial log when its record names one.
pub fn save_log(out: &Path, result: &TrialResult) {
    if let Some(relative) = &result.record.log {
        let path = out.join(relative);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::write(path, &result.log);
    }
}

/// The trials not yet taken by a worker: native ones, and isolated ones per
/// extension, each in plan order.
#[derive(Debug)]
pub struct TrialQueues {
    native: VecDeque<usize>,
    isolated: Vec<(String, VecDeque<usize>)>,
}

impl TrialQueues {
    /// The queues of `trials` (indices into it).
    pub fn new(trials: &[TrialSpec]) -> TrialQueues {
        let mut queues = TrialQueues {
            native: VecDeque::new(),
            isolated: Vec::new(),
        };
        for (index, trial) in trials.iter().enumerate() {
            if trial.mode == Mode::Native {
                queues.native.push_back(index);
                continue;
            }
            match queues
                .isolated
                .iter_mut()
                .find(|(name, _)| *name == trial.extension)
            {
                Some((_, queue)) => queue.push_back(index),
                None => queues
                    .isolated
                    .push((trial.extension.clone(), VecDeque::from([index]))),
            }
        }
        queues
    }

    /// The next trial for a worker holding an isolated boot of extension
    /// `holding` (`None`: no boot): an isolated trial of that extension if
    /// any is left, else a native trial, else any isolated trial.
    pub fn next(&mut self, holding: Option<&str>) -> Option<usize> {
        if let Some(name) = holding
            && let Some((_, queue)) = self.isolated.iter_mut().find(|(n, _)| n == name)
            && let Some(index) = queue.pop_front()
        {
            return Some(index);
        }
        self.native.pop_front().or_else(|| {
            self.isolated
                .iter_mut()
                .find_map(|(_, queue)| queue.pop_front())
        })
    }
}

/// Runs `trials` on `jobs` workers; `on_result` sees each result as it
/// arrives (on the calling thread). Returns the number of boots.
pub fn run_pool(
    trials: &[TrialSpec],
    workloads: &std::collections::BTreeMap<String, Workload>,
    config: &RunnerConfig,
    jobs: usize,
    on_result: &mut dyn FnMut(usize, TrialResult),
) -> usize {
    // A worker holding an isolated boot takes the next isolated trial of
    // the same extension (a boot never passes from one extension to
    // another: their helpers, interfaces and sockets would meet); a worker
    // without one takes native trials first, then isolated ones.
    let queues: Mutex<TrialQueues> = Mutex::new(TrialQueues::new(trials));
    let (sender, receiver) = mpsc::channel();
    let boots = Mutex::new(0usize);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            let sender = sender.clone();
            let (queues, boots) = (&queues, &boots);
            scope.spawn(move || {
                let mut held: Option<Boot> = None;
                let mut held_for: Option<&str> = None;
                let mut my_boots = 0usize;
                loop {
                    let next = queues
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .next(held_for.filter(|_| held.is_some()));
                    let Some(index) = next else { break };
                    let spec = &trials[index];
                    if held_for != Some(spec.extension.as_str())
                        && let Some(mut boot) = held.take()
                    {
                        boot.kill();
                    }
                    let workload = &workloads[&spec.extension];
                    let (result, keep) =
                        run_one(spec, workload, config, held.take(), &mut my_boots);
                    held = keep;
                    held_for = Some(spec.extension.as_str());
                    if sender.send((index, result)).is_err() {
                        break;
                    }
                }
                if let Some(mut boot) = held {
                    boot.kill();
                }
                *boots.lock().unwrap_or_else(|p| p.into_inner()) += my_boots;
            });
        }
        drop(sender);
        for (index, result) in receiver {
            on_result(index, result);
        }
    });
    boots.into_inner().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for QEMU: a shell that answers like the kernel's, for
    /// the commands a crash-kind trial sends. Native crashes stop it with
    /// status 37; `loop-irq-off` never answers.
    const FAKE_KERNEL: &str = r#"#!/bin/bash
generation=0
faults=0
mode=
printf '[    0.000001] INFO  kernel: fake kernel\n> '
while IFS= read -r line; do
  [ "$line" = stale-log ] || printf '%s\n' "$line"
  case "$line" in
    stale-log) printf 'stale-lo\n[    1.000003] INFO  x: a log line while typing\n> stale-lg\nthe stale answer\n';;
    "ext load crashtest "*) mode=${line##* }; printf 'loaded (%s)\n' "$mode";;
    "ext list")
      if [ -z "$mode" ]; then echo 'no extensions (bundled: crashtest, rtc)'; else
      echo 'NAME             MODE      STATE       GENERATION  RESTARTS  FAULTS  OBJECTS  POLICY'
      printf 'crashtest        %s  running  %d  %d  %d  0  always\n' "$mode" $generation $generation $faults; fi;;
    "ext crash crashtest panic")
      if [ "$mode" = native ]; then printf '\nKERNEL PANIC in kernel thread `shell` (id 1): panicked\nkernel stopped\n'; exit 37; fi
      generation=$((generation + 1)); faults=$((faults + 1))
      printf '[    0.200000] WARN  nim::recovery: nim: crashtest: panic at rip 0x1; restart now\n'
      printf '[    0.300000] INFO  nim::recovery: nim: crashtest restarted as generation %d in 2500 us\n' $generation
      printf 'crashtest: panic (recovered in 2500 us); now running as generation %d\n' $generation;;
    "ext crash crashtest loop-irq-off") exec sleep 30;;
    "ext unload crashtest") mode=; echo unloaded;;
    "inject crashtest pointer seed=1 count=5")
      echo 'inject patch 0 type=pointer address=0xffffc00000004067 site=crashtest::checksum+0x1b old=488b07 new=488b47 before="mov rax, [rdi]" after="mov rax, [rdi+0x0]"'
      echo 'inject patch 1 type=pointer address=0xffffc000000040a0 site=crashtest::increment+0x4 old=488b4f08 new=488b4f48 before="mov rcx, [rdi+0x8]" after="mov rcx, [rdi+0x48]"'
      echo 'inject armed crashtest patches=2';;
    "inject crashtest alloc seed=1 times=1") echo 'inject fail-point crashtest alloc armed';;
    "ext restart crashtest") generation=$((generation + 1)); echo restarted;;
    "inject crashtest nop seed=1 count=5")
      echo 'inject patch 0 type=nop address=0xffffc00000004067 site=crashtest::increment+0x1b old=488b07 new=0f1f00 before="mov rax, [rdi]" after="nop dword ptr [rax]"'
      echo 'inject armed crashtest patches=1'; armed=1;;
    "ext call crashtest increment")
      if [ "$armed" = 1 ]; then armed=0; generation=$((generation + 1)); faults=$((faults + 1))
        echo 'crashtest: call failed: the extension failed'
      else echo 'crashtest: counter=1'; fi;;
    "inject crashtest irq seed=1 count=5") echo 'inject: error: no irq sites in crashtest';;
    "inject status crashtest") printf 'inject activated 0 no\ninject activated 1 no\ninject fired alloc 0\ninject status end\n';;
    "inject clear crashtest") echo 'inject cleared crashtest';;
    uptime) echo 'up 1.000 s (1000 ticks at 1000 Hz)';;
    late-log) printf '[    1.000000] INFO  x: a log line before the Enter was read\n> %s\n' "$line"
      printf '[    1.000001] INFO  x: a log line of the command\nthe answer\n';;
    quiet) printf '[    1.000002] INFO  x: only a log line\n';;
    help) printf '  help       help               list the commands\n  ext        ext list           isolated extensions\n';;
    *) printf "unknown command '%s' (type 'help')\n" "${line%% *}";;
  esac
  printf '> '
done
"#;

    fn fake_config(name: &str) -> RunnerConfig {
        let directory =
            std::env::temp_dir().join(format!("inject-runner-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let script = directory.join("fake-qemu");
        std::fs::write(&script, FAKE_KERNEL).unwrap();
        std::process::Command::new("chmod")
            .arg("+x")
            .arg(&script)
            .status()
            .unwrap();
        RunnerConfig {
            qemu: script,
            kernel: directory.join("kernel"),
            build: "fake".into(),
            command_timeout: Duration::from_secs(2),
            boot_timeout: Duration::from_secs(10),
            cmdline: String::new(),
            out: directory,
            reuse_boots: true,
            forwards: Vec::new(),
            echo_port: None,
        }
    }

    fn crash_trial(mode: Mode, kind: &str) -> TrialSpec {
        TrialSpec {
            extension: "crashtest".into(),
            mode,
            fault: crate::inject::faults::find(kind).unwrap(),
            seed: 1,
            count: 5,
            knobs: crate::inject::trial::Knobs::default(),
        }
    }

    fn workload() -> Workload {
        Workload::parse(
            Path::new("w.txt"),
            "timeout 2\nrun ext list\nexpect running\n",
        )
        .unwrap()
    }

    #[test]
    fn an_isolated_crash_is_recovered_and_the_boot_serves_the_next_trial() {
        let config = fake_config("isolated");
        let mut boots = 0;
        let spec = crash_trial(Mode::Isolated, "panic");
        let (first, held) = run_one(&spec, &workload(), &config, None, &mut boots);
        let record = &first.record;
        assert_eq!(record.outcome, Outcome::Recovered, "{}", record.detail);
        assert_eq!(record.recovery_ms, Some(2.5));
        assert_eq!(record.detected, ["panic"]);
        assert_eq!(record.activated, Some(true));
        assert!(!record.reused_boot && record.log.is_none());
        assert!(held.is_some(), "the boot is handed on");
        let (second, held) = run_one(&spec, &workload(), &config, held, &mut boots);
        assert_eq!(
            second.record.outcome,
            Outcome::Recovered,
            "{}",
            second.record.detail
        );
        assert!(second.record.reused_boot);
        assert_eq!(boots, 1);
        assert!(
            !second.log.contains("fake kernel"),
            "a reused boot's log is the trial's part"
        );
        drop(held);
    }

    #[test]
    fn a_native_crash_stops_the_kernel_and_never_hands_the_boot_on() {
        let config = fake_config("native");
        let mut boots = 0;
        let (result, held) = run_one(
            &crash_trial(Mode::Native, "panic"),
            &workload(),
            &config,
            None,
            &mut boots,
        );
        assert_eq!(
            result.record.outcome,
            Outcome::KernelCrash,
            "{}",
            result.record.detail
        );
        assert!(
            result.record.detail.contains("KERNEL PANIC"),
            "{}",
            result.record.detail
        );
        assert_eq!(result.record.activated, Some(true));
        assert!(held.is_none());
        assert!(result.log.contains("kernel stopped"));
        assert_eq!(
            result.record.log.as_deref(),
            Some("logs/crashtest_native_panic_1_5.log")
        );
    }

    #[test]
    fn a_crash_that_never_answers_is_a_hang() {
        let config = fake_config("hang");
        let mut boots = 0;
        let started = Instant::now();
        let (result, held) = run_one(
            &crash_trial(Mode::Isolated, "loop-irq-off"),
            &workload(),
            &config,
            None,
            &mut boots,
        );
        assert_eq!(
            result.record.outcome,
            Outcome::Hang,
            "{}",
            result.record.detail
        );
        assert!(result.record.detail.contains("no answer within 2 s"));
        assert!(held.is_none());
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_golden_run_that_fails_is_an_infra_error() {
        let config = fake_config("golden");
        let broken = Workload::parse(Path::new("w.txt"), "run uptime\nexpect down\n").unwrap();
        let mut boots = 0;
        let (result, _) = run_one(
            &crash_trial(Mode::Isolated, "panic"),
            &broken,
            &config,
            None,
            &mut boots,
        );
        assert_eq!(result.record.outcome, Outcome::InfraError);
        assert!(
            result
                .record
                .detail
                .starts_with("golden run failed: w.txt:2: expected \"down\""),
            "{}",
            result.record.detail
        );
    }

    #[test]
    fn engine_patches_and_activation_are_recorded() {
        let config = fake_config("mutation");
        let mut boots = 0;
        let (result, held) = run_one(
            &crash_trial(Mode::Isolated, "pointer"),
            &workload(),
            &config,
            None,
            &mut boots,
        );
        let record = &result.record;
        assert_eq!(record.outcome, Outcome::NotActivated, "{}", record.detail);
        assert_eq!(record.activated, Some(false));
        assert_eq!(record.faults.len(), 2);
        assert_eq!(
            record.faults[1].site.as_deref(),
            Some("crashtest::increment+0x4")
        );
        assert_eq!(
            record.faults[1].after.as_deref(),
            Some("mov rcx, [rdi+0x48]")
        );
        assert!(held.is_some(), "cleared and unloaded: reusable");
        let mut fail_point = crash_trial(Mode::Isolated, "alloc");
        fail_point.knobs = crate::inject::trial::Knobs::parse("times=1").unwrap();
        let (result, held) = run_one(&fail_point, &workload(), &config, held, &mut boots);
        assert_eq!(
            result.record.outcome,
            Outcome::NotActivated,
            "{}",
            result.record.detail
        );
        assert_eq!(
            result.record.faults[0].site.as_deref(),
            Some("fail-point times=1")
        );
        let (result, _) = run_one(
            &crash_trial(Mode::Isolated, "irq"),
            &workload(),
            &config,
            held,
            &mut boots,
        );
        assert_eq!(result.record.outcome, Outcome::NotActivated);
        assert_eq!(
            result.record.detail,
            "injection refused: no irq sites in crashtest"
        );
        assert_eq!(boots, 1);
    }

    #[test]
    fn a_workload_that_fails_with_a_detected_fault_runs_again_after_the_restart() {
        let config = fake_config("rerun");
        let mut boots = 0;
        let workload = Workload::parse(
            Path::new("w.txt"),
            "timeout 2\nrun ext call crashtest increment\nexpect counter=\n",
        )
        .unwrap();
        let (result, held) = run_one(
            &crash_trial(Mode::Isolated, "nop"),
            &workload,
            &config,
            None,
            &mut boots,
        );
        let record = &result.record;
        assert_eq!(record.outcome, Outcome::Recovered, "{}", record.detail);
        assert!(
            record
                .detail
                .contains("then ran as golden after the restart"),
            "{}",
            record.detail
        );
        assert!(held.is_some());
    }

    #[test]
    fn engine_types_on_a_kernel_without_the_engine_are_infra_errors() {
        let config = fake_config("engine");
        let mut boots = 0;
        let (result, _) = run_one(
            &crash_trial(Mode::Isolated, "text"),
            &workload(),
            &config,
            None,
            &mut boots,
        );
        assert_eq!(result.record.outcome, Outcome::InfraError);
        assert!(
            result.record.detail.contains("no `inject` command"),
            "{}",
            result.record.detail
        );
    }

    #[test]
    fn preflight_reads_the_bundle_and_the_commands() {
        let config = fake_config("preflight");
        let abilities = crate::inject::preflight(&config.qemu, &config.kernel, "").unwrap();
        assert_eq!(abilities.bundled, ["crashtest", "rtc"]);
        assert!(!abilities.has_engine);
    }

    #[test]
    fn answers_start_after_the_echo_even_when_a_log_line_redraws_the_prompt() {
        let config = fake_config("redraw");
        let mut boot = Boot::start(&config).unwrap();
        let answer = boot.command("late-log", Duration::from_secs(5)).unwrap();
        assert_eq!(workload::clean_answer(&answer), "the answer", "{answer:?}");
        assert!(answer.contains("a log line of the command"));
        let started = Instant::now();
        let answer = boot.command("quiet", Duration::from_secs(5)).unwrap();
        assert_eq!(workload::clean_answer(&answer), "");
        assert!(started.elapsed() < Duration::from_secs(2));
        let answer = boot.command("stale-log", Duration::from_secs(5)).unwrap();
        assert_eq!(answer, "the stale answer\n", "{answer:?}");
        assert!(
            boot.command("uptime", Duration::from_secs(5))
                .unwrap()
                .starts_with("up 1.000 s")
        );
        boot.kill();
    }

    #[test]
    fn echoes_may_miss_one_character() {
        assert_eq!(
            echo_patterns("ext"),
            ["ext\n", "xt\n", "et\n", "ex\n"].map(String::from)
        );
        assert_eq!(echo_patterns("aa"), ["aa\n", "a\n"].map(String::from));
        assert_eq!(echo_patterns("x"), ["x\n"].map(String::from));
    }

    #[test]
    fn a_held_boot_only_serves_trials_of_its_extension() {
        let trial = |extension: &str, mode| TrialSpec {
            extension: extension.into(),
            ..crash_trial(mode, "panic")
        };
        let trials = [
            trial("e1000", Mode::Native),
            trial("e1000", Mode::Isolated),
            trial("e1000", Mode::Isolated),
            trial("httpd", Mode::Native),
            trial("httpd", Mode::Isolated),
        ];
        let mut queues = TrialQueues::new(&trials);
        assert_eq!(queues.next(None), Some(0), "natives first without a boot");
        assert_eq!(
            queues.next(Some("httpd")),
            Some(4),
            "the held boot's extension"
        );
        assert_eq!(queues.next(Some("httpd")), Some(3), "then natives");
        assert_eq!(queues.next(Some("httpd")), Some(1), "then any isolated");
        assert_eq!(queues.next(Some("e1000")), Some(2));
        assert_eq!(queues.next(None), None);
    }

    #[test]
    fn reproduce_commands_quote_odd_directories() {
        assert_eq!(
            reproduce_command("crashtest:isolated:panic:1:5", Path::new("/tmp/c1")),
            "cargo xtask inject --reproduce crashtest:isolated:panic:1:5 --out /tmp/c1"
        );
        assert_eq!(
            reproduce_command("a:native:panic:1:5", Path::new("/tmp/my dir's")),
            "cargo xtask inject --reproduce a:native:panic:1:5 --out '/tmp/my dir'\\''s'"
        );
    }

    #[test]
    fn the_echo_server_echoes_every_connection() {
        let port = start_echo_server().unwrap();
        for message in [&b"hello"[..], &b"second connection"[..]] {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
            stream.write_all(message).unwrap();
            stream.shutdown(std::net::Shutdown::Write).unwrap();
            let mut back = Vec::new();
            stream.read_to_end(&mut back).unwrap();
            assert_eq!(back, message);
        }
    }

    #[test]
    fn log_names_are_file_system_safe() {
        assert_eq!(
            log_file_name("crashtest:isolated:alloc:1:5:times=1,nth=2"),
            "logs/crashtest_isolated_alloc_1_5_times=1_nth=2.log"
        );
    }

    #[test]
    fn http_responses_split_into_status_and_body() {
        assert_eq!(
            split_http_response(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi").unwrap(),
            "HTTP/1.0 200 OK\nbody 2 bytes, fnv1a 0x08ba5f07b55ec3da\n\nhi"
        );
        // Binary bodies: the summary is over the raw bytes.
        let mut big = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        big.extend((0..65_536u32).map(|i| (i % 251) as u8));
        let answer = split_http_response(&big).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 200 OK\nbody 65536 bytes, fnv1a 0x7df71ef445707abc\n\n"),
            "{}",
            &answer[..80]
        );
        assert!(split_http_response(b"garbage").is_err());
        assert!(split_http_response(b"SSH-2.0\r\n\r\n").is_err());
    }

    #[test]
    fn http_get_talks_to_a_local_server() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 512];
            let n = stream.read(&mut request).unwrap();
            let request = String::from_utf8_lossy(&request[..n]).into_owned();
            stream.write_all(b"HTTP/1.0 200 OK\r\n\r\nhello").unwrap();
            request
        });
        let answer = http_get(port, "/index.html", Duration::from_secs(5)).unwrap();
        assert_eq!(
            answer,
            "HTTP/1.0 200 OK\nbody 5 bytes, fnv1a 0xa430d84680aabd0b\n\nhello"
        );
        assert!(
            server
                .join()
                .unwrap()
                .starts_with("GET /index.html HTTP/1.0\r\n")
        );
    }
}
