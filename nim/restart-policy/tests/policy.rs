//! Behaviour of the restart supervisor, the policy text form and the fault log.

use restart_policy::*;

fn up_to(max_restarts: u32, window_ms: u64, initial: u64, max: u64) -> RestartPolicy {
    RestartPolicy::UpTo {
        max_restarts,
        window_ms,
        initial_backoff_ms: initial,
        max_backoff_ms: max,
    }
}

#[test]
fn always_restarts_immediately_forever() {
    let mut supervisor = RestartSupervisor::new(RestartPolicy::Always);
    for time in 0..1000 {
        assert_eq!(supervisor.on_fault(time), Decision::RestartNow);
    }
    assert_eq!(supervisor.restarts(), 1000);
    assert_eq!(supervisor.faults(), 1000);
    assert!(!supervisor.has_given_up());
}

#[test]
fn never_gives_up_on_first_fault_and_stays_given_up() {
    let mut supervisor = RestartSupervisor::new(RestartPolicy::Never);
    assert_eq!(
        supervisor.on_fault(5),
        Decision::GiveUp {
            reason: GiveUpReason::PolicyForbidsRestart
        }
    );
    assert_eq!(
        supervisor.on_fault(6),
        Decision::GiveUp {
            reason: GiveUpReason::AlreadyGivenUp
        }
    );
    assert_eq!(supervisor.restarts(), 0);
    assert_eq!(supervisor.faults(), 2);
}

#[test]
fn up_to_counts_lifetime_restarts_when_window_is_zero() {
    let mut supervisor = RestartSupervisor::new(up_to(3, 0, 0, 0));
    for time in [0, 1_000_000, 2_000_000] {
        assert_eq!(supervisor.on_fault(time), Decision::RestartNow);
        supervisor.on_healthy(time + 1);
    }
    assert_eq!(
        supervisor.on_fault(u64::MAX),
        Decision::GiveUp {
            reason: GiveUpReason::RestartLimitReached {
                restarts_in_window: 3,
                window_ms: 0
            }
        }
    );
    assert!(supervisor.has_given_up());
    assert_eq!(supervisor.restarts(), 3);
}

#[test]
fn up_to_zero_never_restarts() {
    let mut supervisor = RestartSupervisor::new(up_to(0, 0, 0, 0));
    assert!(matches!(supervisor.on_fault(0), Decision::GiveUp { .. }));
}

