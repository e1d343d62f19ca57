//! In-kernel tests: registered in the `kernel_tests` linker section with
//! [`kernel_test!`](crate::kernel_test), run by the boot thread when the
//! command line says `ktest`.
//!
//! Output protocol (read by `cargo xtask test`): `ktest: running N tests`,
//! then per test `ktest: start NAME` and `test NAME ... ok` or
//! `test NAME ... FAILED: reason`, and last `N passed, N failed`; then QEMU
//! exits (33 all passed, 35 some failed). Tests run in name order, so
//! `ktest.skip=N` lets the runner resume after a test that crashed the
//! kernel; `ktest.filter=TEXT` keeps tests whose name contains TEXT.

use crate::arch::{QemuExit, exit_qemu};
use crate::println;
use alloc::string::String;
use alloc::vec::Vec;

/// What a test returns: `Err` carries the reason it failed.
pub type TestResult = Result<(), String>;

/// One registered test.
#[repr(C)]
pub struct KernelTest {
    /// `module::name`.
    pub name: &'static str,
    /// The test body.
    pub run: fn() -> TestResult,
}

/// Registers an in-kernel test: `kernel_test!(name { ...; Ok(()) });`
#[macro_export]
macro_rules! kernel_test {
    ($name:ident $body:block) => {
        const _: () = {
            fn $name() -> $crate::ktest::TestResult $body
            #[unsafe(link_section = "kernel_tests")]
            #[used]
            static TEST: $crate::ktest::KernelTest = $crate::ktest::KernelTest {
                name: concat!(module_path!(), "::", stringify!($name)),
                run: $name,
            };
        };
    };
}

/// Fails the test with a formatted reason unless `condition` holds.
#[macro_export]
macro_rules! ensure {
    ($condition:expr, $($reason:tt)*) => {
        if !$condition {
            return Err(alloc::format!($($reason)*));
        }
    };
}

unsafe extern "C" {
    static __start_kernel_tests: u8;
    static __stop_kernel_tests: u8;
}

/// Every registered test, sorted by name.
pub fn all_tests() -> Vec<&'static KernelTest> {
    // SAFETY: the linker script brackets the section holding only
    // `KernelTest` statics (placed by `kernel_test!`) with these symbols.
    let tests: &'static [KernelTest] = unsafe {
        let start = core::ptr::addr_of!(__start_kernel_tests) as *const KernelTest;
        let stop = core::ptr::addr_of!(__stop_kernel_tests) as *const KernelTest;
        core::slice::from_raw_parts(start, stop.offset_from(start) as usize)
    };
    let mut tests: Vec<&'static KernelTest> = tests.iter().collect();
    tests.sort_by_key(|test| test.name);
    tests
}

fn display_name(name: &str) -> &str {
    name.strip_prefix("kernel::").unwrap_or(name)
}

/// Options taken from the command line.
#[derive(Default)]
pub struct TestOptions<'a> {
    /// Only tests whose name contains this.
    pub filter: Option<&'a str>,
    /// Skip this many tests of the filtered list.
    pub skip: usize,
}

/// Runs the tests and exits QEMU.
pub fn run(options: TestOptions<'_>) -> ! {
    crate::sched::rename_current("ktest");
    // The network thread started paused (`net::init`): tests drive network
    // cards directly and count heap bytes; network tests lift the pause
    // with `net::ResumeGuard`.
    let tests: Vec<_> = all_tests()
        .into_iter()
        .filter(|test| {
            options
                .filter
                .is_none_or(|filter| test.name.contains(filter))
        })
        .collect();
    println!("ktest: running {} tests", tests.len());
    let (mut passed, mut failed) = (0, 0);
    for test in tests.iter().skip(options.skip) {
        let name = display_name(test.name);
        println!("ktest: start {name}");
        match (test.run)() {
            Ok(()) => {
                passed += 1;
                println!("test {name} ... ok");
            }
            Err(reason) => {
                failed += 1;
                println!("test {name} ... FAILED: {reason}");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    exit_qemu(if failed == 0 {
        QemuExit::Success
    } else {
        QemuExit::TestsFailed
    })
}
