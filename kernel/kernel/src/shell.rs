//! The interactive shell on the serial console.
//!
//! Invariants: it reads through the device table (`serial0`), never
//! directly from the UART; a bad command prints an error and the shell
//! carries on; `shutdown` is the only way out.

use crate::{memory, pci, print, println, sched, time};
use alloc::string::ToString;
use line_editor::{Feed, LineEditor, split_words};

/// The prompt printed before each command.
pub const PROMPT: &str = "> ";
const MAX_LINE: usize = 256;

struct Command {
    name: &'static str,
    usage: &'static str,
    help: &'static str,
    run: fn(&[&str]),
}

const COMMANDS: &[Command] = &[
    Command {
        name: "help",
        usage: "help",
        help: "list the commands",
        run: help,
    },
    Command {
        name: "mem",
        usage: "mem",
        help: "physical frames and kernel heap in use",
        run: mem,
    },
    Command {
        name: "pci",
        usage: "pci",
        help: "PCI functions with their BARs and IRQ lines",
        run: pci_list,
    },
    Command {
        name: "threads",
        usage: "threads",
        help: "kernel threads and their states",
        run: threads,
    },
    Command {
        name: "uptime",
        usage: "uptime",
        help: "time since boot",
        run: uptime,
    },
    Command {
        name: "devices",
        usage: DEVICES_USAGE,
        help: "the device table; read, write or send a control request to a device",
        run: devices,
    },
    Command {
        name: "stats",
        usage: "stats",
        help: "interrupt, scheduler and watchdog NMI counters",
        run: stats,
    },
    Command {
        name: "log",
        usage: "log LEVEL",
        help: "set the log level (off|error|warn|info|debug|trace)",
        run: log_level,
    },
    Command {
        name: "crash",
        usage: "crash KIND [ADDR]",
        help: "crash the kernel on purpose: read|write ADDR, invalid-opcode, stack-overflow, panic",
        run: crash,
    },
    Command {
        name: "ext",
        usage: crate::nim::shell_commands::USAGE,
        help: "isolated extensions: list, load, unload, restart, crash, faults, policy",
        run: crate::nim::shell_commands::run,
    },
    Command {
        name: "cpu",
        usage: "cpu",
        help: "counters for measurements: uptime, idle and busy ticks, crossings (kernel -> extension entries, extension -> kernel services)",
        run: cpu,
    },
    Command {
        name: "ifconfig",
        usage: "ifconfig",
        help: "network interfaces: address, gateway, driver, link and counters",
        run: crate::net::shell_commands::ifconfig,
    },
    Command {
        name: "ping",
        usage: crate::net::shell_commands::PING_USAGE,
        help: "ICMP echo to a host (default 4 requests, 1 s timeout each)",
        run: crate::net::shell_commands::ping,
    },
    Command {
        name: "netstat",
        usage: "netstat",
        help: "TCP sockets: listeners and connections, with their owners",
        run: crate::net::shell_commands::netstat,
    },
    Command {
        name: "net",
        usage: crate::net::shell_commands::NET_USAGE,
        help: "TCP transfers with checksums to and from a host, batching, data-path counters",
        run: crate::net::shell_commands::run,
    },
    Command {
        name: "inject",
        usage: fault_injection::spec::USAGE,
        help: "inject faults into an extension: code mutations, fail points, crash kinds",
        run: crate::nim::inject::shell::run,
    },
    Command {
        name: "shutdown",
        usage: "shutdown",
        help: "power off (QEMU exits)",
        run: shutdown,
    },
];

