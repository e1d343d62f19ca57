//! `cargo xtask bench recovery`: one boot that crashes and recovers the
//! bundled extensions many times (every crash kind, both extensions, the
//! watchdog bound lowered to 5 ms), then checks for leaks and reports the
//! time per recovery.
//!
//! Kernel protocol: `bench-progress recovery I/N` lines while it runs, one
//! `bench-result name=crash_recover_cycle ...` line (TSC ticks per cycle),
//! one `bench-summary recovery key=value ...` line, then `bench-done` and
//! QEMU exit status 33. `bench-error ...` or any other exit is a failure.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use qemu_harness::{HarnessError, Serial, Session};

use crate::args::BenchArgs;
use crate::bench::{Clock, json_string, kernel_cmdline, machine};

/// The `key=value` pairs of a `bench-summary` line.
pub fn parse_summary(line: &str) -> Option<BTreeMap<String, String>> {
    let rest = line.trim().strip_prefix("bench-summary recovery")?;
    Some(
        rest.split_whitespace()
            .filter_map(|pair| pair.split_once('='))
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect(),
    )
}

/// Runs the benchmark (one TCG boot).
pub fn run(a: &BenchArgs) -> Result<(), String> {
    let qemu = crate::ensure_qemu()?;
    let kernel = if a.no_build {
        crate::kernel_path()
    } else {
        crate::build_kernel()?
    };
    // Two log lines per recovery would slow the serial console: errors only,
    // unless the user's --cmdline says otherwise (later words win).
    let cmdline = kernel_cmdline(
        a.benchmark,
        a.iterations,
        &format!("log=error {}", a.cmdline),
    );
    crate::stage(&format!("bench: recovery, kernel command line {cmdline:?}"));
    let command =
        machine(&qemu, &kernel, &cmdline, Clock::Tcg, &a.qemu_args).command(Serial::Piped);
    let mut session = Session::spawn(command).map_err(|e| format!("could not start QEMU: {e}"))?;
    session.set_deadline(Instant::now() + a.timeout);
    let started = Instant::now();
    let mut summary = None;
    let mut result_line = None;
    let mut done = false;
    loop {
        match session.read_line(a.timeout) {
            Ok(Some(line)) => {
                let line = line.trim_end().to_string();
                if line.starts_with("bench-progress") {
                    eprintln!("==> {} ({:.0} s)", line, started.elapsed().as_secs_f64());
                } else if line.starts_with("bench-error") || line.contains("kernel stopped") {
                    session.kill();
                    return Err(format!("bench: {line}\n{}", session.tail(15)));
                } else if let Some(pairs) = parse_summary(&line) {
                    summary = Some(pairs);
                } else if line.starts_with("bench-result") {
                    result_line = Some(line);
                } else if line == "bench-done" {
                    done = true;
                }
            }
            Ok(None) => break,
            Err(HarnessError::Timeout { .. }) => {
                session.kill();
                return Err(format!(
                    "bench: recovery did not finish within {} s (raise --timeout)\n{}",
                    a.timeout.as_secs(),
                    session.tail(15)
                ));
            }
            Err(e) => return Err(format!("reading QEMU output failed: {e}")),
        }
    }
    let exit = session
        .wait_exit(Duration::from_secs(10))
        .map_err(|e| format!("QEMU did not exit: {e}"))?;
    let (Some(summary), true) = (summary, done) else {
        return Err(format!(
            "bench: no summary or no bench-done (QEMU ended with {exit:?})\n{}",
            session.tail(15)
        ));
    };
    let value = |key: &str| summary.get(key).cloned().unwrap_or_else(|| "-".into());
    println!("Crash-and-recover cycles in one boot (QEMU TCG, watchdog bound 5 ms)");
    println!("cycles                {}", value("cycles"));
    println!("recoveries            {}", value("recoveries"));
    println!(
        "mean time to recover  {} us (fault detected -> new instance running)",
        value("mean_recovery_us")
    );
    println!("wall time             {} ms", value("wall_ms"));
    println!("frames leaked         {}", value("frames_leaked"));
    println!("heap bytes leaked     {}", value("heap_bytes_leaked"));
    if let Some(line) = &result_line {
        println!("{line}");
    }
    let mut json = String::from("{\n");
    for (index, (key, text)) in summary.iter().enumerate() {
        json.push_str("  ");
        json_string(key, &mut json);
        json.push_str(": ");
        match text.parse::<i64>() {
            Ok(number) => json.push_str(&number.to_string()),
            Err(_) => json_string(text, &mut json),
        }
        if index + 1 < summary.len() {
            json.push(',');
        }
        json.push('\n');
    }
    json.push_str("}\n");
    let directory = crate::target_directory().join("bench");
    std::fs::create_dir_all(&directory)
        .map_err(|e| format!("cannot create {}: {e}", directory.display()))?;
    let path = directory.join("recovery.json");
    std::fs::write(&path, json).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_lines_parse_into_pairs() {
        let pairs = parse_summary(
            "bench-summary recovery cycles=10 recoveries=10 mean_recovery_us=812 frames_leaked=0",
        )
        .unwrap();
        assert_eq!(pairs["cycles"], "10");
        assert_eq!(pairs["mean_recovery_us"], "812");
        assert_eq!(pairs.len(), 4);
        assert!(parse_summary("bench-result name=x").is_none());
    }
}
