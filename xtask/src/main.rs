//! The project's one entry point:
//! `cargo xtask build|run|test|check|bench|inject|new-extension|help`.
//!
//! Invariants:
//! - The kernel build command lives in exactly one function,
//!   [`kernel_build_command`]; every subcommand that needs the kernel calls it.
//! - QEMU is never run with KVM; the command line comes from
//!   `qemu_harness::Machine` only.
//! - `test` prints one `test NAME ... ok|FAILED` line per result and ends with
//!   exactly one aggregated line `N passed, N failed`; it exits non-zero on any
//!   failure. Stage banners (`==> ...`) go to stderr.
//! - Bad arguments: one-line error, usage on stderr, exit status 2.

mod args;
mod bench;
mod bench_net;
mod bench_recovery;
mod extensions;
mod inject;
mod libtest;
mod new_extension;

use std::io::{self, BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Instant;

use args::{Cmd, RunArgs, TestArgs, USAGE};
use qemu_harness::{Exit, Machine, NetworkForward, PipedOptions, Serial, ktest, run_piped};

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let cmd = match args::parse(&argv) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let r = match cmd {
        Cmd::Help => {
            println!("{USAGE}");
            Ok(())
        }
        Cmd::Build => build_kernel().map(|_| ()),
        Cmd::Run(a) => run(&a),
        Cmd::Check => check(),
        Cmd::Test(a) => test(&a),
        Cmd::Bench(a) => bench::run(&a),
        Cmd::Inject(a) => inject::run(&a),
        Cmd::NewExtension(name) => new_extension::create(&root(), &name)
            .map(|_| println!("{}", new_extension::success_message(&name))),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("error: {msg}");
            }
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (xtask lives one level below it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

/// The `cargo` that invoked us (falls back to `cargo` on PATH).
fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root());
    c
}

fn stage(msg: &str) {
    eprintln!("==> {msg}");
}

/// THE kernel build command. Adjust flags (e.g. RUSTFLAGS) here only.
/// The kernel embeds the extension bundle when it exists.
fn kernel_build_command() -> Command {
    let mut c = cargo();
    c.args([
        "build",
        "--release",
        "-p",
        "kernel",
        "--target",
        "x86_64-unknown-none",
    ]);
    set_bundle_variable(&mut c);
    c
}

/// Points the kernel's build script at the extension bundle (if built).
fn set_bundle_variable(c: &mut Command) {
    let bundle = extensions::bundle_path(&target_directory());
    if bundle.is_file() {
        c.env(extensions::BUNDLE_VARIABLE, bundle);
    }
}

/// The cargo target directory (absolute).
fn target_directory() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    if target.is_absolute() {
        target
    } else {
        root().join(target)
    }
}

/// Where [`kernel_build_command`] puts the kernel ELF.
fn kernel_path() -> PathBuf {
    target_directory().join("x86_64-unknown-none/release/kernel")
}

/// Builds every extension image and packs them into the bundle.
fn build_extensions() -> Result<(), String> {
    let names = extensions::names(&root())?;
    let violations = extensions::unsafe_policy_violations(&root());
    if !violations.is_empty() {
        return Err(violations.join("\n"));
    }
    stage(&format!(
        "build: extensions ({}) for x86_64-unknown-none",
        names.join(", ")
    ));
    let st = extensions::build_command(cargo(), &names)
        .status()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if !st.success() {
        return Err(format!("extension build failed ({st})"));
    }
    let images = target_directory().join("x86_64-unknown-none/release");
    let bundle = extensions::bundle_path(&target_directory());
    let size = extensions::pack(&names, &images, &bundle)?;
    stage(&format!(
        "build: packed {} extension image(s) into {} ({} KiB)",
        names.len(),
        bundle.display(),
        size.div_ceil(1024)
    ));
    Ok(())
}

/// Builds the extensions, then the kernel that embeds them (a quick no-op
/// when up to date); returns the ELF path.
fn build_kernel() -> Result<PathBuf, String> {
    build_extensions()?;
    stage("build: kernel (cargo build --release -p kernel --target x86_64-unknown-none)");
    let st = kernel_build_command()
        .status()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if !st.success() {
        return Err(format!("kernel build failed ({st})"));
    }
    let k = kernel_path();
    if !k.is_file() {
        return Err(format!(
            "kernel build succeeded but {} is missing",
            k.display()
        ));
    }
    Ok(k)
}