/// Runs the shell on the current thread; never returns.
pub fn run(boot_started_tsc: u64) -> ! {
    sched::rename_current("shell");
    let (_, console) = crate::devices::open("serial0").expect("serial0 is registered at boot");
    let boot_us = time::timestamp_delta_us(crate::arch::read_timestamp() - boot_started_tsc);
    log::info!(
        "reached shell prompt in {} ms (since the kernel's first instruction)",
        boot_us / 1000
    );
    let mut editor = LineEditor::new(MAX_LINE);
    crate::console::echo_input(format_args!("{PROMPT}"), Some((PROMPT, "")));
    let mut buffer = [0u8; 64];
    loop {
        let count = match console.read(&mut buffer) {
            Ok(count) => count,
            Err(error) => {
                log::error!("console read failed: {error}");
                continue;
            }
        };
        for &byte in &buffer[..count] {
            match editor.feed(byte) {
                Feed::Nothing => {}
                Feed::Echo(byte) => crate::console::echo_input(
                    format_args!("{}", byte as char),
                    Some((PROMPT, editor.pending())),
                ),
                Feed::Erase => crate::console::echo_input(
                    format_args!("\x08 \x08"),
                    Some((PROMPT, editor.pending())),
                ),
                Feed::EraseMany(count) => {
                    for _ in 0..count {
                        print!("\x08 \x08");
                    }
                    crate::console::set_input_line(Some((PROMPT, editor.pending())));
                }
                Feed::Bell => print!("\x07"),
                Feed::Cancel => {
                    crate::console::echo_input(format_args!("^C\n{PROMPT}"), Some((PROMPT, "")))
                }
                Feed::Line(line) => {
                    crate::console::echo_input(format_args!("\n"), None);
                    execute(&line);
                    crate::console::echo_input(format_args!("{PROMPT}"), Some((PROMPT, "")));
                }
            }
        }
    }
}

/// Runs one command line.
pub fn execute(line: &str) {
    let words: alloc::vec::Vec<&str> = split_words(line).collect();
    let Some((&name, arguments)) = words.split_first() else {
        return;
    };
    match COMMANDS.iter().find(|command| command.name == name) {
        Some(command) => (command.run)(arguments),
        None => println!("unknown command '{name}' (type 'help')"),
    }
}

fn cpu(_: &[&str]) {
    let threads = sched::threads();
    let idle: u64 = threads
        .iter()
        .filter(|thread| thread.id == sched::IDLE_THREAD)
        .map(|thread| thread.ticks)
        .sum();
    let all: u64 = threads.iter().map(|thread| thread.ticks).sum();
    println!(
        "cpu: uptime_us={} idle_ticks={idle} busy_ticks={} entry_calls={} service_calls={}",
        time::uptime_us(),
        all - idle,
        crate::nim::ENTRY_CALLS.load(core::sync::atomic::Ordering::Relaxed),
        crate::nim::services::SERVICE_CALLS.load(core::sync::atomic::Ordering::Relaxed)
    );
}

fn help(_: &[&str]) {
    for command in COMMANDS {
        println!(
            "  {:<10} {:<18} {}",
            command.name, command.usage, command.help
        );
    }
}

fn mem(_: &[&str]) {
    let (free, used, total) = memory::frames::counts();
    println!(
        "frames: total {total}, free {free}, used {used} ({} KiB free of {} KiB)",
        free * 4,
        total * 4
    );
    let (size, in_use) = memory::heap::stats();
    println!(
        "heap: size {} KiB, used {} KiB, free {} KiB, grew {} times",
        size / 1024,
        in_use / 1024,
        (size - in_use) / 1024,
        memory::heap::GROWTHS.load(core::sync::atomic::Ordering::Relaxed)
    );
}

fn pci_list(_: &[&str]) {
    for function in pci::devices() {
        println!(
            "{} {:04x}:{:04x} {:02x}.{:02x} {} irq {}",
            function.address,
            function.vendor_id,
            function.device_id,
            function.class,
            function.subclass,
            pci_config::class_name(function.class, function.subclass),
            function.interrupt_line
        );
        for (index, bar) in function.bars.iter().enumerate() {
            match bar {
                Some(pci_config::Bar::Memory {
                    base,
                    size,
                    prefetchable,
                    is_64bit,
                }) => println!(
                    "    BAR{index} mem {base:#x} size {size:#x}{}{}",
                    if *is_64bit { " 64-bit" } else { "" },
                    if *prefetchable { " prefetchable" } else { "" }
                ),
                Some(pci_config::Bar::Io { port, size }) => {
                    println!("    BAR{index} io {port:#x} size {size:#x}")
                }
                None => {}
            }
        }
    }
}

