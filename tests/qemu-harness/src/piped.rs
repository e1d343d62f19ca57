//! Scripted runs: feed a byte stream to the guest's console once it is ready.
//!
//! Bytes written to QEMU's serial before the kernel initialised its UART are
//! lost, so the input is held back until the first shell prompt appears.

use std::fmt;
use std::io::{self, Read, Write};
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::{Exit, HarnessError, Session};

/// Timeouts of a piped run.
#[derive(Debug, Clone, Copy)]
pub struct PipedOptions {
    /// How long to wait for the first prompt after spawning.
    pub prompt_timeout: Duration,
    /// How long the guest may keep running after the input ended.
    pub exit_timeout: Duration,
}

impl Default for PipedOptions {
    fn default() -> Self {
        PipedOptions {
            prompt_timeout: Duration::from_secs(120),
            exit_timeout: Duration::from_secs(60),
        }
    }
}

/// Why a piped run did not end with an exit status.
#[derive(Debug)]
pub enum PipedError {
    /// The process could not be started.
    Spawn(io::Error),
    /// The prompt never appeared (the process was killed).
    NoPrompt(HarnessError),
    /// The input ended but the guest kept running (the process was killed).
    NoExit {
        /// How long we waited after the input ended.
        waited: Duration,
    },
    /// Waiting for the process failed.
    Wait(HarnessError),
}

impl fmt::Display for PipedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PipedError::Spawn(e) => write!(f, "could not start QEMU: {e}"),
            PipedError::NoPrompt(e) => write!(f, "no shell prompt: {e}"),
            PipedError::NoExit { waited } => write!(
                f,
                "QEMU still running {:.0} s after the input ended (does the input end with `shutdown`?)",
                waited.as_secs_f64()
            ),
            PipedError::Wait(e) => write!(f, "waiting for QEMU failed: {e}"),
        }
    }
}

impl std::error::Error for PipedError {}

/// Spawns `cmd`, copies its stdout to `output` as it arrives, and once the first
/// shell prompt appeared copies `input` to its stdin. Returns how it exited.
///
/// The process's stderr (QEMU's own error messages) is echoed to our stderr.
/// If the process exits before any prompt (e.g. a fault during boot), that exit
/// is returned as is. Input that ends leaves the guest's stdin open; the guest
/// then has `exit_timeout` to power off.
pub fn run_piped(
    cmd: Command,
    input: Box<dyn Read + Send>,
    output: Box<dyn Write + Send>,
    opts: PipedOptions,
) -> Result<Exit, PipedError> {
    let mut session =
        Session::spawn_tee_both(cmd, output, Box::new(io::stderr())).map_err(PipedError::Spawn)?;
    match session.expect_prompt_within(opts.prompt_timeout) {
        Ok(_) => {}
        Err(HarnessError::Exited { .. }) => {
            return match session.wait_exit(Duration::from_secs(10)) {
                Ok(Some(e)) => Ok(e),
                Ok(None) => Ok(session.kill()),
                Err(e) => Err(PipedError::Wait(e)),
            };
        }
        Err(e) => {
            session.kill();
            return Err(PipedError::NoPrompt(e));
        }
    }

    let mut stdin = session.take_stdin().expect("stdin is piped");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut input = input;
        // A write error means the guest is gone; the main loop notices the exit.
        let _ = io::copy(&mut input, &mut stdin).and_then(|_| stdin.flush());
        // Hand stdin back so it stays open until the run ends.
        let _ = tx.send(stdin);
    });

    let mut input_done: Option<(Instant, _)> = None;
    loop {
        match session.wait_exit(Duration::from_millis(100)) {
            Ok(Some(e)) => return Ok(e),
            Ok(None) => {}
            Err(e) => return Err(PipedError::Wait(e)),
        }
        if input_done.is_none()
            && let Ok(stdin) = rx.try_recv()
        {
            input_done = Some((Instant::now(), stdin));
        }
        if let Some((t, _)) = &input_done {
            let waited = t.elapsed();
            if waited >= opts.exit_timeout {
                session.kill();
                return Err(PipedError::NoExit { waited });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl Sink {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    /// A fake kernel: slow boot, then a shell that answers until `shutdown`.
    const FAKE: &str = r#"
        printf 'booting\n'
        printf '> '
        while IFS= read -r l; do
            printf '%s\n' "$l"
            case "$l" in
                shutdown) printf 'shutting down\n'; exit 33 ;;
                *) printf 'did %s\n> ' "$l" ;;
            esac
        done
        sleep 30
    "#;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn feeds_input_after_prompt_and_maps_exit() {
        let out = Sink::default();
        let input = Box::new(io::Cursor::new(b"pci\nmem\nshutdown\n".to_vec()));
        let t = Instant::now();
        let e = run_piped(
            sh(FAKE),
            input,
            Box::new(out.clone()),
            PipedOptions::default(),
        )
        .unwrap();
        assert_eq!(e, Exit::DebugExitSuccess);
        let text = out.text();
        assert!(
            text.contains("booting\n> pci\ndid pci\n> mem\ndid mem\n> shutdown\nshutting down")
        );
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }

    #[test]
    fn guest_that_never_exits_is_killed() {
        let input = Box::new(io::Cursor::new(b"pci\n".to_vec()));
        let opts = PipedOptions {
            prompt_timeout: Duration::from_secs(5),
            exit_timeout: Duration::from_millis(200),
        };
        let e = run_piped(sh(FAKE), input, Box::new(io::sink()), opts).unwrap_err();
        assert!(matches!(e, PipedError::NoExit { .. }), "{e}");
    }

    #[test]
    fn crash_before_prompt_returns_exit() {
        let input = Box::new(io::Cursor::new(b"pci\n".to_vec()));
        let e = run_piped(
            sh("printf 'EXCEPTION: page fault\\n'; exit 37"),
            input,
            Box::new(io::sink()),
            PipedOptions::default(),
        )
        .unwrap();
        assert_eq!(e, Exit::KernelStopped);
    }

    #[test]
    fn no_prompt_times_out() {
        let input = Box::new(io::Cursor::new(Vec::new()));
        let opts = PipedOptions {
            prompt_timeout: Duration::from_millis(200),
            exit_timeout: Duration::from_secs(1),
        };
        let e = run_piped(sh("sleep 30"), input, Box::new(io::sink()), opts).unwrap_err();
        assert!(matches!(e, PipedError::NoPrompt(_)), "{e}");
    }
}
