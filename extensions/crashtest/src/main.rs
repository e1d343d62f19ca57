//! `crashtest`: a test extension that fails on command (every crash kind,
//! in its own code) and offers small workloads for tests and benchmarks:
//! a counter that shows whether its state is fresh, a checksum loop, nested
//! calls through the kernel (optionally crashing at the innermost level),
//! concurrent callers, one of every tracked kernel object, and a way to hand
//! any handle (stale or forged) to the kernel's release services.
//!
//! Invariants: no `unsafe` (crashes go through `extension_api`); all state is
//! atomic or behind a spin lock, because several threads may be inside at
//! once.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU64, Ordering};
use extension_api::abi::{self, crashtest_operation as op};
use extension_api::{
    CrashKind, Extension, Handle, InitContext, Level, MessageReader, MessageWriter, Status,
};

struct Crashtest {
    generation: u32,
    counter: AtomicU64,
    timer_expiries: AtomicU64,
    interrupts: AtomicU64,
    inside: AtomicU64,
    most_inside: AtomicU64,
    objects: spin::Mutex<[Option<Handle>; 5]>,
}

impl Crashtest {
    fn acquire_objects(&self) -> Result<u64, Status> {
        let mut objects = self.objects.lock();
        if objects.iter().all(Option::is_some) {
            return Ok(5);
        }
        let memory = extension_api::grant_memory(2)?;
        objects[0] = Some(memory.handle);
        objects[1] = Some(extension_api::request_io_ports(0x510, 4)?);
        objects[2] = Some(extension_api::request_interrupt(5)?);
        objects[3] = Some(extension_api::start_timer(50, true)?);
        objects[4] = Some(extension_api::register_device("crashtest0")?);
        Ok(objects.iter().filter(|object| object.is_some()).count() as u64)
    }
}

fn reply_u64(reply: &mut MessageWriter<'_>, value: u64) -> Status {
    match reply.put_u64(value) {
        Ok(()) => Status::Ok,
        Err(_) => Status::BadMessage,
    }
}

impl Extension for Crashtest {
    const IMPLEMENTS_CRASH: bool = true;

    fn init(context: &InitContext) -> Result<Self, Status> {
        extension_api::log(
            Level::Debug,
            format_args!("crashtest: generation {} up", context.generation),
        );
        Ok(Crashtest {
            generation: context.generation,
            counter: AtomicU64::new(0),
            timer_expiries: AtomicU64::new(0),
            interrupts: AtomicU64::new(0),
            inside: AtomicU64::new(0),
            most_inside: AtomicU64::new(0),
            objects: spin::Mutex::new([None; 5]),
        })
    }

    fn handle(
        &self,
        operation: u64,
        request: &mut MessageReader<'_>,
        reply: &mut MessageWriter<'_>,
    ) -> Status {
        match operation {
            abi::operation::CRASH => {
                let (Ok(code), Ok(target)) = (request.u32(), request.u64()) else {
                    return Status::BadMessage;
                };
                match CrashKind::from_code(code) {
                    Some(kind) => extension_api::deliberate_fault::trigger(kind, target),
                    None => Status::Refused,
                }
            }
            abi::operation::TIMER => {
                self.timer_expiries.fetch_add(1, Ordering::Relaxed);
                Status::Ok
            }
            abi::operation::INTERRUPT => {
                self.interrupts.fetch_add(1, Ordering::Relaxed);
                Status::Ok
            }
            op::INCREMENT => reply_u64(reply, self.counter.fetch_add(1, Ordering::Relaxed) + 1),
            op::CHECKSUM => {
                let (Ok(seed), Ok(rounds)) = (request.u64(), request.u64()) else {
                    return Status::BadMessage;
                };
                reply_u64(reply, abi::checksum(seed, rounds))
            }
            op::NEST => {
                let Ok(word) = request.u64() else {
                    return Status::BadMessage;
                };
                let (depth, crash) = (word & 0xffff_ffff, (word >> 32) & 0xff);
                if depth == 0 {
                    if let Some(kind) = crash
                        .checked_sub(1)
                        .and_then(|code| CrashKind::from_code(code as u32))
                    {
                        extension_api::deliberate_fault::trigger(kind, 0);
                    }
                    return reply_u64(reply, 0);
                }
                match extension_api::call_back(op::NEST, word - 1) {
                    Ok(Status::Ok) => reply_u64(reply, depth),
                    Ok(status) | Err(status) => status,
                }
            }
            op::YIELD_INSIDE => {
                let Ok(rounds) = request.u64() else {
                    return Status::BadMessage;
                };
                let now = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
                self.most_inside.fetch_max(now, Ordering::SeqCst);
                for _ in 0..rounds {
                    let _ = extension_api::yield_now();
                    let now = self.inside.load(Ordering::SeqCst);
                    self.most_inside.fetch_max(now, Ordering::SeqCst);
                }
                self.inside.fetch_sub(1, Ordering::SeqCst);
                reply_u64(reply, self.most_inside.load(Ordering::SeqCst))
            }
            op::STATUS => {
                let held = self.objects.lock().iter().filter(|o| o.is_some()).count();
                let values = [
                    u64::from(self.generation),
                    self.counter.load(Ordering::Relaxed),
                    self.timer_expiries.load(Ordering::Relaxed),
                    self.interrupts.load(Ordering::Relaxed),
                    held as u64,
                ];
                for value in values {
                    if reply.put_u64(value).is_err() {
                        return Status::BadMessage;
                    }
                }
                Status::Ok
            }
            op::ACQUIRE_OBJECTS => match self.acquire_objects() {
                Ok(held) => reply_u64(reply, held),
                Err(status) => status,
            },
            op::HANDLES => {
                let objects = *self.objects.lock();
                for object in objects {
                    if reply.put_u64(object.map_or(0, |handle| handle.0)).is_err() {
                        return Status::BadMessage;
                    }
                }
                Status::Ok
            }
            op::RELEASE => {
                let (Ok(service), Ok(bits)) = (request.u64(), request.u64()) else {
                    return Status::BadMessage;
                };
                let handle = Handle(bits);
                let status = match service {
                    abi::service::RELEASE_MEMORY => extension_api::release_memory(handle),
                    abi::service::RELEASE_IO_PORTS => extension_api::release_io_ports(handle),
                    abi::service::FREE_INTERRUPT => extension_api::free_interrupt(handle),
                    abi::service::CANCEL_TIMER => extension_api::cancel_timer(handle),
                    abi::service::UNREGISTER_DEVICE => extension_api::unregister_device(handle),
                    _ => return Status::Refused,
                };
                reply_u64(reply, status as u64)
            }
            _ => Status::UnknownOperation,
        }
    }
}

extension_api::extension!(Crashtest);
