//! The trusted kernel: boots through PVH, sets up the CPU, memory,
//! interrupts, threads, PCI and the device table, then runs the shell on
//! COM1 (or the in-kernel tests when the command line says `ktest`).
//!
//! Invariants: `unsafe` is confined to `arch`, `boot`, `memory` and the few
//! device-register accesses, each block with a `// SAFETY:` comment; boot
//! runs with interrupts disabled until the scheduler exists.

#![no_std]
#![no_main]

extern crate alloc;

mod arch;
mod bench;
mod boot;
mod console;
mod devices;
mod interrupts;
mod ktest;
mod memory;
mod net;
mod nim;
mod pci;
mod sched;
mod shell;
mod tests;
mod time;

use core::sync::atomic::{AtomicBool, Ordering};

/// What the command line asks for.
struct CommandLine<'a> {
    run_tests: bool,
    test_filter: Option<&'a str>,
    test_skip: usize,
    log_level: log::LevelFilter,
    autoload_extensions: bool,
    benchmark: Option<&'a str>,
    benchmark_iterations: Option<u64>,
}

fn parse_command_line(text: &str) -> CommandLine<'_> {
    let mut options = CommandLine {
        run_tests: false,
        test_filter: None,
        test_skip: 0,
        log_level: log::LevelFilter::Info,
        autoload_extensions: true,
        benchmark: None,
        benchmark_iterations: None,
    };
    for word in text.split_ascii_whitespace() {
        match word.split_once('=') {
            None if word == "ktest" => options.run_tests = true,
            Some(("ktest.filter", filter)) => options.test_filter = Some(filter),
            Some(("ktest.skip", count)) => match count.parse() {
                Ok(count) => options.test_skip = count,
                Err(_) => log::warn!("command line: ktest.skip={count} is not a number; ignored"),
            },
            Some(("log", level)) => match console::parse_level(level) {
                Some(level) => options.log_level = level,
                None => log::warn!("command line: unknown log level '{level}'; using info"),
            },
            Some(("inject", _)) => {} // applied once the NIM is up
            Some(("nim.autoload", value)) => options.autoload_extensions = value != "0",
            Some(("nim.watchdog_ms", value)) => match value.parse::<u64>() {
                Ok(milliseconds) if milliseconds > 0 => {
                    nim::WATCHDOG_MS.store(milliseconds, Ordering::Relaxed)
                }
                _ => log::warn!(
                    "command line: nim.watchdog_ms={value} is not a positive number; ignored"
                ),
            },
            Some(("nim.policy", value)) => match restart_policy::parse_policy(value) {
                Ok(policy) => nim::set_default_policy(policy),
                Err(error) => log::warn!("command line: nim.policy={value}: {error}; ignored"),
            },
            Some(("bench", name)) => options.benchmark = Some(name),
            Some(("bench.iterations", value)) => match value.parse::<u64>() {
                Ok(count) if count > 0 => options.benchmark_iterations = Some(count),
                _ => log::warn!(
                    "command line: bench.iterations={value} is not a positive number; ignored"
                ),
            },
            _ => log::warn!("command line: unknown option '{word}' ignored"),
        }
    }
    options
}

/// Called by the boot code in long mode with the PVH start-info address.
#[unsafe(no_mangle)]
extern "C" fn kernel_entry(start_info_address: u64) -> ! {
    arch::percpu::init();
    console::init();
    console::init_logging(log::LevelFilter::Info);
    // SAFETY: the address comes from QEMU's PVH loader in ebx and the boot
    // page tables still identity-map the first 4 GiB.
    let boot_info = match unsafe { boot::read_start_info(start_info_address) } {
        Ok(info) => info,
        Err(error) => {
            console::emergency_print(format_args!("boot: {}\nkernel stopped\n", error.0));
            arch::exit_qemu(arch::QemuExit::KernelStopped);
        }
    };
    let command_line = parse_command_line(boot_info.command_line());
    log::set_max_level(command_line.log_level);
    log::info!(
        "nooks kernel booting (PVH), command line '{}'",
        boot_info.command_line()
    );
    arch::gdt::init();
    arch::idt::init();
    memory::init(&boot_info);
    if let Err(error) = arch::gdt::use_shared_interrupt_stacks() {
        log::error!("cannot alias the interrupt stacks for protection domains: {error:?}");
    }
    let (free, _, total) = memory::frames::counts();
    log::info!(
        "memory: {} MiB usable, {} MiB free after boot allocations",
        total * 4 / 1024,
        free * 4 / 1024
    );
    interrupts::init();
    time::init_pit();
    sched::init();
    devices::init();
    x86_64::instructions::interrupts::enable();
    time::calibrate_timestamp_counter(10);
    log::info!(
        "timer at {} Hz, TSC at {} MHz",
        time::TICK_HZ,
        time::timestamp_counter_hz() / 1_000_000
    );
    // Failure is logged by init; the kernel runs on without the watchdog.
    let _ = arch::nmi_watchdog::init();
    let pci_functions = pci::init();
    log::info!("PCI: {pci_functions} functions");
    net::init(command_line.run_tests);
    nim::init(command_line.autoload_extensions);
    nim::inject::shell::apply_command_line(boot_info.command_line());
    if let Some(name) = command_line.benchmark {
        bench::run(name, command_line.benchmark_iterations);
    }
    if command_line.run_tests {
        ktest::run(ktest::TestOptions {
            filter: command_line.test_filter,
            skip: command_line.test_skip,
        });
    }
    shell::run(boot::boot_timestamp())
}

static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    x86_64::instructions::interrupts::disable();
    if PANICKING.swap(true, Ordering::Relaxed) {
        console::emergency_print(format_args!("\nnested panic\nkernel stopped\n"));
        arch::exit_qemu(arch::QemuExit::KernelStopped);
    }
    let mut context = arch::trap::FixedText::<96>::new();
    sched::describe_current(&mut context);
    console::emergency_print(format_args!(
        "\nKERNEL PANIC in {}: {}\nkernel stopped\n",
        context.as_str(),
        info
    ));
    arch::exit_qemu(arch::QemuExit::KernelStopped)
}
