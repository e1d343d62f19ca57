//! Line discipline for the serial shell: turns received bytes into edits,
//! echoes and finished lines.
//!
//! The editor never writes to the terminal itself; each [`LineEditor::feed`]
//! returns a [`Feed`] saying what the terminal should show
//! ([`Feed::terminal_bytes`] gives the exact bytes).
//!
//! # Invariants
//!
//! - The pending line only ever holds printable ASCII (0x20..=0x7e), so it is
//!   valid UTF-8 and one byte is one column.
//! - `pending().len() <= max_len` at all times.
//! - `feed` is total: no byte sequence makes it panic.
//! - Rules: printable bytes are appended and echoed (or [`Feed::Bell`] when
//!   the line is full); BS (0x08) and DEL (0x7f) erase one character
//!   ([`Feed::Erase`], or [`Feed::Nothing`] when the line is empty); CR or LF
//!   finishes a line ([`Feed::Line`], possibly empty) and an LF right after a CR
//!   is swallowed, so CRLF is one line; Ctrl-U (0x15) erases the whole line
//!   ([`Feed::EraseMany`] with the number of characters, or `Nothing` when
//!   empty); Ctrl-C (0x03) drops the line ([`Feed::Cancel`], even when empty);
//!   escape sequences are consumed silently (CSI `ESC [ params final` with a
//!   final byte in 0x40..=0x7e, SS3 `ESC O x`, and two-byte `ESC x`); all
//!   other control bytes and non-ASCII bytes are ignored ([`Feed::Nothing`]).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;

const BS: u8 = 0x08;
const DEL: u8 = 0x7f;
const CR: u8 = b'\r';
const LF: u8 = b'\n';
const CTRL_C: u8 = 0x03;
const CTRL_U: u8 = 0x15;
const ESC: u8 = 0x1b;

/// What the terminal should do after one byte was fed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Feed {
    /// Nothing to show.
    Nothing,
    /// Echo this (printable) byte.
    Echo(u8),
    /// Erase one character: print `"\x08 \x08"`.
    Erase,
    /// Erase this many characters (Ctrl-U): print `"\x08 \x08"` that many times.
    EraseMany(usize),
    /// The line is full and a printable byte was dropped: ring the bell
    /// (`"\x07"`). Only used for "line full"; erasing an empty line is
    /// [`Feed::Nothing`].
    Bell,
    /// Ctrl-C: the pending line was dropped; print `"^C\r\n"` and a new prompt.
    Cancel,
    /// A finished line, without its terminator (may be empty): print `"\r\n"`
    /// and run it.
    Line(String),
}

