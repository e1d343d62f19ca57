//! `hostile`: a test extension that calls the kernel's services the way a
//! buggy or malicious driver could, for the kernel's tests in
//! `kernel/kernel/src/tests/hostile.rs` (issue 4, "Validation"):
//!
//! - `raw-call`: a service with any message address and length (other
//!   extensions' memory, kernel addresses, null, non-canonical, lengths
//!   that wrap or run past the end);
//! - `send`: a service with a well-placed message of any bytes and length
//!   (the kernel's tests build them from the generated service table:
//!   malformed messages, stale, forged and wrongly typed handles);
//! - `acquire`/`handles`/`release-all`: one live object of every kind it
//!   can hold, to have handles to misuse;
//! - `recurse`: nested call-backs until the kernel refuses one;
//! - positive uses through the safe API (`probe-vga`, `check-dma`,
//!   `check-port`, `deliver`, `period`), so that the refusals are measured
//!   against something that works.
//!
//! Its operations are declared in `wrappers/interface/hostile.idl`.
//!
//! Invariants: no `unsafe` (raw calls go through
//! `extension_api::deliberate_fault::raw_kernel_call`); all state is atomic
//! or behind a spin lock.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec;
use core::sync::atomic::{AtomicU64, Ordering};
use extension_api::kernel::{
    self, DeviceClass, DeviceHandle, InterruptHandle, MemoryHandle, SocketHandle, TimerHandle,
};
use extension_api::{DmaBuffer, Extension, InitContext, IoPorts, Level, Mmio, PciDevice, Status};

/// The generated wrappers of `hostile.idl`, extension side.
mod interface {
    include!("../../../wrappers/generated/hostile_extension_side.rs");
}

use interface::{
    CheckDmaReply, CountersReply, HandlesReply, ProbeVgaReply, ReadOnlyZerosReply, RecurseReply,
    SendReply,
};

/// QEMU's standard VGA (Bochs DISPI): vendor and device id.
const VGA: (u16, u16) = (0x1234, 0x1111);
/// Its MMIO BAR (4 KiB): the DISPI registers start at 0x500, the ID
/// register first (QEMU's docs/specs/standard-vga.rst).
const VGA_MMIO_BAR: u8 = 2;
const DISPI_ID: usize = 0x500;
/// The port `acquire` reserves (the ISA DMA page register of channel 3:
/// a latch nothing uses here).
const ACQUIRED_PORT: u16 = 0x82;
/// The ISA line `acquire` registers (COM2's, absent on QEMU's machine).
const ACQUIRED_LINE: u8 = 3;
/// The TCP port `acquire` listens on (discard).
const ACQUIRED_TCP_PORT: u16 = 9;
/// The timer `acquire` starts: long enough never to fire during a test.
const ACQUIRED_TIMER_MS: u64 = 600_000;

/// A zeroed message in read-only data (`read-only-zeros`).
static READ_ONLY_ZEROS: [u8; extension_api::abi::MAX_MESSAGE_BYTES] =
    [0; extension_api::abi::MAX_MESSAGE_BYTES];

/// What `acquire` holds.
#[derive(Default)]
struct Held {
    memory: Option<MemoryHandle>,
    io_ports: Option<IoPorts>,
    interrupt: Option<InterruptHandle>,
    timer: Option<TimerHandle>,
    character: Option<DeviceHandle>,
    network: Option<DeviceHandle>,
    sound: Option<DeviceHandle>,
    dma: Option<DmaBuffer>,
    pci: Option<PciDevice>,
    mmio: Option<Mmio>,
    socket: Option<SocketHandle>,
}

impl Held {
    fn count(&self) -> u64 {
        [
            self.memory.is_some(),
            self.io_ports.is_some(),
            self.interrupt.is_some(),
            self.timer.is_some(),
            self.character.is_some(),
            self.network.is_some(),
            self.sound.is_some(),
            self.dma.is_some(),
            self.pci.is_some(),
            self.mmio.is_some(),
            self.socket.is_some(),
        ]
        .into_iter()
        .filter(|held| *held)
        .count() as u64
    }
}

struct Hostile {
    generation: u32,
    held: spin::Mutex<Held>,
    deepest: AtomicU64,
    refusal: AtomicU64,
    timer_expiries: AtomicU64,
    interrupts: AtomicU64,
}

impl Extension for Hostile {
    fn init(context: &InitContext) -> Result<Self, Status> {
        extension_api::log(
            Level::Debug,
            format_args!("hostile: generation {} up", context.generation),
        );
        Ok(Hostile {
            generation: context.generation,
            held: spin::Mutex::new(Held::default()),
            deepest: AtomicU64::new(0),
            refusal: AtomicU64::new(Status::Ok as u64),
            timer_expiries: AtomicU64::new(0),
            interrupts: AtomicU64::new(0),
        })
    }

