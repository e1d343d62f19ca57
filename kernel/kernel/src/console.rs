//! The serial console on COM1: output, interrupt-driven input, and the
//! `log` backend (level plus a timestamp since boot).
//!
//! Invariants: all output goes through one interrupt-disabling lock, so
//! lines from different threads never interleave mid-line; received bytes
//! are queued by the COM1 interrupt handler and consumed by threads that
//! sleep on [`INPUT_READY`].

use crate::sched::sync::{BlockError, IrqSpinlock, WaitQueue};
use alloc::collections::VecDeque;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering};
use uart_16550::backend::PioBackend;
use uart_16550::spec::registers::IER;
use uart_16550::{Config, Uart16550};

/// I/O port base of COM1.
pub const COM1: u16 = 0x3f8;
const INPUT_CAPACITY: usize = 4096;

struct Serial {
    uart: Option<Uart16550<PioBackend>>,
}

static SERIAL: IrqSpinlock<Serial> = IrqSpinlock::new(Serial { uart: None });
static INPUT: IrqSpinlock<VecDeque<u8>> = IrqSpinlock::new(VecDeque::new());
/// Threads waiting for console input.
pub static INPUT_READY: WaitQueue = WaitQueue::new();
/// Input bytes dropped because the queue was full.
pub static INPUT_DROPPED: AtomicU64 = AtomicU64::new(0);

impl Write for Serial {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        match self.uart.as_mut() {
            Some(uart) => {
                for &byte in text.as_bytes() {
                    if byte == b'\n' {
                        uart.send_bytes_exact(b"\r");
                    }
                    uart.send_bytes_exact(&[byte]);
                }
            }
            None => raw_write(text.as_bytes()),
        }
        Ok(())
    }
}

/// Polled output straight to the port, for before `init` and for the
/// fatal-fault path.
fn raw_write(bytes: &[u8]) {
    use x86_64::instructions::port::Port;
    for &byte in bytes {
        // SAFETY: COM1's data and line-status ports; polling for an empty
        // transmit holding register before each write.
        unsafe {
            let mut status = Port::<u8>::new(COM1 + 5);
            while status.read() & 0x20 == 0 {}
            if byte == b'\n' {
                Port::<u8>::new(COM1).write(b'\r');
                while status.read() & 0x20 == 0 {}
            }
            Port::<u8>::new(COM1).write(byte);
        }
    }
}

/// Initialises COM1 with the receive interrupt enabled.
pub fn init() {
    // SAFETY: COM1 is the standard port and only this module touches it.
    let uart = unsafe { Uart16550::new_port(COM1) }.expect("COM1 port range is valid");
    let mut serial = SERIAL.lock();
    serial.uart = Some(uart);
    let config = Config {
        interrupts: IER::DATA_READY,
        ..Config::default()
    };
    if let Some(uart) = serial.uart.as_mut()
        && uart.init(config).is_err()
    {
        serial.uart = None;
    }
}

/// Writes formatted text to the console.
pub fn print(arguments: fmt::Arguments<'_>) {
    let _ = SERIAL.lock().write_fmt(arguments);
}

/// Writes to the console even if its lock is held (fatal-fault path).
pub fn emergency_print(arguments: fmt::Arguments<'_>) {
    struct Raw;
    impl Write for Raw {
        fn write_str(&mut self, text: &str) -> fmt::Result {
            raw_write(text.as_bytes());
            Ok(())
        }
    }
    let _ = Raw.write_fmt(arguments);
}

/// Prints to the serial console.
#[macro_export]
macro_rules! print {
    ($($argument:tt)*) => { $crate::console::print(format_args!($($argument)*)) };
}

/// Prints a line to the serial console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($argument:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($argument)*))) };
}