/// Effective uid 0? (read from /proc; no libc dependency)
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn on_path(prog: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
}

/// Finds QEMU, installing Debian's `qemu-system-x86` when root with apt-get.
fn ensure_qemu() -> Result<PathBuf, String> {
    if let Some(q) = std::env::var_os("XTASK_QEMU") {
        return Ok(PathBuf::from(q));
    }
    if let Some(q) = qemu_harness::qemu_on_path() {
        return Ok(q);
    }
    const APT: &str = "apt-get update && apt-get install -y qemu-system-x86";
    if is_root() && on_path("apt-get") {
        stage(&format!(
            "{} not found: installing Debian's qemu-system-x86 ({APT})",
            qemu_harness::QEMU_BINARY
        ));
        let st = Command::new("sh")
            .args(["-c", APT])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map_err(|e| format!("could not run apt-get: {e}"))?;
        if !st.success() {
            return Err(format!("installing QEMU failed ({st}); run: {APT}"));
        }
        return qemu_harness::qemu_on_path().ok_or_else(|| {
            format!(
                "qemu-system-x86 installed but {} is still not on PATH",
                qemu_harness::QEMU_BINARY
            )
        });
    }
    Err(format!(
        "{} not found on PATH. Install it with:\n    sudo apt-get update && sudo apt-get install -y qemu-system-x86\n(on other distributions: your QEMU x86 system emulator package)",
        qemu_harness::QEMU_BINARY
    ))
}

/// Maps how QEMU ended to our result, with the agreed messages.
fn qemu_result(e: Exit) -> Result<(), String> {
    match e {
        Exit::PoweredOff | Exit::DebugExitSuccess => Ok(()),
        Exit::KernelStopped => Err("kernel stopped on a fatal fault (see log above)".into()),
        Exit::TestsFailed => Err("in-kernel tests failed (QEMU status 35)".into()),
        other => Err(format!(
            "QEMU ended with {other}: an infrastructure problem (QEMU error, or the kernel wedged)"
        )),
    }
}

fn run(a: &RunArgs) -> Result<(), String> {
    let qemu = ensure_qemu()?;
    let kernel = if a.no_build {
        kernel_path()
    } else {
        build_kernel()?
    };
    let m = Machine::new(kernel)
        .qemu(qemu)
        .cmdline(a.cmdline.clone())
        .with_network_cards(&[
            NetworkForward {
                card: 0,
                host_port: a.http_port,
                guest_port: 80,
            },
            NetworkForward {
                card: 1,
                host_port: a.http_port + 1,
                guest_port: 80,
            },
        ])
        .args(a.qemu_args.iter().cloned());
    if io::stdin().is_terminal() {
        stage("run: booting under QEMU (Ctrl-A X quits, Ctrl-A C toggles the QEMU monitor)");
        let st = m
            .command(Serial::Interactive)
            .status()
            .map_err(|e| format!("could not start QEMU: {e}"))?;
        qemu_result(Exit::from_status(st))
    } else {
        let opts = PipedOptions {
            prompt_timeout: a.timeout,
            exit_timeout: a.timeout,
        };
        let e = run_piped(
            m.command(Serial::Piped),
            Box::new(io::stdin()),
            Box::new(io::stdout()),
            opts,
        )
        .map_err(|e| e.to_string())?;
        qemu_result(e)
    }
}

