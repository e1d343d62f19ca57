//! The isolation manager (NIM): loads extensions into protection domains,
//! calls them through XPC, tracks what they hold, detects their faults and
//! recovers them.
//!
//! The hardware-free logic lives in the `nim/` crates (image validation,
//! object tables, restart policy, the ABI); this module is the kernel side:
//! [`domain`] (memory and page tables), [`xpc`] (crossings), [`services`]
//! (what extensions may ask of the kernel), [`fault`] (detection in trap
//! context) and [`recovery`] (the recovery thread).
//!
//! Invariants:
//! - Per-slot state read in trap context ([`SlotState`]) is atomic; the
//!   rest of an extension's record is under [`EXTENSIONS`], which is never
//!   held across an XPC.
//! - A generation identifies one load of an extension; it only grows. Every
//!   object handle, XPC frame and timer carries it, so anything belonging to
//!   a dead instance is recognised and refused.
//! - Recovery never calls into the failed instance.

pub mod crash;
pub mod domain;
pub mod fault;
pub mod inject;
pub mod interface;
pub mod interrupt_lines;
pub mod recovery;
pub mod services;
pub mod shell_commands;
pub mod xpc;

use crate::sched::sync::IrqSpinlock;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use domain::DomainMemory;
use extension_abi::{MAX_MESSAGE_BYTES, Status};
use object_tracker::{ExtensionId, Generation, ObjectTable};
use restart_policy::{FaultLog, FaultRecord, RestartPolicy, RestartSupervisor};
use services::TrackedObject;

/// Most extensions loaded at once (one region each).
pub const MAX_EXTENSIONS: usize = crate::memory::paging::EXTENSION_REGIONS;

static BUNDLE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/extensions.bundle"));

/// How an extension runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Unisolated: kernel page tables, direct calls (a fault is a kernel fault).
    Native,
    /// In its own protection domain, called through XPC.
    Isolated,
}

impl Mode {
    /// `native` or `isolated`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Native => "native",
            Mode::Isolated => "isolated",
        }
    }
}

/// Life-cycle state of a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    /// Nothing here.
    Empty = 0,
    /// Being loaded (init not finished).
    Loading = 1,
    /// Running and callable.
    Running = 2,
    /// Failed; recovery pending.
    Failed = 3,
    /// Recovery (or unloading) under way.
    Recovering = 4,
    /// Stopped: unloaded, or given up by its restart policy.
    Stopped = 5,
}

impl State {
    fn from_code(code: u8) -> State {
        match code {
            1 => State::Loading,
            2 => State::Running,
            3 => State::Failed,
            4 => State::Recovering,
            5 => State::Stopped,
            _ => State::Empty,
        }
    }

    /// Short name for listings.
    pub fn name(self) -> &'static str {
        match self {
            State::Empty => "empty",
            State::Loading => "loading",
            State::Running => "running",
            State::Failed => "failed",
            State::Recovering => "recovering",
            State::Stopped => "stopped",
        }
    }
}

/// What trap context may read about a slot without locks.
pub struct SlotState {
    state: AtomicU8,
    isolated: AtomicBool,
    /// Domain root (0 when native or not loaded).
    pub root: AtomicU64,
    /// Generation of the current (or last) instance.
    pub generation: AtomicU32,
    /// Entry point of the current instance.
    pub entry: AtomicU64,
    /// Bitmask of free stacks (bit i: stack i is free).
    pub free_stacks: AtomicU32,
    /// Next free address for granted memory.
    pub grant_next: AtomicU64,
    /// The fault that failed the current instance, for the recovery thread.
    pub pending_fault: IrqSpinlock<Option<FaultRecord>>,
    /// When the pending fault was detected (TSC), to time recovery.
    pub fault_timestamp: AtomicU64,
}

