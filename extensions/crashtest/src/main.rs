//! `crashtest`: a test extension that fails on command (every crash kind,
//! in its own code) and offers small workloads for tests and benchmarks:
//! a counter that shows whether its state is fresh, a checksum loop, nested
//! calls through the kernel (optionally crashing at the innermost level),
//! concurrent callers, one of every tracked kernel object, and a way to hand
//! any handle (stale or forged) to the kernel's release services.
//!
//! Its own operations are declared in `wrappers/interface/crashtest.idl`;
//! the generated `crashtest_extension_side.rs` decodes them and calls the
//! `interface::Entries` methods below.
//!
//! Invariants: no `unsafe` (crashes go through `extension_api`); all state is
//! atomic or behind a spin lock, because several threads may be inside at
//! once.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU64, Ordering};
use extension_api::kernel::{
    self, CrashKind, DeviceClass, DeviceHandle, InterruptHandle, IoPortsHandle, MemoryHandle,
    TimerHandle,
};
use extension_api::{Extension, InitContext, Level, Status};

/// The generated wrappers of `crashtest.idl`, extension side.
mod interface {
    use extension_api::abi as extension_abi;
    include!("../../../wrappers/generated/crashtest_extension_side.rs");
}

use interface::{HandlesReply, StatusReply};

/// Handles of the objects `acquire-objects` took.
#[derive(Clone, Copy, Default)]
struct Objects {
    memory: Option<MemoryHandle>,
    io_ports: Option<IoPortsHandle>,
    interrupt: Option<InterruptHandle>,
    timer: Option<TimerHandle>,
    device: Option<DeviceHandle>,
}

impl Objects {
    fn held(&self) -> u64 {
        [
            self.memory.is_some(),
            self.io_ports.is_some(),
            self.interrupt.is_some(),
            self.timer.is_some(),
            self.device.is_some(),
        ]
        .into_iter()
        .filter(|held| *held)
        .count() as u64
    }
}

struct Crashtest {
    generation: u32,
    counter: AtomicU64,
    timer_expiries: AtomicU64,
    interrupts: AtomicU64,
    inside: AtomicU64,
    most_inside: AtomicU64,
    objects: spin::Mutex<Objects>,
}

impl Extension for Crashtest {
    const IMPLEMENTS_CRASH: bool = true;

    fn init(context: &InitContext) -> Result<Self, Status> {
        extension_api::log(
            Level::Debug,
            format_args!("generation {} up", context.generation),
        );
        Ok(Crashtest {
            generation: context.generation,
            counter: AtomicU64::new(0),
            timer_expiries: AtomicU64::new(0),
            interrupts: AtomicU64::new(0),
            inside: AtomicU64::new(0),
            most_inside: AtomicU64::new(0),
            objects: spin::Mutex::new(Objects::default()),
        })
    }

    fn handle_specific(&self, operation: u64, message: &mut [u8]) -> (Status, usize) {
        interface::dispatch(operation, message, self)
    }
}

/// The kernel's entry operations crashtest answers.
impl kernel::Entries for Crashtest {
    fn crash(&self, kind: CrashKind, target: u64) -> Result<(), Status> {
        match extension_api::CrashKind::from_code(kind.code()) {
            Some(kind) => extension_api::deliberate_fault::trigger(kind, target),
            None => Err(Status::Refused),
        }
    }

    fn null_with_data(&self, data: &[u8]) -> Result<(), Status> {
        core::hint::black_box(data);
        Ok(())
    }

