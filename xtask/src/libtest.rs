//! Reading libtest's output (`cargo test`): result lines and summaries.

/// Counts from one `test result: ok. N passed; M failed; ...` line.
pub fn summary(line: &str) -> Option<(usize, usize)> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let mut passed = None;
    let mut failed = None;
    for part in rest.split(';') {
        // The first part is "ok. 5 passed" / "FAILED. 5 passed".
        let part = part.rsplit(". ").next().unwrap_or(part).trim();
        if let Some(n) = part.strip_suffix(" passed") {
            passed = n.trim().parse().ok();
        } else if let Some(n) = part.strip_suffix(" failed") {
            failed = n.trim().parse().ok();
        }
    }
    Some((passed?, failed?))
}

/// Is this a per-test line (`test NAME ... ok|FAILED|ignored`)?
pub fn is_result_line(line: &str) -> bool {
    line.starts_with("test ") && !line.starts_with("test result:") && line.contains(" ... ")
}

/// Accumulates a whole `cargo test` stdout.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Sum of `N passed` over all summaries.
    pub passed: usize,
    /// Sum of `M failed` over all summaries.
    pub failed: usize,
    /// How many summaries were seen (one per test binary / doc-test run).
    pub summaries: usize,
    /// The `failures:` sections, verbatim.
    pub failure_text: String,
    in_failures: bool,
}

impl Tally {
    /// Feeds one line of stdout.
    pub fn feed(&mut self, line: &str) {
        if let Some((p, f)) = summary(line) {
            self.passed += p;
            self.failed += f;
            self.summaries += 1;
            self.in_failures = false;
            return;
        }
        if line.trim_end() == "failures:" {
            self.in_failures = true;
        }
        if self.in_failures {
            self.failure_text.push_str(line);
            self.failure_text.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_summaries() {
        assert_eq!(
            summary(
                "test result: ok. 24 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.93s"
            ),
            Some((24, 0))
        );
        assert_eq!(
            summary(
                "test result: FAILED. 3 passed; 2 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s"
            ),
            Some((3, 2))
        );
        assert_eq!(summary("test foo ... ok"), None);
        assert_eq!(summary("3 passed, 1 failed"), None);
        assert_eq!(summary("test result: garbage"), None);
    }

    #[test]
    fn tally_over_output() {
        let out = "\
running 2 tests
test a ... ok
test b ... FAILED

failures:

---- b stdout ----
assertion failed

failures:
    b

test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

running 3 tests
test c ... ok
test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
";
        let mut t = Tally::default();
        for l in out.lines() {
            t.feed(l);
        }
        assert_eq!((t.passed, t.failed, t.summaries), (4, 1, 2));
        assert!(t.failure_text.contains("assertion failed"));
        assert!(!t.failure_text.contains("test c"));
        assert!(is_result_line("test a ... ok"));
        assert!(!is_result_line("test result: ok. 1 passed; 0 failed"));
    }
}