fn threads(_: &[&str]) {
    println!("{:>4}  {:<9} {:>8}  NAME", "ID", "STATE", "TICKS");
    for thread in sched::threads() {
        println!(
            "{:>4}  {:<9} {:>8}  {}",
            thread.id,
            thread.state.name(),
            thread.ticks,
            thread.name
        );
    }
}

fn uptime(_: &[&str]) {
    let micros = time::uptime_us();
    println!(
        "up {}.{:03} s ({} ticks at {} Hz)",
        micros / 1_000_000,
        (micros / 1000) % 1000,
        time::ticks(),
        time::TICK_HZ
    );
}

/// Usage text of `devices`.
const DEVICES_USAGE: &str =
    "devices [list] | read NAME [BYTES] | write NAME TEXT... | control NAME REQUEST [ARG]";
/// Most bytes `devices read` asks for (an extension's read is at most 4 KiB).
const DEVICES_READ_MAX: usize = 4096;
/// What `devices read` asks for by default.
const DEVICES_READ_DEFAULT: usize = 256;

fn devices(arguments: &[&str]) {
    match arguments {
        [] | ["list"] => {
            println!("{:<12} {:<10} OPEN", "NAME", "CLASS");
            for device in crate::devices::list() {
                // The class's `Display` ignores widths: pad its text.
                println!(
                    "{:<12} {:<10} {}",
                    device.name,
                    device.class.to_string(),
                    device.open_count
                );
            }
        }
        ["read", name] => device_read(name, DEVICES_READ_DEFAULT),
        ["read", name, bytes] => match bytes.parse::<usize>() {
            Ok(bytes @ 1..=DEVICES_READ_MAX) => device_read(name, bytes),
            _ => println!("devices: BYTES must be 1 to {DEVICES_READ_MAX}, not `{bytes}`"),
        },
        ["write", name, words @ ..] if !words.is_empty() => {
            let text = words.join(" ");
            with_device(name, |device| match device.write(text.as_bytes()) {
                Ok(count) => println!("{name}: wrote {count} of {} bytes", text.len()),
                Err(error) => println!("{name}: write failed: {error}"),
            });
        }
        ["control", name, request] | ["control", name, request, _] => {
            let argument = arguments.get(3).copied().unwrap_or("0");
            match (parse_number(request), parse_number(argument)) {
                (Some(request), Some(argument)) => match u32::try_from(request) {
                    Ok(request) => {
                        with_device(name, |device| match device.control(request, argument) {
                            Ok(answer) => {
                                println!("{name}: control {request}: {answer} ({answer:#x})")
                            }
                            Err(error) => println!("{name}: control {request} failed: {error}"),
                        })
                    }
                    Err(_) => println!("devices: REQUEST must fit 32 bits"),
                },
                _ => println!("devices: REQUEST and ARG are numbers (decimal or 0x hex)"),
            }
        }
        _ => println!("usage: {DEVICES_USAGE}"),
    }
}

/// A decimal or `0x` hexadecimal number.
fn parse_number(text: &str) -> Option<u64> {
    parse_address(text).or_else(|| text.parse().ok())
}

/// Opens device `name`, runs `body` on it and closes it again.
fn with_device(name: &str, body: impl FnOnce(&dyn device_table::Device)) {
    match crate::devices::open(name) {
        Ok((id, device)) => {
            body(device.as_ref());
            if let Err(error) = crate::devices::close(id) {
                // The driver went away meanwhile (it failed and was
                // recovered under a new registration).
                log::debug!("devices: closing {name}: {error}");
            }
        }
        Err(error) => println!("{name}: {error} (see `devices`)"),
    }
}

/// `devices read NAME BYTES`: one read, printed as text (bytes that are not
/// printable ASCII as `\xNN`).
fn device_read(name: &str, bytes: usize) {
    with_device(name, |device| {
        let mut buffer = alloc::vec![0u8; bytes];
        match device.read(&mut buffer) {
            Ok(count) => {
                let mut text = alloc::string::String::new();
                for &byte in &buffer[..count] {
                    match byte {
                        b'\n' | b'\t' | 0x20..=0x7e => text.push(byte as char),
                        _ => text.push_str(&alloc::format!("\\x{byte:02x}")),
                    }
                }
                print!("{text}");
                if !text.ends_with('\n') {
                    println!();
                }
                println!("({count} bytes)");
            }
            Err(error) => println!("{name}: read failed: {error}"),
        }
    });
}

