//! QEMU scenario tests: boot the real kernel, drive its serial shell, check
//! what it answers. Listed as data ([`all`]), run one at a time by [`run`]
//! (xtask runs them in parallel).
//!
//! Invariants:
//! - Every scenario has a timeout; every wait inside it is bounded by the
//!   scenario's deadline, and a hang is a failure. QEMU is killed on failure.
//! - Checks are plain functions over text (see [`checks`]) so they are unit
//!   tested without QEMU; they assert things that a broken kernel can fail.
//! - Scenarios only rely on the console conventions agreed with the kernel
//!   (prompt `> `, command answers, fault report format, exit codes 0/33/35/37).

pub mod checks;
pub mod network;

use std::fmt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use qemu_harness::{Exit, HarnessError, Machine, NetworkForward, Serial, Session};

/// Why a scenario failed (a message; the transcript is attached by [`run`]).
#[derive(Debug)]
pub struct Failure(pub String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<HarnessError> for Failure {
    fn from(e: HarnessError) -> Self {
        Failure(e.to_string())
    }
}

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Failure(s)
    }
}

/// What a scenario's body returns: `Ok(Some(note))` to report e.g. a timing.
pub type Verdict = Result<Option<String>, Failure>;

/// A command that starts `xtask run` (the real scripted-run code path).
pub type RunCommand = Arc<dyn Fn() -> Command + Send + Sync>;

/// What the scenarios need from the outside.
#[derive(Clone)]
pub struct Env {
    /// The QEMU binary.
    pub qemu: PathBuf,
    /// The kernel ELF.
    pub kernel: PathBuf,
    /// Builds the `xtask run` command for [`Body::PipedRun`] scenarios.
    pub run_command: Option<RunCommand>,
}

/// How a scenario exercises the kernel.
pub enum Body {
    /// Boot QEMU (serial piped) with `cmdline` and let `drive` talk to it.
    /// `drive` must also check how QEMU ended.
    Shell {
        /// Kernel command line.
        cmdline: &'static str,
        /// The interaction and its checks.
        drive: fn(&mut Session) -> Verdict,
    },
    /// Boot QEMU with both network cards on user-mode networks, host ports
    /// forwarded to the guest's port 80 (see [`network::ForwardedPorts`]),
    /// and let `drive` talk to it and to the network.
    Network {
        /// The interaction and its checks.
        drive: fn(&mut Session, &network::ForwardedPorts) -> Verdict,
    },
    /// Run `xtask run` with `input` piped into it (all at once, before the
    /// kernel is up) and check its stdout with `check`; fail if it takes longer
    /// than `max_wall`.
    PipedRun {
        /// Bytes fed to `xtask run`'s stdin.
        input: &'static str,
        /// Generous upper bound of the wall time.
        max_wall: Duration,
        /// Checks over the captured stdout.
        check: fn(&str) -> Result<(), String>,
    },
}

/// One scenario: data plus its check.
pub struct Scenario {
    /// Unique name (printed as `scenario::NAME`).
    pub name: &'static str,
    /// One line: what it proves.
    pub description: &'static str,
    /// Wall-clock limit for the whole scenario.
    pub timeout: Duration,
    /// Extra QEMU arguments (e.g. `-device e1000`).
    pub qemu_args: &'static [&'static str],
    /// What it does.
    pub body: Body,
}

/// The result of one scenario.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The scenario's name.
    pub name: &'static str,
    /// Whether every check held.
    pub passed: bool,
    /// For failures: the reason and the tail of the console transcript.
    pub detail: String,
    /// Something measured worth printing (e.g. a wall time).
    pub note: Option<String>,
    /// How long the scenario took.
    pub duration: Duration,
}

const BOOT: Duration = Duration::from_secs(60);

