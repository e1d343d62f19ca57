//! Kernel threads and a preemptive round-robin scheduler.
//!
//! Invariants:
//! - Every switch happens in the trap path ([`switch_from_trap`] for
//!   voluntary yields through `int 0x81`, [`on_timer_tick`] for preemption),
//!   so a descheduled thread's context is always a trap frame on its stack.
//! - The running thread is recorded in the per-CPU data, not derived from
//!   the stack pointer.
//! - A thread's stack is freed only after it has switched away for the last
//!   time (by `join`, or by the scheduler for detached threads).
//! - Lock order: the scheduler lock may be held while taking the paging,
//!   frame or heap locks, never the other way round.

pub mod sync;

use crate::arch::percpu::this_cpu;
use crate::arch::{self, disable_interrupts, restore_interrupts};
use crate::memory::stacks::KernelStack;
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use sync::{BlockError, IrqSpinlock, WaitQueue, might_block};

/// Identifies a thread for its whole life (ids are never reused).
pub type ThreadId = u64;

/// The idle thread runs when nothing else is ready.
pub const IDLE_THREAD: ThreadId = 0;
/// The boot thread (it becomes the shell or the test runner).
pub const BOOT_THREAD: ThreadId = 1;
/// Timer ticks a thread may run before it is preempted.
pub const TIME_SLICE_TICKS: u32 = 5;
/// Stack size of spawned threads.
pub const THREAD_STACK_SIZE: usize = 64 * 1024;

/// What a thread is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// Waiting in the run queue.
    Ready,
    /// On the CPU.
    Running,
    /// Waiting on a wait queue.
    Blocked,
    /// Sleeping until a tick.
    Sleeping,
    /// Finished with this exit code; waiting to be joined.
    Exited(i32),
}

impl ThreadState {
    /// Short name for listings.
    pub fn name(&self) -> &'static str {
        match self {
            ThreadState::Ready => "ready",
            ThreadState::Running => "running",
            ThreadState::Blocked => "blocked",
            ThreadState::Sleeping => "sleeping",
            ThreadState::Exited(_) => "exited",
        }
    }
}

struct Thread {
    name: String,
    state: ThreadState,
    saved_stack_pointer: u64,
    stack: Option<KernelStack>,
    ticks: u64,
    detached: bool,
    /// The thread's XPC state while it is not running.
    xpc: [u64; 4],
}

struct Scheduler {
    threads: BTreeMap<ThreadId, Thread>,
    run_queue: VecDeque<ThreadId>,
    sleepers: BTreeSet<(u64, ThreadId)>,
    zombies: Vec<ThreadId>,
    next_id: ThreadId,
    slice_left: u32,
}

static SCHEDULER: IrqSpinlock<Scheduler> = IrqSpinlock::new(Scheduler {
    threads: BTreeMap::new(),
    run_queue: VecDeque::new(),
    sleepers: BTreeSet::new(),
    zombies: Vec::new(),
    next_id: 2,
    slice_left: TIME_SLICE_TICKS,
});
static RUNNING: AtomicBool = AtomicBool::new(false);
static THREAD_EXITED: WaitQueue = WaitQueue::new();
/// Context switches performed.
pub static CONTEXT_SWITCHES: AtomicU64 = AtomicU64::new(0);
/// Blocking calls refused because of the calling context.
pub static BLOCKING_VIOLATIONS: AtomicU64 = AtomicU64::new(0);

/// Has [`init`] run?
pub fn is_running() -> bool {
    RUNNING.load(Ordering::Acquire)
}

/// The running thread's id.
pub fn current_thread_id() -> ThreadId {
    this_cpu().current_thread.load(Ordering::Relaxed)
}

/// Turns the boot context into thread 1 and creates the idle thread.
pub fn init() {
    let idle_stack = KernelStack::allocate(8 * 1024).expect("no memory for the idle stack");
    let idle_frame = initial_frame_on(&idle_stack, idle_thread as *const () as u64, 0);
    let mut scheduler = SCHEDULER.lock();
    scheduler.threads.insert(
        BOOT_THREAD,
        Thread {
            name: String::from("boot"),
            state: ThreadState::Running,
            saved_stack_pointer: 0,
            stack: None,
            ticks: 0,
            detached: false,
            xpc: [0; 4],
        },
    );
    scheduler.threads.insert(
        IDLE_THREAD,
        Thread {
            name: String::from("idle"),
            state: ThreadState::Ready,
            saved_stack_pointer: idle_frame,
            stack: Some(idle_stack),
            ticks: 0,
            detached: false,
            xpc: [0; 4],
        },
    );
    this_cpu()
        .current_thread
        .store(BOOT_THREAD, Ordering::Relaxed);
    RUNNING.store(true, Ordering::Release);
}