fn check() -> Result<(), String> {
    let extension_names = extensions::names(&root())?;
    let mut extension_clippy: Vec<&str> = vec![
        "clippy",
        "--release",
        "--target",
        "x86_64-unknown-none",
        "-p",
        "extension-api",
    ];
    for name in &extension_names {
        extension_clippy.extend(["-p", name.as_str()]);
    }
    extension_clippy.extend(["--", "-D", "warnings"]);
    let steps: [(&str, &[&str]); 4] = [
        ("rustfmt", &["fmt", "--all", "--", "--check"]),
        (
            "clippy (host crates)",
            &["clippy", "--all-targets", "--", "-D", "warnings"],
        ),
        (
            "clippy (kernel)",
            &[
                "clippy",
                "--release",
                "-p",
                "kernel",
                "--target",
                "x86_64-unknown-none",
                "--",
                "-D",
                "warnings",
            ],
        ),
        ("clippy (extensions)", &extension_clippy),
    ];
    let mut failed = Vec::new();
    for (name, args) in steps {
        stage(&format!("check: {name} (cargo {})", args.join(" ")));
        let mut command = cargo();
        command.args(args);
        set_bundle_variable(&mut command);
        match command.status() {
            Ok(s) if s.success() => {}
            Ok(s) => failed.push(format!("{name} ({s})")),
            Err(e) => failed.push(format!("{name} (could not run cargo: {e})")),
        }
    }
    if failed.is_empty() {
        eprintln!("check: all clean");
        Ok(())
    } else {
        Err(format!("check failed: {}", failed.join(", ")))
    }
}

/// Aggregated results of `cargo xtask test`.
#[derive(Default)]
struct Totals {
    passed: usize,
    failed: usize,
    details: Vec<(String, String)>,
}

impl Totals {
    fn fail(&mut self, name: &str, detail: String) {
        self.failed += 1;
        self.details.push((name.to_string(), detail));
    }
}

fn host_tests(a: &TestArgs, t: &mut Totals) {
    stage("test: host unit tests (cargo test over the workspace's default members)");
    let mut c = cargo();
    c.arg("test");
    if let Some(f) = &a.filter {
        c.args(["--", f]);
    }
    c.stdout(Stdio::piped());
    let mut child = match c.spawn() {
        Ok(ch) => ch,
        Err(e) => return t.fail("host tests", format!("could not run cargo test: {e}")),
    };
    let mut tally = libtest::Tally::default();
    let out = child.stdout.take().expect("stdout piped");
    for line in BufReader::new(out).lines().map_while(Result::ok) {
        if libtest::is_result_line(&line) {
            println!("{line}");
        }
        tally.feed(&line);
    }
    let st = child.wait();
    t.passed += tally.passed;
    t.failed += tally.failed;
    if tally.failed > 0 {
        t.details.push((
            "host tests".into(),
            tally.failure_text.trim_end().to_string(),
        ));
    }
    match st {
        Ok(s) if s.success() => {}
        Ok(s) if tally.failed == 0 => t.fail(
            "host tests",
            format!("cargo test ended with {s} without failing tests (build error? see above)"),
        ),
        Ok(_) => {}
        Err(e) => t.fail("host tests", format!("waiting for cargo test: {e}")),
    }
}

fn kernel_tests(a: &TestArgs, qemu: &Path, kernel: &Path, t: &mut Totals) {
    stage(&format!(
        "test: in-kernel tests under QEMU (per-boot timeout {} s)",
        a.timeout.as_secs()
    ));
    let filter = a.filter.clone();
    let mut launch = |skip: usize| {
        Machine::new(kernel)
            .qemu(qemu)
            .cmdline(ktest::cmdline(filter.as_deref(), skip, ""))
            .with_network_cards(&[])
            .command(Serial::Piped)
    };
    let opts = ktest::Options {
        boot_timeout: a.timeout,
        ..ktest::Options::default()
    };
    let report = ktest::run(&mut launch, &opts, &mut |r| println!("{}", r.line()));
    if report.boots > 1 {
        eprintln!(
            "ktest: {} boots (relaunched after crashes/hangs)",
            report.boots
        );
    }
    for r in &report.results {
        if r.passed() {
            t.passed += 1;
        } else {
            let mut d = r.line();
            if !r.detail.is_empty() {
                d.push('\n');
                d.push_str(&r.detail);
            }
            t.fail(&r.name, d);
        }
    }
    for p in report.problems {
        println!("test ktest (runner) ... FAILED");
        t.fail("ktest (runner)", p);
    }
}