/// Every scenario, in a stable order.
pub fn all() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "boot_to_prompt",
            description: "the kernel boots to the shell prompt and powers off on `shutdown`",
            timeout: BOOT,
            qemu_args: &[],
            body: Body::Shell {
                cmdline: "",
                drive: boot_to_prompt,
            },
        },
        Scenario {
            name: "shell_commands",
            description: "help, pci, mem, threads, uptime, log, an unknown command, shutdown",
            timeout: BOOT,
            qemu_args: &[],
            body: Body::Shell {
                cmdline: "",
                drive: shell_commands,
            },
        },
        Scenario {
            name: "line_editing",
            description: "DEL (0x7f) and backspace (0x08) edit the command line",
            timeout: BOOT,
            qemu_args: &[],
            body: Body::Shell {
                cmdline: "",
                drive: line_editing,
            },
        },
        Scenario {
            name: "page_fault_report",
            description: "`crash write 0xdead000` prints a decoded #PF report and exits 37",
            timeout: BOOT,
            qemu_args: &[],
            body: Body::Shell {
                cmdline: "",
                drive: page_fault_report,
            },
        },
        Scenario {
            name: "pci_finds_devices",
            description: "`pci` lists the i440FX host bridge and an added e1000 (default NIC off) with its BARs",
            timeout: BOOT,
            qemu_args: &["-nic", "none", "-device", "e1000"],
            body: Body::Shell {
                cmdline: "",
                drive: pci_finds_devices,
            },
        },
        Scenario {
            name: "native_crash_null_deref",
            description: "crashtest loaded native (`nim.autoload=0`): `ext crash crashtest null-deref` stops the kernel (#PF, status 37)",
            timeout: BOOT,
            qemu_args: &[],
            body: Body::Shell {
                cmdline: "nim.autoload=0",
                drive: native_crash_null_deref,
            },
        },
        Scenario {
            name: "native_crash_write_kernel_text",
            description: "crashtest loaded native: `ext crash crashtest write-kernel-text` stops the kernel (#PF, status 37)",
            timeout: BOOT,
            qemu_args: &[],
            body: Body::Shell {
                cmdline: "nim.autoload=0",
                drive: native_crash_write_kernel_text,
            },
        },
        Scenario {
            name: "native_crash_invalid_opcode",
            description: "crashtest loaded native: `ext crash crashtest invalid-opcode` stops the kernel (#UD, status 37)",
            timeout: BOOT,
            qemu_args: &[],
            body: Body::Shell {
                cmdline: "nim.autoload=0",
                drive: native_crash_invalid_opcode,
            },
        },
        Scenario {
            name: "rtc_device",
            description: "`devices read rtc0` and `devices control rtc0 1` agree on a date from 2025 on; `ext crash rtc null-deref` recovers rtc as generation 1 and rtc0 reads again",
            timeout: BOOT,
            qemu_args: &[],
            body: Body::Shell {
                cmdline: "",
                drive: rtc_device,
            },
        },
        Scenario {
            name: "isolated_crash_pipeline",
            description: "`ext list`, `ext crash crashtest write-kernel-data`, `ext list`, `shutdown` piped into `cargo xtask run`: crashtest recovers as generation 1, exit 0",
            timeout: Duration::from_secs(90),
            qemu_args: &[],
            body: Body::PipedRun {
                input: "ext list\next crash crashtest write-kernel-data\next list\nshutdown\n",
                max_wall: Duration::from_secs(30),
                check: checks::crash_pipeline_output,
            },
        },
        Scenario {
            name: "piped_run",
            description: "`printf ... | cargo xtask run` answers every command and exits 0 quickly",
            timeout: Duration::from_secs(90),
            qemu_args: &[],
            body: Body::PipedRun {
                input: "help\npci\nmem\nthreads\nuptime\nshutdown\n",
                max_wall: Duration::from_secs(20),
                check: checks::piped_run_output,
            },
        },
        Scenario {
            name: "network_dhcp_and_ping",
            description: "each NIC (e1000, pcnet) gets 10.0.2.15 from QEMU's DHCP server and `ping 10.0.2.2` is answered through it",
            timeout: Duration::from_secs(120),
            qemu_args: &[],
            body: Body::Network {
                drive: network::dhcp_and_ping,
            },
        },
        Scenario {
            name: "network_tcp_transfer",
            description: "1 MiB to a TCP echo server on the host and back, through each NIC; the guest's and the host's checksums agree",
            timeout: Duration::from_secs(180),
            qemu_args: &[],
            body: Body::Network {
                drive: network::tcp_transfer,
            },
        },
        Scenario {
            name: "network_http_curl_and_wrk",
            description: "the host's curl fetches pages (200, 404, 400) from the httpd extension through each NIC; a 3 s wrk run ends with 0 errors",
            timeout: Duration::from_secs(180),
            qemu_args: &[],
            body: Body::Network {
                drive: network::http_curl_and_wrk,
            },
        },
        Scenario {
            name: "network_e1000_recovery_under_load",
            description: "`ext crash e1000 null-deref` while the host downloads through it: the driver restarts, e1000-0 keeps its address, a new connection and pings work within 5 s",
            timeout: Duration::from_secs(180),
            qemu_args: &[],
            body: Body::Network {
                drive: network::e1000_recovery_under_load,
            },
        },
    ]
}

