//! Fail-point knobs (`probability`, `interval`, `times`, `nth`) with the
//! semantics of Linux's fault-injection framework, and the deterministic
//! random numbers they (and site selection) draw from.
//!
//! Invariants:
//! - Everything is a function of the seed and the sequence of
//!   evaluations: the same seed and the same calls give the same answers.
//! - A fail point never fires more than `times` times; with `nth=N` it
//!   fires exactly once, at the Nth evaluation, and never again.
//! - Counters saturate; nothing here panics.

/// A small, seedable generator (SplitMix64): deterministic, no state
/// beyond one word, good enough for picking sites and garbage values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeterministicRandom {
    state: u64,
}

impl DeterministicRandom {
    /// A generator seeded with `seed` (any value, 0 included).
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (0 when `bound` is 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// An index into a collection of `length` elements (0 when empty).
    pub fn index(&mut self, length: usize) -> usize {
        self.below(length as u64) as usize
    }
}

/// How often a fail point fires (Linux fault-injection knobs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Knobs {
    /// Percent of the evaluations (that pass `interval`) that fail,
    /// 0..=100. Default 100.
    pub probability_percent: u8,
    /// Only every Nth evaluation may fail (1: every one). Default 1.
    pub interval: u32,
    /// At most this many failures (`None`: no limit, Linux's `-1`).
    /// Default: no limit.
    pub times: Option<u32>,
    /// Fail exactly the Nth evaluation and no other (Linux's `fail-nth`);
    /// when set, the other knobs are not used.
    pub nth: Option<u32>,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            probability_percent: 100,
            interval: 1,
            times: None,
            nth: None,
        }
    }
}

impl Knobs {
    /// Are all knobs at their defaults (every evaluation fails)?
    pub fn is_default(&self) -> bool {
        *self == Knobs::default()
    }
}

/// One armed fail point: its knobs, its counters and its random numbers.
#[derive(Clone, Debug)]
pub struct FailPointState {
    knobs: Knobs,
    evaluations: u64,
    fired: u64,
    times_left: Option<u32>,
    random: DeterministicRandom,
}

impl FailPointState {
    /// A fail point armed with `knobs`; its random numbers come from
    /// `seed` and `salt` (so two fail points armed with one seed draw
    /// different numbers).
    pub fn new(knobs: Knobs, seed: u64, salt: u64) -> Self {
        let mut mixer = DeterministicRandom::new(seed ^ salt.rotate_left(32));
        Self {
            knobs,
            evaluations: 0,
            fired: 0,
            times_left: knobs.times,
            random: DeterministicRandom::new(mixer.next_u64()),
        }
    }

    /// Evaluates the fail point once (one pass of the code it guards):
    /// should this call fail? The order of the checks is Linux's
    /// `should_fail`: `nth` first, then `times`, `interval`, `probability`.
    pub fn should_fail(&mut self) -> bool {
        self.evaluations = self.evaluations.saturating_add(1);
        if let Some(nth) = self.knobs.nth {
            if self.fired == 0 && self.evaluations == u64::from(nth) {
                self.fired = 1;
                return true;
            }
            return false;
        }
        if self.times_left == Some(0) {
            return false;
        }
        let interval = u64::from(self.knobs.interval.max(1));
        if interval > 1 && !self.evaluations.is_multiple_of(interval) {
            return false;
        }
        if self.knobs.probability_percent < 100
            && self.random.below(100) >= u64::from(self.knobs.probability_percent)
        {
            return false;
        }
        self.fired = self.fired.saturating_add(1);
        if let Some(left) = self.times_left.as_mut() {
            *left = left.saturating_sub(1);
        }
        true
    }

    /// Times it fired.
    pub fn fired(&self) -> u64 {
        self.fired
    }

    /// Times it was evaluated.
    pub fn evaluations(&self) -> u64 {
        self.evaluations
    }

