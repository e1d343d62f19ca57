//! The kernel's side of a trial, as text: the engine's `inject` lines, the
//! `ext crash` answer, and the serial-log lines the oracles look for.
//!
//! Invariants:
//! - Parsers take one line (or one answer) and never panic; a line that is
//!   not theirs gives `None`, so they can be run over a whole transcript.
//! - Unknown `key=value` pairs of `inject patch` lines are ignored, so the
//!   engine may add fields without breaking the runner.

/// One planned or applied patch (`inject patch I ...`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Patch {
    /// The patch's index `I`.
    pub index: u32,
    /// Its fault type.
    pub fault_type: String,
    /// Address patched.
    pub address: String,
    /// `SYMBOL+0xOFF` where known.
    pub site: String,
    /// Bytes before, hex.
    pub old: String,
    /// Bytes after, hex.
    pub new: String,
    /// Instruction before.
    pub before: String,
    /// Instruction after.
    pub after: String,
}

/// Splits `key=value` words where a value may be `"quoted text"` (with `\"`
/// and `\\` escapes).
pub fn key_values(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return pairs;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.peek() != Some(&'=') {
            pairs.push((key, String::new()));
            continue;
        }
        chars.next();
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => {
                        if let Some(escaped) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        pairs.push((key, value));
    }
}

/// Parses `inject patch I type=T address=0xADDR site=S old=HEX new=HEX
/// before="INSN" after="INSN"`.
pub fn parse_patch(line: &str) -> Option<Patch> {
    let rest = line.trim().strip_prefix("inject patch ")?;
    let (index, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let mut patch = Patch {
        index: index.parse().ok()?,
        ..Patch::default()
    };
    for (key, value) in key_values(rest) {
        match key.as_str() {
            "type" => patch.fault_type = value,
            "address" => patch.address = value,
            "site" => patch.site = value,
            "old" => patch.old = value,
            "new" => patch.new = value,
            "before" => patch.before = value,
            "after" => patch.after = value,
            _ => {}
        }
    }
    Some(patch)
}

/// What an `inject ...` command answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InjectAnswer {
    /// The patches listed.
    pub patches: Vec<Patch>,
    /// `inject armed E patches=N` (or `planned` for a dry run): N.
    pub armed_patches: Option<u32>,
    /// `inject fail-point E TYPE armed`: the types.
    pub fail_points: Vec<String>,
    /// `inject crash E KIND`: the kinds.
    pub crashes: Vec<String>,
    /// `inject: error: MESSAGE`.
    pub error: Option<String>,
}

impl InjectAnswer {
    /// Reads an answer (any lines that are not the engine's are ignored).
    pub fn parse(answer: &str) -> InjectAnswer {
        let mut out = InjectAnswer::default();
        for line in answer.lines().map(str::trim) {
            if let Some(patch) = parse_patch(line) {
                out.patches.push(patch);
            } else if let Some(message) = line.strip_prefix("inject: error: ") {
                out.error.get_or_insert_with(|| message.to_string());
            } else if let Some(rest) = line
                .strip_prefix("inject armed ")
                .or_else(|| line.strip_prefix("inject planned "))
            {
                out.armed_patches = rest
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("patches="))
                    .and_then(|n| n.parse().ok());
            } else if let Some(rest) = line.strip_prefix("inject fail-point ") {
                let words: Vec<&str> = rest.split_whitespace().collect();
                if let [_, kind, "armed"] = words[..] {
                    out.fail_points.push(kind.to_string());
                }
            } else if let Some(rest) = line.strip_prefix("inject crash ")
                && let [_, kind] = rest.split_whitespace().collect::<Vec<_>>()[..]
            {
                out.crashes.push(kind.to_string());
            }
        }
        out
    }

    /// The engine accepted the request (armed, fired, or planned something).
    pub fn accepted(&self) -> bool {
        self.error.is_none()
            && (self.armed_patches.is_some()
                || !self.fail_points.is_empty()
                || !self.crashes.is_empty())
    }
}

/// What `inject status E` answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InjectStatus {
    /// `inject activated I yes|no`, per patch.
    pub activated: Vec<(u32, bool)>,
    /// `inject fired TYPE N`, per fail point.
    pub fired: Vec<(String, u64)>,
    /// `inject status end` was seen.
    pub complete: bool,
}