/// Runs one scenario. Never panics on kernel misbehaviour; always kills QEMU.
pub fn run(s: &Scenario, env: &Env) -> Outcome {
    let start = Instant::now();
    let deadline = start + s.timeout;
    let (result, transcript) = match &s.body {
        Body::Shell { cmdline, drive } => {
            let machine = Machine::new(&env.kernel)
                .qemu(&env.qemu)
                .cmdline(*cmdline)
                .args(s.qemu_args.iter().copied());
            drive_machine(env, machine, s.timeout, deadline, 40, drive)
        }
        Body::PipedRun {
            input,
            max_wall,
            check,
        } => piped_run(env, input, *max_wall, *check, deadline, s.timeout),
        Body::Network { drive } => network_run(env, s, *drive, deadline),
    };
    let duration = start.elapsed();
    match result {
        Ok(note) => Outcome {
            name: s.name,
            passed: true,
            detail: String::new(),
            note,
            duration,
        },
        Err(f) => Outcome {
            name: s.name,
            passed: false,
            detail: format!(
                "{f}\n--- last lines of the console ---\n{}",
                transcript.trim_end()
            ),
            note: None,
            duration,
        },
    }
}

fn piped_run(
    env: &Env,
    input: &str,
    max_wall: Duration,
    check: fn(&str) -> Result<(), String>,
    deadline: Instant,
    timeout: Duration,
) -> (Verdict, String) {
    let Some(mk) = &env.run_command else {
        return (
            Err(Failure("no `xtask run` command configured".into())),
            String::new(),
        );
    };
    let start = Instant::now();
    let mut session = match Session::spawn(mk()) {
        Ok(s) => s,
        Err(e) => {
            return (
                Err(Failure(format!("could not start xtask run: {e}"))),
                String::new(),
            );
        }
    };
    session.set_deadline(deadline);
    let r = (|| -> Verdict {
        // Everything at once, before the kernel is up: `run` must hold it back.
        session.send(input)?;
        session.close_stdin();
        let exit = session
            .wait_exit(timeout)?
            .ok_or_else(|| Failure(format!("`xtask run` did not finish within {timeout:?}")))?;
        let wall = start.elapsed();
        if exit.code() != Some(0) {
            return Err(Failure(format!(
                "`xtask run` ended with {exit}, expected 0"
            )));
        }
        check(&session.transcript())?;
        let note = format!("wall time {:.2} s", wall.as_secs_f64());
        if wall > max_wall {
            return Err(Failure(format!(
                "{note}: over the {:.0} s bound",
                max_wall.as_secs_f64()
            )));
        }
        Ok(Some(note))
    })();
    session.kill();
    (r, session.tail(40))
}

fn network_run(
    env: &Env,
    s: &Scenario,
    drive: fn(&mut Session, &network::ForwardedPorts) -> Verdict,
    deadline: Instant,
) -> (Verdict, String) {
    let port = match qemu_harness::free_local_port_pair() {
        Ok(port) => port,
        Err(e) => {
            return (
                Err(Failure(format!("no free host ports: {e}"))),
                String::new(),
            );
        }
    };
    let ports = network::ForwardedPorts {
        e1000_http: port,
        pcnet_http: port + 1,
    };
    let machine = Machine::new(&env.kernel)
        .qemu(&env.qemu)
        .with_network_cards(&[
            NetworkForward {
                card: 0,
                host_port: ports.e1000_http,
                guest_port: 80,
            },
            NetworkForward {
                card: 1,
                host_port: ports.pcnet_http,
                guest_port: 80,
            },
        ])
        .args(s.qemu_args.iter().copied());
    drive_machine(env, machine, s.timeout, deadline, 60, |session| {
        drive(session, &ports)
    })
}

/// Boots `machine` (serial piped), lets `drive` talk to it under the
/// scenario's timeout and deadline, kills QEMU, and returns the verdict with
/// the last `tail_lines` lines of the console.
fn drive_machine(
    env: &Env,
    machine: Machine,
    timeout: Duration,
    deadline: Instant,
    tail_lines: usize,
    drive: impl FnOnce(&mut Session) -> Verdict,
) -> (Verdict, String) {
    match Session::spawn(machine.command(Serial::Piped)) {
        Err(e) => (
            Err(Failure(format!(
                "could not start {}: {e}",
                env.qemu.display()
            ))),
            String::new(),
        ),
        Ok(mut session) => {
            session.set_deadline(deadline);
            session.set_timeout(timeout);
            let verdict = drive(&mut session);
            session.kill();
            (verdict, session.tail(tail_lines))
        }
    }
}

