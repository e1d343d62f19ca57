//! Activation bookkeeping of the patches armed in one extension: which
//! are armed (a breakpoint planted, the mutation not yet written), which
//! were activated (the breakpoint was hit, the mutation written and run),
//! and which instance they belong to.
//!
//! The kernel keeps one [`PatchBook`] per extension; `T` is what it needs
//! to write the instance's text (the kernel's addresses of the bytes).
//!
//! Invariants:
//! - A patch is activated at most once, and only by its own instance
//!   (generation): an instance restarted from the pristine image has none
//!   of the old breakpoints.
//! - Indices are unique within a book; they start at 0 again only when the
//!   book is empty.
//! - No two armed patches of one generation share an address.

use crate::mutation::PlannedPatch;
use alloc::vec::Vec;

/// One patch armed in an instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArmedPatch<T> {
    /// Its index (`inject patch I`, `inject activated I`).
    pub index: usize,
    /// The instance (generation) it was armed in.
    pub generation: u32,
    /// The patch.
    pub patch: PlannedPatch,
    /// Was it executed?
    pub activated: bool,
    /// Where the kernel writes it.
    pub memory: T,
}

/// The patches of one extension.
#[derive(Clone, Debug)]
pub struct PatchBook<T> {
    patches: Vec<ArmedPatch<T>>,
    next_index: usize,
}

impl<T> Default for PatchBook<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> PatchBook<T> {
    /// An empty book.
    pub const fn new() -> Self {
        Self {
            patches: Vec::new(),
            next_index: 0,
        }
    }

    /// Drops the records of every generation but `generation` (their
    /// instance is gone, and its text with it).
    pub fn forget_other_generations(&mut self, generation: u32) {
        self.patches.retain(|patch| patch.generation == generation);
        if self.patches.is_empty() {
            self.next_index = 0;
        }
    }

    /// Records `patch` as armed in instance `generation`; returns its index.
    /// Refused (`None`) if an armed patch of that generation already has
    /// its address.
    pub fn arm(&mut self, generation: u32, patch: PlannedPatch, memory: T) -> Option<usize> {
        if self.patches.is_empty() {
            self.next_index = 0;
        }
        if self
            .patches
            .iter()
            .any(|armed| armed.generation == generation && armed.patch.address == patch.address)
        {
            return None;
        }
        let index = self.next_index;
        self.next_index += 1;
        self.patches.push(ArmedPatch {
            index,
            generation,
            patch,
            activated: false,
            memory,
        });
        Some(index)
    }

    /// The index [`arm`](Self::arm) gives the next patch of instance
    /// `generation` (records of other instances are forgotten first).
    pub fn next_index_for(&self, generation: u32) -> usize {
        if self
            .patches
            .iter()
            .any(|patch| patch.generation == generation)
        {
            self.next_index
        } else {
            0
        }
    }

    /// The breakpoint at `address` of instance `generation` was hit: if it
    /// is an armed, not yet activated patch, marks it activated and
    /// returns it (the caller writes its new bytes and resumes at
    /// `address`).
    pub fn activate(&mut self, address: u64, generation: u32) -> Option<&ArmedPatch<T>> {
        let patch = self.patches.iter_mut().find(|armed| {
            !armed.activated && armed.generation == generation && armed.patch.address == address
        })?;
        patch.activated = true;
        Some(patch)
    }

    /// Removes the patches that were not executed and returns them (the
    /// caller restores the old bytes of those of the live instance).
    pub fn clear_unexecuted(&mut self) -> Vec<ArmedPatch<T>> {
        let (cleared, kept) = core::mem::take(&mut self.patches)
            .into_iter()
            .partition(|patch| !patch.activated);
        self.patches = kept;
        cleared
    }

    /// Every recorded patch, by index.
    pub fn patches(&self) -> &[ArmedPatch<T>] {
        &self.patches
    }

    /// Image offsets of the patches of instance `generation` (a new plan
    /// must leave them alone).
    pub fn occupied_offsets(&self, generation: u32) -> Vec<u64> {
        self.patches
            .iter()
            .filter(|patch| patch.generation == generation)
            .map(|patch| patch.patch.offset)
            .collect()
    }

    /// Patches of instance `generation` still waiting for their breakpoint.
    pub fn armed_count(&self, generation: u32) -> usize {
        self.patches
            .iter()
            .filter(|patch| patch.generation == generation && !patch.activated)
            .count()
    }

    /// Is the book empty?
    pub fn is_empty(&self) -> bool {
        self.patches.is_empty()
    }
}
