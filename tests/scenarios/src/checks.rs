//! Checks over console text, one per shell answer or report. Each returns a
//! one-line reason on failure. Log lines may be interleaved anywhere, so checks
//! look for the lines they need rather than demanding exact output.

/// A check over one command's answer.
pub type Check = fn(&str) -> Result<(), String>;

/// Commands `help` must list.
pub const HELP_COMMANDS: &[&str] = &[
    "help", "pci", "mem", "threads", "uptime", "log", "shutdown", "crash",
];

fn lines(out: &str) -> impl Iterator<Item = &str> {
    out.lines().map(|l| l.trim_end_matches('\r'))
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Extracts N from the boot log line `... reached shell prompt in N ms`.
pub fn boot_time_ms(text: &str) -> Result<u64, String> {
    let key = "reached shell prompt in ";
    let i = text
        .find(key)
        .ok_or("boot log has no `reached shell prompt in N ms` line")?;
    let rest = &text[i + key.len()..];
    let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if n.is_empty() || !rest[n.len()..].starts_with(" ms") {
        return Err(format!(
            "malformed boot time line: `{key}{}`",
            rest.lines().next().unwrap_or("")
        ));
    }
    n.parse().map_err(|e| format!("boot time {n:?}: {e}"))
}

/// `help`: one line per command, two-space indent, name then description.
pub fn help(out: &str) -> Result<(), String> {
    let listed: Vec<&str> = lines(out)
        .filter_map(|l| l.strip_prefix("  "))
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let missing: Vec<&str> = HELP_COMMANDS
        .iter()
        .copied()
        .filter(|c| !listed.contains(c))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "help does not list {missing:?} (as `  NAME description` lines)"
        ));
    }
    Ok(())
}

/// Is `l` a device line `BB:DD.F VVVV:DDDD CC.SS ...`?
fn pci_device_line(l: &str) -> Option<&str> {
    let mut w = l.split(' ');
    let bdf = w.next()?;
    let ids = w.next()?;
    let class = w.next()?;
    let (bus, df) = bdf.split_once(':')?;
    let (dev, func) = df.split_once('.')?;
    let (ven, did) = ids.split_once(':')?;
    let (cls, sub) = class.split_once('.')?;
    (is_hex(bus, 2)
        && is_hex(dev, 2)
        && func.len() == 1
        && func.as_bytes()[0].is_ascii_digit()
        && is_hex(ven, 4)
        && is_hex(did, 4)
        && is_hex(cls, 2)
        && is_hex(sub, 2))
    .then_some(ids)
}

