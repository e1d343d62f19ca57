//! Proportions with Wilson score intervals.
//!
//! Invariant: intervals are within [0, 1], contain the observed
//! proportion, and an empty sample gives the whole [0, 1].

/// z for a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// The Wilson score interval of `successes` out of `trials` at `z`.
pub fn wilson(successes: u64, trials: u64, z: f64) -> (f64, f64) {
    if trials == 0 {
        return (0.0, 1.0);
    }
    let n = trials as f64;
    let p = successes.min(trials) as f64 / n;
    let z2 = z * z;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// `k/n` as `P% [LO–HI]` (95% Wilson), or `–` when `n` is 0.
pub fn percent_with_interval(successes: u64, trials: u64) -> String {
    if trials == 0 {
        return "–".into();
    }
    let (low, high) = wilson(successes, trials, Z95);
    format!(
        "{} [{}–{}]",
        percent(successes as f64 / trials as f64),
        percent_number(low),
        percent(high)
    )
}

/// A fraction as a percentage: one decimal below 10%, none above.
pub fn percent(fraction: f64) -> String {
    format!("{}%", percent_number(fraction))
}

fn percent_number(fraction: f64) -> String {
    let value = fraction * 100.0;
    if value != 0.0 && value < 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-4
    }

    #[test]
    fn wilson_matches_published_values() {
        // Newcombe (1998), example: 81 of 263 -> 0.2553 to 0.3662.
        let (low, high) = wilson(81, 263, Z95);
        assert!(close(low, 0.2553) && close(high, 0.3662), "{low} {high}");
        // 0 of 10 -> 0 to 0.2775; 10 of 10 -> 0.7225 to 1.
        let (low, high) = wilson(0, 10, Z95);
        assert!(close(low, 0.0) && close(high, 0.2775), "{low} {high}");
        let (low, high) = wilson(10, 10, Z95);
        assert!(close(low, 0.7225) && close(high, 1.0), "{low} {high}");
    }

    #[test]
    fn intervals_stay_in_range_and_contain_the_proportion() {
        for n in 1..40u64 {
            for k in 0..=n {
                let (low, high) = wilson(k, n, Z95);
                let p = k as f64 / n as f64;
                assert!((0.0..=1.0).contains(&low) && (0.0..=1.0).contains(&high));
                assert!(low <= p + 1e-12 && p <= high + 1e-12, "{k}/{n}");
            }
        }
        assert_eq!(wilson(0, 0, Z95), (0.0, 1.0));
    }

    #[test]
    fn percentages_read_well() {
        assert_eq!(percent_with_interval(0, 0), "–");
        assert_eq!(percent_with_interval(5, 10), "50% [24–76%]");
        assert_eq!(percent_with_interval(1, 100), "1.0% [0.2–5.4%]");
        assert_eq!(percent(0.0), "0%");
    }
}
