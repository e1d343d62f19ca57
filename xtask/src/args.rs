//! Hand-written command-line parsing: strict, with one-line errors.

use std::time::Duration;

/// Usage text, printed by `help` and after argument errors.
pub const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  run     build the kernel and boot it under QEMU, serial console on this terminal
            --no-build        boot the existing kernel ELF without building
            --cmdline STR     kernel command line (e.g. \"log=debug\")
            --timeout SECS    piped input only: wait this long for the prompt, and
                              for power-off after the input ended (default 120)
            --http-port PORT  host port forwarded to the guest's web server (port 80)
                              through the e1000's network (default 8080; PORT+1
                              reaches it through the pcnet's)
            -- ARGS...        extra QEMU arguments (e.g. -- -device e1000)
          Both network cards (e1000, pcnet) are attached, each on its own QEMU
          user-mode network.
          With stdin not a terminal (printf 'pci\\nshutdown\\n' | cargo xtask run),
          input is held back until the first `> ` prompt, then forwarded.
  test    every test: host unit tests, in-kernel tests under QEMU, QEMU scenarios
            --filter SUBSTR   only tests/scenarios whose name contains SUBSTR
            --host-only       only the host unit tests (no QEMU)
            --no-host         skip the host unit tests
            --timeout SECS    per-boot timeout of the in-kernel test runs (default 120)
            --jobs N          scenarios run in parallel (default: CPU count)
  bench   NAME [options]: a benchmark inside the kernel under QEMU; `bench` alone
          lists the benchmarks
            xpc               cross-domain call (XPC) cost, two boots (plain TCG, then
                              TCG -icount shift=0): table on stdout, results in
                              target/bench/xpc.json and target/bench/xpc.svg
            recovery          crash-and-recover cycles in one boot (default 10,000):
                              time to recover and leak check, target/bench/recovery.json
            net               receive and send streams (guest <-> a host TCP server)
                              and web requests (wrk from the host against httpd),
                              e1000 and httpd native, isolated, and isolated without
                              batching, side by side in one boot: the analogue of
                              Nooks' Table 4, target/bench/net.json
            --iterations N    calls per measurement, or cycles (bench.iterations=N;
                              default: the kernel's); for net: MiB per stream
                              (default 8)
            --timeout SECS    per-boot timeout (default 300)
            --no-build        boot the existing kernel ELF without building
            --cmdline STR     more kernel command line after bench=NAME
            -- ARGS...        extra QEMU arguments, for both boots
  inject  a fault-injection campaign under QEMU (docs/fault-injection-campaigns.md)
            --extension E[,E...]  extensions under test (each needs a workload)
            --faults T[,T...]     fault types, or the groups all, mutation,
                                  fail-point, crash
            --trials N            trials per extension per mode (default 10)
            --count K             faults per trial (default 5)
            --seed S              campaign seed (default 1)
            --mode M              native, isolated or both (default both)
            --jobs J              parallel QEMUs (default: CPU count)
            --out DIR             writes trials.jsonl, report.md, report.svg, logs/,
                                  campaign.txt
            --knobs K=V,...       fail-point knobs: probability, interval, times, nth
            --timeout SECS        a command unanswered this long is a hang (default 20)
            --no-reuse            a fresh boot for every isolated trial too
            --no-build            use the existing kernel ELF
            --cmdline STR         more kernel command line (after nim.autoload=0)
          inject --reproduce ID --out DIR: re-runs one trial (ID from trials.jsonl)
          in a fresh boot and compares it with DIR/trials.jsonl
          inject --report --out DIR: writes DIR's report.md and report.svg again
          (after adding explanations to DIR/explanations.txt, TRIAL-ID TEXT a line)
  new-extension NAME
          a new extension crate in extensions/NAME, copied from extensions/template
          (NAME: up to 31 of a-z, 0-9, '-', '_', starting with a letter; the type
          `Template` becomes NAME in CamelCase); `build` and `run` pick it up
  check   rustfmt check, clippy -D warnings for host crates and for the kernel
  build   build the kernel (target/x86_64-unknown-none/release/kernel)
  help    this text

environment:
  XTASK_QEMU=PATH   use this emulator binary instead of qemu-system-x86_64 on PATH

QEMU exit status: 0 powered off, 33 debug-exit success, 35 in-kernel tests
failed, 37 kernel stopped on a fatal fault.";

/// Options of `run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunArgs {
    /// Skip the kernel build.
    pub no_build: bool,
    /// Kernel command line.
    pub cmdline: String,
    /// Prompt / power-off timeout in piped mode.
    pub timeout: Duration,
    /// Extra QEMU arguments.
    pub qemu_args: Vec<String>,
    /// Host port forwarded to the guest's port 80 through the e1000 (the
    /// next one through the pcnet).
    pub http_port: u16,
}

/// Options of `test`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestArgs {
    /// Name filter for every stage.
    pub filter: Option<String>,
    /// Only host tests.
    pub host_only: bool,
    /// No host tests.
    pub no_host: bool,
    /// Per-boot timeout of in-kernel test runs.
    pub timeout: Duration,
    /// Parallel scenarios (None: CPU count).
    pub jobs: Option<usize>,
}