/// Is `l` a BAR line `    BARn mem|io 0xADDR size 0xSIZE`?
fn bar_line(l: &str) -> bool {
    let Some(rest) = l.strip_prefix("    ") else {
        return false;
    };
    let w: Vec<&str> = rest.split_whitespace().collect();
    let hex = |s: &str| {
        s.strip_prefix("0x")
            .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    w.len() >= 5
        && w[0]
            .strip_prefix("BAR")
            .is_some_and(|n| n.parse::<u8>().is_ok_and(|n| n < 6))
        && (w[1] == "mem" || w[1] == "io")
        && hex(w[2])
        && w[3] == "size"
        && hex(w[4])
}

/// `pci`: well-formed device lines, including the i440FX host bridge 8086:1237.
pub fn pci(out: &str) -> Result<(), String> {
    let ids: Vec<&str> = lines(out).filter_map(pci_device_line).collect();
    if ids.is_empty() {
        return Err("no `BB:DD.F VVVV:DDDD CC.SS ...` device lines".into());
    }
    if !ids.contains(&"8086:1237") {
        return Err(format!("host bridge 8086:1237 not listed (found {ids:?})"));
    }
    for l in lines(out) {
        if l.trim_start().starts_with("BAR") && !bar_line(l) {
            return Err(format!("malformed BAR line `{l}`"));
        }
    }
    Ok(())
}

/// `pci`: device `ids` (`VVVV:DDDD`) is listed with at least one BAR line.
pub fn pci_device_with_bar(out: &str, ids: &str) -> Result<(), String> {
    let all: Vec<&str> = lines(out).collect();
    let i = all
        .iter()
        .position(|l| pci_device_line(l) == Some(ids))
        .ok_or_else(|| format!("device {ids} not listed"))?;
    let bars = all[i + 1..]
        .iter()
        .take_while(|l| pci_device_line(l).is_none())
        .filter(|l| bar_line(l))
        .count();
    if bars == 0 {
        return Err(format!("device {ids} has no `    BARn ...` line"));
    }
    Ok(())
}

/// `mem`: lines starting `frames:` and `heap:`.
pub fn mem(out: &str) -> Result<(), String> {
    for key in ["frames:", "heap:"] {
        if !lines(out).any(|l| l.starts_with(key)) {
            return Err(format!("no line starting `{key}`"));
        }
    }
    Ok(())
}

/// `threads`: a header with `ID` and `NAME`, then at least one row.
pub fn threads(out: &str) -> Result<(), String> {
    let all: Vec<&str> = lines(out).collect();
    let h = all
        .iter()
        .position(|l| l.contains("ID") && l.contains("NAME"))
        .ok_or("no header line with ID and NAME")?;
    let rows = all[h + 1..]
        .iter()
        .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .count();
    if rows == 0 {
        return Err("no thread rows under the header".into());
    }
    Ok(())
}

/// `uptime`: a line starting `up `.
pub fn uptime(out: &str) -> Result<(), String> {
    if lines(out).any(|l| l.starts_with("up ")) {
        Ok(())
    } else {
        Err("no line starting `up `".into())
    }
}

/// `log LEVEL`: `log level set to LEVEL`.
pub fn log_level(out: &str, level: &str) -> Result<(), String> {
    let want = format!("log level set to {level}");
    if out.contains(&want) {
        Ok(())
    } else {
        Err(format!("no `{want}`"))
    }
}

/// An unknown command: `unknown command 'X' (type 'help')`.
pub fn unknown_command(out: &str, cmd: &str) -> Result<(), String> {
    let want = format!("unknown command '{cmd}' (type 'help')");
    if out.contains(&want) {
        Ok(())
    } else {
        Err(format!("no `{want}`"))
    }
}

/// The fatal page-fault report for a fault at `addr` whose error-code line
/// names every word in `bits`, followed by `kernel stopped`.
pub fn page_fault_report(text: &str, addr: u64, bits: &[&str]) -> Result<(), String> {
    let all: Vec<&str> = lines(text).collect();
    let find = |pred: &dyn Fn(&str) -> bool, what: &str| {
        all.iter()
            .position(|l| pred(l))
            .ok_or_else(|| format!("report has no {what}"))
    };
    let head = find(
        &|l| l.contains("EXCEPTION: page fault (#PF, vector 14)"),
        "`EXCEPTION: page fault (#PF, vector 14)` line",
    )?;
    let err = find(&|l| l.contains("error code: 0x"), "`error code: 0x..` line")?;
    let words: Vec<&str> = all[err]
        .split_once('(')
        .and_then(|(_, r)| r.split_once(')'))
        .map(|(w, _)| w.split('|').map(str::trim).collect())
        .unwrap_or_default();
    for b in bits {
        if !words.contains(b) {
            return Err(format!(
                "error code line `{}` does not name `{b}`",
                all[err].trim()
            ));
        }
    }
    let cr2 = format!("CR2 (fault address): 0x{addr:016x}");
    find(&|l| l.contains(&cr2), &format!("`{cr2}` line"))?;
    find(
        &|l| l.contains("RIP:") && l.contains("RSP:"),
        "line with RIP: and RSP:",
    )?;
    let stop = find(&|l| l.contains("kernel stopped"), "`kernel stopped` line")?;
    if !(head < err && head < stop) {
        return Err("report lines out of order".into());
    }
    Ok(())
}

/// Splits a shell transcript into (typed command, answer) pairs, using prompts
/// `> ` at line starts as separators and the echoed line as the command.
pub fn split_answers(text: &str) -> Vec<(String, String)> {
    let text = text.replace('\r', "");
    let b = text.as_bytes();
    let mut prompts = Vec::new();
    let mut i = 0;
    while i + 2 <= b.len() {
        if &b[i..i + 2] == b"> " && (i == 0 || b[i - 1] == b'\n') {
            prompts.push(i);
            i += 2;
        } else {
            i += 1;
        }
    }
    let mut out = Vec::new();
    for (k, &p) in prompts.iter().enumerate() {
        let end = prompts.get(k + 1).copied().unwrap_or(text.len());
        let seg = &text[p + 2..end];
        let (cmd, ans) = seg.split_once('\n').unwrap_or((seg, ""));
        out.push((cmd.trim().to_string(), ans.to_string()));
    }
    out
}

/// The `piped_run` scenario: `help pci mem threads uptime shutdown` all answered.
pub fn piped_run_output(stdout: &str) -> Result<(), String> {
    let answers = split_answers(stdout);
    let get = |cmd: &str| {
        answers
            .iter()
            .find(|(c, _)| c == cmd)
            .map(|(_, a)| a.as_str())
            .ok_or_else(|| format!("`{cmd}` was not echoed after a prompt"))
    };
    let steps: [(&str, Check); 5] = [
        ("help", help),
        ("pci", pci),
        ("mem", mem),
        ("threads", threads),
        ("uptime", uptime),
    ];
    for (cmd, check) in steps {
        check(get(cmd)?).map_err(|e| format!("`{cmd}`: {e}"))?;
    }
    if !get("shutdown")?.contains("shutting down") {
        return Err("`shutdown` did not answer `shutting down`".into());
    }
    Ok(())
}

/// One row of `ext list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtRow {
    /// `native` or `isolated`.
    pub mode: String,
    /// `running`, `stopped`, ...
    pub state: String,
    /// Generation of the current instance.
    pub generation: u64,
    /// Restarts so far.
    pub restarts: u64,
    /// Faults so far.
    pub faults: u64,
}