impl SlotState {
    const fn new() -> Self {
        Self {
            state: AtomicU8::new(State::Empty as u8),
            isolated: AtomicBool::new(false),
            root: AtomicU64::new(0),
            generation: AtomicU32::new(0),
            entry: AtomicU64::new(0),
            free_stacks: AtomicU32::new(0),
            grant_next: AtomicU64::new(0),
            pending_fault: IrqSpinlock::new(None),
            fault_timestamp: AtomicU64::new(0),
        }
    }

    /// Current state.
    pub fn state(&self) -> State {
        State::from_code(self.state.load(Ordering::Acquire))
    }

    fn set_state(&self, state: State) {
        self.state.store(state as u8, Ordering::Release);
    }

    /// Moves from `from` to `to`; false if the state was not `from`.
    pub fn transition(&self, from: State, to: State) -> bool {
        self.state
            .compare_exchange(from as u8, to as u8, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Is this instance isolated?
    pub fn is_isolated(&self) -> bool {
        self.isolated.load(Ordering::Relaxed)
    }

    /// Running, with this generation?
    pub fn is_alive(&self, generation: u32) -> bool {
        self.state() == State::Running && self.generation.load(Ordering::Acquire) == generation
    }

    /// May instance `generation` still run (running, or in its init)?
    pub fn is_usable(&self, generation: u32) -> bool {
        matches!(self.state(), State::Running | State::Loading)
            && self.generation.load(Ordering::Acquire) == generation
    }
}

/// Per-slot atomic state.
pub static SLOTS: [SlotState; MAX_EXTENSIONS] = [const { SlotState::new() }; MAX_EXTENSIONS];

/// An extension's record (everything not needed in trap context).
pub struct ExtensionRecord {
    /// Its name (the bundle entry).
    pub name: String,
    /// The image it is loaded from (kept for restarts).
    pub image: &'static [u8],
    /// How it runs.
    pub mode: Mode,
    /// Restart bookkeeping and policy.
    pub supervisor: RestartSupervisor,
    /// Its faults.
    pub faults: FaultLog,
    /// Kernel objects the current instance holds.
    pub objects: ObjectTable<TrackedObject>,
    /// The current instance's memory (None while unloaded).
    pub memory: Option<DomainMemory>,
    /// Does the image implement crash kinds itself?
    pub implements_crash: bool,
}

/// Extension records by slot.
pub static EXTENSIONS: IrqSpinlock<Vec<Option<ExtensionRecord>>> = IrqSpinlock::new(Vec::new());

static DEFAULT_POLICY: IrqSpinlock<RestartPolicy> = IrqSpinlock::new(RestartPolicy::Always);
/// Kernel → extension calls attempted (both modes), for `cpu`.
pub static ENTRY_CALLS: AtomicU64 = AtomicU64::new(0);
/// Watchdog bound in milliseconds (ticks and NMIs come at 1 kHz).
pub static WATCHDOG_MS: AtomicU64 = AtomicU64::new(250);

/// Why a NIM request failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NimError {
    /// No extension of that name in the boot image, or none loaded.
    UnknownExtension(String),
    /// The image was refused (the message says why).
    BadImage(String),
    /// Already loaded.
    AlreadyLoaded(String),
    /// All slots are in use.
    NoFreeSlot,
    /// Out of memory.
    OutOfMemory,
    /// The extension is not running (state given).
    NotRunning(State),
    /// The extension failed during the call (it was unwound).
    ExtensionFailed,
    /// The extension answered with this status.
    Refused(Status),
    /// No stack of the domain was free.
    Busy,
}

impl fmt::Display for NimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NimError::UnknownExtension(name) => write!(f, "no extension named `{name}`"),
            NimError::BadImage(reason) => write!(f, "image refused: {reason}"),
            NimError::AlreadyLoaded(name) => write!(f, "`{name}` is already loaded"),
            NimError::NoFreeSlot => f.write_str("all extension slots are in use"),
            NimError::OutOfMemory => f.write_str("out of memory"),
            NimError::NotRunning(state) => write!(f, "the extension is {}", state.name()),
            NimError::ExtensionFailed => f.write_str("the extension failed during the call"),
            NimError::Refused(status) => write!(f, "the extension answered {}", status.name()),
            NimError::Busy => f.write_str("every stack of the extension is in use"),
        }
    }
}

