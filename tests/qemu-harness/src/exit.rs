//! QEMU exit status → meaning, per the project convention.

use std::fmt;
use std::process::ExitStatus;

/// How a QEMU (or fake) process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Status 0: the guest powered off through ACPI (`shutdown`).
    PoweredOff,
    /// Status 33: isa-debug-exit with value 0x10 — success (shutdown fallback,
    /// or all in-kernel tests passed).
    DebugExitSuccess,
    /// Status 35: the in-kernel tests ran and some failed.
    TestsFailed,
    /// Status 37: the kernel stopped on a fatal exception or panic.
    KernelStopped,
    /// Any other exit status: an infrastructure problem.
    Other(i32),
    /// Killed by a signal (number, when known).
    Signal(Option<i32>),
}

impl Exit {
    /// Maps a numeric exit status.
    pub fn from_code(code: i32) -> Exit {
        match code {
            0 => Exit::PoweredOff,
            33 => Exit::DebugExitSuccess,
            35 => Exit::TestsFailed,
            37 => Exit::KernelStopped,
            other => Exit::Other(other),
        }
    }

    /// Maps a process exit status.
    pub fn from_status(status: ExitStatus) -> Exit {
        match status.code() {
            Some(code) => Exit::from_code(code),
            None => {
                #[cfg(unix)]
                {
                    use std::os::unix::process::ExitStatusExt;
                    Exit::Signal(status.signal())
                }
                #[cfg(not(unix))]
                {
                    Exit::Signal(None)
                }
            }
        }
    }

    /// True for the two "the kernel shut down normally" codes, 0 and 33.
    pub fn is_clean_shutdown(self) -> bool {
        matches!(self, Exit::PoweredOff | Exit::DebugExitSuccess)
    }

    /// The numeric status, if the process exited normally.
    pub fn code(self) -> Option<i32> {
        match self {
            Exit::PoweredOff => Some(0),
            Exit::DebugExitSuccess => Some(33),
            Exit::TestsFailed => Some(35),
            Exit::KernelStopped => Some(37),
            Exit::Other(c) => Some(c),
            Exit::Signal(_) => None,
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::PoweredOff => write!(f, "status 0 (powered off)"),
            Exit::DebugExitSuccess => write!(f, "status 33 (debug-exit success)"),
            Exit::TestsFailed => write!(f, "status 35 (in-kernel tests failed)"),
            Exit::KernelStopped => write!(f, "status 37 (kernel stopped on a fatal fault)"),
            Exit::Other(c) => write!(f, "status {c} (unexpected)"),
            Exit::Signal(Some(s)) => write!(f, "killed by signal {s}"),
            Exit::Signal(None) => write!(f, "killed by a signal"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_convention_codes() {
        assert_eq!(Exit::from_code(0), Exit::PoweredOff);
        assert_eq!(Exit::from_code(33), Exit::DebugExitSuccess);
        assert_eq!(Exit::from_code(35), Exit::TestsFailed);
        assert_eq!(Exit::from_code(37), Exit::KernelStopped);
        assert_eq!(Exit::from_code(1), Exit::Other(1));
        assert!(Exit::from_code(0).is_clean_shutdown());
        assert!(Exit::from_code(33).is_clean_shutdown());
        assert!(!Exit::from_code(35).is_clean_shutdown());
        assert!(!Exit::from_code(37).is_clean_shutdown());
        for c in [0, 33, 35, 37, 5] {
            assert_eq!(Exit::from_code(c).code(), Some(c));
        }
    }

    #[test]
    fn maps_real_process_status() {
        let st = std::process::Command::new("sh")
            .args(["-c", "exit 37"])
            .status()
            .unwrap();
        assert_eq!(Exit::from_status(st), Exit::KernelStopped);
    }
}
