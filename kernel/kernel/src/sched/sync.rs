//! Locks and wait queues.
//!
//! - [`IrqSpinlock`]: a spinlock that disables interrupts while held. Safe to
//!   take in interrupt context; must never be held across a blocking call
//!   (blocking while holding one is refused with [`BlockError::SpinlockHeld`]).
//! - [`WaitQueue`]: threads sleep until a condition holds.
//! - [`Mutex`]: a blocking mutex for process context.
//!
//! Invariant (uniprocessor): with interrupts disabled nothing else runs, so
//! checking a condition and going to sleep with interrupts off cannot lose a
//! wake-up.

use super::{ThreadId, block_current, current_thread_id, wake};
use crate::arch::percpu::this_cpu;
use crate::arch::{disable_interrupts, restore_interrupts};
use alloc::collections::VecDeque;
use core::cell::UnsafeCell;
use core::fmt;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, Ordering};

/// Why a thread was not allowed to block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockError {
    /// The caller is a hardware interrupt handler (or a timer callback).
    InInterruptContext,
    /// The caller holds an interrupt-disabling spinlock.
    SpinlockHeld,
    /// The scheduler has not started yet.
    SchedulerNotRunning,
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BlockError::InInterruptContext => "blocking call in interrupt context",
            BlockError::SpinlockHeld => "blocking call while holding a spinlock",
            BlockError::SchedulerNotRunning => "blocking call before the scheduler started",
        })
    }
}

/// May the current context block? (Like [`might_block`], without the
/// report: for callers that have a non-blocking fallback.)
pub fn may_block() -> bool {
    let cpu = this_cpu();
    cpu.interrupt_depth.load(Ordering::Relaxed) == 0
        && cpu.spinlocks_held.load(Ordering::Relaxed) == 0
        && super::is_running()
}

/// Checks that the current context may block; reports and counts a
/// violation. `what` names the blocking operation for the report.
pub fn might_block(what: &str) -> Result<(), BlockError> {
    let cpu = this_cpu();
    let error = if cpu.interrupt_depth.load(Ordering::Relaxed) > 0 {
        BlockError::InInterruptContext
    } else if cpu.spinlocks_held.load(Ordering::Relaxed) > 0 {
        BlockError::SpinlockHeld
    } else if !super::is_running() {
        BlockError::SchedulerNotRunning
    } else {
        return Ok(());
    };
    super::BLOCKING_VIOLATIONS.fetch_add(1, Ordering::Relaxed);
    log::error!(
        "BUG: {error}: {what} refused (thread {})",
        current_thread_id()
    );
    Err(error)
}

/// A spinlock that keeps interrupts disabled while held.
pub struct IrqSpinlock<T> {
    inner: spin::Mutex<T>,
}

/// Guard of an [`IrqSpinlock`]; restores the interrupt flag on drop.
pub struct IrqSpinlockGuard<'a, T> {
    guard: Option<spin::MutexGuard<'a, T>>,
    interrupts_were_enabled: bool,
}

impl<T> IrqSpinlock<T> {
    /// A new unlocked lock.
    pub const fn new(value: T) -> Self {
        Self {
            inner: spin::Mutex::new(value),
        }
    }

    /// Disables interrupts and takes the lock.
    pub fn lock(&self) -> IrqSpinlockGuard<'_, T> {
        let interrupts_were_enabled = disable_interrupts();
        this_cpu().spinlocks_held.fetch_add(1, Ordering::Relaxed);
        IrqSpinlockGuard {
            guard: Some(self.inner.lock()),
            interrupts_were_enabled,
        }
    }

    /// Takes the lock if it is free.
    pub fn try_lock(&self) -> Option<IrqSpinlockGuard<'_, T>> {
        let interrupts_were_enabled = disable_interrupts();
        match self.inner.try_lock() {
            Some(guard) => {
                this_cpu().spinlocks_held.fetch_add(1, Ordering::Relaxed);
                Some(IrqSpinlockGuard {
                    guard: Some(guard),
                    interrupts_were_enabled,
                })
            }
            None => {
                restore_interrupts(interrupts_were_enabled);
                None
            }
        }
    }
}

impl<T> Deref for IrqSpinlockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_ref().expect("guard present until drop")
    }
}

impl<T> DerefMut for IrqSpinlockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_mut().expect("guard present until drop")
    }
}

impl<T> Drop for IrqSpinlockGuard<'_, T> {
    fn drop(&mut self) {
        drop(self.guard.take());
        this_cpu().spinlocks_held.fetch_sub(1, Ordering::Relaxed);
        restore_interrupts(self.interrupts_were_enabled);
    }
}

/// Threads waiting for a condition.
pub struct WaitQueue {
    waiters: IrqSpinlock<VecDeque<ThreadId>>,
}

impl Default for WaitQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitQueue {
    /// An empty queue.
    pub const fn new() -> Self {
        Self {
            waiters: IrqSpinlock::new(VecDeque::new()),
        }
    }

    /// Blocks until `condition` returns true. The condition is evaluated
    /// with interrupts disabled and must not block.
    pub fn wait_until(&self, mut condition: impl FnMut() -> bool) -> Result<(), BlockError> {
        loop {
            let interrupts_were_enabled = disable_interrupts();
            if condition() {
                restore_interrupts(interrupts_were_enabled);
                return Ok(());
            }
            if let Err(error) = might_block("WaitQueue::wait_until") {
                restore_interrupts(interrupts_were_enabled);
                return Err(error);
            }
            self.waiters.lock().push_back(current_thread_id());
            block_current();
            restore_interrupts(interrupts_were_enabled);
        }
    }

    /// Wakes the longest waiter; returns whether there was one.
    pub fn wake_one(&self) -> bool {
        let next = self.waiters.lock().pop_front();
        match next {
            Some(thread) => {
                wake(thread);
                true
            }
            None => false,
        }
    }

    /// Wakes every waiter; returns how many.
    pub fn wake_all(&self) -> usize {
        let waiters = core::mem::take(&mut *self.waiters.lock());
        let count = waiters.len();
        for thread in waiters {
            wake(thread);
        }
        count
    }

    /// Number of threads waiting.
    pub fn len(&self) -> usize {
        self.waiters.lock().len()
    }
}

/// A mutual-exclusion lock that puts contending threads to sleep.
pub struct Mutex<T> {
    locked: AtomicBool,
    waiters: WaitQueue,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is serialised by `locked`.
unsafe impl<T: Send> Sync for Mutex<T> {}
// SAFETY: the mutex owns its value.
unsafe impl<T: Send> Send for Mutex<T> {}

/// Guard of a [`Mutex`]; unlocks and wakes a waiter on drop.
pub struct MutexGuard<'a, T> {
    mutex: &'a Mutex<T>,
}

impl<T> Mutex<T> {
    /// A new unlocked mutex.
    pub const fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            waiters: WaitQueue::new(),
            value: UnsafeCell::new(value),
        }
    }

    /// Takes the lock, sleeping while another thread holds it. Refused in
    /// interrupt context or with a spinlock held.
    pub fn lock(&self) -> Result<MutexGuard<'_, T>, BlockError> {
        might_block("Mutex::lock")?;
        self.waiters.wait_until(|| {
            self.locked
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        })?;
        Ok(MutexGuard { mutex: self })
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves we hold the lock.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves we hold the lock exclusively.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.locked.store(false, Ordering::Release);
        self.mutex.waiters.wake_one();
    }
}