/// Waits for the first prompt; returns the boot log.
fn boot(s: &mut Session) -> Result<String, Failure> {
    s.expect_prompt()
        .map_err(|e| Failure(format!("booting to the shell: {e}")))
}

/// Sends `shutdown` and checks QEMU powers off cleanly (status 0 or 33).
pub(crate) fn shutdown(s: &mut Session) -> Result<(), Failure> {
    s.send("shutdown\n")?;
    s.expect("shutting down")?;
    let exit = s
        .wait_exit(BOOT)?
        .ok_or_else(|| Failure("QEMU did not exit after `shutdown`".into()))?;
    if !exit.is_clean_shutdown() {
        return Err(Failure(format!(
            "after `shutdown` QEMU ended with {exit}, expected status 0 or 33"
        )));
    }
    Ok(())
}

/// Runs `cmd` and applies `check` to its answer, naming the command on failure.
fn checked(
    s: &mut Session,
    cmd: &str,
    check: impl Fn(&str) -> Result<(), String>,
) -> Result<String, Failure> {
    let out = s
        .command(cmd)
        .map_err(|e| Failure(format!("`{cmd}`: {e}")))?;
    check(&out).map_err(|e| Failure(format!("`{cmd}`: {e}\n--- its answer ---\n{out}")))?;
    Ok(out)
}

fn boot_to_prompt(s: &mut Session) -> Verdict {
    boot(s)?;
    shutdown(s)?;
    let ms = checks::boot_time_ms(&s.transcript())?;
    Ok(Some(format!("reached shell prompt in {ms} ms")))
}

fn shell_commands(s: &mut Session) -> Verdict {
    boot(s)?;
    checked(s, "help", checks::help)?;
    checked(s, "pci", checks::pci)?;
    checked(s, "mem", checks::mem)?;
    checked(s, "threads", checks::threads)?;
    checked(s, "uptime", checks::uptime)?;
    checked(s, "log debug", |o| checks::log_level(o, "debug"))?;
    checked(s, "frobnicate", |o| {
        checks::unknown_command(o, "frobnicate")
    })?;
    // The shell must carry on after the error.
    checked(s, "uptime", checks::uptime)?;
    shutdown(s)?;
    Ok(None)
}

fn line_editing(s: &mut Session) -> Verdict {
    boot(s)?;
    // `pcx`, DEL, `i` → `pci`.
    checked(s, "pcx\x7fi", checks::pci)?;
    // `mex`, BS, `m` → `mem`; two erasures in a row → `uptime`.
    checked(s, "mex\x08m", checks::mem)?;
    checked(s, "uptimxx\x08\x7fe", checks::uptime)?;
    shutdown(s)?;
    Ok(None)
}

fn page_fault_report(s: &mut Session) -> Verdict {
    boot(s)?;
    s.send("crash write 0xdead000\n")?;
    s.expect("kernel stopped")
        .map_err(|e| Failure(format!("after `crash write 0xdead000`: {e}")))?;
    let exit = s
        .wait_exit(BOOT)?
        .ok_or_else(|| Failure("QEMU did not exit after `kernel stopped`".into()))?;
    let text = s.transcript();
    let after = text
        .rfind("crash write 0xdead000")
        .map_or(text.as_str(), |i| &text[i..]);
    checks::page_fault_report(after, 0xdead000, &["not-present", "write"])?;
    if exit != Exit::KernelStopped {
        return Err(Failure(format!(
            "QEMU ended with {exit}, expected status 37"
        )));
    }
    Ok(None)
}

fn pci_finds_devices(s: &mut Session) -> Verdict {
    boot(s)?;
    checked(s, "pci", |o| {
        checks::pci(o)?;
        checks::pci_device_with_bar(o, "8086:100e")
    })?;
    shutdown(s)?;
    Ok(None)
}