/// Renames the running thread (the boot thread becomes "shell" or "ktest").
pub fn rename_current(name: &str) {
    let id = current_thread_id();
    if let Some(thread) = SCHEDULER.lock().threads.get_mut(&id) {
        thread.name = String::from(name);
    }
}

extern "C" fn idle_thread(_: u64) -> ! {
    loop {
        x86_64::instructions::interrupts::enable_and_hlt();
    }
}

/// Writes a trap frame entering `entry(argument)` at the top of `stack` and
/// returns its address (the thread's first saved stack pointer).
fn initial_frame_on(stack: &KernelStack, entry: u64, argument: u64) -> u64 {
    let top = stack.top();
    let frame = arch::trap::initial_frame(entry, argument, top);
    let frame_address = (top - 256) & !0xf;
    // SAFETY: the stack is freshly mapped, owned by the new thread, and at
    // least 8 KiB large; nothing runs on it yet.
    unsafe { (frame_address as *mut arch::trap::TrapFrame).write(frame) };
    frame_address
}

type ThreadBody = Box<dyn FnOnce() -> i32 + Send>;

extern "C" fn thread_start(argument: u64) -> ! {
    // SAFETY: `spawn` passes a pointer from Box::into_raw of a ThreadBody,
    // and each thread starts exactly once.
    let body = unsafe { Box::from_raw(argument as *mut ThreadBody) };
    let code = body();
    exit(code)
}

/// Error from [`spawn`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpawnError {
    /// No memory for the stack.
    OutOfMemory,
}

/// A handle to wait for a thread's exit code. Dropping it detaches the
/// thread (its resources are freed when it exits).
pub struct JoinHandle {
    id: ThreadId,
    joined: bool,
}

impl JoinHandle {
    /// The thread's id.
    pub fn id(&self) -> ThreadId {
        self.id
    }

    /// Waits for the thread to exit and returns its exit code.
    pub fn join(mut self) -> Result<i32, BlockError> {
        let id = self.id;
        THREAD_EXITED.wait_until(|| {
            matches!(
                SCHEDULER.lock().threads.get(&id).map(|t| t.state),
                Some(ThreadState::Exited(_))
            )
        })?;
        self.joined = true;
        let thread = SCHEDULER.lock().threads.remove(&id);
        match thread.map(|t| t.state) {
            Some(ThreadState::Exited(code)) => Ok(code),
            _ => unreachable!("joined thread vanished"),
        }
    }
}

impl Drop for JoinHandle {
    fn drop(&mut self) {
        if self.joined {
            return;
        }
        let mut scheduler = SCHEDULER.lock();
        let exited = match scheduler.threads.get_mut(&self.id) {
            Some(thread) => {
                thread.detached = true;
                matches!(thread.state, ThreadState::Exited(_))
            }
            None => false,
        };
        if exited {
            scheduler.zombies.push(self.id);
        }
    }
}

/// Starts a kernel thread running `body`; its return value is the exit code.
pub fn spawn(
    name: &str,
    body: impl FnOnce() -> i32 + Send + 'static,
) -> Result<JoinHandle, SpawnError> {
    let stack = KernelStack::allocate(THREAD_STACK_SIZE).ok_or(SpawnError::OutOfMemory)?;
    let body: Box<ThreadBody> = Box::new(Box::new(body));
    let argument = Box::into_raw(body) as u64;
    let frame = initial_frame_on(&stack, thread_start as *const () as u64, argument);
    let mut scheduler = SCHEDULER.lock();
    let id = scheduler.next_id;
    scheduler.next_id += 1;
    scheduler.threads.insert(
        id,
        Thread {
            name: String::from(name),
            state: ThreadState::Ready,
            saved_stack_pointer: frame,
            stack: Some(stack),
            ticks: 0,
            detached: false,
            xpc: [0; 4],
        },
    );
    scheduler.run_queue.push_back(id);
    Ok(JoinHandle { id, joined: false })
}