impl InjectStatus {
    /// Reads an answer.
    pub fn parse(answer: &str) -> InjectStatus {
        let mut out = InjectStatus::default();
        for line in answer.lines().map(str::trim) {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words[..] {
                ["inject", "activated", index, yes_no @ ("yes" | "no")] => {
                    if let Ok(index) = index.parse() {
                        out.activated.push((index, yes_no == "yes"));
                    }
                }
                ["inject", "fired", kind, count] => {
                    if let Ok(count) = count.parse() {
                        out.fired.push((kind.to_string(), count));
                    }
                }
                ["inject", "status", "end"] => out.complete = true,
                _ => {}
            }
        }
        out
    }

    /// Whether any patch executed or any fail point fired; `None` when
    /// the status said nothing about either.
    pub fn any_activated(&self) -> Option<bool> {
        if self.activated.is_empty() && self.fired.is_empty() {
            return None;
        }
        Some(self.activated.iter().any(|(_, yes)| *yes) || self.fired.iter().any(|(_, n)| *n > 0))
    }
}

/// The answer to `ext crash NAME KIND`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrashAnswer {
    /// `NAME: FAULT (recovered in N us); now STATE as generation G`.
    Recovered {
        /// The fault kind recorded.
        fault: String,
        /// Microseconds to recover.
        microseconds: u64,
        /// State after.
        state: String,
        /// Generation after.
        generation: u64,
    },
    /// `NAME: FAULT (not restarted); now STATE as generation G`.
    NotRestarted {
        /// The fault kind recorded.
        fault: String,
        /// State after.
        state: String,
    },
    /// `NAME: failed; now STATE as generation G` (no fault record).
    Failed {
        /// State after.
        state: String,
    },
    /// `ext: MESSAGE`: the crash was refused (unknown kind, not loaded,
    /// the extension does not implement crashes, ...).
    Refused(String),
}

/// Parses the answer to `ext crash NAME KIND` (log lines may be mixed in).
pub fn parse_crash_answer(answer: &str, name: &str) -> Option<CrashAnswer> {
    let prefix = format!("{name}: ");
    for line in answer.lines().map(str::trim) {
        if let Some(message) = line.strip_prefix("ext: ") {
            return Some(CrashAnswer::Refused(message.to_string()));
        }
        let Some(rest) = line.strip_prefix(&prefix) else {
            continue;
        };
        let Some((head, tail)) = rest.split_once("; now ") else {
            continue;
        };
        let mut tail_words = tail.split_whitespace();
        let state = tail_words.next().unwrap_or_default().to_string();
        let generation = tail
            .rsplit_once("generation ")
            .and_then(|(_, g)| g.trim().parse().ok());
        if head == "failed" {
            return Some(CrashAnswer::Failed { state });
        }
        let (fault, detail) = head.split_once(" (")?;
        let detail = detail.strip_suffix(')')?;
        if detail == "not restarted" {
            return Some(CrashAnswer::NotRestarted {
                fault: fault.to_string(),
                state,
            });
        }
        let microseconds = detail
            .strip_prefix("recovered in ")?
            .strip_suffix(" us")?
            .parse()
            .ok()?;
        return Some(CrashAnswer::Recovered {
            fault: fault.to_string(),
            microseconds,
            state,
            generation: generation?,
        });
    }
    None
}

/// What the serial log of a trial says (kernel log lines and fatal
/// reports), read from the text after the injection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFindings {
    /// `nim: NAME: KIND at rip ...`: faults detected in the extension.
    pub faults: Vec<String>,
    /// `nim: NAME restarted as generation G in US us`: recovery times.
    pub recoveries_us: Vec<u64>,
    /// `nim: NAME: the new instance failed during init` or `restart failed`.
    pub restart_failures: usize,
    /// `kernel stopped`, `KERNEL PANIC`, `EXCEPTION:` lines.
    pub fatal: Vec<String>,
}