fn stats(_: &[&str]) {
    use core::sync::atomic::Ordering::Relaxed;
    println!(
        "timer interrupts: {}",
        crate::interrupts::IRQ_COUNTS[0].load(Relaxed)
    );
    println!(
        "serial interrupts: {}",
        crate::interrupts::IRQ_COUNTS[4].load(Relaxed)
    );
    println!(
        "context switches: {}",
        sched::CONTEXT_SWITCHES.load(Relaxed)
    );
    println!(
        "refused blocking calls: {}",
        sched::BLOCKING_VIOLATIONS.load(Relaxed)
    );
    println!(
        "console input dropped: {}",
        crate::console::INPUT_DROPPED.load(Relaxed)
    );
    println!(
        "extension faults: {}, recoveries: {} (mean {} us), service calls: {}",
        crate::nim::fault::FAULTS_DETECTED.load(Relaxed),
        crate::nim::recovery::RECOVERIES.load(Relaxed),
        crate::nim::recovery::RECOVERY_MICROSECONDS.load(Relaxed)
            / crate::nim::recovery::RECOVERIES.load(Relaxed).max(1),
        crate::nim::services::SERVICE_CALLS.load(Relaxed)
    );
    match crate::arch::nmi_watchdog::period_us() {
        0 => println!(
            "watchdog NMIs: {} (watchdog inactive)",
            crate::arch::nmi_watchdog::nmi_count()
        ),
        period => println!(
            "watchdog NMIs: {} (one every {period} us)",
            crate::arch::nmi_watchdog::nmi_count()
        ),
    }
}

fn log_level(arguments: &[&str]) {
    match arguments {
        [name] => match crate::console::parse_level(name) {
            Some(level) => {
                log::set_max_level(level);
                println!("log level set to {name}");
            }
            None => {
                println!("log: unknown level '{name}' (expected off|error|warn|info|debug|trace)")
            }
        },
        _ => println!("usage: log LEVEL"),
    }
}

fn parse_address(text: &str) -> Option<u64> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))?;
    u64::from_str_radix(digits, 16).ok()
}

fn crash(arguments: &[&str]) {
    match arguments {
        ["read", address] | ["write", address] => {
            let Some(address) = parse_address(address) else {
                println!("crash: '{address}' is not a hex address like 0xdead000");
                return;
            };
            println!("crashing the kernel: {} at {address:#x}", arguments[0]);
            let pointer = address as *mut u8;
            if arguments[0] == "read" {
                // SAFETY: none — this deliberately dereferences an arbitrary
                // address so the fault reporter can be seen working.
                let value = unsafe { pointer.read_volatile() };
                println!("read {value:#x} (no fault)");
            } else {
                // SAFETY: as above, deliberately.
                unsafe { pointer.write_volatile(0x42) };
                println!("wrote (no fault)");
            }
        }
        ["invalid-opcode"] => {
            println!("crashing the kernel: ud2");
            // SAFETY: raises #UD on purpose; the handler reports it.
            unsafe { core::arch::asm!("ud2") };
        }
        ["stack-overflow"] => {
            println!("crashing the kernel: unbounded recursion on a kernel thread stack");
            let _ = sched::spawn("overflow", || recurse(0) as i32);
            let _ = sched::sleep_ms(1000);
        }
        ["panic"] => panic!("panic requested from the shell"),
        _ => println!(
            "usage: crash read|write ADDR | crash invalid-opcode | crash stack-overflow | crash panic"
        ),
    }
}

/// Recurses until the stack's guard page stops it.
#[allow(unconditional_recursion, reason = "overflowing the stack is the point")]
fn recurse(depth: u64) -> u64 {
    let frame = [depth; 32];
    core::hint::black_box(&frame);
    recurse(core::hint::black_box(depth + 1)) + frame[5]
}

fn shutdown(_: &[&str]) {
    println!("shutting down");
    crate::arch::power_off();
}