/// The benchmarks `cargo xtask bench` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Benchmark {
    /// Cross-domain calls (XPC) against a direct call.
    Xpc,
    /// Many crash-and-recover cycles in one boot: leaks and time to recover.
    Recovery,
    /// Network throughput and web requests, native against isolated.
    Net,
}

impl Benchmark {
    /// Every benchmark, in the order `bench` lists them.
    pub const ALL: [Benchmark; 3] = [Benchmark::Xpc, Benchmark::Recovery, Benchmark::Net];

    /// The name on the command line (and in `bench=NAME` for the kernel).
    pub fn name(self) -> &'static str {
        match self {
            Benchmark::Xpc => "xpc",
            Benchmark::Recovery => "recovery",
            Benchmark::Net => "net",
        }
    }

    /// `xpc, ...`, for messages.
    pub fn list() -> String {
        Benchmark::ALL.map(Benchmark::name).join(", ")
    }
}

/// Options of `bench`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchArgs {
    /// Which benchmark.
    pub benchmark: Benchmark,
    /// Skip the kernel build.
    pub no_build: bool,
    /// `bench.iterations=N` for the kernel, when given.
    pub iterations: Option<u64>,
    /// Timeout of each boot.
    pub timeout: Duration,
    /// More kernel command line after `bench=NAME`.
    pub cmdline: String,
    /// Extra QEMU arguments (both boots).
    pub qemu_args: Vec<String>,
}

/// A parsed invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    /// `help`, `-h`, `--help`, or nothing.
    Help,
    /// `build`
    Build,
    /// `check`
    Check,
    /// `run ...`
    Run(RunArgs),
    /// `test ...`
    Test(TestArgs),
    /// `bench NAME ...`
    Bench(BenchArgs),
    /// `new-extension NAME` (the name passed [`crate::new_extension::check_name`]).
    NewExtension(String),
    /// `inject ...`
    Inject(crate::inject::options::InjectArgs),
}

/// Takes the value of `--flag VALUE` or `--flag=VALUE`.
fn value(
    flag: &str,
    inline: Option<&str>,
    rest: &mut std::slice::Iter<'_, String>,
) -> Result<String, String> {
    match inline {
        Some(v) => Ok(v.to_string()),
        None => rest
            .next()
            .cloned()
            .ok_or_else(|| format!("{flag} needs a value")),
    }
}

fn seconds(flag: &str, v: &str) -> Result<Duration, String> {
    match v.parse::<u64>() {
        Ok(n) if n > 0 => Ok(Duration::from_secs(n)),
        _ => Err(format!(
            "{flag} expects a positive number of seconds, got {v:?}"
        )),
    }
}