fn scenario_tests(a: &TestArgs, qemu: &Path, kernel: &Path, t: &mut Totals) {
    let list: Vec<scenarios::Scenario> = scenarios::all()
        .into_iter()
        .filter(|s| a.filter.as_deref().is_none_or(|f| s.name.contains(f)))
        .collect();
    let jobs = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .min(list.len().max(1));
    stage(&format!(
        "test: {} QEMU scenarios ({jobs} in parallel)",
        list.len()
    ));
    let exe = std::env::current_exe().ok();
    let env = scenarios::Env {
        qemu: qemu.to_path_buf(),
        kernel: kernel.to_path_buf(),
        run_command: exe.map(|exe| -> scenarios::RunCommand {
            Arc::new(move || {
                let mut c = Command::new(&exe);
                c.arg("run").current_dir(root());
                // Parallel QEMUs must not fight over the default 8080.
                if let Ok(port) = qemu_harness::free_local_port_pair() {
                    c.arg(format!("--http-port={port}"));
                }
                c
            })
        }),
    };
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (list, env, next) = (&list, &env, &next);
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(sc) = list.get(i) else { break };
                    if tx.send(scenarios::run(sc, env)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for o in rx {
            let name = format!("scenario::{}", o.name);
            let note = o
                .note
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            if o.passed {
                println!("test {name} ... ok{note}");
                t.passed += 1;
            } else {
                println!(
                    "test {name} ... FAILED (after {:.1} s)",
                    o.duration.as_secs_f64()
                );
                t.fail(&name, o.detail);
            }
            let _ = io::stdout().flush();
        }
    });
}

fn inject_tests(a: &TestArgs, qemu: &Path, kernel: &Path, t: &mut Totals) {
    if let Some(filter) = &a.filter
        && !inject::TEST_NAMES
            .iter()
            .any(|name| name.contains(filter.as_str()))
    {
        return;
    }
    let jobs = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    stage(&format!(
        "test: a small fault-injection campaign (crashtest and rtc, isolated, every fault type, {jobs} QEMU(s)) and its reproducibility"
    ));
    for (name, result) in inject::test_campaign(qemu, kernel, jobs) {
        match result {
            Ok(note) => {
                let note = note.map(|n| format!(" ({n})")).unwrap_or_default();
                println!("test {name} ... ok{note}");
                t.passed += 1;
            }
            Err(detail) => {
                println!("test {name} ... FAILED");
                t.fail(&name, detail);
            }
        }
        let _ = io::stdout().flush();
    }
}

fn test(a: &TestArgs) -> Result<(), String> {
    let start = Instant::now();
    let mut t = Totals::default();
    if !a.no_host {
        host_tests(a, &mut t);
    }
    if !a.host_only {
        match ensure_qemu().and_then(|q| build_kernel().map(|k| (q, k))) {
            Ok((qemu, kernel)) => {
                kernel_tests(a, &qemu, &kernel, &mut t);
                scenario_tests(a, &qemu, &kernel, &mut t);
                inject_tests(a, &qemu, &kernel, &mut t);
            }
            Err(e) => {
                println!("test kernel build/QEMU setup ... FAILED");
                t.fail("kernel build/QEMU setup", e);
            }
        }
    }
    if !t.details.is_empty() {
        println!("\nfailures:");
        for (name, d) in &t.details {
            println!("\n---- {name} ----\n{}", d.trim_end());
        }
        println!();
    }
    eprintln!("test: finished in {:.1} s", start.elapsed().as_secs_f64());
    let _ = io::stderr().flush();
    println!("{} passed, {} failed", t.passed, t.failed);
    if t.failed == 0 {
        Ok(())
    } else {
        Err(String::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_path_is_under_target() {
        let k = kernel_path();
        assert!(k.ends_with("x86_64-unknown-none/release/kernel"), "{k:?}");
    }

    #[test]
    fn build_command_is_the_agreed_one() {
        let c = kernel_build_command();
        let a: Vec<_> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            a,
            [
                "build",
                "--release",
                "-p",
                "kernel",
                "--target",
                "x86_64-unknown-none"
            ]
        );
    }

    #[test]
    fn exit_mapping() {
        assert!(qemu_result(Exit::PoweredOff).is_ok());
        assert!(qemu_result(Exit::DebugExitSuccess).is_ok());
        assert_eq!(
            qemu_result(Exit::KernelStopped).unwrap_err(),
            "kernel stopped on a fatal fault (see log above)"
        );
        assert!(qemu_result(Exit::Other(1)).is_err());
    }
}
