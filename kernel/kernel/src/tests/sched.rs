//! Threads, preemption, sleeping, wait queues, mutexes, and the refusal to
//! block in the wrong context.

use crate::memory::frames;
use crate::sched::sync::{BlockError, IrqSpinlock, Mutex, WaitQueue};
use crate::sched::{self, sleep_ms};
use crate::{ensure, kernel_test, time};
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

kernel_test!(timer_advances {
    let start = time::ticks();
    sleep_ms(20).map_err(|e| alloc::format!("sleep: {e}"))?;
    let elapsed = time::ticks() - start;
    ensure!(elapsed >= 20, "only {elapsed} ticks in a 20 ms sleep");
    ensure!(time::timestamp_counter_hz() > 0, "TSC not calibrated");
    Ok(())
});

kernel_test!(sleeping_thread_wakes_on_time {
    let handle = sched::spawn("sleeper", || {
        let start = time::ticks();
        if sleep_ms(50).is_err() {
            return -1;
        }
        (time::ticks() - start) as i32
    })
    .map_err(|e| alloc::format!("spawn: {e:?}"))?;
    let slept = handle.join().map_err(|e| alloc::format!("join: {e}"))?;
    ensure!(slept >= 50, "woke after {slept} ms, before the 50 ms deadline");
    ensure!(slept <= 80, "woke after {slept} ms, far past the 50 ms deadline");
    Ok(())
});

kernel_test!(two_busy_threads_both_make_progress {
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let mut handles = alloc::vec::Vec::new();
    for index in 0..2 {
        let (stop, counters) = (stop.clone(), counters.clone());
        // Busy loops that never yield: only preemption lets the other run.
        handles.push(
            sched::spawn("spinner", move || {
                while !stop.load(Ordering::Relaxed) {
                    counters[index].fetch_add(1, Ordering::Relaxed);
                }
                0
            })
            .map_err(|e| alloc::format!("spawn: {e:?}"))?,
        );
    }
    let switches_before = sched::CONTEXT_SWITCHES.load(Ordering::Relaxed);
    sleep_ms(100).map_err(|e| alloc::format!("sleep: {e}"))?;
    let mid = [counters[0].load(Ordering::Relaxed), counters[1].load(Ordering::Relaxed)];
    sleep_ms(50).map_err(|e| alloc::format!("sleep: {e}"))?;
    stop.store(true, Ordering::Relaxed);
    for handle in handles {
        handle.join().map_err(|e| alloc::format!("join: {e}"))?;
    }
    let end = [counters[0].load(Ordering::Relaxed), counters[1].load(Ordering::Relaxed)];
    ensure!(mid[0] > 0 && mid[1] > 0, "a spinner never ran: {mid:?}");
    ensure!(end[0] > mid[0] && end[1] > mid[1], "a spinner stopped progressing: {mid:?} -> {end:?}");
    let switches = sched::CONTEXT_SWITCHES.load(Ordering::Relaxed) - switches_before;
    ensure!(switches >= 10, "only {switches} context switches in 150 ms of two busy threads");
    Ok(())
});

kernel_test!(wait_queue_hands_off {
    let queue = Arc::new(WaitQueue::new());
    let value = Arc::new(AtomicU64::new(0));
    let (consumer_queue, consumer_value) = (queue.clone(), value.clone());
    let consumer = sched::spawn("consumer", move || {
        match consumer_queue.wait_until(|| consumer_value.load(Ordering::Relaxed) != 0) {
            Ok(()) => consumer_value.load(Ordering::Relaxed) as i32,
            Err(_) => -1,
        }
    })
    .map_err(|e| alloc::format!("spawn: {e:?}"))?;
    // Let the consumer block first.
    sleep_ms(10).map_err(|e| alloc::format!("sleep: {e}"))?;
    ensure!(sched::thread_state(consumer.id()) == Some(sched::ThreadState::Blocked), "consumer not blocked");
    ensure!(queue.len() == 1, "{} waiters instead of 1", queue.len());
    value.store(42, Ordering::Relaxed);
    ensure!(queue.wake_one(), "nobody to wake");
    let received = consumer.join().map_err(|e| alloc::format!("join: {e}"))?;
    ensure!(received == 42, "consumer received {received}");
    Ok(())
});

