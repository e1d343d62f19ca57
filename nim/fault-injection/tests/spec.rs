//! The spec language: every accepted form and every refusal.

use extension_abi::CrashKind;
use fault_injection::spec::{DEFAULT_COUNT, MAX_COUNT};
use fault_injection::{
    FailPointType, InjectionSpec, Knobs, MutationType, SpecError, parse_command_line_value,
    parse_words,
};

fn words(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

fn parse(text: &str) -> Result<InjectionSpec, SpecError> {
    parse_words(&words(text))
}

#[test]
fn a_single_mutation_with_defaults() {
    let spec = parse("crashtest nop").unwrap();
    assert_eq!(spec.extension, "crashtest");
    assert_eq!(spec.mutations, [MutationType::Nop]);
    assert!(spec.fail_points.is_empty());
    assert_eq!(spec.crash, None);
    assert_eq!(spec.seed, 0);
    assert_eq!(spec.count, DEFAULT_COUNT);
    assert!(!spec.dry_run);
    assert_eq!(spec.knobs, Knobs::default());
}

#[test]
fn the_issue_example_parses() {
    let spec = parse("e1000 pointer seed=42 count=5").unwrap();
    assert_eq!(spec.mutations, [MutationType::Pointer]);
    assert_eq!((spec.seed, spec.count), (42, 5));
}

#[test]
fn all_expands_to_every_code_mutation_once() {
    let spec = parse("crashtest all,nop seed=0x10 dry-run").unwrap();
    assert_eq!(spec.mutations, MutationType::ALL);
    assert_eq!(spec.seed, 16);
    assert!(spec.dry_run);
    let spec = parse("crashtest invert,off-by-one,invert count=64").unwrap();
    assert_eq!(
        spec.mutations,
        [MutationType::Invert, MutationType::OffByOne]
    );
    assert_eq!(spec.count, MAX_COUNT);
}

#[test]
fn fail_points_take_the_knobs() {
    let spec = parse("crashtest dma nth=2").unwrap();
    assert_eq!(spec.fail_points, [FailPointType::Dma]);
    assert_eq!(spec.knobs.nth, Some(2));
    let spec = parse("e1000 alloc,read-ones probability=25 interval=3 times=4 seed=9").unwrap();
    assert_eq!(
        spec.fail_points,
        [FailPointType::Allocation, FailPointType::ReadOnes]
    );
    assert_eq!(
        spec.knobs,
        Knobs {
            probability_percent: 25,
            interval: 3,
            times: Some(4),
            nth: None
        }
    );
    assert_eq!(parse("e1000 lost-irq times=-1").unwrap().knobs.times, None);
    for name in [
        "alloc",
        "dma",
        "read-ones",
        "read-garbage",
        "lost-irq",
        "spurious-irq",
        "timer-never",
        "copy-overrun",
    ] {
        let spec = parse(&format!("crashtest {name}")).unwrap();
        assert_eq!(spec.fail_points.len(), 1, "{name}");
    }
}

#[test]
fn mutations_and_fail_points_mix() {
    let spec = parse("crashtest text,alloc seed=3 count=2 times=1").unwrap();
    assert_eq!(spec.mutations, [MutationType::Text]);
    assert_eq!(spec.fail_points, [FailPointType::Allocation]);
    assert_eq!(spec.count, 2);
}

#[test]
fn every_crash_kind_is_a_fault_type() {
    for kind in CrashKind::ALL {
        let spec = parse(&format!("crashtest {}", kind.name())).unwrap();
        assert_eq!(spec.crash, Some(*kind));
        assert!(spec.mutations.is_empty() && spec.fail_points.is_empty());
    }
}

#[test]
fn seed_and_count_are_accepted_with_every_type() {
    let spec = parse("crashtest panic seed=3 count=2").unwrap();
    assert_eq!(spec.crash, Some(CrashKind::Panic));
    let spec = parse("crashtest alloc seed=3 count=2").unwrap();
    assert_eq!((spec.seed, spec.count), (3, 2));
}

#[test]
fn the_command_line_form_parses_like_the_shell_form() {
    let spec = parse_command_line_value("crashtest:nop,branch:seed=7:count=3").unwrap();
    assert_eq!(spec, parse("crashtest nop,branch seed=7 count=3").unwrap());
    let spec = parse_command_line_value("crashtest:dma:nth=2").unwrap();
    assert_eq!(spec.knobs.nth, Some(2));
    assert_eq!(
        parse_command_line_value(""),
        Err(SpecError::MissingExtension)
    );
    assert_eq!(
        parse_command_line_value("crashtest"),
        Err(SpecError::MissingTypes)
    );
    assert_eq!(
        parse_command_line_value("crashtest:"),
        Err(SpecError::MissingTypes)
    );
    assert!(matches!(
        parse_command_line_value("crashtest:nop:seed=x"),
        Err(SpecError::BadValue { option: "seed", .. })
    ));
}

#[test]
fn display_round_trips() {
    for text in [
        "crashtest nop",
        "crashtest all seed=5 count=9 dry-run",
        "crashtest dma nth=2",
        "crashtest alloc,copy-overrun probability=5 interval=2 times=3 seed=1",
        "crashtest text,lost-irq seed=18446744073709551615 count=1",
        "crashtest panic",
        "crashtest panic seed=4 count=3",
    ] {
        let spec = parse(text).unwrap();
        assert_eq!(parse(&spec.to_string()).unwrap(), spec, "{text}");
    }
}

#[test]
fn every_refusal_is_reported() {
    let cases: &[(&str, SpecError)] = &[
        ("", SpecError::MissingExtension),
        ("crashtest", SpecError::MissingTypes),
        ("crashtest nop,", SpecError::MissingTypes),
        (
            "Crash!test nop",
            SpecError::BadExtensionName("Crash!test".into()),
        ),
        ("crashtest bogus", SpecError::UnknownType("bogus".into())),
        (
            "crashtest nop,panic",
            SpecError::CrashNotAlone("panic".into()),
        ),
        (
            "crashtest panic,panic",
            SpecError::CrashNotAlone("panic".into()),
        ),
        (
            "crashtest nop fast",
            SpecError::UnknownOption("fast".into()),
        ),
        (
            "crashtest nop dry-run=1",
            SpecError::UnknownOption("dry-run=1".into()),
        ),
        (
            "crashtest nop seed",
            SpecError::UnknownOption("seed".into()),
        ),
        (
            "crashtest nop seed=1 seed=2",
            SpecError::RepeatedOption("seed"),
        ),
        (
            "crashtest nop dry-run dry-run",
            SpecError::RepeatedOption("dry-run"),
        ),
        (
            "crashtest nop probability=5",
            SpecError::NotApplicable {
                option: "probability",
                applies_to: "fail points",
            },
        ),
        (
            "crashtest nop nth=1",
            SpecError::NotApplicable {
                option: "nth",
                applies_to: "fail points",
            },
        ),
        (
            "crashtest alloc dry-run",
            SpecError::NotApplicable {
                option: "dry-run",
                applies_to: "code mutations (without fail points)",
            },
        ),
        (
            "crashtest nop,alloc dry-run",
            SpecError::NotApplicable {
                option: "dry-run",
                applies_to: "code mutations (without fail points)",
            },
        ),
        ("crashtest dma nth=2 times=1", SpecError::NthWithOtherKnobs),
        (
            "crashtest dma probability=50 nth=2",
            SpecError::NthWithOtherKnobs,
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(parse(text).as_ref(), Err(expected), "{text}");
    }
    let bad_values = [
        ("crashtest nop seed=-1", "seed"),
        ("crashtest nop seed=0x", "seed"),
        ("crashtest nop seed=18446744073709551616", "seed"),
        ("crashtest nop count=0", "count"),
        ("crashtest nop count=65", "count"),
        ("crashtest nop count=two", "count"),
        ("crashtest dma probability=101", "probability"),
        ("crashtest dma probability=", "probability"),
        ("crashtest dma interval=0", "interval"),
        ("crashtest dma times=-2", "times"),
        ("crashtest dma times=4294967296", "times"),
        ("crashtest dma nth=0", "nth"),
    ];
    for (text, option) in bad_values {
        match parse(text) {
            Err(SpecError::BadValue { option: got, .. }) => assert_eq!(got, option, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn refusals_are_one_line() {
    for text in [
        "",
        "crashtest",
        "crashtest bogus",
        "crashtest nop,panic",
        "crashtest nop x",
        "crashtest nop count=0",
        "crashtest dma nth=2 times=1",
        "crashtest nop probability=3",
    ] {
        let message = parse(text).unwrap_err().to_string();
        assert!(
            !message.is_empty() && !message.contains('\n'),
            "{text}: {message}"
        );
    }
    let message = parse("crashtest bogus").unwrap_err().to_string();
    for name in ["off-by-one", "copy-overrun", "null-deref", "loop-irq-off"] {
        assert!(message.contains(name), "{message}");
    }
}