impl LogFindings {
    /// Scans `text` for lines about extension `name` and for fatal reports.
    pub fn scan(text: &str, name: &str) -> LogFindings {
        let mut out = LogFindings::default();
        let fault_prefix = format!("nim: {name}: ");
        let restart_prefix = format!("nim: {name} restarted as generation ");
        for line in text.lines() {
            let trimmed = line.trim();
            if trimmed == "kernel stopped"
                || trimmed.starts_with("KERNEL PANIC")
                || trimmed.starts_with("EXCEPTION:")
            {
                out.fatal.push(trimmed.to_string());
                continue;
            }
            let Some(at) = line.find("nim: ") else {
                continue;
            };
            let message = &line[at..];
            if let Some(rest) = message.strip_prefix(&restart_prefix) {
                if let Some(us) = rest
                    .split_once(" in ")
                    .and_then(|(_, t)| t.strip_suffix(" us"))
                    .and_then(|t| t.parse().ok())
                {
                    out.recoveries_us.push(us);
                }
            } else if let Some(rest) = message.strip_prefix(&fault_prefix) {
                if rest.contains(" at rip ") {
                    let kind = rest.split_whitespace().next().unwrap_or_default();
                    out.faults.push(kind.to_string());
                } else if rest.contains("failed during init") || rest.starts_with("restart failed")
                {
                    out.restart_failures += 1;
                }
            }
        }
        out
    }
}