kernel_test!(mutex_excludes_and_hands_over {
    let shared = Arc::new(Mutex::new(0u64));
    let mut handles = alloc::vec::Vec::new();
    for _ in 0..3 {
        let shared = shared.clone();
        handles.push(
            sched::spawn("mutex-user", move || {
                for _ in 0..200 {
                    let Ok(mut guard) = shared.lock() else { return -1 };
                    let value = *guard;
                    // Give others a chance to run inside our critical section.
                    sched::yield_now();
                    *guard = value + 1;
                }
                0
            })
            .map_err(|e| alloc::format!("spawn: {e:?}"))?,
        );
    }
    for handle in handles {
        let code = handle.join().map_err(|e| alloc::format!("join: {e}"))?;
        ensure!(code == 0, "a thread could not lock");
    }
    let total = *shared.lock().map_err(|e| alloc::format!("lock: {e}"))?;
    ensure!(total == 600, "lost updates: {total} instead of 600");
    Ok(())
});

kernel_test!(blocking_in_interrupt_context_is_refused {
    let result = Arc::new(IrqSpinlock::new(None));
    let slot = result.clone();
    // Timer callbacks run inside the timer interrupt handler.
    time::call_after(1, move || {
        *slot.lock() = Some(sleep_ms(1));
    });
    sleep_ms(20).map_err(|e| alloc::format!("sleep: {e}"))?;
    let outcome = *result.lock();
    ensure!(outcome == Some(Err(BlockError::InInterruptContext)), "sleep in a timer callback gave {outcome:?}");
    Ok(())
});

kernel_test!(blocking_while_holding_a_spinlock_is_refused {
    let lock = IrqSpinlock::new(());
    let guard = lock.lock();
    let outcome = sleep_ms(1);
    drop(guard);
    ensure!(outcome == Err(BlockError::SpinlockHeld), "sleep under a spinlock gave {outcome:?}");
    let mutex = Mutex::new(());
    let guard = lock.lock();
    let locked = mutex.lock().map(|_| ());
    drop(guard);
    ensure!(locked == Err(BlockError::SpinlockHeld), "Mutex::lock under a spinlock gave {locked:?}");
    Ok(())
});

kernel_test!(join_returns_exit_code_and_frees_the_stack {
    // Warm up (first spawns may grow the heap or the stack-slot list).
    sched::spawn("warm-up", || 0).map_err(|e| alloc::format!("spawn: {e:?}"))?.join().map_err(|e| alloc::format!("{e}"))?;
    let before = frames::free_count();
    for round in 0..20 {
        let code = sched::spawn("short-lived", move || round * 3)
            .map_err(|e| alloc::format!("spawn: {e:?}"))?
            .join()
            .map_err(|e| alloc::format!("join: {e}"))?;
        ensure!(code == round * 3, "exit code {code} instead of {}", round * 3);
    }
    let after = frames::free_count();
    ensure!(after == before, "{} frames leaked over 20 thread lifetimes", before as i64 - after as i64);
    Ok(())
});

kernel_test!(detached_threads_are_reaped {
    sched::spawn("warm-up", || 0).map_err(|e| alloc::format!("spawn: {e:?}"))?.join().map_err(|e| alloc::format!("{e}"))?;
    let before = frames::free_count();
    let done = Arc::new(AtomicU64::new(0));
    for _ in 0..10 {
        let done = done.clone();
        drop(sched::spawn("detached", move || {
            done.fetch_add(1, Ordering::Relaxed);
            0
        })
        .map_err(|e| alloc::format!("spawn: {e:?}"))?);
    }
    sleep_ms(30).map_err(|e| alloc::format!("sleep: {e}"))?;
    ensure!(done.load(Ordering::Relaxed) == 10, "only {} detached threads ran", done.load(Ordering::Relaxed));
    let after = frames::free_count();
    ensure!(after == before, "{} frames not reaped", before as i64 - after as i64);
    Ok(())
});