/// `ext list`: the row of extension `name` under the
/// `NAME MODE STATE GENERATION RESTARTS FAULTS OBJECTS POLICY` header.
pub fn ext_row(out: &str, name: &str) -> Result<ExtRow, String> {
    let all: Vec<&str> = lines(out).collect();
    let header = all
        .iter()
        .position(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.starts_with(&["NAME", "MODE", "STATE", "GENERATION", "RESTARTS", "FAULTS"])
        })
        .ok_or("no `NAME MODE STATE GENERATION RESTARTS FAULTS ...` header")?;
    let row = all[header + 1..]
        .iter()
        .find(|l| l.split_whitespace().next() == Some(name))
        .ok_or_else(|| format!("no row for `{name}`"))?;
    let w: Vec<&str> = row.split_whitespace().collect();
    let number = |i: usize, what: &str| -> Result<u64, String> {
        w.get(i)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("`{name}` row `{}` has no {what}", row.trim()))
    };
    Ok(ExtRow {
        mode: w.get(1).copied().unwrap_or_default().to_string(),
        state: w.get(2).copied().unwrap_or_default().to_string(),
        generation: number(3, "generation")?,
        restarts: number(4, "restart count")?,
        faults: number(5, "fault count")?,
    })
}

/// `ext list` with nothing loaded: `no extensions (bundled: ...)` naming `name`.
pub fn no_extensions_but_bundled(out: &str, name: &str) -> Result<(), String> {
    let line = lines(out)
        .find(|l| l.starts_with("no extensions (bundled: "))
        .ok_or("no `no extensions (bundled: ...)` line: something is loaded")?;
    if !line.contains(name) {
        return Err(format!("`{name}` is not bundled: `{line}`"));
    }
    Ok(())
}

