//! `cargo xtask bench net`: the analogue of Nooks' Table 4 on QEMU's e1000.
//!
//! One boot. For each configuration — e1000 and httpd native; both isolated;
//! both isolated with batched crossings turned off — it measures, in
//! alternating rounds so that drift on the host affects all alike:
//! - receive stream: a host server sends N MiB, the guest's `net receive`
//!   reads them (throughput measured by the guest);
//! - send stream: the guest's `net send` writes N MiB to a host sink;
//! - web: `wrk` from the host against httpd through the forwarded port.
//!
//! Around each measurement the guest's `cpu` counters give guest CPU use
//! (busy ticks / all ticks) and crossings per second (entries into
//! extensions plus services called by them).
//!
//! Invariant: every configuration is measured in the same boot, against the
//! same peers; the relative figures are ratios of medians over the rounds.

use crate::args::BenchArgs;
use crate::bench::{Clock, json_string};
use qemu_harness::{HarnessError, Machine, NetworkForward, Serial, Session};
use scenarios::network::{HostServer, ServerMode, parse_transfer, wrk};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// A driver configuration measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Configuration {
    /// e1000 and httpd native, batching on.
    Native,
    /// Both isolated, batching on.
    Isolated,
    /// Both isolated, batching off.
    IsolatedUnbatched,
}

impl Configuration {
    const ALL: [Configuration; 3] = [
        Configuration::Native,
        Configuration::Isolated,
        Configuration::IsolatedUnbatched,
    ];

    fn name(self) -> &'static str {
        match self {
            Configuration::Native => "native",
            Configuration::Isolated => "isolated",
            Configuration::IsolatedUnbatched => "isolated-unbatched",
        }
    }

    fn mode(self) -> &'static str {
        match self {
            Configuration::Native => "native",
            _ => "isolated",
        }
    }

    fn batching(self) -> &'static str {
        match self {
            Configuration::IsolatedUnbatched => "off",
            _ => "on",
        }
    }
}

/// The `cpu` counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuCounters {
    /// Guest microseconds since boot.
    pub uptime_us: u64,
    /// Ticks of the idle thread.
    pub idle_ticks: u64,
    /// Ticks of every other thread.
    pub busy_ticks: u64,
    /// Kernel → extension calls.
    pub entry_calls: u64,
    /// Extension → kernel services.
    pub service_calls: u64,
}

/// Parses `cpu: uptime_us=.. idle_ticks=.. busy_ticks=.. entry_calls=..
/// service_calls=..`.
pub fn parse_cpu(output: &str) -> Result<CpuCounters, String> {
    let line = output
        .lines()
        .find(|line| line.starts_with("cpu: "))
        .ok_or("no `cpu:` line")?;
    let fields: BTreeMap<&str, u64> = line["cpu: ".len()..]
        .split_whitespace()
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            Some((key, value.parse().ok()?))
        })
        .collect();
    let field = |key: &str| {
        fields
            .get(key)
            .copied()
            .ok_or_else(|| format!("no `{key}` in `{line}`"))
    };
    Ok(CpuCounters {
        uptime_us: field("uptime_us")?,
        idle_ticks: field("idle_ticks")?,
        busy_ticks: field("busy_ticks")?,
        entry_calls: field("entry_calls")?,
        service_calls: field("service_calls")?,
    })
}

/// What one measurement found.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Measurement {
    /// KiB/s (streams) or requests/s (web).
    pub rate: f64,
    /// Guest CPU use over the measurement, percent.
    pub cpu_percent: f64,
    /// Crossings per guest second.
    pub crossings_per_second: f64,
}

