//! The hardware-free half of the fault-injection engine (issue 6): the
//! spec language, the fault-type catalogue, site selection and patch
//! construction for code mutations over a real x86_64 decoder
//! (`iced-x86`), the fail-point knobs and the activation bookkeeping. The
//! kernel (`kernel/kernel/src/nim/inject/`) applies what this crate plans:
//! it writes the patches into a loaded extension's text, evaluates the
//! fail points in its services, and speaks the shell protocol.
//!
//! - [`spec`]: `inject EXTENSION TYPES [seed=S] [count=K] [dry-run]
//!   [probability=P] [interval=N] [times=N] [nth=N]` and the kernel
//!   command-line form `EXTENSION:TYPES:seed=S:count=K`.
//! - [`fault_types`]: code mutations, fail points, crash kinds.
//! - [`text`]: the code an image offers (functions from its symbol table,
//!   the kernel-provided runtime left out).
//! - [`mutation`]: sites per type and seeded plans of patches.
//! - [`knobs`]: `probability`, `interval`, `times`, `nth` as in Linux's
//!   fault-injection framework; the deterministic random numbers.
//! - [`activation`]: which armed patches ran.
//!
//! Invariants (the crate's promises; each module states its own):
//! - Determinism: a plan and a fail point's decisions are functions of the
//!   image, the load base, the spec and the seed (and, for fail points,
//!   the order of evaluations); nothing reads a clock or global state.
//! - Nothing here writes code or touches hardware, and nothing panics on
//!   any image or spec: refusals are errors with one-line messages.
//! - `no_std` + `alloc`, no `unsafe`; builds for `x86_64-unknown-none` and
//!   is tested on the host with `cargo test -p fault-injection`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod activation;
pub mod fault_types;
pub mod knobs;
pub mod mutation;
pub mod spec;
pub mod text;

pub use activation::{ArmedPatch, PatchBook};
pub use fault_types::{FailPointType, FaultType, MutationType};
pub use knobs::{DeterministicRandom, FailPointState, Knobs};
pub use mutation::{PatchLine, PlanError, PlannedPatch, Planner};
pub use spec::{InjectionSpec, SpecError, parse_command_line_value, parse_words};
pub use text::{ExtensionText, TextError};