/// The command names in the answer to `help` (`  NAME  USAGE  HELP` lines).
pub fn help_commands(answer: &str) -> Vec<String> {
    answer
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// `ext list` with nothing loaded: the bundled names
/// (`no extensions (bundled: a, b)`).
pub fn bundled_extensions(answer: &str) -> Option<Vec<String>> {
    let line = answer
        .lines()
        .find_map(|l| l.trim().strip_prefix("no extensions (bundled: "))?;
    let inside = line.strip_suffix(')')?;
    Some(
        inside
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as the engine's contract writes them.
    const RECORDED_INJECT: &str = "\
inject patch 0 type=pointer address=0xffffc00000004067 site=crashtest::checksum+0x1b old=488b07 new=488b47 before=\"mov rax, [rdi]\" after=\"mov rax, [rdi+0x0]\"
[    0.031965] INFO  nim::recovery: unrelated
inject patch 1 type=invert address=0xffffc000000040a0 site=crashtest::increment+0x4 old=74 new=75 before=\"je 0x40b0\" after=\"jne 0x40b0\" extra=1
inject armed crashtest patches=2
";

    #[test]
    fn recorded_patch_lines_parse_with_quoted_instructions() {
        let answer = InjectAnswer::parse(RECORDED_INJECT);
        assert!(answer.accepted());
        assert_eq!(answer.armed_patches, Some(2));
        assert_eq!(answer.patches.len(), 2);
        let first = &answer.patches[0];
        assert_eq!(first.index, 0);
        assert_eq!(first.fault_type, "pointer");
        assert_eq!(first.site, "crashtest::checksum+0x1b");
        assert_eq!(
            (first.old.as_str(), first.new.as_str()),
            ("488b07", "488b47")
        );
        assert_eq!(first.before, "mov rax, [rdi]");
        assert_eq!(first.after, "mov rax, [rdi+0x0]");
        assert_eq!(answer.patches[1].after, "jne 0x40b0");
    }

    #[test]
    fn quoted_values_keep_escapes() {
        assert_eq!(
            key_values(r#"a="x \"y\" \\z" b=2 flag"#),
            [
                ("a".to_string(), r#"x "y" \z"#.to_string()),
                ("b".to_string(), "2".to_string()),
                ("flag".to_string(), String::new())
            ]
        );
        assert!(parse_patch("inject patch x type=nop").is_none());
        assert!(parse_patch("inject armed crashtest patches=1").is_none());
    }

    #[test]
    fn dry_runs_fail_points_crashes_and_errors_are_recognised() {
        let planned = InjectAnswer::parse("inject planned crashtest patches=0\n");
        assert_eq!(planned.armed_patches, Some(0));
        let fail = InjectAnswer::parse("inject fail-point e1000 alloc armed\n");
        assert_eq!(fail.fail_points, ["alloc"]);
        assert!(fail.accepted());
        let crash = InjectAnswer::parse("inject crash crashtest panic\n[ 1.0] WARN x\n");
        assert_eq!(crash.crashes, ["panic"]);
        let error = InjectAnswer::parse("inject: error: no instruction of type irq in crashtest\n");
        assert_eq!(
            error.error.as_deref(),
            Some("no instruction of type irq in crashtest")
        );
        assert!(!error.accepted());
        assert!(!InjectAnswer::parse("unknown command 'inject' (type 'help')").accepted());
    }

    #[test]
    fn status_answers_give_activation() {
        let status = InjectStatus::parse(
            "inject activated 0 no\ninject activated 1 yes\ninject fired alloc 0\ninject status end\n",
        );
        assert_eq!(status.activated, [(0, false), (1, true)]);
        assert_eq!(status.fired, [("alloc".to_string(), 0)]);
        assert!(status.complete);
        assert_eq!(status.any_activated(), Some(true));
        let none =
            InjectStatus::parse("inject activated 0 no\ninject fired dma 0\ninject status end");
        assert_eq!(none.any_activated(), Some(false));
        assert_eq!(
            InjectStatus::parse("inject status end").any_activated(),
            None
        );
        assert_eq!(
            InjectStatus::parse("inject fired dma 3").any_activated(),
            Some(true)
        );
    }

    #[test]
    fn crash_answers_as_the_shell_prints_them() {
        let recorded = "[    0.029149] WARN  nim::services: nim: crashtest generation 0 panicked\ncrashtest: panic (recovered in 2680 us); now running as generation 1\n";
        assert_eq!(
            parse_crash_answer(recorded, "crashtest"),
            Some(CrashAnswer::Recovered {
                fault: "panic".into(),
                microseconds: 2680,
                state: "running".into(),
                generation: 1
            })
        );
        assert_eq!(
            parse_crash_answer(
                "rtc: page-fault (not restarted); now stopped as generation 0",
                "rtc"
            ),
            Some(CrashAnswer::NotRestarted {
                fault: "page-fault".into(),
                state: "stopped".into()
            })
        );
        assert_eq!(
            parse_crash_answer("rtc: failed; now stopped as generation 3", "rtc"),
            Some(CrashAnswer::Failed {
                state: "stopped".into()
            })
        );
        assert_eq!(
            parse_crash_answer(
                "ext: no extension named `x` is loaded (see `ext list`)",
                "x"
            ),
            Some(CrashAnswer::Refused(
                "no extension named `x` is loaded (see `ext list`)".into()
            ))
        );
        assert_eq!(
            parse_crash_answer("crashtest: something else", "crashtest"),
            None
        );
    }

    #[test]
    fn the_serial_log_gives_faults_recoveries_and_fatal_reports() {
        let log = "\
[    0.029884] WARN  nim::recovery: nim: crashtest: panic at rip 0xffffc00000004067; restart now
[    0.031965] INFO  nim::recovery: nim: crashtest restarted as generation 1 in 2680 us
[    0.040000] WARN  nim::recovery: nim: rtc: page-fault at rip 0x1; restart now
[    0.050000] WARN  nim::recovery: nim: crashtest: the new instance failed during init

KERNEL PANIC in kernel thread `shell` (id 1): panicked at x
kernel stopped
";
        let findings = LogFindings::scan(log, "crashtest");
        assert_eq!(findings.faults, ["panic"]);
        assert_eq!(findings.recoveries_us, [2680]);
        assert_eq!(findings.restart_failures, 1);
        assert_eq!(findings.fatal.len(), 2);
        assert_eq!(LogFindings::scan(log, "rtc").faults, ["page-fault"]);
    }

    #[test]
    fn help_and_bundle_answers_list_names() {
        let help = "  help       help               list the commands\n  ext        ext list | load    isolated extensions\n  inject     inject EXT TYPES   fault injection\n";
        assert_eq!(help_commands(help), ["help", "ext", "inject"]);
        assert_eq!(
            bundled_extensions("no extensions (bundled: crashtest, hostile, rtc, template)\n"),
            Some(vec![
                "crashtest".into(),
                "hostile".into(),
                "rtc".into(),
                "template".into()
            ])
        );
        assert_eq!(bundled_extensions("NAME MODE"), None);
    }
}