/// CPU use and crossing rate between two `cpu` readings.
pub fn between(before: CpuCounters, after: CpuCounters, rate: f64) -> Measurement {
    let busy = after.busy_ticks.saturating_sub(before.busy_ticks) as f64;
    let idle = after.idle_ticks.saturating_sub(before.idle_ticks) as f64;
    let seconds = after.uptime_us.saturating_sub(before.uptime_us) as f64 / 1e6;
    let crossings = (after.entry_calls + after.service_calls)
        .saturating_sub(before.entry_calls + before.service_calls) as f64;
    Measurement {
        rate,
        cpu_percent: if busy + idle > 0.0 {
            100.0 * busy / (busy + idle)
        } else {
            0.0
        },
        crossings_per_second: if seconds > 0.0 {
            crossings / seconds
        } else {
            0.0
        },
    }
}

/// The workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Workload {
    /// Host → guest TCP stream.
    Receive,
    /// Guest → host TCP stream.
    Send,
    /// wrk against httpd.
    Web,
}

impl Workload {
    const ALL: [Workload; 3] = [Workload::Receive, Workload::Send, Workload::Web];

    fn name(self) -> &'static str {
        match self {
            Workload::Receive => "receive stream",
            Workload::Send => "send stream",
            Workload::Web => "web requests (wrk, 1 KiB page)",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Workload::Receive => "receive",
            Workload::Send => "send",
            Workload::Web => "web",
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Workload::Web => "requests/s",
            _ => "KiB/s",
        }
    }
}

/// The median of `values` (0 for none).
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    } else {
        sorted[middle]
    }
}

fn command(session: &mut Session, line: &str) -> Result<String, String> {
    session
        .command(line)
        .map_err(|e| format!("`{line}`: {e}\n{}", session.tail(15)))
}

fn cpu(session: &mut Session) -> Result<CpuCounters, String> {
    parse_cpu(&command(session, "cpu")?)
}

