//! Drive a kernel under QEMU from the host: spawn, feed the serial console,
//! capture its output, expect patterns with timeouts, and map exit codes.
//!
//! Invariants:
//! - Every wait is bounded: each `expect`/`read_line`/`wait_exit` takes a timeout
//!   and additionally respects the session's overall deadline, if one is set.
//!   Nothing here sleeps for a fixed time; waits wake as soon as output arrives.
//! - The harness spawns *any* [`std::process::Command`], not only QEMU, so all of
//!   its logic is testable with fake processes (`sh -c 'printf ...; exit 33'`).
//! - Output is matched on a normalised transcript: bytes decoded as lossy UTF-8
//!   with every `\r` removed. The raw bytes are only ever echoed (tee), never
//!   matched.
//! - A [`Session`] owns its child: dropping it kills the process if still running,
//!   so a failed test never leaves a QEMU behind.
//! - Exit status mapping ([`Exit`]) follows the project convention: 0 = ACPI power
//!   off, 33 = isa-debug-exit success, 35 = in-kernel tests failed, 37 = kernel
//!   stopped on a fatal fault; anything else is an infrastructure problem.

mod exit;
pub mod ktest;
mod machine;
mod piped;
mod session;

pub use exit::Exit;
pub use machine::{
    Machine, NetworkForward, QEMU_BINARY, Serial, free_local_port_pair, qemu_on_path,
};
pub use piped::{PipedError, PipedOptions, run_piped};
pub use session::{HarnessError, Session};