    fn timer(&self, _timer: TimerHandle) -> Result<(), Status> {
        self.timer_expiries.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn interrupt(&self, _line: u8) -> Result<bool, Status> {
        self.interrupts.fetch_add(1, Ordering::Relaxed);
        Ok(false)
    }
}

/// crashtest's own operations (`crashtest.idl`).
impl interface::Entries for Crashtest {
    fn increment(&self) -> Result<u64, Status> {
        Ok(self.counter.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn checksum(&self, seed: u64, rounds: u64) -> Result<u64, Status> {
        Ok(extension_api::abi::checksum(seed, rounds))
    }

    fn nest(&self, word: u64) -> Result<u64, Status> {
        let (depth, crash) = (word & 0xffff_ffff, (word >> 32) & 0xff);
        if depth == 0 {
            if let Some(kind) = crash
                .checked_sub(1)
                .and_then(|code| extension_api::CrashKind::from_code(code as u32))
            {
                extension_api::deliberate_fault::trigger(kind, 0);
            }
            return Ok(0);
        }
        match kernel::call_back(interface::operation::NEST, word - 1)? {
            Status::Ok => Ok(depth),
            status => Err(status),
        }
    }

    fn yield_inside(&self, rounds: u64) -> Result<u64, Status> {
        let now = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_inside.fetch_max(now, Ordering::SeqCst);
        for _ in 0..rounds {
            let _ = kernel::yield_now();
            let now = self.inside.load(Ordering::SeqCst);
            self.most_inside.fetch_max(now, Ordering::SeqCst);
        }
        self.inside.fetch_sub(1, Ordering::SeqCst);
        Ok(self.most_inside.load(Ordering::SeqCst))
    }

    fn status(&self) -> Result<StatusReply, Status> {
        Ok(StatusReply {
            generation: u64::from(self.generation),
            counter: self.counter.load(Ordering::Relaxed),
            timer_expiries: self.timer_expiries.load(Ordering::Relaxed),
            interrupts: self.interrupts.load(Ordering::Relaxed),
            objects_held: self.objects.lock().held(),
        })
    }

    fn acquire_objects(&self) -> Result<u64, Status> {
        let mut objects = self.objects.lock();
        if objects.memory.is_none() {
            objects.memory = Some(kernel::grant_memory(2)?.handle);
        }
        if objects.io_ports.is_none() {
            objects.io_ports = Some(kernel::request_io_ports(0x510, 4)?);
        }
        if objects.interrupt.is_none() {
            objects.interrupt = Some(kernel::request_interrupt(5)?);
        }
        if objects.timer.is_none() {
            objects.timer = Some(kernel::start_timer(50, true)?);
        }
        if objects.device.is_none() {
            objects.device = Some(kernel::register_device(
                DeviceClass::Character,
                "crashtest0",
            )?);
        }
        Ok(objects.held())
    }

    fn handles(&self) -> Result<HandlesReply, Status> {
        let objects = *self.objects.lock();
        Ok(HandlesReply {
            memory: objects.memory.map_or(0, |handle| handle.0),
            io_ports: objects.io_ports.map_or(0, |handle| handle.0),
            interrupt: objects.interrupt.map_or(0, |handle| handle.0),
            timer: objects.timer.map_or(0, |handle| handle.0),
            device: objects.device.map_or(0, |handle| handle.0),
        })
    }

    fn call_kernel_with_data(&self, count: u64, bytes: u16) -> Result<(), Status> {
        let data = [0x5au8; 4096];
        let data = data.get(..usize::from(bytes)).ok_or(Status::Refused)?;
        for _ in 0..count {
            kernel::null_service_with_data(data)?;
        }
        Ok(())
    }

    fn call_kernel_tracked(&self, count: u64) -> Result<(), Status> {
        for _ in 0..count {
            let ports = kernel::request_io_ports(0x530, 1)?;
            kernel::release_io_ports(ports)?;
        }
        Ok(())
    }

    fn release(&self, service: u64, bits: u64) -> Result<Status, Status> {
        use kernel::service;
        let result = match service {
            service::RELEASE_MEMORY => kernel::release_memory(MemoryHandle(bits)),
            service::RELEASE_IO_PORTS => kernel::release_io_ports(IoPortsHandle(bits)),
            service::FREE_INTERRUPT => kernel::free_interrupt(InterruptHandle(bits)),
            service::CANCEL_TIMER => kernel::cancel_timer(TimerHandle(bits)),
            service::UNREGISTER_DEVICE => kernel::unregister_device(DeviceHandle(bits)),
            _ => return Err(Status::Refused),
        };
        Ok(match result {
            Ok(()) => Status::Ok,
            Err(status) => status,
        })
    }
}

extension_api::extension!(Crashtest);