/// Loads e1000 and httpd in `configuration`'s mode and waits until the
/// interface is bound to the new instance and answers pings.
fn switch_to(session: &mut Session, configuration: Configuration) -> Result<(), String> {
    for extension in ["httpd", "e1000"] {
        command(session, &format!("ext unload {extension}"))?;
    }
    for extension in ["e1000", "httpd"] {
        let answer = command(
            session,
            &format!("ext load {extension} {}", configuration.mode()),
        )?;
        if !answer.contains("loaded") {
            return Err(format!("loading {extension}: {answer}"));
        }
    }
    command(session, &format!("net batch {}", configuration.batching()))?;
    let wanted = format!("driver e1000 ({},", configuration.mode());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ifconfig = command(session, "ifconfig")?;
        if ifconfig.contains(&wanted) && ifconfig.contains("inet 10.0.2.15/24") {
            let ping = command(session, "ping 10.0.2.2 1 e1000-0")?;
            if ping.contains("bytes from 10.0.2.2") {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "e1000-0 did not come back {}:\n{ifconfig}",
                configuration.name()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn measure(
    session: &mut Session,
    workload: Workload,
    bytes: u64,
    http_port: u16,
) -> Result<Measurement, String> {
    match workload {
        Workload::Receive | Workload::Send => {
            let (mode, verb) = match workload {
                Workload::Receive => (ServerMode::Source(bytes), "receive"),
                _ => (ServerMode::Sink, "send"),
            };
            let server = HostServer::start(mode).map_err(|e| e.0)?;
            let before = cpu(session)?;
            let line = format!("net {verb} 10.0.2.2 {} {bytes} e1000-0", server.port);
            let output = command(session, &line)?;
            let after = cpu(session)?;
            let transfer =
                parse_transfer(&output, verb).map_err(|e| format!("`{line}`: {e}\n{output}"))?;
            let report = server
                .next_report(Duration::from_secs(60))
                .map_err(|e| e.0)?;
            let moved = match workload {
                Workload::Receive => transfer.received,
                _ => report.received,
            };
            if moved != bytes {
                return Err(format!(
                    "`{line}` moved {moved} of {bytes} bytes (guest {transfer:?}, host {report:?})"
                ));
            }
            Ok(between(before, after, transfer.kibibytes_per_second as f64))
        }
        Workload::Web => {
            let before = cpu(session)?;
            let report = wrk(http_port, "/", 4, 5).map_err(|e| e.0)?;
            let after = cpu(session)?;
            if report.errors != 0 {
                return Err(format!("wrk reported errors: {report:?}"));
            }
            Ok(between(before, after, report.requests_per_second))
        }
    }
}

/// Runs the benchmark: one boot per clock (plain TCG, then TCG with
/// `-icount shift=0`, where guest time counts guest instructions).
pub fn run(a: &BenchArgs) -> Result<(), String> {
    let qemu = crate::ensure_qemu()?;
    let kernel = if a.no_build {
        crate::kernel_path()
    } else {
        crate::build_kernel()?
    };
    let mebibytes = a.iterations.unwrap_or(8).clamp(1, 1024);
    let mut tables = String::new();
    let mut summaries = Vec::new();
    for clock in Clock::ALL {
        let summary = run_boot(a, &qemu, &kernel, clock, mebibytes)?;
        tables.push_str(&render_table(&summary, mebibytes, clock));
        summaries.push((clock, summary));
    }
    print!("{tables}");
    println!(
        "TCG inflates isolated costs: every CR3 write flushes QEMU's whole software TLB (no PCID), so each crossing costs thousands of host cycles more than on hardware. Under -icount shift=0 guest time counts guest instructions only, so that table prices a crossing by its instructions (what a tagged TLB would leave)."
    );
    let directory = crate::target_directory().join("bench");
    std::fs::create_dir_all(&directory)
        .map_err(|e| format!("cannot create {}: {e}", directory.display()))?;
    let path = directory.join("net.json");
    std::fs::write(&path, render_json(&summaries, mebibytes, ROUNDS))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Rounds per configuration (the medians are over these).
const ROUNDS: usize = 2;

fn run_boot(
    a: &BenchArgs,
    qemu: &std::path::Path,
    kernel: &std::path::Path,
    clock: Clock,
    mebibytes: u64,
) -> Result<Summary, String> {
    let bytes = mebibytes * 1024 * 1024;
    let port =
        qemu_harness::free_local_port_pair().map_err(|e| format!("no free host port: {e}"))?;
    let command_line = if a.cmdline.trim().is_empty() {
        String::from("log=warn")
    } else {
        a.cmdline.clone()
    };
    let machine = Machine::new(kernel)
        .qemu(qemu)
        .cmdline(command_line)
        .with_network_cards(&[NetworkForward {
            card: 0,
            host_port: port,
            guest_port: 80,
        }])
        .args(clock.qemu_args().iter().copied())
        .args(a.qemu_args.iter().cloned());
    crate::stage(&format!(
        "bench: net ({}), {mebibytes} MiB per stream, {ROUNDS} rounds of {} configurations",
        clock.label(),
        Configuration::ALL.len()
    ));
    let mut session = Session::spawn(machine.command(Serial::Piped))
        .map_err(|e| format!("could not start QEMU: {e}"))?;
    session.set_deadline(Instant::now() + a.timeout.max(Duration::from_secs(900)));
    session.set_timeout(Duration::from_secs(120));
    session
        .expect_prompt()
        .map_err(|e: HarnessError| format!("booting: {e}"))?;
    // Only the e1000 carries traffic: the pcnet would share its interrupt.
    command(&mut session, "ext unload pcnet")?;
    let mut results: BTreeMap<(Configuration, Workload), Vec<Measurement>> = BTreeMap::new();
    let started = Instant::now();
    let total = ROUNDS * Configuration::ALL.len() * Workload::ALL.len();
    let mut done = 0;
    for round in 0..ROUNDS {
        for configuration in Configuration::ALL {
            switch_to(&mut session, configuration)?;
            for workload in Workload::ALL {
                let measurement = measure(&mut session, workload, bytes, port)?;
                done += 1;
                let elapsed = started.elapsed().as_secs_f64();
                eprintln!(
                    "==> [{done}/{total}] {} round {} {} {}: {:.0} {} (cpu {:.0}%, {:.0} crossings/s), ETA {:.0} s",
                    clock.label(),
                    round + 1,
                    configuration.name(),
                    workload.key(),
                    measurement.rate,
                    workload.unit(),
                    measurement.cpu_percent,
                    measurement.crossings_per_second,
                    elapsed / done as f64 * (total - done) as f64
                );
                results
                    .entry((configuration, workload))
                    .or_default()
                    .push(measurement);
            }
        }
    }
    let _ = session.send("shutdown\n");
    let _ = session.wait_exit(Duration::from_secs(10));
    session.kill();
    Ok(summarize(&results))
}

/// Medians per configuration and workload.
pub type Summary = BTreeMap<(Configuration, Workload), Measurement>;

/// The median of each measured figure.
pub fn summarize(results: &BTreeMap<(Configuration, Workload), Vec<Measurement>>) -> Summary {
    results
        .iter()
        .map(|(key, measurements)| {
            let of = |f: fn(&Measurement) -> f64| {
                median(&measurements.iter().map(f).collect::<Vec<_>>())
            };
            (
                *key,
                Measurement {
                    rate: of(|m| m.rate),
                    cpu_percent: of(|m| m.cpu_percent),
                    crossings_per_second: of(|m| m.crossings_per_second),
                },
            )
        })
        .collect()
}

/// The table printed at the end.
pub fn render_table(summary: &Summary, mebibytes: u64, clock: Clock) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nNetwork performance, e1000 + httpd, isolated relative to native ({}; {mebibytes} MiB streams; medians of {ROUNDS} rounds)",
        clock.label()
    );
    let _ = writeln!(
        out,
        "{:<32} {:>12} {:>12} {:>9} {:>13} {:>15} {:>12} {:>15}",
        "benchmark",
        "native",
        "isolated",
        "relative",
        "XPC/s isol.",
        "CPU % nat→isol",
        "unbatched",
        "XPC/s unbatch."
    );
    for workload in Workload::ALL {
        let get = |configuration| summary.get(&(configuration, workload)).copied();
        let (Some(native), Some(isolated)) =
            (get(Configuration::Native), get(Configuration::Isolated))
        else {
            continue;
        };
        let unbatched = get(Configuration::IsolatedUnbatched).unwrap_or_default();
        let relative = |m: Measurement| {
            if native.rate > 0.0 {
                m.rate / native.rate
            } else {
                0.0
            }
        };
        let _ = writeln!(
            out,
            "{:<32} {:>12.0} {:>12.0} {:>9.2} {:>13.0} {:>6.1} → {:<6.1} {:>12.2} {:>15.0}",
            workload.name(),
            native.rate,
            isolated.rate,
            relative(isolated),
            isolated.crossings_per_second,
            native.cpu_percent,
            isolated.cpu_percent,
            relative(unbatched),
            unbatched.crossings_per_second
        );
    }
    let _ = writeln!(
        out,
        "rates: KiB/s for streams, requests/s for web; relative = isolated / native; \"unbatched\" = isolated with batched crossings off, relative to native."
    );
    out
}

/// `target/bench/net.json`: per clock, every median and the ratios.
pub fn render_json(summaries: &[(Clock, Summary)], mebibytes: u64, rounds: usize) -> String {
    let mut json = String::from("{\n");
    let _ = writeln!(json, "  \"stream_mebibytes\": {mebibytes},");
    let _ = writeln!(json, "  \"rounds\": {rounds},");
    json.push_str("  \"clocks\": [\n");
    let clocks: Vec<String> = summaries
        .iter()
        .map(|(clock, summary)| {
            let mut out = String::from("    {\"clock\": ");
            json_string(clock.key(), &mut out);
            out.push_str(", \"results\": [\n");
            let rows: Vec<String> = summary
                .iter()
                .map(|((configuration, workload), measurement)| {
                    let mut row = String::from("      {\"configuration\": ");
                    json_string(configuration.name(), &mut row);
                    row.push_str(", \"workload\": ");
                    json_string(workload.key(), &mut row);
                    row.push_str(", \"unit\": ");
                    json_string(workload.unit(), &mut row);
                    let _ = write!(
                        row,
                        ", \"rate\": {:.1}, \"cpu_percent\": {:.1}, \"crossings_per_second\": {:.1}}}",
                        measurement.rate, measurement.cpu_percent, measurement.crossings_per_second
                    );
                    row
                })
                .collect();
            out.push_str(&rows.join(",\n"));
            out.push_str("\n    ], \"relative\": {");
            let relatives: Vec<String> = Workload::ALL
                .iter()
                .filter_map(|&workload| {
                    let native = summary.get(&(Configuration::Native, workload))?;
                    let isolated = summary.get(&(Configuration::Isolated, workload))?;
                    let unbatched = summary.get(&(Configuration::IsolatedUnbatched, workload));
                    let ratio =
                        |m: &Measurement| if native.rate > 0.0 { m.rate / native.rate } else { 0.0 };
                    Some(format!(
                        "\"{}\": {{\"isolated\": {:.3}, \"isolated_unbatched\": {:.3}}}",
                        workload.key(),
                        ratio(isolated),
                        unbatched.map(ratio).unwrap_or(0.0)
                    ))
                })
                .collect();
            out.push_str(&relatives.join(", "));
            out.push_str("}}");
            out
        })
        .collect();
    json.push_str(&clocks.join(",\n"));
    json.push_str("\n  ]\n}\n");
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lines_parse_and_bad_ones_do_not() {
        let counters =
            parse_cpu("cpu: uptime_us=2000000 idle_ticks=1500 busy_ticks=500 entry_calls=10 service_calls=30\n")
                .unwrap();
        assert_eq!(counters.busy_ticks, 500);
        assert_eq!(counters.service_calls, 30);
        assert!(parse_cpu("cpu: uptime_us=1").is_err());
        assert!(parse_cpu("nothing").is_err());
    }

    #[test]
    fn measurements_between_readings() {
        let before = CpuCounters {
            uptime_us: 1_000_000,
            idle_ticks: 100,
            busy_ticks: 100,
            entry_calls: 0,
            service_calls: 0,
        };
        let after = CpuCounters {
            uptime_us: 3_000_000,
            idle_ticks: 600,
            busy_ticks: 1600,
            entry_calls: 1000,
            service_calls: 3000,
        };
        let m = between(before, after, 42.0);
        assert_eq!(m.rate, 42.0);
        assert!((m.cpu_percent - 75.0).abs() < 1e-9);
        assert!((m.crossings_per_second - 2000.0).abs() < 1e-9);
        // Counters that went backwards (an exited thread's ticks) saturate.
        let m = between(after, before, 1.0);
        assert_eq!(m.cpu_percent, 0.0);
    }

    #[test]
    fn medians_and_the_table() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
        let mut summary = Summary::new();
        let m = |rate| Measurement {
            rate,
            cpu_percent: 50.0,
            crossings_per_second: 1000.0,
        };
        summary.insert((Configuration::Native, Workload::Receive), m(1000.0));
        summary.insert((Configuration::Isolated, Workload::Receive), m(900.0));
        summary.insert(
            (Configuration::IsolatedUnbatched, Workload::Receive),
            m(800.0),
        );
        let table = render_table(&summary, 8, Clock::Tcg);
        assert!(table.contains("receive stream"), "{table}");
        assert!(table.contains(" 0.90 "), "{table}");
        assert!(table.contains(" 0.80 "), "{table}");
        let json = render_json(&[(Clock::Icount, summary)], 8, 2);
        assert!(json.contains("\"clock\": \"icount\""), "{json}");
        assert!(
            json.contains("\"receive\": {\"isolated\": 0.900, \"isolated_unbatched\": 0.800}"),
            "{json}"
        );
    }
}