/// COM1 interrupt: move every received byte into the input queue.
pub fn on_serial_interrupt() {
    let mut received = false;
    {
        let mut serial = SERIAL.lock();
        let Some(uart) = serial.uart.as_mut() else {
            return;
        };
        let mut input = INPUT.lock();
        while let Ok(byte) = uart.try_receive_byte() {
            if input.len() < INPUT_CAPACITY {
                input.push_back(byte);
            } else {
                INPUT_DROPPED.fetch_add(1, Ordering::Relaxed);
            }
            received = true;
        }
    }
    if received {
        INPUT_READY.wake_all();
    }
}

/// Takes up to `buffer.len()` received bytes without waiting.
pub fn try_read(buffer: &mut [u8]) -> usize {
    let mut input = INPUT.lock();
    let count = buffer.len().min(input.len());
    for slot in buffer.iter_mut().take(count) {
        *slot = input.pop_front().unwrap_or(0);
    }
    count
}

/// Waits for at least one byte, then takes what is there.
pub fn read(buffer: &mut [u8]) -> Result<usize, BlockError> {
    if buffer.is_empty() {
        return Ok(0);
    }
    INPUT_READY.wait_until(|| !INPUT.lock().is_empty())?;
    Ok(try_read(buffer))
}

struct Logger;

static LOGGER: Logger = Logger;

/// Longest input line the console redraws after a log line.
const MAX_INPUT_LINE: usize = 300;

/// What the shell shows on the input line while it waits for input (the
/// prompt and what was typed so far); empty while a command runs.
struct InputLine {
    bytes: [u8; MAX_INPUT_LINE],
    length: usize,
    shown: bool,
}

static INPUT_LINE: IrqSpinlock<InputLine> = IrqSpinlock::new(InputLine {
    bytes: [0; MAX_INPUT_LINE],
    length: 0,
    shown: false,
});

/// The shell shows `prompt` followed by `typed` and waits (or, with
/// `None`, runs a command). A log line printed meanwhile goes on a line of
/// its own and the input line is drawn again below it, so log output never
/// splits a prompt from what is typed after it.
pub fn set_input_line(line: Option<(&str, &str)>) {
    echo_input(format_args!(""), line);
}

/// Prints `echo` (the shell's answer to a key: the character, an erase, a
/// new prompt) and records the input line it leaves, in one step, so that
/// a log line cannot come between them and redraw a stale line.
pub fn echo_input(echo: fmt::Arguments<'_>, line: Option<(&str, &str)>) {
    let mut input = INPUT_LINE.lock();
    print(echo);
    match line {
        None => input.shown = false,
        Some((prompt, typed)) => {
            let mut length = 0;
            for part in [prompt.as_bytes(), typed.as_bytes()] {
                let take = part.len().min(MAX_INPUT_LINE - length);
                input.bytes[length..length + take].copy_from_slice(&part[..take]);
                length += take;
            }
            input.length = length;
            input.shown = true;
        }
    }
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let micros = crate::time::uptime_us();
        let target = record
            .target()
            .strip_prefix("kernel::")
            .unwrap_or(record.target());
        let input = INPUT_LINE.lock();
        if input.shown {
            print(format_args!("\n"));
        }
        print(format_args!(
            "[{:5}.{:06}] {:<5} {}: {}\n",
            micros / 1_000_000,
            micros % 1_000_000,
            record.level(),
            target,
            record.args()
        ));
        if input.shown {
            let line = core::str::from_utf8(&input.bytes[..input.length]).unwrap_or("> ");
            print(format_args!("{line}"));
        }
    }

    fn flush(&self) {}
}

/// Installs the logger at `level`.
pub fn init_logging(level: log::LevelFilter) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// Parses a level name as the shell and command line accept it.
pub fn parse_level(name: &str) -> Option<log::LevelFilter> {
    match name {
        "off" => Some(log::LevelFilter::Off),
        "error" => Some(log::LevelFilter::Error),
        "warn" => Some(log::LevelFilter::Warn),
        "info" => Some(log::LevelFilter::Info),
        "debug" => Some(log::LevelFilter::Debug),
        "trace" => Some(log::LevelFilter::Trace),
        _ => None,
    }
}