/// Ends the running thread with `code`.
pub fn exit(code: i32) -> ! {
    disable_interrupts();
    {
        let id = current_thread_id();
        let mut scheduler = SCHEDULER.lock();
        let thread = scheduler
            .threads
            .get_mut(&id)
            .expect("current thread is registered");
        thread.state = ThreadState::Exited(code);
        if thread.detached {
            scheduler.zombies.push(id);
        }
    }
    THREAD_EXITED.wake_all();
    yield_now();
    unreachable!("an exited thread was scheduled again");
}

/// Gives the CPU to the next ready thread (if any).
pub fn yield_now() {
    // SAFETY: the yield vector's handler is the scheduler; `int` saves and
    // restores this context like any interrupt.
    unsafe { core::arch::asm!("int {}", const arch::idt::YIELD_VECTOR) };
}

/// Marks the running thread blocked and switches away. Must be called with
/// interrupts disabled, after the thread has put itself on a wait queue.
pub(crate) fn block_current() {
    debug_assert!(!arch::interrupts_enabled());
    {
        let id = current_thread_id();
        let mut scheduler = SCHEDULER.lock();
        if let Some(thread) = scheduler.threads.get_mut(&id) {
            thread.state = ThreadState::Blocked;
        }
    }
    yield_now();
}

/// Makes a blocked or sleeping thread ready.
pub fn wake(id: ThreadId) {
    let mut scheduler = SCHEDULER.lock();
    let Some(thread) = scheduler.threads.get_mut(&id) else {
        return;
    };
    if matches!(thread.state, ThreadState::Blocked | ThreadState::Sleeping) {
        thread.state = ThreadState::Ready;
        scheduler.run_queue.push_back(id);
    }
}

/// Sleeps for at least `milliseconds`.
pub fn sleep_ms(milliseconds: u64) -> Result<(), BlockError> {
    might_block("sleep")?;
    let deadline = crate::time::ticks() + crate::time::ms_to_ticks(milliseconds).max(1);
    let interrupts_were_enabled = disable_interrupts();
    {
        let id = current_thread_id();
        let mut scheduler = SCHEDULER.lock();
        if let Some(thread) = scheduler.threads.get_mut(&id) {
            thread.state = ThreadState::Sleeping;
        }
        scheduler.sleepers.insert((deadline, id));
    }
    yield_now();
    restore_interrupts(interrupts_were_enabled);
    Ok(())
}

fn switch_locked(scheduler: &mut Scheduler, stack_pointer: u64) -> u64 {
    let current = current_thread_id();
    if let Some(thread) = scheduler.threads.get_mut(&current) {
        thread.saved_stack_pointer = stack_pointer;
        if thread.state == ThreadState::Running {
            thread.state = ThreadState::Ready;
            if current != IDLE_THREAD {
                scheduler.run_queue.push_back(current);
            }
        }
    }
    // Free the stacks of detached threads that have switched away for good.
    let mut index = 0;
    while index < scheduler.zombies.len() {
        let id = scheduler.zombies[index];
        if id != current {
            scheduler.zombies.swap_remove(index);
            scheduler.threads.remove(&id);
        } else {
            index += 1;
        }
    }
    let next = loop {
        match scheduler.run_queue.pop_front() {
            Some(id)
                if scheduler
                    .threads
                    .get(&id)
                    .is_some_and(|t| t.state == ThreadState::Ready) =>
            {
                break id;
            }
            Some(_) => continue,
            None => break IDLE_THREAD,
        }
    };
    let thread = scheduler
        .threads
        .get_mut(&next)
        .expect("next thread is registered");
    thread.state = ThreadState::Running;
    scheduler.slice_left = TIME_SLICE_TICKS;
    let next_xpc = thread.xpc;
    if next != current {
        CONTEXT_SWITCHES.fetch_add(1, Ordering::Relaxed);
        let cpu = this_cpu();
        if let Some(previous) = scheduler.threads.get_mut(&current) {
            previous.xpc = cpu.xpc.snapshot();
        }
        cpu.xpc.restore(next_xpc);
        cpu.current_thread.store(next, Ordering::Relaxed);
    }
    scheduler.threads[&next].saved_stack_pointer
}

