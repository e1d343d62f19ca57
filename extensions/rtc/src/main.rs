//! `rtc`: a driver for the PC's CMOS real-time clock (Motorola MC146818,
//! as QEMU emulates it), isolated like every extension.
//!
//! It reserves the clock's two I/O ports (0x70 selects a CMOS register,
//! 0x71 reads or writes it) and registers the character device `rtc0`:
//! - reading `rtc0` returns the date and time as `YYYY-MM-DD HH:MM:SS\n`;
//! - control request 1 ([`CONTROL_UNIX_SECONDS`]) answers the seconds
//!   since 1970-01-01 00:00:00, reading the clock as UTC (QEMU's default).
//!
//! The clock is read until two consecutive reads, each started outside the
//! clock's once-a-second update, agree; BCD and binary, 12- and 24-hour
//! encodings are decoded. That logic is in the host-tested crate
//! `rtc-clock` (`extensions/rtc/clock`); this file only talks to the
//! hardware, through the kernel.
//!
//! Invariants: no `unsafe`; the select-then-read pair of port accesses is
//! done under one lock (several threads may call in at once); the driver
//! never writes the clock's registers, only the index port.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use extension_api::kernel::{self, DeviceClass, DeviceHandle};
use extension_api::{Extension, InitContext, IoPorts, Level, Status};
use rtc_clock::{DateTime, ReadError};

/// Control request: seconds since the Unix epoch.
const CONTROL_UNIX_SECONDS: u32 = 1;

/// The CMOS index port; the data port follows it.
const CMOS_PORTS: u16 = 0x70;
/// Offset of the index port in the reservation.
const INDEX: u16 = 0;
/// Offset of the data port.
const DATA: u16 = 1;
/// Bit 7 of the index port masks the NMI; the driver leaves it clear
/// (NMIs enabled: the kernel's watchdog uses them).
const REGISTER_MASK: u8 = 0x7f;

/// The extension's state: one instance per load.
struct Rtc {
    /// The reserved ports 0x70-0x71; the lock keeps each select-then-read
    /// pair together.
    ports: spin::Mutex<IoPorts>,
}

impl Rtc {
    /// Reads one CMOS register: select it, then read the data port.
    fn read_register(ports: &IoPorts, register: u8) -> Result<u8, Status> {
        ports.write_u8(INDEX, register & REGISTER_MASK)?;
        ports.read_u8(DATA)
    }

    /// The current date and time.
    fn now(&self) -> Result<DateTime, Status> {
        let ports = self.ports.lock();
        let registers = rtc_clock::read_stable(
            |register| Self::read_register(&ports, register),
            || {
                let _ = kernel::sleep_ms(1);
            },
        )
        .map_err(|error| {
            extension_api::log(Level::Warn, format_args!("{error}"));
            match error {
                ReadError::Access(status) => status,
                ReadError::StuckInUpdate | ReadError::Unstable => Status::NoResources,
            }
        })?;
        rtc_clock::decode(&registers).map_err(|error| {
            extension_api::log(Level::Warn, format_args!("{error}"));
            Status::NoResources
        })
    }
}

impl Extension for Rtc {
    fn init(context: &InitContext) -> Result<Self, Status> {
        let ports = IoPorts::request(CMOS_PORTS, 2)?;
        let rtc = Rtc {
            ports: spin::Mutex::new(ports),
        };
        // Check the clock answers before offering it.
        let now = rtc.now()?;
        kernel::register_device(DeviceClass::Character, "rtc0")?;
        let text = now.text();
        extension_api::log(
            Level::Debug,
            format_args!(
                "generation {} up, the clock reads {}",
                context.generation,
                core::str::from_utf8(&text[..text.len() - 1]).unwrap_or("?")
            ),
        );
        Ok(rtc)
    }
}

/// The kernel's entry operations `rtc` answers: its character device.
impl kernel::Entries for Rtc {
    fn character_read(
        &self,
        _device: DeviceHandle,
        length: u16,
        data: &mut [u8],
    ) -> Result<usize, Status> {
        let text = self.now()?.text();
        let count = usize::from(length).min(data.len()).min(text.len());
        data[..count].copy_from_slice(&text[..count]);
        Ok(count)
    }

    fn character_control(
        &self,
        _device: DeviceHandle,
        request: u32,
        _argument: u64,
    ) -> Result<u64, Status> {
        match request {
            CONTROL_UNIX_SECONDS => {
                u64::try_from(self.now()?.unix_seconds()).map_err(|_| Status::Refused)
            }
            _ => Err(Status::Refused),
        }
    }
}

extension_api::extension!(Rtc);