    fn handle_specific(&self, operation: u64, message: &mut [u8]) -> (Status, usize) {
        interface::dispatch(operation, message, self)
    }
}

/// The kernel's entry operations hostile answers.
impl kernel::Entries for Hostile {
    fn timer(&self, _timer: TimerHandle) -> Result<(), Status> {
        self.timer_expiries.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn interrupt(&self, _line: u8) -> Result<bool, Status> {
        self.interrupts.fetch_add(1, Ordering::Relaxed);
        Ok(false)
    }
}

/// hostile's own operations (`hostile.idl`).
impl interface::Entries for Hostile {
    fn raw_call(&self, service: u64, address: u64, length: u64) -> Result<Status, Status> {
        Ok(extension_api::deliberate_fault::raw_kernel_call(
            service, address, length,
        ))
    }

    fn send(
        &self,
        service: u64,
        length: u64,
        bytes: &[u8],
        answer: &mut [u8],
    ) -> Result<SendReply, Status> {
        let length = usize::try_from(length).map_err(|_| Status::Refused)?;
        if length > 2 * extension_api::abi::MAX_MESSAGE_BYTES {
            return Err(Status::Refused);
        }
        let mut buffer = vec![0u8; length];
        let copied = bytes.len().min(length);
        buffer[..copied].copy_from_slice(&bytes[..copied]);
        let status = extension_api::kernel_call(service, &mut buffer);
        let answered = answer.len().min(length);
        answer[..answered].copy_from_slice(&buffer[..answered]);
        Ok(SendReply {
            status,
            answer_length: answered,
        })
    }

    fn acquire(&self) -> Result<u64, Status> {
        let mut guard = self.held.lock();
        let held = &mut *guard;
        if held.memory.is_none() {
            held.memory = Some(kernel::grant_memory(1)?.handle);
        }
        if held.io_ports.is_none() {
            held.io_ports = Some(IoPorts::request(ACQUIRED_PORT, 1)?);
        }
        if held.interrupt.is_none() {
            held.interrupt = Some(kernel::request_interrupt(ACQUIRED_LINE)?);
        }
        if held.timer.is_none() {
            held.timer = Some(kernel::start_timer(ACQUIRED_TIMER_MS, false)?);
        }
        for (slot, class, name) in [
            (&mut held.character, DeviceClass::Character, "hostile0"),
            (&mut held.network, DeviceClass::Network, "hostile-net0"),
            (&mut held.sound, DeviceClass::Sound, "hostile-snd0"),
        ] {
            if slot.is_none() {
                *slot = Some(kernel::register_device(class, name)?);
            }
        }
        if held.dma.is_none() {
            held.dma = Some(DmaBuffer::allocate(4096)?);
        }
        if held.pci.is_none() {
            held.pci = Some(PciDevice::claim(VGA.0, VGA.1, 0)?);
        }
        if held.mmio.is_none()
            && let Some(pci) = &held.pci
        {
            held.mmio = Some(pci.map_bar(VGA_MMIO_BAR)?);
        }
        if held.socket.is_none() {
            held.socket = Some(kernel::tcp_listen(ACQUIRED_TCP_PORT, 1)?);
        }
        Ok(held.count())
    }

    fn handles(&self) -> Result<HandlesReply, Status> {
        let held = self.held.lock();
        Ok(HandlesReply {
            memory: held.memory.map_or(0, |handle| handle.0),
            io_ports: held.io_ports.as_ref().map_or(0, |ports| ports.handle().0),
            interrupt: held.interrupt.map_or(0, |handle| handle.0),
            timer: held.timer.map_or(0, |handle| handle.0),
            character: held.character.map_or(0, |handle| handle.0),
            network: held.network.map_or(0, |handle| handle.0),
            sound: held.sound.map_or(0, |handle| handle.0),
            dma_buffer: held.dma.as_ref().map_or(0, |buffer| buffer.handle().0),
            pci_device: held.pci.as_ref().map_or(0, |pci| pci.handle().0),
            mmio: held.mmio.as_ref().map_or(0, |mmio| mmio.handle().0),
            socket: held.socket.map_or(0, |handle| handle.0),
        })
    }

    fn release_all(&self) -> Result<u64, Status> {
        let held = core::mem::take(&mut *self.held.lock());
        let count = held.count();
        if let Some(socket) = held.socket {
            kernel::tcp_close(socket)?;
        }
        // Dependants first: the mapping before the PCI function.
        if let Some(mmio) = held.mmio {
            mmio.unmap()?;
        }
        if let Some(pci) = held.pci {
            pci.release()?;
        }
        if let Some(buffer) = held.dma {
            buffer.free()?;
        }
        for device in [held.character, held.network, held.sound]
            .into_iter()
            .flatten()
        {
            kernel::unregister_device(device)?;
        }
        if let Some(timer) = held.timer {
            kernel::cancel_timer(timer)?;
        }
        if let Some(line) = held.interrupt {
            kernel::free_interrupt(line)?;
        }
        if let Some(ports) = held.io_ports {
            ports.release()?;
        }
        if let Some(memory) = held.memory {
            kernel::release_memory(memory)?;
        }
        Ok(count)
    }

