//! A running process with a captured, searchable console transcript.

use std::fmt;
use std::io::{self, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crate::Exit;

/// Why an expectation was not met.
#[derive(Debug)]
pub enum HarnessError {
    /// The pattern did not appear within the timeout (or the session deadline).
    Timeout {
        /// What we were waiting for.
        waiting_for: String,
        /// How long we waited.
        waited: Duration,
    },
    /// The process closed its output (normally: exited) before the pattern appeared.
    Exited {
        /// What we were waiting for.
        waiting_for: String,
    },
    /// Spawning or talking to the process failed.
    Io(io::Error),
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HarnessError::Timeout {
                waiting_for,
                waited,
            } => write!(
                f,
                "timed out after {:.1} s waiting for {waiting_for}",
                waited.as_secs_f64()
            ),
            HarnessError::Exited { waiting_for } => {
                write!(f, "output ended while waiting for {waiting_for}")
            }
            HarnessError::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl std::error::Error for HarnessError {}

impl From<io::Error> for HarnessError {
    fn from(e: io::Error) -> Self {
        HarnessError::Io(e)
    }
}

/// One captured output stream, filled by a pump thread.
#[derive(Default)]
struct Stream {
    state: Mutex<StreamState>,
    cond: Condvar,
}

#[derive(Default)]
struct StreamState {
    /// Everything read so far, with `\r` removed.
    data: Vec<u8>,
    /// The writer closed its end.
    eof: bool,
}

impl Stream {
    fn lock(&self) -> MutexGuard<'_, StreamState> {
        // A pump thread never panics while holding the lock; recover anyway.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Copies `reader` into `stream` (and raw bytes into `tee`) until EOF.
fn pump(mut reader: impl Read, stream: Arc<Stream>, mut tee: Option<Box<dyn Write + Send>>) {
    let mut buf = [0u8; 4096];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => 0,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => 0,
        };
        if n == 0 {
            break;
        }
        if let Some(t) = tee.as_mut() {
            // Echo failures (e.g. a closed terminal) must not stop the capture.
            if t.write_all(&buf[..n]).and_then(|_| t.flush()).is_err() {
                tee = None;
            }
        }
        let mut st = stream.lock();
        st.data
            .extend(buf[..n].iter().copied().filter(|&b| b != b'\r'));
        drop(st);
        stream.cond.notify_all();
    }
    stream.lock().eof = true;
    stream.cond.notify_all();
}

/// Finds `needle` in `hay`, returning the index just past the first match.
fn find_end(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + needle.len())
}

/// Finds a shell prompt `> ` at the start of a line in `data[from..]`,
/// returning the absolute index just past it.
pub(crate) fn find_prompt(data: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 2 <= data.len() {
        if &data[i..i + 2] == b"> " && (i == 0 || data[i - 1] == b'\n') {
            return Some(i + 2);
        }
        i += 1;
    }
    None
}

/// A spawned process whose stdout is captured and matched, whose stdin we write.
///
/// The transcript has a cursor: each successful `expect*` consumes the text up
/// to and including the match, so consecutive expectations match in order.
pub struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Stream>,
    err: Arc<Stream>,
    cursor: usize,
    deadline: Option<Instant>,
    timeout: Duration,
    exit: Option<Exit>,
}

impl Session {
    /// Spawns `cmd` with piped stdin/stdout/stderr and starts capturing.
    pub fn spawn(cmd: Command) -> io::Result<Session> {
        Session::spawn_inner(cmd, None, None)
    }

    /// Like [`Session::spawn`], and also echoes stdout's raw bytes to `tee` as
    /// they arrive (e.g. to our own stdout).
    pub fn spawn_tee(cmd: Command, tee: Box<dyn Write + Send>) -> io::Result<Session> {
        Session::spawn_inner(cmd, Some(tee), None)
    }

    /// Like [`Session::spawn_tee`], and also echoes stderr to `err_tee`.
    pub fn spawn_tee_both(
        cmd: Command,
        tee: Box<dyn Write + Send>,
        err_tee: Box<dyn Write + Send>,
    ) -> io::Result<Session> {
        Session::spawn_inner(cmd, Some(tee), Some(err_tee))
    }