/// Parses the arguments after `cargo xtask`.
pub fn parse(args: &[String]) -> Result<Cmd, String> {
    let Some((sub, rest)) = args.split_first() else {
        return Ok(Cmd::Help);
    };
    let mut it = rest.iter();
    match sub.as_str() {
        "help" | "-h" | "--help" => {
            if let Some(a) = it.next() {
                return Err(format!("unexpected argument {a:?} for `help`"));
            }
            Ok(Cmd::Help)
        }
        "build" | "check" => {
            if let Some(a) = it.next() {
                return Err(format!("unknown argument {a:?} for `{sub}`"));
            }
            Ok(if sub == "build" {
                Cmd::Build
            } else {
                Cmd::Check
            })
        }
        "run" => {
            let mut r = RunArgs {
                no_build: false,
                cmdline: String::new(),
                timeout: Duration::from_secs(120),
                qemu_args: Vec::new(),
                http_port: 8080,
            };
            while let Some(a) = it.next() {
                let (flag, inline) = match a.split_once('=') {
                    Some((f, v)) if f.starts_with("--") => (f, Some(v)),
                    _ => (a.as_str(), None),
                };
                match flag {
                    "--" => {
                        r.qemu_args = it.by_ref().cloned().collect();
                    }
                    "--no-build" if inline.is_none() => r.no_build = true,
                    "--cmdline" => r.cmdline = value(flag, inline, &mut it)?,
                    "--timeout" => r.timeout = seconds(flag, &value(flag, inline, &mut it)?)?,
                    "--http-port" => {
                        let v = value(flag, inline, &mut it)?;
                        match v.parse::<u16>() {
                            Ok(port) if (1..u16::MAX).contains(&port) => r.http_port = port,
                            _ => {
                                return Err(format!(
                                    "--http-port expects a port from 1 to 65534, got {v:?}"
                                ));
                            }
                        }
                    }
                    _ => return Err(format!("unknown argument {a:?} for `run`")),
                }
            }
            Ok(Cmd::Run(r))
        }
        "test" => {
            let mut t = TestArgs {
                filter: None,
                host_only: false,
                no_host: false,
                timeout: Duration::from_secs(120),
                jobs: None,
            };
            while let Some(a) = it.next() {
                let (flag, inline) = match a.split_once('=') {
                    Some((f, v)) if f.starts_with("--") => (f, Some(v)),
                    _ => (a.as_str(), None),
                };
                match flag {
                    "--filter" => {
                        let f = value(flag, inline, &mut it)?;
                        if f.is_empty() || f.contains(char::is_whitespace) {
                            return Err(format!(
                                "--filter must be a non-empty word without spaces, got {f:?}"
                            ));
                        }
                        t.filter = Some(f);
                    }
                    "--host-only" if inline.is_none() => t.host_only = true,
                    "--no-host" if inline.is_none() => t.no_host = true,
                    "--timeout" => t.timeout = seconds(flag, &value(flag, inline, &mut it)?)?,
                    "--jobs" => {
                        let v = value(flag, inline, &mut it)?;
                        match v.parse::<usize>() {
                            Ok(n) if n > 0 => t.jobs = Some(n),
                            _ => {
                                return Err(format!("--jobs expects a positive number, got {v:?}"));
                            }
                        }
                    }
                    _ => return Err(format!("unknown argument {a:?} for `test`")),
                }
            }
            if t.host_only && t.no_host {
                return Err("--host-only and --no-host exclude each other".into());
            }
            Ok(Cmd::Test(t))
        }
        "bench" => {
            let Some(name) = it.next() else {
                return Err(format!(
                    "`bench` needs a benchmark name; available: {}",
                    Benchmark::list()
                ));
            };
            let Some(benchmark) = Benchmark::ALL.into_iter().find(|b| b.name() == name) else {
                return Err(format!(
                    "unknown benchmark {name:?}; available: {}",
                    Benchmark::list()
                ));
            };
            let mut b = BenchArgs {
                benchmark,
                no_build: false,
                iterations: None,
                timeout: Duration::from_secs(300),
                cmdline: String::new(),
                qemu_args: Vec::new(),
            };
            while let Some(a) = it.next() {
                let (flag, inline) = match a.split_once('=') {
                    Some((f, v)) if f.starts_with("--") => (f, Some(v)),
                    _ => (a.as_str(), None),
                };
                match flag {
                    "--" => {
                        b.qemu_args = it.by_ref().cloned().collect();
                    }
                    "--no-build" if inline.is_none() => b.no_build = true,
                    "--cmdline" => b.cmdline = value(flag, inline, &mut it)?,
                    "--timeout" => b.timeout = seconds(flag, &value(flag, inline, &mut it)?)?,
                    "--iterations" => {
                        let v = value(flag, inline, &mut it)?;
                        match v.parse::<u64>() {
                            Ok(n) if n > 0 => b.iterations = Some(n),
                            _ => {
                                return Err(format!(
                                    "--iterations expects a positive number, got {v:?}"
                                ));
                            }
                        }
                    }
                    _ => return Err(format!("unknown argument {a:?} for `bench {name}`")),
                }
            }
            Ok(Cmd::Bench(b))
        }
        "inject" => crate::inject::options::parse(rest).map(Cmd::Inject),
        "new-extension" => {
            let Some(name) = it.next() else {
                return Err("`new-extension` needs the new extension's name".into());
            };
            if let Some(a) = it.next() {
                return Err(format!("unexpected argument {a:?} for `new-extension`"));
            }
            crate::new_extension::check_name(name)?;
            Ok(Cmd::NewExtension(name.clone()))
        }
        other => Err(format!("unknown command {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Cmd, String> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn help_forms() {
        assert_eq!(p(&[]), Ok(Cmd::Help));
        assert_eq!(p(&["help"]), Ok(Cmd::Help));
        assert_eq!(p(&["--help"]), Ok(Cmd::Help));
        assert_eq!(p(&["build"]), Ok(Cmd::Build));
        assert_eq!(p(&["check"]), Ok(Cmd::Check));
    }

    #[test]
    fn unknown_things_are_errors() {
        assert!(p(&["frobnicate"]).unwrap_err().contains("unknown command"));
        assert!(p(&["run", "--fast"]).unwrap_err().contains("\"--fast\""));
        assert!(
            p(&["test", "--verbose"])
                .unwrap_err()
                .contains("unknown argument")
        );
        assert!(p(&["build", "--release"]).is_err());
        assert!(
            p(&["test", "--filter"])
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(p(&["test", "--host-only", "--no-host"]).is_err());
        assert!(p(&["test", "--timeout", "0"]).is_err());
        assert!(p(&["test", "--jobs", "x"]).is_err());
        assert!(p(&["test", "--filter", "a b"]).is_err());
        assert!(p(&["run", "--no-build=1"]).is_err());
    }

    #[test]
    fn run_options_and_qemu_args() {
        let Ok(Cmd::Run(r)) = p(&[
            "run",
            "--no-build",
            "--cmdline=log=debug",
            "--timeout",
            "9",
            "--",
            "-device",
            "e1000",
            "--no-build",
        ]) else {
            panic!("did not parse");
        };
        assert!(r.no_build);
        assert_eq!(r.cmdline, "log=debug");
        assert_eq!(r.timeout, Duration::from_secs(9));
        assert_eq!(r.qemu_args, ["-device", "e1000", "--no-build"]);
    }

    #[test]
    fn bench_needs_a_known_benchmark() {
        assert_eq!(
            p(&["bench"]).unwrap_err(),
            "`bench` needs a benchmark name; available: xpc, recovery, net"
        );
        assert_eq!(
            p(&["bench", "disk"]).unwrap_err(),
            "unknown benchmark \"disk\"; available: xpc, recovery, net"
        );
        assert!(
            p(&["bench", "--iterations", "5"])
                .unwrap_err()
                .contains("unknown benchmark")
        );
        assert!(!p(&["bench"]).unwrap_err().contains('\n'), "one line");
    }

    #[test]
    fn bench_options() {
        let Ok(Cmd::Bench(b)) = p(&["bench", "xpc"]) else {
            panic!("did not parse");
        };
        assert_eq!(b.benchmark, Benchmark::Xpc);
        assert_eq!(b.iterations, None);
        assert_eq!(b.timeout, Duration::from_secs(300));
        assert!(!b.no_build && b.cmdline.is_empty() && b.qemu_args.is_empty());
        let Ok(Cmd::Bench(b)) = p(&[
            "bench",
            "xpc",
            "--iterations=500",
            "--timeout",
            "60",
            "--no-build",
            "--cmdline",
            "log=debug",
            "--",
            "-smp",
            "1",
        ]) else {
            panic!("did not parse");
        };
        assert_eq!(b.iterations, Some(500));
        assert_eq!(b.timeout, Duration::from_secs(60));
        assert!(b.no_build);
        assert_eq!(b.cmdline, "log=debug");
        assert_eq!(b.qemu_args, ["-smp", "1"]);
        for bad in [
            &["bench", "xpc", "--fast"][..],
            &["bench", "xpc", "--iterations", "0"],
            &["bench", "xpc", "--iterations", "many"],
            &["bench", "xpc", "--iterations"],
            &["bench", "xpc", "--timeout", "0"],
            &["bench", "xpc", "--no-build=yes"],
            &["bench", "xpc", "extra"],
        ] {
            let e = p(bad).unwrap_err();
            assert!(!e.contains('\n'), "{bad:?}: {e}");
        }
        assert_eq!(
            p(&["bench", "xpc", "--fast"]).unwrap_err(),
            "unknown argument \"--fast\" for `bench xpc`"
        );
    }

    #[test]
    fn usage_mentions_bench() {
        assert!(USAGE.contains("\n  bench   "));
        for b in Benchmark::ALL {
            assert!(USAGE.contains(&format!("\n            {}  ", b.name())));
        }
    }

    #[test]
    fn inject_is_parsed_and_documented() {
        assert!(matches!(
            p(&[
                "inject",
                "--extension",
                "crashtest",
                "--faults",
                "panic",
                "--out",
                "d"
            ]),
            Ok(Cmd::Inject(_))
        ));
        let error = p(&[
            "inject",
            "--extension",
            "crashtest",
            "--faults",
            "panic",
            "--trials",
            "0",
            "--out",
            "d",
        ])
        .unwrap_err();
        assert_eq!(error, "--trials expects a positive number, got \"0\"");
        assert!(USAGE.contains("\n  inject  "));
        assert!(USAGE.contains("--reproduce ID --out DIR"));
    }

    #[test]
    fn new_extension_takes_one_valid_name() {
        assert_eq!(
            p(&["new-extension", "my-rtc"]),
            Ok(Cmd::NewExtension("my-rtc".into()))
        );
        assert_eq!(
            p(&["new-extension"]).unwrap_err(),
            "`new-extension` needs the new extension's name"
        );
        assert!(
            p(&["new-extension", "a", "b"])
                .unwrap_err()
                .contains("unexpected argument \"b\"")
        );
        for bad in ["Bad Name", "fn", "--help", ""] {
            let e = p(&["new-extension", bad]).unwrap_err();
            assert!(
                e.contains("invalid extension name") && !e.contains('\n'),
                "{e}"
            );
        }
        assert!(USAGE.contains("\n  new-extension NAME\n"));
    }

    #[test]
    fn test_options() {
        let Ok(Cmd::Test(t)) = p(&["test", "--filter", "heap", "--no-host", "--jobs=3"]) else {
            panic!("did not parse");
        };
        assert_eq!(t.filter.as_deref(), Some("heap"));
        assert!(t.no_host && !t.host_only);
        assert_eq!(t.jobs, Some(3));
        assert_eq!(t.timeout, Duration::from_secs(120));
    }
}