/// Identifies a loaded extension: its slot.
pub type Slot = usize;

/// Names of the images in the boot image's bundle.
pub fn bundled_names() -> Vec<String> {
    match extension_image::bundle::parse_bundle(BUNDLE) {
        Ok(entries) => entries.iter().map(|entry| entry.name.to_string()).collect(),
        Err(_) => Vec::new(),
    }
}

/// The image of bundled extension `name`.
pub fn bundled_image(name: &str) -> Option<&'static [u8]> {
    extension_image::bundle::parse_bundle(BUNDLE)
        .ok()?
        .into_iter()
        .find(|entry| entry.name == name)
        .map(|entry| entry.image)
}

/// Sets up the NIM: parses the bundle, starts the recovery thread and
/// loads every bundled extension isolated (unless `autoload` is false).
pub fn init(autoload: bool) {
    {
        let mut extensions = EXTENSIONS.lock();
        extensions.clear();
        extensions.resize_with(MAX_EXTENSIONS, || None);
    }
    crash::init();
    recovery::start();
    match extension_image::bundle::parse_bundle(BUNDLE) {
        Ok(entries) => log::info!(
            "nim: {} extension image(s) in the boot image: {}",
            entries.len(),
            entries
                .iter()
                .map(|entry| entry.name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Err(error) => log::error!("nim: the extension bundle is damaged: {error}"),
    }
    if autoload {
        for name in bundled_names() {
            if let Err(error) = load(&name, Mode::Isolated) {
                log::error!("nim: loading {name}: {error}");
            }
        }
    }
}

/// Sets the restart policy new extensions get.
pub fn set_default_policy(policy: RestartPolicy) {
    *DEFAULT_POLICY.lock() = policy;
}

/// Finds the slot of the loaded (or stopped) extension `name`.
pub fn find(name: &str) -> Option<Slot> {
    EXTENSIONS
        .lock()
        .iter()
        .position(|record| record.as_ref().is_some_and(|record| record.name == name))
}

/// Loads the bundled image `name` in `mode` and runs its init.
pub fn load(name: &str, mode: Mode) -> Result<Slot, NimError> {
    let image = bundled_image(name).ok_or_else(|| NimError::UnknownExtension(name.to_string()))?;
    load_image(name, image, mode)
}

/// Loads `image` under `name` (any bytes: the loader validates them first).
pub fn load_image(name: &str, image: &'static [u8], mode: Mode) -> Result<Slot, NimError> {
    if !extension_image::bundle::is_valid_name(name) {
        return Err(NimError::BadImage(alloc::format!(
            "bad extension name `{name}`"
        )));
    }
    extension_image::validate(image, &extension_image::ImageLimits::default())
        .map_err(|error| NimError::BadImage(error.to_string()))?;
    let slot = {
        let mut extensions = EXTENSIONS.lock();
        let existing = extensions
            .iter()
            .position(|record| record.as_ref().is_some_and(|record| record.name == name));
        let slot = match existing {
            Some(slot) if SLOTS[slot].state() != State::Stopped => {
                return Err(NimError::AlreadyLoaded(name.to_string()));
            }
            Some(slot) => slot,
            None => extensions
                .iter()
                .position(|record| record.is_none())
                .ok_or(NimError::NoFreeSlot)?,
        };
        let policy = *DEFAULT_POLICY.lock();
        let record = extensions[slot].get_or_insert_with(|| ExtensionRecord {
            name: name.to_string(),
            image,
            mode,
            supervisor: RestartSupervisor::new(policy),
            faults: FaultLog::new(64),
            objects: ObjectTable::new(ExtensionId(slot as u16)),
            memory: None,
            implements_crash: false,
        });
        record.mode = mode;
        record.image = image;
        SLOTS[slot].set_state(State::Loading);
        slot
    };
    let generation = match existing_generation(slot) {
        Some(previous) => previous + 1,
        None => 0,
    };
    start_instance(slot, generation).inspect_err(|_| {
        if SLOTS[slot].state() == State::Loading {
            SLOTS[slot].set_state(State::Stopped);
        }
    })?;
    Ok(slot)
}

static EVER_LOADED: [AtomicBool; MAX_EXTENSIONS] =
    [const { AtomicBool::new(false) }; MAX_EXTENSIONS];

fn existing_generation(slot: Slot) -> Option<u32> {
    EVER_LOADED[slot]
        .load(Ordering::Relaxed)
        .then(|| SLOTS[slot].generation.load(Ordering::Relaxed))
}

/// Places a fresh instance of the slot's image and runs its init. The slot
/// must be in `Loading`; on success it is `Running`.
pub(crate) fn start_instance(slot: Slot, generation: u32) -> Result<(), NimError> {
    let (image, mode) = {
        let extensions = EXTENSIONS.lock();
        let record = extensions[slot].as_ref().expect("slot has a record");
        (record.image, record.mode)
    };
    let validated = extension_image::validate(image, &extension_image::ImageLimits::default())
        .map_err(|error| NimError::BadImage(error.to_string()))?;
    let memory = DomainMemory::place(slot, &validated, mode == Mode::Isolated).map_err(
        |error| match error {
            domain::PlaceError::OutOfMemory => NimError::OutOfMemory,
            domain::PlaceError::Load(error) => NimError::BadImage(error.to_string()),
        },
    )?;
    let state = &SLOTS[slot];
    state.root.store(memory.root, Ordering::Relaxed);
    state.entry.store(memory.entry, Ordering::Relaxed);
    state
        .isolated
        .store(mode == Mode::Isolated, Ordering::Relaxed);
    state
        .free_stacks
        .store((1 << domain::STACK_COUNT) - 1, Ordering::Relaxed);
    state
        .grant_next
        .store(memory.region + domain::GRANTS_OFFSET, Ordering::Relaxed);
    state.generation.store(generation, Ordering::Release);
    EVER_LOADED[slot].store(true, Ordering::Relaxed);
    let heap_base = memory.heap_base();
    {
        let mut extensions = EXTENSIONS.lock();
        let record = extensions[slot].as_mut().expect("slot has a record");
        record.objects =
            ObjectTable::with_generation(ExtensionId(slot as u16), Generation(generation));
        record.memory = Some(memory);
    }
    // Init runs like any call, but while the slot is still loading.
    let service_entry = match mode {
        Mode::Isolated => xpc::kernel_service_trampoline as *const () as u64,
        Mode::Native => services::native_service_entry as *const () as u64,
    };
    let result = interface::kernel::init(
        &mut interface::transport(slot, generation, State::Loading),
        extension_abi::ABI_VERSION,
        generation,
        service_entry,
        heap_base,
        domain::HEAP_PAGES * 4096,
    );
    let answer = match result {
        Ok(answer) => answer,
        Err(extension_abi::CallError::ExtensionFailed) => return Err(NimError::ExtensionFailed),
        Err(extension_abi::CallError::NotRunning) => {
            return Err(NimError::NotRunning(state.state()));
        }
        Err(error) => {
            log::warn!("nim: init of slot {slot} failed: {error}");
            discard_instance(slot);
            return Err(NimError::Refused(error.status()));
        }
    };
    if answer.abi_version != extension_abi::ABI_VERSION {
        discard_instance(slot);
        return Err(NimError::BadImage(alloc::format!(
            "built for extension ABI version {}, the kernel has {}",
            answer.abi_version,
            extension_abi::ABI_VERSION
        )));
    }
    if let Some(record) = EXTENSIONS.lock()[slot].as_mut() {
        record.implements_crash = answer.implements_crash;
    }
    if !state.transition(State::Loading, State::Running) {
        // It failed (or was unloaded) right after init.
        return Err(NimError::ExtensionFailed);
    }
    Ok(())
}

/// Frees an instance that never ran (init refused): objects and memory.
fn discard_instance(slot: Slot) {
    recovery::release_instance(slot);
    SLOTS[slot].set_state(State::Stopped);
}

/// Calls `operation` of the extension in `slot` with `request`; the reply
/// is copied into `reply`. Returns the status and reply length.
pub fn call(
    slot: Slot,
    operation: u64,
    request: &[u8],
    reply: &mut [u8],
) -> Result<(Status, usize), NimError> {
    let state = &SLOTS[slot];
    let generation = state.generation.load(Ordering::Acquire);
    call_in_state(slot, generation, State::Running, operation, request, reply)
}

/// Calls the extension named `name` (see [`call`]).
pub fn call_by_name(
    name: &str,
    operation: u64,
    request: &[u8],
    reply: &mut [u8],
) -> Result<(Status, usize), NimError> {
    let slot = find(name).ok_or_else(|| NimError::UnknownExtension(name.to_string()))?;
    call(slot, operation, request, reply)
}

/// Which entry a call goes to.
#[derive(Clone, Copy)]
pub(crate) enum Target {
    /// The extension's own entry point.
    Extension,
    /// A kernel routine run inside the extension's domain (crash kinds).
    KernelRoutine(u64),
}

fn call_in_state(
    slot: Slot,
    generation: u32,
    required: State,
    operation: u64,
    request: &[u8],
    reply: &mut [u8],
) -> Result<(Status, usize), NimError> {
    call_target(
        slot,
        generation,
        required,
        Target::Extension,
        operation,
        request,
        reply,
    )
}

/// A kernel → extension call with separate request and reply buffers (for
/// tests and benchmarks that speak raw operation numbers); see
/// [`call_in_place`].
pub(crate) fn call_target(
    slot: Slot,
    generation: u32,
    required: State,
    target: Target,
    operation: u64,
    request: &[u8],
    reply: &mut [u8],
) -> Result<(Status, usize), NimError> {
    let length = request.len().max(reply.len());
    if length > MAX_MESSAGE_BYTES {
        return Err(NimError::Refused(Status::BadMessage));
    }
    // Small messages use a small buffer: zeroing 4 KiB per call would
    // dominate the cost of a null call.
    let mut small = [0u8; 64];
    let mut large;
    let buffer: &mut [u8] = if length <= small.len() {
        &mut small[..length]
    } else {
        large = [0u8; MAX_MESSAGE_BYTES];
        &mut large[..length]
    };
    buffer[..request.len()].copy_from_slice(request);
    let (status, count) = call_in_place(slot, generation, required, target, operation, buffer)?;
    let count = count.min(reply.len());
    reply[..count].copy_from_slice(&buffer[..count]);
    Ok((status, count))
}

/// The one path into an extension (kernel → extension XPC): calls
/// `operation` of instance `generation` of `slot` (which must be in state
/// `required`) with `message` in place: the request on the way in, the
/// reply (its length returned, at most `message.len()`) on the way out.
pub(crate) fn call_in_place(
    slot: Slot,
    generation: u32,
    required: State,
    target: Target,
    operation: u64,
    message: &mut [u8],
) -> Result<(Status, usize), NimError> {
    ENTRY_CALLS.fetch_add(1, Ordering::Relaxed);
    let state = &SLOTS[slot];
    if state.state() != required || state.generation.load(Ordering::Acquire) != generation {
        return Err(NimError::NotRunning(state.state()));
    }
    if message.len() > MAX_MESSAGE_BYTES {
        return Err(NimError::Refused(Status::BadMessage));
    }
    let entry = match target {
        Target::Extension => state.entry.load(Ordering::Acquire),
        Target::KernelRoutine(address) => address,
    };
    let length = message.len();
    let alive =
        || state.state() == required && state.generation.load(Ordering::Acquire) == generation;
    if !state.is_isolated() {
        // Native: the extension works on the kernel's buffer directly.
        let mut frame =
            xpc::XpcFrame::new(xpc::Crossing::KernelToExtension, slot as u16, generation, 0);
        let outcome = xpc::call_entry(
            &mut frame,
            entry,
            operation,
            message.as_mut_ptr() as u64,
            length as u64,
            0,
            alive,
        )
        .ok_or(NimError::NotRunning(state.state()))?;
        return finish_call(outcome, |_| true, length);
    }
    // Isolated: a stack of the domain, the message at its top.
    let (stack, stack_top) = acquire_stack(slot, generation)?;
    let message_size = (length as u64).div_ceil(16) * 16;
    let domain_message = stack_top - message_size;
    // SAFETY: [domain_message, stack_top) lies in a mapped stack of this
    // instance that this call owns (acquired above, or below the caller's
    // own stack pointer for a nested call); the probe reports a fault
    // instead of crashing if it is not mapped after all.
    let copied = unsafe {
        crate::arch::fixup::probe_copy(domain_message as *mut u8, message.as_ptr() as u64, length)
    };
    if copied.is_err() {
        release_stack(slot, generation, stack);
        return Err(NimError::ExtensionFailed);
    }
    let root = state.root.load(Ordering::Acquire);
    let mut frame = xpc::XpcFrame::new(
        xpc::Crossing::KernelToExtension,
        slot as u16,
        generation,
        root,
    );
    let outcome = xpc::call_entry(
        &mut frame,
        entry,
        operation,
        domain_message,
        length as u64,
        domain_message - 16,
        alive,
    );
    let reply_pointer = message.as_mut_ptr();
    let result = match outcome {
        None => Err(NimError::NotRunning(state.state())),
        Some(outcome) => finish_call(
            outcome,
            |count| {
                // SAFETY: `message` has room for `count` bytes; the source
                // is the domain's message area, which the probe may find
                // unmapped (the instance failed meanwhile).
                unsafe { crate::arch::fixup::probe_copy(reply_pointer, domain_message, count) }
                    .is_ok()
            },
            length,
        ),
    };
    release_stack(slot, generation, stack);
    result
}

/// Decodes an entry's return value and copies the reply out with
/// `copy_reply(count)` (false: the reply could not be read).
fn finish_call(
    outcome: xpc::CallOutcome,
    copy_reply: impl FnOnce(usize) -> bool,
    reply_room: usize,
) -> Result<(Status, usize), NimError> {
    match outcome {
        xpc::CallOutcome::Failed => Err(NimError::ExtensionFailed),
        xpc::CallOutcome::Returned(value) => {
            let (code, reply_length) = extension_abi::unpack_return(value);
            let status = Status::from_code(code).unwrap_or(Status::BadMessage);
            let count = reply_length.min(reply_room);
            if count > 0 && !copy_reply(count) {
                return Err(NimError::ExtensionFailed);
            }
            Ok((status, count))
        }
    }
}

/// Which stack a call uses: a pool stack (index) or, when this thread is
/// already inside the same instance (a nested call), below its own stack.
#[derive(Clone, Copy)]
enum StackUse {
    Pool(usize),
    Nested,
}

fn acquire_stack(slot: Slot, generation: u32) -> Result<(StackUse, u64), NimError> {
    let region = domain::region_base(slot);
    // Nested: the thread is in a service called by this very instance.
    if let Some(frame) = xpc::innermost()
        && frame.crossing == xpc::Crossing::ExtensionToKernel
        && usize::from(frame.slot) == slot
        && frame.generation == generation
        && let Some(_) = domain::stack_containing(region, frame.extension_stack_pointer)
    {
        let top = (frame.extension_stack_pointer - 512) & !0xf;
        return Ok((StackUse::Nested, top));
    }
    let in_interrupt = crate::arch::percpu::this_cpu()
        .interrupt_depth
        .load(Ordering::Relaxed)
        > 0;
    let state = &SLOTS[slot];
    loop {
        let free = state.free_stacks.load(Ordering::Acquire);
        let candidates = match in_interrupt {
            true => free & (1 << domain::INTERRUPT_STACK),
            false => free & ((1 << domain::THREAD_STACKS) - 1),
        };
        if candidates == 0 {
            if in_interrupt || !crate::sched::sync::may_block() {
                return Err(NimError::Busy);
            }
            crate::sched::yield_now();
            if !state.is_alive(generation) {
                return Err(NimError::NotRunning(state.state()));
            }
            continue;
        }
        let index = candidates.trailing_zeros() as usize;
        if state
            .free_stacks
            .compare_exchange(
                free,
                free & !(1 << index),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
        {
            return Ok((StackUse::Pool(index), domain::stack_top(region, index)));
        }
    }
}

fn release_stack(slot: Slot, generation: u32, stack: StackUse) {
    if let StackUse::Pool(index) = stack {
        let state = &SLOTS[slot];
        // A stack of a dead instance is not returned to the new one's pool.
        if state.generation.load(Ordering::Acquire) == generation {
            state.free_stacks.fetch_or(1 << index, Ordering::AcqRel);
        }
    }
}

/// One row of `ext list`.
pub struct ExtensionSummary {
    /// Slot.
    pub slot: Slot,
    /// Name.
    pub name: String,
    /// Mode.
    pub mode: Mode,
    /// State.
    pub state: State,
    /// Generation of the current instance.
    pub generation: u32,
    /// Restarts so far.
    pub restarts: u32,
    /// Faults so far.
    pub faults: u64,
    /// Objects the instance holds.
    pub objects: usize,
    /// The restart policy.
    pub policy: RestartPolicy,
}

/// Every extension that has a record.
pub fn list() -> Vec<ExtensionSummary> {
    let extensions = EXTENSIONS.lock();
    extensions
        .iter()
        .enumerate()
        .filter_map(|(slot, record)| {
            let record = record.as_ref()?;
            Some(ExtensionSummary {
                slot,
                name: record.name.clone(),
                mode: record.mode,
                state: SLOTS[slot].state(),
                generation: SLOTS[slot].generation.load(Ordering::Relaxed),
                restarts: record.supervisor.restarts(),
                faults: record.faults.total(),
                objects: record.objects.len(),
                policy: record.supervisor.policy(),
            })
        })
        .collect()
}

/// The fault records of `slot` (oldest first).
pub fn faults(slot: Slot) -> Vec<FaultRecord> {
    EXTENSIONS.lock()[slot]
        .as_ref()
        .map(|record| record.faults.iter().copied().collect())
        .unwrap_or_default()
}

/// Sets the restart policy of `slot`.
pub fn set_policy(slot: Slot, policy: RestartPolicy) {
    if let Some(record) = EXTENSIONS.lock()[slot].as_mut() {
        record.supervisor = RestartSupervisor::new(policy);
    }
}

/// Unloads the extension in `slot`: its calls are unwound, its objects
/// released, its memory freed. The record stays (state `stopped`).
pub fn unload(slot: Slot) -> Result<(), NimError> {
    let state = &SLOTS[slot];
    if state.state() == State::Running {
        // Let the extension release what it holds (an extension that does
        // not answer `remove`, or fails in it, is torn down all the same).
        let generation = state.generation.load(Ordering::Acquire);
        let _ =
            interface::kernel::remove(&mut interface::transport(slot, generation, State::Running));
    }
    if !state.transition(State::Running, State::Recovering) {
        return Err(NimError::NotRunning(state.state()));
    }
    recovery::stop_instance(slot);
    state.set_state(State::Stopped);
    Ok(())
}

/// Restarts the extension in `slot` (unload, then load a fresh instance).
pub fn restart(slot: Slot) -> Result<(), NimError> {
    let state = &SLOTS[slot];
    match state.state() {
        State::Running => {
            unload(slot)?;
        }
        State::Stopped => {}
        other => return Err(NimError::NotRunning(other)),
    }
    if !state.transition(State::Stopped, State::Loading) {
        return Err(NimError::NotRunning(state.state()));
    }
    let generation = state.generation.load(Ordering::Relaxed) + 1;
    start_instance(slot, generation).inspect_err(|_| {
        if state.state() == State::Loading {
            state.set_state(State::Stopped);
        }
    })
}