    /// Will it never fire again (`times` used up, or `nth` done)?
    pub fn exhausted(&self) -> bool {
        match self.knobs.nth {
            Some(_) => self.fired > 0,
            None => self.times_left == Some(0) || self.knobs.probability_percent == 0,
        }
    }

    /// Its knobs.
    pub fn knobs(&self) -> Knobs {
        self.knobs
    }

    /// Random bits for the values a fired fail point makes up (garbage
    /// reads, overrun bytes).
    pub fn random_u64(&mut self) -> u64 {
        self.random.next_u64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn firing_pattern(knobs: Knobs, evaluations: usize) -> Vec<bool> {
        let mut state = FailPointState::new(knobs, 7, 1);
        (0..evaluations).map(|_| state.should_fail()).collect()
    }

    #[test]
    fn default_knobs_fail_every_evaluation() {
        assert!(
            firing_pattern(Knobs::default(), 10)
                .iter()
                .all(|&fail| fail)
        );
    }

    #[test]
    fn nth_fires_exactly_once_at_n() {
        let knobs = Knobs {
            nth: Some(3),
            ..Knobs::default()
        };
        let mut state = FailPointState::new(knobs, 1, 2);
        let pattern: Vec<bool> = (0..8).map(|_| state.should_fail()).collect();
        assert_eq!(
            pattern,
            [false, false, true, false, false, false, false, false]
        );
        assert_eq!(state.fired(), 1);
        assert_eq!(state.evaluations(), 8);
        assert!(state.exhausted());
    }

    #[test]
    fn interval_fails_every_nth_evaluation() {
        let knobs = Knobs {
            interval: 3,
            ..Knobs::default()
        };
        let pattern = firing_pattern(knobs, 9);
        assert_eq!(
            pattern,
            [false, false, true, false, false, true, false, false, true]
        );
    }

    #[test]
    fn times_caps_the_failures() {
        let knobs = Knobs {
            times: Some(2),
            ..Knobs::default()
        };
        let mut state = FailPointState::new(knobs, 1, 2);
        let pattern: Vec<bool> = (0..5).map(|_| state.should_fail()).collect();
        assert_eq!(pattern, [true, true, false, false, false]);
        assert!(state.exhausted());
        let zero = Knobs {
            times: Some(0),
            ..Knobs::default()
        };
        assert!(firing_pattern(zero, 5).iter().all(|&fail| !fail));
    }

    #[test]
    fn interval_and_times_combine() {
        let knobs = Knobs {
            interval: 2,
            times: Some(2),
            ..Knobs::default()
        };
        let pattern = firing_pattern(knobs, 8);
        assert_eq!(
            pattern,
            [false, true, false, true, false, false, false, false]
        );
    }

    #[test]
    fn probability_is_roughly_respected_and_deterministic() {
        let knobs = Knobs {
            probability_percent: 30,
            ..Knobs::default()
        };
        let first = firing_pattern(knobs, 10_000);
        let second = firing_pattern(knobs, 10_000);
        assert_eq!(first, second, "same seed, same pattern");
        let failures = first.iter().filter(|&&fail| fail).count();
        assert!((2_700..3_300).contains(&failures), "{failures}");
        let never = Knobs {
            probability_percent: 0,
            ..Knobs::default()
        };
        assert!(firing_pattern(never, 1000).iter().all(|&fail| !fail));
        let mut other_seed = FailPointState::new(knobs, 8, 1);
        let other: Vec<bool> = (0..10_000).map(|_| other_seed.should_fail()).collect();
        assert_ne!(first, other, "another seed, another pattern");
    }

    #[test]
    fn random_below_stays_in_range() {
        let mut random = DeterministicRandom::new(0);
        for bound in [1u64, 2, 3, 10, 1000] {
            for _ in 0..1000 {
                assert!(random.below(bound) < bound);
            }
        }
        assert_eq!(random.below(0), 0);
    }
}
