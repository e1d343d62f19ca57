//! Runs the scenarios against `fake-qemu.sh`, a shell script imitating the
//! kernel's console conventions, to prove the scenario plumbing and that the
//! checks fail when the answers are wrong. Needs `sh` and GNU `sed`.

use std::path::PathBuf;

use scenarios::{Body, Env, all, run};

fn env(script: &str) -> Env {
    Env {
        qemu: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .join(script),
        kernel: PathBuf::from("/nonexistent/kernel"),
        run_command: None,
    }
}

#[test]
fn shell_scenarios_pass_against_a_conforming_fake() {
    let env = env("fake-qemu.sh");
    for s in all() {
        // Piped runs need xtask; network scenarios need real network
        // peers (DHCP, TCP, curl), which a script cannot imitate.
        if matches!(s.body, Body::PipedRun { .. } | Body::Network { .. }) {
            continue;
        }
        let o = run(&s, &env);
        assert!(o.passed, "{}: {}", s.name, o.detail);
    }
}

#[test]
fn scenarios_fail_against_a_broken_fake() {
    let env = env("fake-qemu-broken.sh");
    for s in all() {
        if matches!(s.body, Body::Network { .. }) {
            continue;
        }
        let o = run(&s, &env);
        let should_pass = matches!(s.name, "boot_to_prompt" | "page_fault_report");
        assert_eq!(o.passed, should_pass, "{}: {}", s.name, o.detail);
    }
}