    fn spawn_inner(
        mut cmd: Command,
        tee: Option<Box<dyn Write + Send>>,
        err_tee: Option<Box<dyn Write + Send>>,
    ) -> io::Result<Session> {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        let stdout = child.stdout.take().expect("stdout was piped");
        let stderr = child.stderr.take().expect("stderr was piped");
        let out = Arc::new(Stream::default());
        let err = Arc::new(Stream::default());
        {
            let out = out.clone();
            thread::spawn(move || pump(stdout, out, tee));
        }
        {
            let err = err.clone();
            thread::spawn(move || pump(stderr, err, err_tee));
        }
        Ok(Session {
            stdin: child.stdin.take(),
            child,
            out,
            err,
            cursor: 0,
            deadline: None,
            timeout: Duration::from_secs(60),
            exit: None,
        })
    }

    /// Sets an overall deadline: no wait of this session extends past it.
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
    }

    /// Sets the timeout used by [`Session::expect`] and friends (default 60 s).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The process id of the child.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    fn limit(&self, timeout: Duration) -> Instant {
        let t = Instant::now() + timeout;
        match self.deadline {
            Some(d) if d < t => d,
            _ => t,
        }
    }

    /// Waits until `matcher(data, cursor)` yields an absolute end index.
    fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        mut matcher: impl FnMut(&[u8], usize) -> Option<usize>,
    ) -> Result<(usize, usize), HarnessError> {
        let start = Instant::now();
        let limit = self.limit(timeout);
        let mut st = self.out.lock();
        loop {
            if let Some(end) = matcher(&st.data, self.cursor) {
                let begin = self.cursor;
                self.cursor = end;
                return Ok((begin, end));
            }
            if st.eof {
                return Err(HarnessError::Exited {
                    waiting_for: what.to_string(),
                });
            }
            let now = Instant::now();
            if now >= limit {
                return Err(HarnessError::Timeout {
                    waiting_for: what.to_string(),
                    waited: now - start,
                });
            }
            st = self
                .out
                .cond
                .wait_timeout(st, limit - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn text(&self, begin: usize, end: usize) -> String {
        String::from_utf8_lossy(&self.out.lock().data[begin..end]).into_owned()
    }

    /// Waits for `pattern` with the default timeout; returns the consumed text
    /// (from the cursor up to and including the match).
    pub fn expect(&mut self, pattern: &str) -> Result<String, HarnessError> {
        self.expect_within(pattern, self.timeout)
    }

    /// Waits for `pattern` for at most `timeout`.
    pub fn expect_within(
        &mut self,
        pattern: &str,
        timeout: Duration,
    ) -> Result<String, HarnessError> {
        let what = format!("{pattern:?}");
        let needle = pattern.as_bytes().to_vec();
        let (b, e) = self.wait_for(&what, timeout, |data, cur| {
            find_end(&data[cur..], &needle).map(|x| cur + x)
        })?;
        Ok(self.text(b, e))
    }

    /// Waits for the first of `patterns`; returns its index and the consumed text.
    pub fn expect_any(
        &mut self,
        patterns: &[&str],
        timeout: Duration,
    ) -> Result<(usize, String), HarnessError> {
        let what = format!("any of {patterns:?}");
        let mut which = 0;
        let (b, e) = self.wait_for(&what, timeout, |data, cur| {
            let mut best: Option<(usize, usize)> = None;
            for (i, p) in patterns.iter().enumerate() {
                if let Some(x) = find_end(&data[cur..], p.as_bytes()) {
                    let start = x - p.len();
                    if best.is_none_or(|(_, s)| start < s) {
                        best = Some((i, start));
                    }
                }
            }
            best.map(|(i, s)| {
                which = i;
                cur + s + patterns[i].len()
            })
        })?;
        Ok((which, self.text(b, e)))
    }

    /// Waits for the shell prompt (`> ` at the start of a line) with the default
    /// timeout; returns the text before the prompt.
    pub fn expect_prompt(&mut self) -> Result<String, HarnessError> {
        self.expect_prompt_within(self.timeout)
    }

    /// Waits for the shell prompt for at most `timeout`.
    pub fn expect_prompt_within(&mut self, timeout: Duration) -> Result<String, HarnessError> {
        let (b, e) = self.wait_for("the shell prompt \"> \"", timeout, find_prompt)?;
        Ok(self.text(b, e - 2))
    }

    /// Reads the next complete line (without its `\n`). At end of output, returns
    /// a final unterminated line if there is one, then `Ok(None)`.
    pub fn read_line(&mut self, timeout: Duration) -> Result<Option<String>, HarnessError> {
        let r = self.wait_for("a line of output", timeout, |data, cur| {
            data[cur..]
                .iter()
                .position(|&b| b == b'\n')
                .map(|p| cur + p + 1)
        });
        match r {
            Ok((b, e)) => Ok(Some(self.text(b, e - 1))),
            Err(HarnessError::Exited { .. }) => {
                let st = self.out.lock();
                if st.data.len() > self.cursor {
                    let s = String::from_utf8_lossy(&st.data[self.cursor..]).into_owned();
                    self.cursor = st.data.len();
                    Ok(Some(s))
                } else {
                    Ok(None)
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Writes bytes to the process's stdin.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> Result<(), HarnessError> {
        let stdin = self.stdin.as_mut().ok_or_else(|| {
            HarnessError::Io(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "stdin already closed",
            ))
        })?;
        stdin.write_all(bytes)?;
        stdin.flush()?;
        Ok(())
    }

    /// Writes a string to the process's stdin.
    pub fn send(&mut self, s: &str) -> Result<(), HarnessError> {
        self.send_bytes(s.as_bytes())
    }

    /// Types `line` and a newline, waits for the next prompt and returns the
    /// command's answer: the text after the echoed command line, before the prompt.
    ///
    /// The answer starts after the echo, not after the first prompt seen:
    /// a log line printed while the shell waits makes it draw its prompt
    /// again, and that extra prompt may still be unread.
    pub fn command(&mut self, line: &str) -> Result<String, HarnessError> {
        self.send(line)?;
        self.send("\n")?;
        // The echo starts with what was typed before the first control
        // character (an edited line is not echoed as typed after that).
        let typed = line.split(char::is_control).next().unwrap_or("");
        if !typed.is_empty() {
            self.expect(typed)?;
        }
        self.expect("\n")?;
        self.expect_prompt()
    }

    /// Takes the child's stdin (e.g. to feed it from another thread).
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.stdin.take()
    }

    /// Closes the child's stdin (it sees EOF).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits up to `timeout` for the process to end. `Ok(None)` means it is
    /// still running. The process is considered ended once its stdout closed
    /// and it has been reaped.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<Option<Exit>, HarnessError> {
        if let Some(e) = self.exit {
            return Ok(Some(e));
        }
        let limit = self.limit(timeout);
        {
            let mut st = self.out.lock();
            while !st.eof {
                let now = Instant::now();
                if now >= limit {
                    return Ok(None);
                }
                st = self
                    .out
                    .cond
                    .wait_timeout(st, limit - now)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
        // Output closed: the process is exiting. Reap it (bounded, short polls).
        let mut pause = Duration::from_millis(1);
        loop {
            if let Some(status) = self.child.try_wait()? {
                let e = Exit::from_status(status);
                self.exit = Some(e);
                return Ok(Some(e));
            }
            if Instant::now() >= limit {
                return Ok(None);
            }
            thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// Kills the process (if still running) and reaps it.
    pub fn kill(&mut self) -> Exit {
        if let Some(e) = self.exit {
            return e;
        }
        let _ = self.child.kill();
        let e = match self.child.wait() {
            Ok(st) => Exit::from_status(st),
            Err(_) => Exit::Signal(None),
        };
        self.exit = Some(e);
        e
    }

    /// The whole stdout transcript so far (`\r` removed).
    pub fn transcript(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().data).into_owned()
    }

    /// Everything written to stderr so far.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().data).into_owned()
    }

    /// The last `n` lines of the transcript, plus stderr if any — for reports.
    pub fn tail(&self, n: usize) -> String {
        let t = self.transcript();
        let lines: Vec<&str> = t.lines().collect();
        let mut s = lines[lines.len().saturating_sub(n)..].join("\n");
        let e = self.stderr_text();
        if !e.trim().is_empty() {
            s.push_str("\n--- stderr ---\n");
            s.push_str(e.trim_end());
        }
        s
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.exit.is_none() {
            self.kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Session {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        Session::spawn(c).unwrap()
    }

    #[test]
    fn expect_in_order_and_exit_code() {
        let mut s = sh("printf 'boot\\r\\nhello world\\r\\n> '; exit 33");
        assert_eq!(s.expect("boot").unwrap(), "boot");
        let before = s.expect_prompt().unwrap();
        assert_eq!(before, "\nhello world\n");
        assert_eq!(
            s.wait_exit(Duration::from_secs(5)).unwrap(),
            Some(Exit::DebugExitSuccess)
        );
    }

    #[test]
    fn expect_times_out_quickly() {
        let mut s = sh("printf 'nothing here\\n'; sleep 30");
        let t = Instant::now();
        let e = s
            .expect_within("never", Duration::from_millis(200))
            .unwrap_err();
        assert!(matches!(e, HarnessError::Timeout { .. }), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5));
        assert_eq!(s.wait_exit(Duration::from_millis(50)).unwrap(), None);
        // Dropping kills the sleeper; no stray process.
    }

    #[test]
    fn deadline_bounds_every_wait() {
        let mut s = sh("sleep 30");
        s.set_deadline(Instant::now() + Duration::from_millis(150));
        let t = Instant::now();
        let e = s.expect_within("x", Duration::from_secs(60)).unwrap_err();
        assert!(matches!(e, HarnessError::Timeout { .. }));
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn expect_reports_early_exit() {
        let mut s = sh("printf 'EXCEPTION\\n'; exit 37");
        let e = s.expect("> ").unwrap_err();
        assert!(matches!(e, HarnessError::Exited { .. }), "{e}");
        assert_eq!(
            s.wait_exit(Duration::from_secs(5)).unwrap(),
            Some(Exit::KernelStopped)
        );
        assert!(s.tail(5).contains("EXCEPTION"));
    }

    #[test]
    fn prompt_must_start_a_line() {
        let mut s = sh("printf 'a > b\\n> '; sleep 30");
        let before = s.expect_prompt_within(Duration::from_secs(5)).unwrap();
        assert_eq!(before, "a > b\n");
    }

    #[test]
    fn command_round_trip_with_cat() {
        // `cat` echoes what we type: acts as a shell whose answer is the echo.
        let mut c = Command::new("sh");
        c.args([
            "-c",
            "printf '> '; while IFS= read -r l; do printf '%s\\nanswer to %s\\n> ' \"$l\" \"$l\"; done",
        ]);
        let mut s = Session::spawn(c).unwrap();
        s.set_timeout(Duration::from_secs(5));
        s.expect_prompt().unwrap();
        assert_eq!(s.command("pci").unwrap(), "answer to pci\n");
        assert_eq!(s.command("mem").unwrap(), "answer to mem\n");
        s.close_stdin();
        assert_eq!(
            s.wait_exit(Duration::from_secs(5)).unwrap(),
            Some(Exit::PoweredOff)
        );
    }

    #[test]
    fn read_line_and_final_partial_line() {
        let mut s = sh("printf 'one\\ntwo\\nthree'");
        let t = Duration::from_secs(5);
        assert_eq!(s.read_line(t).unwrap().as_deref(), Some("one"));
        assert_eq!(s.read_line(t).unwrap().as_deref(), Some("two"));
        assert_eq!(s.read_line(t).unwrap().as_deref(), Some("three"));
        assert_eq!(s.read_line(t).unwrap(), None);
    }

    #[test]
    fn expect_any_picks_earliest() {
        let mut s = sh("printf 'xx second yy first\\n'");
        let (i, _) = s
            .expect_any(&["first", "second"], Duration::from_secs(5))
            .unwrap();
        assert_eq!(i, 1);
    }

    #[test]
    fn stderr_is_captured_separately() {
        let mut s = sh("echo oops >&2; exit 1");
        assert_eq!(
            s.wait_exit(Duration::from_secs(5)).unwrap(),
            Some(Exit::Other(1))
        );
        // stderr pump may finish just after stdout: wait for it via a short loop.
        let t = Instant::now();
        while !s.stderr_text().contains("oops") && t.elapsed() < Duration::from_secs(5) {
            thread::yield_now();
        }
        assert!(s.tail(3).contains("oops"));
    }

    #[test]
    fn kill_reaps() {
        let mut s = sh("sleep 30");
        assert!(matches!(s.kill(), Exit::Signal(_)));
    }

    #[test]
    fn find_prompt_positions() {
        assert_eq!(find_prompt(b"> ", 0), Some(2));
        assert_eq!(find_prompt(b"x> ", 0), None);
        assert_eq!(find_prompt(b"ab\n> ", 0), Some(5));
        assert_eq!(find_prompt(b"ab\n> ", 3), Some(5));
    }
}