/// The fatal report of a fault a native extension caused: an `EXCEPTION:`
/// line with `mnemonic` (e.g. `#PF`), an error-code line naming every word
/// in `bits` (when given), then `kernel stopped`; and no sign of a recovery.
pub fn native_fault_report(text: &str, mnemonic: &str, bits: &[&str]) -> Result<(), String> {
    let all: Vec<&str> = lines(text).collect();
    let tag = format!("({mnemonic}, vector ");
    let head = all
        .iter()
        .position(|l| l.contains("EXCEPTION: ") && l.contains(&tag))
        .ok_or_else(|| format!("no `EXCEPTION: ... {tag}..)` line"))?;
    if !bits.is_empty() {
        let err = all
            .iter()
            .position(|l| l.contains("error code: 0x"))
            .ok_or("report has no `error code: 0x..` line")?;
        let words: Vec<&str> = all[err]
            .split_once('(')
            .and_then(|(_, r)| r.split_once(')'))
            .map(|(w, _)| w.split('|').map(str::trim).collect())
            .unwrap_or_default();
        if let Some(b) = bits.iter().find(|b| !words.contains(b)) {
            return Err(format!(
                "error code line `{}` does not name `{b}`",
                all[err].trim()
            ));
        }
    }
    let stop = all
        .iter()
        .position(|l| l.contains("kernel stopped"))
        .ok_or("no `kernel stopped` line")?;
    if stop < head {
        return Err("`kernel stopped` comes before the report".into());
    }
    if let Some(l) = all
        .iter()
        .find(|l| l.contains("restarted as generation") || l.contains("now running as"))
    {
        return Err(format!(
            "a native extension was recovered (`{}`): native mode must not isolate",
            l.trim()
        ));
    }
    Ok(())
}

/// The `isolated_crash_pipeline` scenario: `ext list`, `ext crash crashtest
/// write-kernel-data`, `ext list`, `shutdown`. crashtest goes from
/// generation 0 to 1 (running, isolated, one fault, one restart) and the
/// crash is reported as a recovered page fault.
pub fn crash_pipeline_output(stdout: &str) -> Result<(), String> {
    let answers = split_answers(stdout);
    let nth = |cmd: &str, n: usize| {
        answers
            .iter()
            .filter(|(c, _)| c == cmd)
            .nth(n)
            .map(|(_, a)| a.as_str())
            .ok_or_else(|| format!("`{cmd}` (#{}) was not echoed after a prompt", n + 1))
    };
    let before =
        ext_row(nth("ext list", 0)?, "crashtest").map_err(|e| format!("first `ext list`: {e}"))?;
    let expected = |row: &ExtRow, generation: u64, when: &str| {
        if row.mode != "isolated" || row.state != "running" || row.generation != generation {
            return Err(format!(
                "{when}: crashtest is {} {} generation {}, expected isolated running generation {generation}",
                row.mode, row.state, row.generation
            ));
        }
        Ok(())
    };
    expected(&before, 0, "before the crash")?;
    let crash = nth("ext crash crashtest write-kernel-data", 0)?;
    let report = lines(crash)
        .find(|l| l.starts_with("crashtest: "))
        .ok_or("`ext crash` gave no `crashtest: ...` answer")?;
    if !(report.contains("page-fault")
        && report.contains("recovered in")
        && report.contains("now running as generation 1"))
    {
        return Err(format!(
            "`ext crash` answered `{report}`, expected a recovered page-fault and generation 1"
        ));
    }
    let after =
        ext_row(nth("ext list", 1)?, "crashtest").map_err(|e| format!("second `ext list`: {e}"))?;
    expected(&after, 1, "after the crash")?;
    if after.faults != before.faults + 1 || after.restarts != before.restarts + 1 {
        return Err(format!(
            "faults {} -> {}, restarts {} -> {}: expected one more of each",
            before.faults, after.faults, before.restarts, after.restarts
        ));
    }
    if !nth("shutdown", 0)?.contains("shutting down") {
        return Err("`shutdown` did not answer `shutting down`".into());
    }
    Ok(())
}