impl Feed {
    /// Passes the exact bytes the terminal should receive for this outcome to
    /// `sink` (possibly in several pieces; nothing for [`Feed::Nothing`]).
    pub fn terminal_bytes(&self, mut sink: impl FnMut(&[u8])) {
        match self {
            Feed::Nothing => {}
            Feed::Echo(b) => sink(&[*b]),
            Feed::Erase => sink(b"\x08 \x08"),
            Feed::EraseMany(n) => {
                for _ in 0..*n {
                    sink(b"\x08 \x08");
                }
            }
            Feed::Bell => sink(b"\x07"),
            Feed::Cancel => sink(b"^C\r\n"),
            Feed::Line(_) => sink(b"\r\n"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Normal,
    /// Just after a CR: a following LF is swallowed.
    AfterCr,
    /// Just after ESC.
    Escape,
    /// Inside `ESC [ ...`, waiting for the final byte.
    Csi,
    /// After `ESC O`, one more byte belongs to the sequence.
    Ss3,
}

/// A single-line editor with a fixed maximum length.
#[derive(Clone, Debug)]
pub struct LineEditor {
    buffer: String,
    max_len: usize,
    state: State,
}

impl LineEditor {
    /// An empty editor that holds at most `max_len` characters.
    pub fn new(max_len: usize) -> Self {
        Self {
            buffer: String::with_capacity(max_len),
            max_len,
            state: State::Normal,
        }
    }

    /// The maximum line length.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The line typed so far.
    pub fn pending(&self) -> &str {
        &self.buffer
    }

    /// Drops the pending line and any half-received escape sequence.
    pub fn clear(&mut self) {
        self.buffer.clear();
        self.state = State::Normal;
    }

    /// Processes one received byte.
    pub fn feed(&mut self, byte: u8) -> Feed {
        match self.state {
            State::Escape => {
                self.state = match byte {
                    b'[' => State::Csi,
                    b'O' => State::Ss3,
                    ESC => State::Escape,
                    _ => State::Normal,
                };
                return Feed::Nothing;
            }
            State::Csi => match byte {
                // Parameter and intermediate bytes.
                0x20..=0x3f => return Feed::Nothing,
                // Final byte ends the sequence.
                0x40..=0x7e => {
                    self.state = State::Normal;
                    return Feed::Nothing;
                }
                // Malformed: abandon the sequence and treat the byte normally.
                _ => self.state = State::Normal,
            },
            State::Ss3 => {
                self.state = State::Normal;
                return Feed::Nothing;
            }
            State::AfterCr => {
                self.state = State::Normal;
                if byte == LF {
                    return Feed::Nothing;
                }
            }
            State::Normal => {}
        }
        match byte {
            0x20..=0x7e => {
                if self.buffer.len() >= self.max_len {
                    Feed::Bell
                } else {
                    self.buffer.push(byte as char);
                    Feed::Echo(byte)
                }
            }
            BS | DEL => match self.buffer.pop() {
                Some(_) => Feed::Erase,
                None => Feed::Nothing,
            },
            CR | LF => {
                if byte == CR {
                    self.state = State::AfterCr;
                }
                Feed::Line(core::mem::replace(
                    &mut self.buffer,
                    String::with_capacity(self.max_len),
                ))
            }
            CTRL_U => {
                let n = self.buffer.len();
                self.buffer.clear();
                if n == 0 {
                    Feed::Nothing
                } else {
                    Feed::EraseMany(n)
                }
            }
            CTRL_C => {
                self.buffer.clear();
                Feed::Cancel
            }
            ESC => {
                self.state = State::Escape;
                Feed::Nothing
            }
            _ => Feed::Nothing,
        }
    }
}

/// Splits a command line into words separated by ASCII whitespace (space,
/// tab, ...). There is no quoting or escaping: `echo "a b"` gives the words
/// `echo`, `"a` and `b"`. Leading, trailing and repeated whitespace produce no
/// empty words.
pub fn split_words(line: &str) -> impl Iterator<Item = &str> {
    line.split_ascii_whitespace()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn feed_all(ed: &mut LineEditor, bytes: &[u8]) -> Vec<Feed> {
        bytes.iter().map(|&b| ed.feed(b)).collect()
    }

    fn lines(ed: &mut LineEditor, bytes: &[u8]) -> Vec<String> {
        feed_all(ed, bytes)
            .into_iter()
            .filter_map(|f| match f {
                Feed::Line(l) => Some(l),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn printable_is_echoed_and_appended() {
        let mut ed = LineEditor::new(80);
        assert_eq!(ed.feed(b'h'), Feed::Echo(b'h'));
        assert_eq!(ed.feed(b' '), Feed::Echo(b' '));
        assert_eq!(ed.feed(b'~'), Feed::Echo(b'~'));
        assert_eq!(ed.pending(), "h ~");
        assert_eq!(ed.feed(b'\r'), Feed::Line("h ~".into()));
        assert_eq!(ed.pending(), "");
    }

    #[test]
    fn backspace_and_delete() {
        let mut ed = LineEditor::new(80);
        assert_eq!(ed.feed(0x08), Feed::Nothing, "erase on empty line");
        assert_eq!(ed.feed(0x7f), Feed::Nothing);
        feed_all(&mut ed, b"abc");
        assert_eq!(ed.feed(0x7f), Feed::Erase);
        assert_eq!(ed.pending(), "ab");
        assert_eq!(ed.feed(0x08), Feed::Erase);
        assert_eq!(ed.pending(), "a");
        assert_eq!(ed.feed(0x08), Feed::Erase);
        assert_eq!(ed.feed(0x08), Feed::Nothing);
        assert_eq!(ed.pending(), "");
    }

    #[test]
    fn crlf_is_one_line_and_empty_lines_count() {
        let mut ed = LineEditor::new(80);
        assert_eq!(lines(&mut ed, b"help\r\nmem\r\n\r\n"), ["help", "mem", ""]);
        let mut ed = LineEditor::new(80);
        assert_eq!(
            lines(&mut ed, b"a\nb\n\nc\r\rd\n\r"),
            ["a", "b", "", "c", "", "d", ""]
        );
        // LF swallowed only directly after CR.
        let mut ed = LineEditor::new(80);
        assert_eq!(ed.feed(b'\r'), Feed::Line(String::new()));
        assert_eq!(ed.feed(b'\n'), Feed::Nothing);
        assert_eq!(ed.feed(b'\n'), Feed::Line(String::new()));
        let mut ed = LineEditor::new(80);
        assert_eq!(lines(&mut ed, b"x\rz\n"), ["x", "z"]);
    }

    #[test]
    fn ctrl_u_and_ctrl_c() {
        let mut ed = LineEditor::new(80);
        assert_eq!(ed.feed(0x15), Feed::Nothing);
        feed_all(&mut ed, b"hello");
        assert_eq!(ed.feed(0x15), Feed::EraseMany(5));
        assert_eq!(ed.pending(), "");
        feed_all(&mut ed, b"oops");
        assert_eq!(ed.feed(0x03), Feed::Cancel);
        assert_eq!(ed.pending(), "");
        assert_eq!(ed.feed(0x03), Feed::Cancel, "cancel on empty line too");
        assert_eq!(lines(&mut ed, b"ok\r"), ["ok"]);
    }

    #[test]
    fn escape_sequences_are_swallowed() {
        let mut ed = LineEditor::new(80);
        // "he" LEFT "l" UP "p" DEL-key(ESC[3~) F1(ESC O P) ESC-x CR LF
        let stream = b"he\x1b[Dl\x1b[Ap\x1b[3~\x1bOP\x1bx!\x1b[1;5C\r\n";
        let out = feed_all(&mut ed, stream);
        let echoed: Vec<u8> = out
            .iter()
            .filter_map(|f| match f {
                Feed::Echo(b) => Some(*b),
                _ => None,
            })
            .collect();
        assert_eq!(echoed, b"help!");
        assert_eq!(out.iter().filter(|f| matches!(f, Feed::Line(_))).count(), 1);
        assert_eq!(out[out.len() - 2], Feed::Line("help!".into()));
        assert_eq!(out[out.len() - 1], Feed::Nothing);
    }

    #[test]
    fn malformed_csi_is_abandoned() {
        let mut ed = LineEditor::new(80);
        // A CR inside a CSI ends the sequence and still ends the line.
        assert_eq!(lines(&mut ed, b"ab\x1b[1\rcd\r"), ["ab", "cd"]);
        // ESC ESC [ A: the second ESC restarts the sequence.
        assert_eq!(lines(&mut ed, b"\x1b\x1b[Aq\r"), ["q"]);
    }

    #[test]
    fn other_control_and_non_ascii_ignored() {
        let mut ed = LineEditor::new(80);
        for b in [0x00, 0x01, 0x07, b'\t', 0x0c, 0x1f, 0x80, 0xc3, 0xff] {
            assert_eq!(ed.feed(b), Feed::Nothing, "{b:#x}");
        }
        assert_eq!(ed.pending(), "");
    }

    #[test]
    fn bell_when_full() {
        let mut ed = LineEditor::new(3);
        assert_eq!(
            feed_all(&mut ed, b"abcd"),
            [
                Feed::Echo(b'a'),
                Feed::Echo(b'b'),
                Feed::Echo(b'c'),
                Feed::Bell
            ]
        );
        assert_eq!(ed.pending(), "abc");
        assert_eq!(ed.feed(0x7f), Feed::Erase);
        assert_eq!(ed.feed(b'z'), Feed::Echo(b'z'));
        assert_eq!(ed.feed(b'\n'), Feed::Line("abz".into()));
        let mut zero = LineEditor::new(0);
        assert_eq!(zero.feed(b'a'), Feed::Bell);
        assert_eq!(zero.feed(b'\r'), Feed::Line(String::new()));
    }

    #[test]
    fn terminal_bytes() {
        let render = |f: Feed| {
            let mut out = Vec::new();
            f.terminal_bytes(|b| out.extend_from_slice(b));
            out
        };
        assert_eq!(render(Feed::Nothing), b"");
        assert_eq!(render(Feed::Echo(b'x')), b"x");
        assert_eq!(render(Feed::Erase), b"\x08 \x08");
        assert_eq!(render(Feed::EraseMany(2)), b"\x08 \x08\x08 \x08");
        assert_eq!(render(Feed::Bell), b"\x07");
        assert_eq!(render(Feed::Cancel), b"^C\r\n");
        assert_eq!(render(Feed::Line("ls".into())), b"\r\n");
    }

    #[test]
    fn words() {
        let w: Vec<&str> = split_words("  ext  load\te1000 \r\n").collect();
        assert_eq!(w, ["ext", "load", "e1000"]);
        assert_eq!(split_words("").count(), 0);
        assert_eq!(split_words("   \t ").count(), 0);
        let w: Vec<&str> = split_words("echo \"a b\"").collect();
        assert_eq!(w, ["echo", "\"a", "b\""]);
    }

    /// Deterministic xorshift64 PRNG.
    use deterministic_rng::XorShift;

    /// Random bytes never panic, never exceed max_len, and the editor's output
    /// is consistent with a simple model of what the terminal shows.
    #[test]
    fn random_bytes_against_model() {
        for seed in 1..=200u64 {
            let mut rng = XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let max = (rng.next() % 20) as usize;
            let mut ed = LineEditor::new(max);
            // The "screen" model: what the terminal shows on the current line.
            let mut screen: Vec<u8> = Vec::new();
            for _ in 0..2000 {
                // Bias towards interesting bytes.
                let b = match rng.next() % 8 {
                    0 => {
                        [0x08, 0x7f, b'\r', b'\n', 0x15, 0x03, 0x1b, b'['][rng.next() as usize % 8]
                    }
                    1..=4 => b'a' + (rng.next() % 26) as u8,
                    _ => rng.next() as u8,
                };
                let before = ed.pending().len();
                let f = ed.feed(b);
                assert!(ed.pending().len() <= max, "seed {seed}");
                assert!(ed.pending().bytes().all(|c| (0x20..=0x7e).contains(&c)));
                match f {
                    Feed::Nothing => assert_eq!(ed.pending().len(), before),
                    Feed::Echo(c) => {
                        assert!((0x20..=0x7e).contains(&c));
                        screen.push(c);
                    }
                    Feed::Erase => {
                        assert!(screen.pop().is_some(), "seed {seed}: erase past start");
                    }
                    Feed::EraseMany(n) => {
                        assert!(n > 0 && n <= screen.len(), "seed {seed}");
                        screen.truncate(screen.len() - n);
                    }
                    Feed::Bell => assert_eq!(before, max),
                    Feed::Cancel => screen.clear(),
                    Feed::Line(line) => {
                        assert_eq!(line.as_bytes(), &screen[..], "seed {seed}");
                        screen.clear();
                    }
                }
                assert_eq!(ed.pending().as_bytes(), &screen[..], "seed {seed}");
            }
        }
    }
}