    fn recurse(&self) -> Result<RecurseReply, Status> {
        self.deepest.store(0, Ordering::SeqCst);
        self.refusal.store(Status::Ok as u64, Ordering::SeqCst);
        if let Err(status) = kernel::call_back(interface::operation::DESCEND, 1) {
            self.refusal.store(status as u64, Ordering::SeqCst);
        }
        Ok(RecurseReply {
            deepest: self.deepest.load(Ordering::SeqCst),
            refusal: Status::from_code(self.refusal.load(Ordering::SeqCst))
                .unwrap_or(Status::BadMessage),
        })
    }

    fn descend(&self, level: u64) -> Result<(), Status> {
        self.deepest.fetch_max(level, Ordering::SeqCst);
        if let Err(status) = kernel::call_back(interface::operation::DESCEND, level + 1) {
            self.refusal.store(status as u64, Ordering::SeqCst);
        }
        Ok(())
    }

    fn probe_vga(&self) -> Result<ProbeVgaReply, Status> {
        let pci = PciDevice::claim(VGA.0, VGA.1, 0)?;
        let ids = pci.read_config_u32(0)?;
        let bar = pci.bar(VGA_MMIO_BAR)?;
        let mmio = pci.map_bar(VGA_MMIO_BAR)?;
        let dispi_id = mmio.read_u16(DISPI_ID)?;
        let mmio_length = mmio.len() as u64;
        pci.set_bus_mastering(true)?;
        let command_on = pci.read_config_u16(4)?;
        pci.set_bus_mastering(false)?;
        let command_off = pci.read_config_u16(4)?;
        let second_claim = match PciDevice::claim(VGA.0, VGA.1, 0) {
            Ok(again) => {
                again.release()?;
                Status::Ok
            }
            Err(status) => status,
        };
        mmio.unmap()?;
        pci.release()?;
        let reclaimed = match PciDevice::claim(VGA.0, VGA.1, 0) {
            Ok(again) => {
                again.release()?;
                true
            }
            Err(_) => false,
        };
        Ok(ProbeVgaReply {
            ids,
            bar2_kind: bar.kind.code(),
            bar2_base: bar.base,
            bar2_size: bar.size,
            mmio_length,
            dispi_id,
            command_on,
            command_off,
            second_claim,
            reclaimed,
        })
    }

    fn check_dma(&self, bytes: u64) -> Result<CheckDmaReply, Status> {
        let buffer = DmaBuffer::allocate(usize::try_from(bytes).map_err(|_| Status::Refused)?)?;
        let physical = buffer.physical_address(0)?;
        let words = buffer.len() / 4;
        let mut zeroed = true;
        for word in 0..words {
            zeroed &= buffer.read_u32(word * 4)? == 0;
        }
        let pattern = |word: usize| (word as u32).wrapping_mul(0x9e37_79b9) ^ 0x5a5a_5a5a;
        for word in 0..words {
            buffer.write_u32(word * 4, pattern(word))?;
        }
        let mut writable = true;
        for word in 0..words {
            writable &= buffer.read_u32(word * 4)? == pattern(word);
        }
        let length = buffer.len() as u64;
        buffer.free()?;
        Ok(CheckDmaReply {
            physical,
            length,
            zeroed,
            writable,
        })
    }

    fn check_port(&self, port: u16, value: u8) -> Result<u8, Status> {
        let ports = IoPorts::request(port, 1)?;
        let result = ports.write_u8(0, value).and_then(|()| ports.read_u8(0));
        let restored = ports.write_u8(0, 0);
        ports.release()?;
        restored?;
        result
    }

    fn deliver(&self, frame: &[u8]) -> Result<(), Status> {
        let device = self.held.lock().network.ok_or(Status::NotRunning)?;
        kernel::deliver_packet(device, frame)
    }

    fn period(&self) -> Result<(), Status> {
        let device = self.held.lock().sound.ok_or(Status::NotRunning)?;
        kernel::period_finished(device)
    }

    fn read_only_zeros(&self) -> Result<ReadOnlyZerosReply, Status> {
        Ok(ReadOnlyZerosReply {
            address: READ_ONLY_ZEROS.as_ptr() as u64,
            length: READ_ONLY_ZEROS.len() as u64,
        })
    }

    fn counters(&self) -> Result<CountersReply, Status> {
        Ok(CountersReply {
            generation: u64::from(self.generation),
            timer_expiries: self.timer_expiries.load(Ordering::Relaxed),
            interrupts: self.interrupts.load(Ordering::Relaxed),
        })
    }
}

extension_api::extension!(Hostile);
