//! `template`: the smallest useful extension, and the starting point for
//! new ones. It counts the calls it gets and answers operation
//! `EXTENSION_SPECIFIC` (0x100) with the new count.
//!
//! Invariants: no `unsafe`; state is atomic (several threads may call in at
//! once).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU64, Ordering};
use extension_api::abi::operation::EXTENSION_SPECIFIC;
use extension_api::{Extension, InitContext, Level, MessageReader, MessageWriter, Status};

/// The extension's state: one instance per load.
struct Template {
    calls: AtomicU64,
}

impl Extension for Template {
    fn init(context: &InitContext) -> Result<Self, Status> {
        extension_api::log(
            Level::Debug,
            format_args!("template: generation {} up", context.generation),
        );
        Ok(Template {
            calls: AtomicU64::new(0),
        })
    }

    fn handle(
        &self,
        operation: u64,
        _request: &mut MessageReader<'_>,
        reply: &mut MessageWriter<'_>,
    ) -> Status {
        match operation {
            EXTENSION_SPECIFIC => {
                let calls = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
                match reply.put_u64(calls) {
                    Ok(()) => Status::Ok,
                    Err(_) => Status::BadMessage,
                }
            }
            _ => Status::UnknownOperation,
        }
    }
}

extension_api::extension!(Template);
