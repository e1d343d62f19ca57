//! Plans over a real extension image built by `cargo xtask build`
//! (ignored by default: run `cargo test -p fault-injection -- --ignored`
//! after a build). The in-kernel tests do the same inside the kernel.

use fault_injection::{ExtensionText, MutationType, PatchLine, Planner};

#[test]
#[ignore = "needs target/x86_64-unknown-none/release/crashtest (cargo xtask build)"]
fn every_type_but_irq_has_sites_in_crashtest() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../target/x86_64-unknown-none/release/crashtest"
    );
    let image = std::fs::read(path).expect("build the extensions first");
    let text = ExtensionText::from_image(&image).expect("a valid image");
    assert!(text.has_symbols());
    assert!(text.functions().iter().any(|function| function.runtime));
    assert!(text.functions().iter().any(|function| !function.runtime));
    let mut planner = Planner::new(&text, 0xffff_c000_0000_0000);
    println!("{} instructions decoded", planner.instruction_count());
    for mutation in MutationType::ALL {
        let sites = planner.site_count(mutation);
        println!("{mutation}: {sites} sites");
        assert!(sites > 0 || mutation == MutationType::Irq, "{mutation}");
    }
    for other in ["hostile", "rtc", "template"] {
        let path = format!(
            "{}/../../target/x86_64-unknown-none/release/{other}",
            env!("CARGO_MANIFEST_DIR")
        );
        let image = std::fs::read(path).expect("build the extensions first");
        let text = ExtensionText::from_image(&image).expect("a valid image");
        let mut planner = Planner::new(&text, 0xffff_c000_0000_0000);
        let counts: Vec<String> = MutationType::ALL
            .iter()
            .map(|&mutation| format!("{mutation} {}", planner.site_count(mutation)))
            .collect();
        println!(
            "{other}: {} instructions; {}",
            planner.instruction_count(),
            counts.join(", ")
        );
    }
    let plan = planner.plan(&MutationType::ALL, 1, 5, &[]).unwrap();
    for (index, patch) in plan.iter().enumerate() {
        println!("{}", PatchLine { index, patch });
    }
}