#[test]
fn backoff_doubles_per_consecutive_fault_up_to_the_maximum() {
    let mut supervisor = RestartSupervisor::new(up_to(100, 0, 10, 1000));
    let delays: Vec<u64> = (0..10)
        .map(|index| match supervisor.on_fault(index * 10_000) {
            Decision::RestartAfter { delay_ms } => delay_ms,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(delays, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
    assert_eq!(supervisor.consecutive_faults(), 10);
}

#[test]
fn healthy_report_resets_backoff_but_not_the_window() {
    let mut supervisor = RestartSupervisor::new(up_to(3, 60_000, 100, 10_000));
    assert_eq!(
        supervisor.on_fault(0),
        Decision::RestartAfter { delay_ms: 100 }
    );
    assert_eq!(
        supervisor.on_fault(1_000),
        Decision::RestartAfter { delay_ms: 200 }
    );
    // A report dated before the restart took effect (1000 + 200) is about the
    // old instance and is ignored.
    supervisor.on_healthy(1_100);
    assert_eq!(supervisor.consecutive_faults(), 2);
    supervisor.on_healthy(1_200);
    assert_eq!(supervisor.consecutive_faults(), 0);
    assert_eq!(
        supervisor.on_fault(2_000),
        Decision::RestartAfter { delay_ms: 100 }
    );
    // Three restarts inside the minute: the fourth fault gives up although
    // back-off was reset.
    supervisor.on_healthy(50_000);
    assert!(matches!(
        supervisor.on_fault(50_001),
        Decision::GiveUp {
            reason: GiveUpReason::RestartLimitReached {
                restarts_in_window: 3,
                window_ms: 60_000
            }
        }
    ));
}

#[test]
fn window_slides_so_old_restarts_are_forgotten() {
    let mut supervisor = RestartSupervisor::new(up_to(2, 1_000, 0, 0));
    assert_eq!(supervisor.on_fault(0), Decision::RestartNow);
    assert_eq!(supervisor.on_fault(500), Decision::RestartNow);
    // At t=999 both restarts are within the last 1000 ms.
    let mut probe = supervisor.clone();
    assert!(matches!(probe.on_fault(999), Decision::GiveUp { .. }));
    // At t=1000 the restart at t=0 has left the window.
    assert_eq!(supervisor.on_fault(1_000), Decision::RestartNow);
    assert_eq!(supervisor.on_fault(1_500), Decision::RestartNow);
    assert!(matches!(
        supervisor.on_fault(1_501),
        Decision::GiveUp { .. }
    ));
    assert_eq!(supervisor.restarts(), 4);
}

#[test]
fn reset_revives_a_given_up_supervisor() {
    let mut supervisor = RestartSupervisor::new(up_to(1, 0, 0, 0));
    assert_eq!(supervisor.on_fault(0), Decision::RestartNow);
    assert!(matches!(supervisor.on_fault(1), Decision::GiveUp { .. }));
    supervisor.reset();
    assert!(!supervisor.has_given_up());
    assert_eq!(supervisor.on_fault(2), Decision::RestartNow);
    assert_eq!(supervisor.faults(), 3);
}

#[test]
fn time_going_backwards_does_not_confuse_the_window() {
    let mut supervisor = RestartSupervisor::new(up_to(2, 100, 0, 0));
    assert_eq!(supervisor.on_fault(1_000), Decision::RestartNow);
    assert_eq!(supervisor.on_fault(10), Decision::RestartNow);
    assert!(matches!(supervisor.on_fault(0), Decision::GiveUp { .. }));
}

#[test]
fn backoff_arithmetic_saturates() {
    assert_eq!(backoff_delay_ms(u64::MAX / 2, u64::MAX, 3), u64::MAX);
    assert_eq!(backoff_delay_ms(3, u64::MAX, 200), u64::MAX);
    assert_eq!(backoff_delay_ms(3, 50, u32::MAX), 50);
    assert_eq!(backoff_delay_ms(0, 50, 7), 0);
    assert_eq!(backoff_delay_ms(1, u64::MAX, 64), 1 << 63);
    assert_eq!(backoff_delay_ms(1, u64::MAX, 65), u64::MAX);
    let mut supervisor = RestartSupervisor::new(up_to(u32::MAX, 0, u64::MAX, u64::MAX));
    for time in 0..100 {
        assert_eq!(
            supervisor.on_fault(time),
            Decision::RestartAfter { delay_ms: u64::MAX }
        );
    }
}

#[test]
fn parses_documented_examples() {
    assert_eq!(parse_policy("always"), Ok(RestartPolicy::Always));
    assert_eq!(parse_policy("  never\n"), Ok(RestartPolicy::Never));
    assert_eq!(parse_policy("up-to:5"), Ok(up_to(5, 0, 0, 0)));
    assert_eq!(parse_policy("up-to:5/60000ms"), Ok(up_to(5, 60_000, 0, 0)));
    assert_eq!(parse_policy("up-to:5/60s"), Ok(up_to(5, 60_000, 0, 0)));
    assert_eq!(
        parse_policy("up-to:5/60000ms,backoff=10..1000ms"),
        Ok(up_to(5, 60_000, 10, 1000))
    );
    assert_eq!(
        parse_policy("up-to:5,backoff=10ms..2s"),
        Ok(up_to(5, 0, 10, 2000))
    );
    assert_eq!(
        parse_policy("up-to:5,backoff=1..2s"),
        Ok(up_to(5, 0, 1000, 2000))
    );
    assert_eq!(
        parse_policy("up-to:5,backoff=0..0ms"),
        Ok(up_to(5, 0, 0, 0))
    );
}

#[test]
fn parse_errors_name_the_problem() {
    let cases: &[(&str, PolicyParseError, &str)] = &[
        ("", PolicyParseError::Empty, "empty restart policy"),
        (
            "sometimes",
            PolicyParseError::UnknownPolicy {
                text: "sometimes".into(),
            },
            "unknown restart policy \"sometimes\"",
        ),
        (
            "up-to:",
            PolicyParseError::MissingRestartCount,
            "needs a restart count",
        ),
        (
            "up-to:five",
            PolicyParseError::InvalidNumber {
                text: "five".into(),
            },
            "\"five\" is not a decimal number",
        ),
        (
            "up-to:-1",
            PolicyParseError::InvalidNumber { text: "-1".into() },
            "not a decimal number",
        ),
        (
            "up-to:4294967296",
            PolicyParseError::NumberTooLarge {
                text: "4294967296".into(),
            },
            "too large",
        ),
        (
            "up-to:5/60",
            PolicyParseError::MissingUnit { text: "60".into() },
            "needs a unit",
        ),
        (
            "up-to:5/99999999999999999999ms",
            PolicyParseError::NumberTooLarge {
                text: "99999999999999999999".into(),
            },
            "too large",
        ),
        (
            "up-to:5/18446744073709552s",
            PolicyParseError::NumberTooLarge {
                text: "18446744073709552s".into(),
            },
            "too large",
        ),
        (
            "up-to:5,retry=3",
            PolicyParseError::UnknownOption {
                text: "retry=3".into(),
            },
            "unknown option",
        ),
        (
            "up-to:5,backoff=10ms",
            PolicyParseError::MalformedBackoff {
                text: "10ms".into(),
            },
            "must look like",
        ),
        (
            "up-to:5,backoff=2000..1000ms",
            PolicyParseError::BackoffStartsAboveMaximum {
                initial_ms: 2000,
                max_ms: 1000,
            },
            "above its maximum",
        ),
        (
            "up-to:5,backoff=0..1000ms",
            PolicyParseError::BackoffStartsAtZero,
            "must start above 0",
        ),
        (
            "UP-TO:5",
            PolicyParseError::UnknownPolicy {
                text: "UP-TO:5".into(),
            },
            "unknown restart policy",
        ),
    ];
    for (text, expected, message) in cases {
        let error = parse_policy(text).expect_err(text);
        assert_eq!(&error, expected, "for {text:?}");
        let shown = error.to_string();
        assert!(shown.contains(message), "{shown:?} lacks {message:?}");
    }
}

#[test]
fn display_round_trips_through_parse() {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut policies = vec![
        RestartPolicy::Always,
        RestartPolicy::Never,
        RestartPolicy::default(),
        up_to(0, 0, 0, 0),
        up_to(u32::MAX, u64::MAX, u64::MAX, u64::MAX),
    ];
    for _ in 0..2000 {
        let initial = next() >> (next() % 64);
        let maximum = initial.saturating_add(next() >> (next() % 64));
        let initial = if next() % 4 == 0 { 0 } else { initial.max(1) };
        let maximum = if initial == 0 {
            0
        } else {
            maximum.max(initial)
        };
        let window = if next() % 3 == 0 {
            0
        } else {
            next() >> (next() % 64)
        };
        policies.push(up_to(next() as u32, window, initial, maximum));
    }
    for policy in policies {
        let text = policy.to_string();
        assert_eq!(parse_policy(&text), Ok(policy), "text {text:?}");
        assert_eq!(text.parse::<RestartPolicy>(), Ok(policy));
    }
    assert_eq!(
        up_to(5, 60_000, 10, 1000).to_string(),
        "up-to:5/60000ms,backoff=10..1000ms"
    );
    assert_eq!(up_to(5, 0, 0, 0).to_string(), "up-to:5");
}

#[test]
fn parse_never_panics_on_junk() {
    let pieces = [
        "up-to:",
        "always",
        "never",
        "/",
        ",",
        "backoff=",
        "..",
        "ms",
        "s",
        "0",
        "9",
        "99999999999999999999",
        "-",
        " ",
        "é",
    ];
    let mut state = 12345_u64;
    for _ in 0..20_000 {
        let mut text = String::new();
        for _ in 0..(state % 7) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            text.push_str(pieces[(state % pieces.len() as u64) as usize]);
        }
        state = state.wrapping_add(1);
        if let Ok(policy) = parse_policy(&text) {
            assert_eq!(parse_policy(&policy.to_string()), Ok(policy));
        }
    }
}

#[test]
fn fault_kinds_have_stable_names_that_parse_back() {
    let expected = [
        "page-fault",
        "general-protection",
        "invalid-opcode",
        "divide-error",
        "stack-overflow",
        "panic",
        "hang-irq-on",
        "hang-irq-off",
        "wrapper-check-failed",
    ];
    for (kind, name) in FaultKind::NAMED.iter().zip(expected) {
        assert_eq!(kind.to_string(), name);
        assert_eq!(name.parse::<FaultKind>(), Ok(*kind));
    }
    let other = FaultKind::OtherException { vector: 17 };
    assert_eq!(other.to_string(), "exception-17");
    assert_eq!("exception-17".parse::<FaultKind>(), Ok(other));
    assert_eq!(FaultKind::from_exception_vector(14), FaultKind::PageFault);
    assert_eq!(FaultKind::from_exception_vector(0), FaultKind::DivideError);
    assert_eq!(
        FaultKind::from_exception_vector(18),
        FaultKind::OtherException { vector: 18 }
    );
    let error = "segfault".parse::<FaultKind>().unwrap_err();
    assert!(
        error
            .to_string()
            .contains("unknown fault kind \"segfault\"")
    );
    assert!(error.to_string().contains("hang-irq-off"));
}

fn record(index: u64) -> FaultRecord {
    FaultRecord {
        kind: FaultKind::PageFault,
        extension: 3,
        generation: index as u32,
        instruction_pointer: 0x40_1000 + index,
        fault_address: Some(index * 8),
        detected_at_ms: index,
        time_to_recover_us: None,
    }
}

#[test]
fn fault_log_keeps_the_newest_records_and_counts_all() {
    let mut log = FaultLog::new(4);
    assert!(log.is_empty());
    for index in 0..10 {
        log.record(record(index));
        assert_eq!(log.len(), (index as usize + 1).min(4));
    }
    assert_eq!(log.total(), 10);
    assert_eq!(log.dropped(), 6);
    assert_eq!(log.capacity(), 4);
    let kept: Vec<u32> = log.iter().map(|record| record.generation).collect();
    assert_eq!(kept, [6, 7, 8, 9]);
    log.latest_mut().unwrap().time_to_recover_us = Some(250);
    assert_eq!(log.latest().unwrap().time_to_recover_us, Some(250));
    assert_eq!(
        log.latest().unwrap().to_string(),
        "extension 3 generation 9: page-fault at rip 0x401009 (address 0x48) at 9 ms, recovered in 250 us"
    );
    let zero = FaultLog::new(0);
    assert_eq!(zero.capacity(), 1);
}

#[test]
fn decisions_display_readably() {
    assert_eq!(Decision::RestartNow.to_string(), "restart now");
    assert_eq!(
        Decision::RestartAfter { delay_ms: 40 }.to_string(),
        "restart after 40 ms"
    );
    assert_eq!(
        Decision::GiveUp {
            reason: GiveUpReason::RestartLimitReached {
                restarts_in_window: 5,
                window_ms: 60_000
            }
        }
        .to_string(),
        "give up: restart limit reached (5 restarts within 60000 ms)"
    );
}