/// Seconds since 1970-01-01 of a `YYYY-MM-DD HH:MM:SS` text (UTC), if it
/// is one and a valid date.
fn unix_seconds(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() != 19 {
        return None;
    }
    for (i, &c) in b.iter().enumerate() {
        let ok = match i {
            4 | 7 => c == b'-',
            10 => c == b' ',
            13 | 16 => c == b':',
            _ => c.is_ascii_digit(),
        };
        if !ok {
            return None;
        }
    }
    let n = |r: std::ops::Range<usize>| text[r].parse::<u64>().ok();
    let (year, month, day) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (hour, minute, second) = (n(11..13)?, n(14..16)?, n(17..19)?);
    let leap = |y: u64| (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let month_days = |y: u64, m: u64| match m {
        2 if leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if year < 1970
        || !(1..=12).contains(&month)
        || day == 0
        || day > month_days(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = (1970..year)
        .map(|y| if leap(y) { 366 } else { 365 })
        .sum::<u64>()
        + (1..month).map(|m| month_days(year, m)).sum::<u64>()
        + day
        - 1;
    Some(((days * 24 + hour) * 60 + minute) * 60 + second)
}

/// `devices read rtc0`: a `YYYY-MM-DD HH:MM:SS` line of a year from 2025
/// on (QEMU's clock is the host's), then `(20 bytes)`. Returns the time as
/// seconds since the Unix epoch.
pub fn rtc_read(out: &str) -> Result<u64, String> {
    let all: Vec<&str> = lines(out).collect();
    let at = all
        .iter()
        .position(|l| unix_seconds(l).is_some())
        .ok_or("no `YYYY-MM-DD HH:MM:SS` line")?;
    if all.get(at + 1) != Some(&"(20 bytes)") {
        return Err(format!("`{}` is not followed by `(20 bytes)`", all[at]));
    }
    let year: u64 = all[at][..4].parse().unwrap_or(0);
    if year < 2025 {
        return Err(format!("rtc0 says `{}`: before 2025", all[at]));
    }
    unix_seconds(all[at]).ok_or_else(|| format!("`{}` is not a date", all[at]))
}

/// `devices control NAME REQUEST`: the answer in `NAME: control REQUEST:
/// N (0xN)`, checked to agree with itself.
pub fn device_control_answer(out: &str, name: &str, request: u32) -> Result<u64, String> {
    let prefix = format!("{name}: control {request}: ");
    let line = lines(out)
        .find_map(|l| l.strip_prefix(&prefix))
        .ok_or_else(|| format!("no `{prefix}N (0xN)` line"))?;
    let (decimal, hex) = line
        .split_once(" (0x")
        .and_then(|(d, h)| Some((d.parse::<u64>().ok()?, h.strip_suffix(')')?)))
        .ok_or_else(|| format!("malformed answer `{prefix}{line}`"))?;
    if u64::from_str_radix(hex, 16) != Ok(decimal) {
        return Err(format!("`{prefix}{line}`: the two forms differ"));
    }
    Ok(decimal)
}

/// `ext crash NAME KIND`: `NAME: FAULT (recovered in N us); now running as
/// generation GENERATION`.
pub fn crash_recovered(out: &str, name: &str, fault: &str, generation: u64) -> Result<(), String> {
    let line = lines(out)
        .find(|l| l.starts_with(&format!("{name}: ")))
        .ok_or_else(|| format!("no `{name}: ...` answer"))?;
    let expected_end = format!("; now running as generation {generation}");
    let good = line.starts_with(&format!("{name}: {fault} (recovered in "))
        && line.ends_with(&expected_end);
    if !good {
        return Err(format!(
            "`{line}`: expected `{name}: {fault} (recovered in N us){expected_end}`"
        ));
    }
    Ok(())
}

/// `ext faults NAME`: a record of generation `generation` of kind `fault`
/// with a recovery time.
pub fn fault_record(out: &str, name: &str, fault: &str, generation: u64) -> Result<(), String> {
    let head = format!("{name}: extension ");
    let generation = format!(" generation {generation}: {fault} ");
    lines(out)
        .find(|l| l.starts_with(&head) && l.contains(&generation) && l.contains("recovered in"))
        .map(|_| ())
        .ok_or_else(|| format!("no `{head}N{generation}... recovered in ...` record"))
}

/// `devices`: a `NAME CLASS OPEN` row for device `name` of class `class`.
pub fn device_listed(out: &str, name: &str, class: &str) -> Result<(), String> {
    let found = lines(out).any(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        w.len() == 3 && w[0] == name && w[1] == class && w[2].parse::<u64>().is_ok()
    });
    if found {
        Ok(())
    } else {
        Err(format!("no `{name} {class} N` row"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const HELP: &str = "  help       list commands\n  pci        list PCI devices\n  mem        memory usage\n  threads    list threads\n  uptime     time since boot\n  log        set log level\n  shutdown   power off\n  crash      fault on purpose\n";
    pub(crate) const PCI: &str = "00:00.0 8086:1237 06.00 host bridge irq 0\n00:01.0 8086:7000 06.01 ISA bridge irq 0\n00:03.0 8086:100e 02.00 ethernet irq 11\n    BAR0 mem 0xfebc0000 size 0x20000\n    BAR1 io 0xc000 size 0x40\n";

    #[test]
    fn boot_time() {
        assert_eq!(
            boot_time_ms("[    0.5] INFO  kernel: reached shell prompt in 42 ms\n"),
            Ok(42)
        );
        assert!(boot_time_ms("booted\n").is_err());
        assert!(boot_time_ms("reached shell prompt in soon\n").is_err());
    }

    #[test]
    fn help_check() {
        assert!(help(HELP).is_ok());
        let without_crash = HELP.replace("  crash", "crash");
        assert!(help(&without_crash).unwrap_err().contains("crash"));
        assert!(help("unknown command 'help' (type 'help')\n").is_err());
    }

    #[test]
    fn pci_checks() {
        assert!(pci(PCI).is_ok());
        assert!(pci_device_with_bar(PCI, "8086:100e").is_ok());
        assert!(pci_device_with_bar(PCI, "8086:7000").is_err());
        assert!(pci_device_with_bar(PCI, "1234:1111").is_err());
        assert!(pci("00:01.0 8086:7000 06.01 ISA bridge\n").is_err());
        assert!(pci("").is_err());
        assert!(pci(&PCI.replace("size 0x40", "size 40")).is_err());
    }

    #[test]
    fn mem_threads_uptime_log_unknown() {
        assert!(mem("frames: 100 free of 200\nheap: 5 KiB used\n").is_ok());
        assert!(mem("frames: 100\n").is_err());
        assert!(
            threads("  ID  STATE    NAME\n   0  running  idle\n   1  ready    shell\n").is_ok()
        );
        assert!(threads("  ID  STATE    NAME\n").is_err());
        assert!(threads("nothing\n").is_err());
        assert!(uptime("up 1.234 s (1234 ticks)\n").is_ok());
        assert!(uptime("uptime: 1 s\n").is_err());
        assert!(log_level("log level set to debug\n", "debug").is_ok());
        assert!(log_level("log level set to info\n", "debug").is_err());
        assert!(unknown_command("unknown command 'x' (type 'help')\n", "x").is_ok());
        assert!(unknown_command("x: not found\n", "x").is_err());
    }

    const REPORT: &str = "crash write 0xdead000\n\
        EXCEPTION: page fault (#PF, vector 14) in kernel\n  \
        error code: 0x2 (not-present | write | supervisor | data-access)\n  \
        CR2 (fault address): 0x000000000dead000\n  \
        RIP: 0xffffffff80012345  RSP: 0xffffffff80100000\n\
        kernel stopped\n";

    #[test]
    fn fault_report() {
        assert!(page_fault_report(REPORT, 0xdead000, &["not-present", "write"]).is_ok());
        assert!(page_fault_report(REPORT, 0xdead000, &["read"]).is_err());
        assert!(page_fault_report(REPORT, 0xbeef000, &["write"]).is_err());
        assert!(page_fault_report(&REPORT.replace("kernel stopped", ""), 0xdead000, &[]).is_err());
        // `present` must not be satisfied by `not-present`.
        assert!(page_fault_report(REPORT, 0xdead000, &["present"]).is_err());
    }

    #[test]
    fn split_and_piped() {
        let t = format!(
            "boot log\r\n> help\r\n{HELP}> pci\n{PCI}> mem\nframes: 1\nheap: 2\n> threads\nID NAME\n0 idle\n> uptime\nup 1 s\n> shutdown\nshutting down\n"
        );
        let a = split_answers(&t);
        assert_eq!(a.len(), 6);
        assert_eq!(a[1].0, "pci");
        assert_eq!(a[1].1, PCI);
        assert!(piped_run_output(&t).is_ok());
        let broken = t.replace("up 1 s", "down");
        assert!(piped_run_output(&broken).unwrap_err().contains("uptime"));
        assert!(piped_run_output("boot\n").is_err());
    }

    const EXT_LIST_0: &str = "NAME             MODE      STATE       GENERATION  RESTARTS  FAULTS  OBJECTS  POLICY\n\
        crashtest        isolated  running              0         0       0        0  always\n\
        template         isolated  running              0         0       0        0  always\n";

    #[test]
    fn ext_list_rows() {
        let row = ext_row(EXT_LIST_0, "crashtest").unwrap();
        assert_eq!(
            row,
            ExtRow {
                mode: "isolated".into(),
                state: "running".into(),
                generation: 0,
                restarts: 0,
                faults: 0
            }
        );
        assert!(ext_row(EXT_LIST_0, "e1000").unwrap_err().contains("no row"));
        assert!(ext_row("crashtest isolated running 0 0 0\n", "crashtest").is_err());
        assert!(
            ext_row(
                &EXT_LIST_0.replace("running              0", "running              x"),
                "crashtest"
            )
            .is_err()
        );
        assert!(
            no_extensions_but_bundled(
                "no extensions (bundled: crashtest, template)\n",
                "crashtest"
            )
            .is_ok()
        );
        assert!(no_extensions_but_bundled(EXT_LIST_0, "crashtest").is_err());
        assert!(
            no_extensions_but_bundled("no extensions (bundled: template)\n", "crashtest").is_err()
        );
    }

    const NATIVE_UD: &str = "> ext crash crashtest invalid-opcode\n\n\
        EXCEPTION: invalid opcode (#UD, vector 6) in kernel thread `shell` (id 1)\n  \
        RIP: 0xffffc0000000364d  RSP: 0x00000000001822e0  RFLAGS: 0x286  CS: 0x8\n\
        kernel stopped\n";

    #[test]
    fn native_reports() {
        assert!(native_fault_report(NATIVE_UD, "#UD", &[]).is_ok());
        assert!(native_fault_report(NATIVE_UD, "#PF", &[]).is_err());
        assert!(native_fault_report(&NATIVE_UD.replace("kernel stopped", ""), "#UD", &[]).is_err());
        let recovered = format!(
            "{NATIVE_UD}crashtest: invalid-opcode (recovered in 10 us); now running as generation 1\n"
        );
        assert!(
            native_fault_report(&recovered, "#UD", &[])
                .unwrap_err()
                .contains("native")
        );
        let pf = REPORT.replace("(not-present | write", "(protection-violation | write");
        assert!(native_fault_report(&pf, "#PF", &["protection-violation", "write"]).is_ok());
        assert!(native_fault_report(REPORT, "#PF", &["protection-violation"]).is_err());
        assert!(native_fault_report(REPORT, "#PF", &["not-present", "write"]).is_ok());
    }

    #[test]
    fn crash_pipeline() {
        let after = EXT_LIST_0.replace(
            "crashtest        isolated  running              0         0       0",
            "crashtest        isolated  running              1         1       1",
        );
        let t = format!(
            "> ext list\n{EXT_LIST_0}> ext crash crashtest write-kernel-data\n\
             [ 0.1] WARN  nim::recovery: nim: crashtest: page-fault at rip 0x1; restart now\n\
             crashtest: page-fault (recovered in 4314 us); now running as generation 1\n\
             > ext list\n{after}> shutdown\nshutting down\n"
        );
        assert!(
            crash_pipeline_output(&t).is_ok(),
            "{:?}",
            crash_pipeline_output(&t)
        );
        // Not restarted: generation stays 0.
        let stuck = t.replace("now running as generation 1", "now stopped as generation 0");
        assert!(crash_pipeline_output(&stuck).is_err());
        let same = format!(
            "> ext list\n{EXT_LIST_0}> ext crash crashtest write-kernel-data\ncrashtest: page-fault (recovered in 1 us); now running as generation 1\n> ext list\n{EXT_LIST_0}> shutdown\nshutting down\n"
        );
        assert!(
            crash_pipeline_output(&same)
                .unwrap_err()
                .contains("after the crash")
        );
        let native = t.replace("isolated", "native");
        assert!(crash_pipeline_output(&native).is_err());
        assert!(crash_pipeline_output(&t.replace("> shutdown\nshutting down\n", "")).is_err());
    }

    const RTC_READ: &str = "2026-11-22 00:19:39\n(20 bytes)\n";

    #[test]
    fn rtc_checks() {
        assert_eq!(rtc_read(RTC_READ), Ok(1_795_306_779));
        assert_eq!(
            rtc_read("2000-01-01 00:00:00\n(20 bytes)\n").unwrap_err(),
            "rtc0 says `2000-01-01 00:00:00`: before 2025"
        );
        assert!(rtc_read("2026-11-22 00:19:39\n(19 bytes)\n").is_err());
        assert!(rtc_read("2026-02-29 00:19:39\n(20 bytes)\n").is_err());
        assert!(rtc_read("2026-11-22 24:19:39\n(20 bytes)\n").is_err());
        assert!(rtc_read("rtc0: read failed: no such device\n").is_err());
        assert_eq!(unix_seconds("2024-02-29 12:34:56"), Some(1_709_210_096));
        assert_eq!(unix_seconds("1970-01-01 00:00:00"), Some(0));
        let control = "rtc0: control 1: 1795306779 (0x6b02351b)\n";
        assert_eq!(device_control_answer(control, "rtc0", 1), Ok(1_795_306_779));
        assert!(device_control_answer(control, "rtc0", 2).is_err());
        assert!(device_control_answer("rtc0: control 1: 5 (0x6)\n", "rtc0", 1).is_err());
        assert!(device_control_answer("rtc0: control 1 failed: I/O error\n", "rtc0", 1).is_err());
        let crash = "[ 0.05] WARN  nim::recovery: nim: rtc: page-fault at rip 0x1; restart now\n\
            rtc: page-fault (recovered in 6994 us); now running as generation 1\n";
        assert!(crash_recovered(crash, "rtc", "page-fault", 1).is_ok());
        assert!(crash_recovered(crash, "rtc", "page-fault", 2).is_err());
        assert!(crash_recovered(crash, "rtc", "panic", 1).is_err());
        assert!(
            crash_recovered(
                "rtc: failed; now stopped as generation 0\n",
                "rtc",
                "page-fault",
                1
            )
            .is_err()
        );
        let faults = "rtc: extension 1 generation 0: page-fault at rip 0x1561d3 (address 0x0) at 51 ms, recovered in 6994 us\n";
        assert!(fault_record(faults, "rtc", "page-fault", 0).is_ok());
        assert!(fault_record(faults, "rtc", "page-fault", 1).is_err());
        assert!(fault_record(faults, "rtc", "panic", 0).is_err());
        assert!(fault_record("rtc: no faults\n", "rtc", "page-fault", 0).is_err());
        let devices =
            "NAME         CLASS      OPEN\nserial0      character  1\nrtc0         character  0\n";
        assert!(device_listed(devices, "rtc0", "character").is_ok());
        assert!(device_listed(devices, "rtc0", "block").is_err());
        assert!(device_listed(devices, "rtc1", "character").is_err());
    }
}