/// Loads crashtest native (nothing is loaded at boot: `nim.autoload=0`),
/// makes it crash with `kind`, and checks the kernel stops with a fatal
/// report naming `mnemonic` (and `bits` in the error code) and status 37.
fn native_crash(s: &mut Session, kind: &str, mnemonic: &str, bits: &[&str]) -> Verdict {
    boot(s)?;
    checked(s, "ext list", |o| {
        checks::no_extensions_but_bundled(o, "crashtest")
    })?;
    checked(s, "ext load crashtest native", |o| {
        if o.contains("loaded (native)") {
            Ok(())
        } else {
            Err("no `loaded (native)`".into())
        }
    })?;
    checked(s, "ext list", |o| {
        let row = checks::ext_row(o, "crashtest")?;
        if row.mode == "native" && row.state == "running" {
            Ok(())
        } else {
            Err(format!("crashtest is {} {}", row.mode, row.state))
        }
    })?;
    let command = format!("ext crash crashtest {kind}");
    s.send(&format!("{command}\n"))?;
    // A recovery answer (`now running as ...`) or a new prompt means the
    // kernel survived a native fault: fail at once rather than time out.
    let (which, _) = s
        .expect_any(&["kernel stopped", "now running as", "\n> "], BOOT)
        .map_err(|e| Failure(format!("after `{command}`: {e}")))?;
    if which != 0 {
        return Err(Failure(format!(
            "after `{command}` the kernel carried on: a native extension's fault must stop it"
        )));
    }
    let exit = s
        .wait_exit(BOOT)?
        .ok_or_else(|| Failure("QEMU did not exit after `kernel stopped`".into()))?;
    let text = s.transcript();
    let after = text.rfind(&command).map_or(text.as_str(), |i| &text[i..]);
    checks::native_fault_report(after, mnemonic, bits)?;
    if exit != Exit::KernelStopped {
        return Err(Failure(format!(
            "QEMU ended with {exit}, expected status 37"
        )));
    }
    Ok(None)
}

fn native_crash_null_deref(s: &mut Session) -> Verdict {
    native_crash(s, "null-deref", "#PF", &["not-present", "read"])
}

fn native_crash_write_kernel_text(s: &mut Session) -> Verdict {
    native_crash(
        s,
        "write-kernel-text",
        "#PF",
        &["protection-violation", "write"],
    )
}

fn native_crash_invalid_opcode(s: &mut Session) -> Verdict {
    native_crash(s, "invalid-opcode", "#UD", &[])
}

/// The rtc driver through the shell, as `docs/writing-an-extension.md`
/// shows it: read rtc0, ask for the Unix seconds, crash the driver, read
/// again.
fn rtc_device(s: &mut Session) -> Verdict {
    boot(s)?;
    checked(s, "devices", |o| {
        checks::device_listed(o, "rtc0", "character")
    })?;
    let before = checks::rtc_read(&checked(s, "devices read rtc0", |o| {
        checks::rtc_read(o).map(|_| ())
    })?)?;
    let control = checked(s, "devices control rtc0 1", |o| {
        checks::device_control_answer(o, "rtc0", 1).map(|_| ())
    })?;
    let seconds = checks::device_control_answer(&control, "rtc0", 1)?;
    if !(before..=before + 5).contains(&seconds) {
        return Err(Failure(format!(
            "`devices control rtc0 1` answered {seconds}, but the text read just before is {before} s after the epoch"
        )));
    }
    checked(s, "ext crash rtc null-deref", |o| {
        checks::crash_recovered(o, "rtc", "page-fault", 1)
    })?;
    checked(s, "ext list", |o| {
        let row = checks::ext_row(o, "rtc")?;
        if row.mode == "isolated"
            && row.state == "running"
            && row.generation == 1
            && row.faults == 1
        {
            Ok(())
        } else {
            Err(format!(
                "rtc is {row:?}, expected isolated running generation 1 with 1 fault"
            ))
        }
    })?;
    let after = checks::rtc_read(&checked(s, "devices read rtc0", |o| {
        checks::rtc_read(o).map(|_| ())
    })?)?;
    if after < seconds {
        return Err(Failure(format!(
            "rtc0 went back in time across the recovery: {seconds} then {after}"
        )));
    }
    checked(s, "ext faults rtc", |o| {
        checks::fault_record(o, "rtc", "page-fault", 0)
    })?;
    shutdown(s)?;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_timeouts_set() {
        let all = all();
        assert_eq!(all.len(), 15);
        let mut names: Vec<_> = all.iter().map(|s| s.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len());
        assert!(all.iter().all(|s| s.timeout > Duration::ZERO));
    }
}