/// The yield vector: switch to the next ready thread.
pub fn switch_from_trap(stack_pointer: u64) -> u64 {
    if !is_running() {
        return stack_pointer;
    }
    let mut scheduler = SCHEDULER.lock();
    switch_locked(&mut scheduler, stack_pointer)
}

/// Timer interrupt: account the tick, wake sleepers, preempt when the slice
/// is used up.
pub fn on_timer_tick(stack_pointer: u64) -> u64 {
    if !is_running() {
        return stack_pointer;
    }
    let now = crate::time::ticks();
    let mut scheduler = SCHEDULER.lock();
    let current = current_thread_id();
    if let Some(thread) = scheduler.threads.get_mut(&current) {
        thread.ticks += 1;
    }
    while let Some(&(deadline, id)) = scheduler.sleepers.first() {
        if deadline > now {
            break;
        }
        scheduler.sleepers.pop_first();
        if let Some(thread) = scheduler.threads.get_mut(&id)
            && thread.state == ThreadState::Sleeping
        {
            thread.state = ThreadState::Ready;
            scheduler.run_queue.push_back(id);
        }
    }
    scheduler.slice_left = scheduler.slice_left.saturating_sub(1);
    let idle_with_work = current == IDLE_THREAD && !scheduler.run_queue.is_empty();
    if scheduler.slice_left == 0 || idle_with_work {
        switch_locked(&mut scheduler, stack_pointer)
    } else {
        stack_pointer
    }
}

/// One row of the thread listing.
pub struct ThreadInfo {
    /// Thread id.
    pub id: ThreadId,
    /// Thread name.
    pub name: String,
    /// State.
    pub state: ThreadState,
    /// Timer ticks spent running.
    pub ticks: u64,
}

/// A snapshot of all threads.
pub fn threads() -> Vec<ThreadInfo> {
    SCHEDULER
        .lock()
        .threads
        .iter()
        .map(|(&id, thread)| ThreadInfo {
            id,
            name: thread.name.clone(),
            state: thread.state,
            ticks: thread.ticks,
        })
        .collect()
}

/// State of thread `id`, if it exists.
pub fn thread_state(id: ThreadId) -> Option<ThreadState> {
    SCHEDULER.lock().threads.get(&id).map(|t| t.state)
}

/// Writes "kernel thread `name` (id N)" for fault reports; never blocks.
pub fn describe_current(out: &mut impl Write) {
    let id = current_thread_id();
    match SCHEDULER.try_lock() {
        Some(scheduler) => match scheduler.threads.get(&id) {
            Some(thread) => {
                let _ = write!(out, "kernel thread `{}` (id {id})", thread.name);
            }
            None => {
                let _ = write!(out, "kernel thread id {id}");
            }
        },
        None => {
            let _ = write!(out, "kernel thread id {id} (scheduler locked)");
        }
    }
}

/// Is `address` inside the guard page of any thread's stack?
pub fn guard_page_owner(address: u64) -> Option<ThreadId> {
    let scheduler = SCHEDULER.try_lock()?;
    scheduler
        .threads
        .iter()
        .find(|(_, thread)| {
            thread
                .stack
                .as_ref()
                .is_some_and(|stack| stack.guard_contains(address))
        })
        .map(|(&id, _)| id)
}

/// Lets `redirect` look at the XPC state of every thread but the running
/// one, and replace its saved stack pointer (the isolation manager uses this
/// to move threads preempted inside a failed extension to their XPC entry).
/// `redirect` gets the thread's innermost XPC frame address and returns the
/// new saved stack pointer, if any. Runs with the scheduler locked: it must
/// not block or take the scheduler lock.
pub fn redirect_threads(mut redirect: impl FnMut(u64) -> Option<u64>) -> usize {
    let current = current_thread_id();
    let mut scheduler = SCHEDULER.lock();
    let mut moved = 0;
    for (&id, thread) in scheduler.threads.iter_mut() {
        if id == current || matches!(thread.state, ThreadState::Exited(_)) {
            continue;
        }
        let innermost = thread.xpc[1];
        if innermost == 0 {
            continue;
        }
        if let Some(stack_pointer) = redirect(innermost) {
            thread.saved_stack_pointer = stack_pointer;
            moved += 1;
        }
    }
    moved
}
