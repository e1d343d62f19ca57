//! Text form of [`RestartPolicy`] for the shell and the kernel command line.

use crate::RestartPolicy;
use alloc::string::{String, ToString};
use core::fmt;

/// Parse a restart policy.
///
/// Grammar (ASCII, case-sensitive, surrounding whitespace ignored):
///
/// ```text
/// policy   = "always" | "never" | "up-to:" COUNT [ "/" DURATION ] [ ",backoff=" BACKOFF ]
/// BACKOFF  = DURATION ".." DURATION | NUMBER ".." DURATION
/// DURATION = NUMBER ( "ms" | "s" )
/// ```
///
/// - `up-to:5` — at most 5 restarts in the extension's lifetime, no back-off.
/// - `up-to:5/60000ms` (or `up-to:5/60s`) — at most 5 restarts within any
///   60-second window.
/// - `up-to:5/60s,backoff=10..1000ms` — as above, waiting 10 ms before the
///   first restart of a run of faults, doubling up to 1000 ms. A bare first
///   number takes the unit of the second.
///
/// The back-off must start above 0 and must not start above its maximum;
/// `backoff=0..0ms` is accepted and means "no back-off".
/// [`RestartPolicy`]'s `Display` writes the canonical form (milliseconds,
/// optional parts omitted when zero), which this function parses back.
pub fn parse_policy(text: &str) -> Result<RestartPolicy, PolicyParseError> {
    let text = text.trim();
    match text {
        "" => return Err(PolicyParseError::Empty),
        "always" => return Ok(RestartPolicy::Always),
        "never" => return Ok(RestartPolicy::Never),
        _ => {}
    }
    let Some(rest) = text.strip_prefix("up-to:") else {
        return Err(PolicyParseError::UnknownPolicy {
            text: text.to_string(),
        });
    };
    let (limit_part, backoff_part) = match rest.split_once(',') {
        Some((limit, options)) => (limit, Some(options)),
        None => (rest, None),
    };
    let (count_text, window_text) = match limit_part.split_once('/') {
        Some((count, window)) => (count, Some(window)),
        None => (limit_part, None),
    };
    if count_text.is_empty() {
        return Err(PolicyParseError::MissingRestartCount);
    }
    let max_restarts: u32 =
        parse_number(count_text)?
            .try_into()
            .map_err(|_| PolicyParseError::NumberTooLarge {
                text: count_text.to_string(),
            })?;
    let window_ms = match window_text {
        Some(window) => parse_duration_ms(window, None)?,
        None => 0,
    };
    let (initial_backoff_ms, max_backoff_ms) = match backoff_part {
        None => (0, 0),
        Some(options) => {
            let Some(range) = options.strip_prefix("backoff=") else {
                return Err(PolicyParseError::UnknownOption {
                    text: options.to_string(),
                });
            };
            let Some((initial, maximum)) = range.split_once("..") else {
                return Err(PolicyParseError::MalformedBackoff {
                    text: range.to_string(),
                });
            };
            let (maximum_ms, unit) = parse_duration_with_unit(maximum)?;
            let initial_ms = parse_duration_ms(initial, Some(unit))?;
            if initial_ms > maximum_ms {
                return Err(PolicyParseError::BackoffStartsAboveMaximum {
                    initial_ms,
                    max_ms: maximum_ms,
                });
            }
            if initial_ms == 0 && maximum_ms != 0 {
                return Err(PolicyParseError::BackoffStartsAtZero);
            }
            (initial_ms, maximum_ms)
        }
    };
    Ok(RestartPolicy::UpTo {
        max_restarts,
        window_ms,
        initial_backoff_ms,
        max_backoff_ms,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Milliseconds,
    Seconds,
}

fn parse_number(text: &str) -> Result<u64, PolicyParseError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PolicyParseError::InvalidNumber {
            text: text.to_string(),
        });
    }
    text.parse::<u64>()
        .map_err(|_| PolicyParseError::NumberTooLarge {
            text: text.to_string(),
        })
}

fn parse_duration_with_unit(text: &str) -> Result<(u64, Unit), PolicyParseError> {
    let (number, unit) = if let Some(number) = text.strip_suffix("ms") {
        (number, Unit::Milliseconds)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, Unit::Seconds)
    } else {
        return Err(PolicyParseError::MissingUnit {
            text: text.to_string(),
        });
    };
    let value = parse_number(number)?;
    let ms = match unit {
        Unit::Milliseconds => value,
        Unit::Seconds => {
            value
                .checked_mul(1000)
                .ok_or_else(|| PolicyParseError::NumberTooLarge {
                    text: text.to_string(),
                })?
        }
    };
    Ok((ms, unit))
}

fn parse_duration_ms(text: &str, default_unit: Option<Unit>) -> Result<u64, PolicyParseError> {
    if let Some(unit) = default_unit
        && !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
    {
        let value = parse_number(text)?;
        return match unit {
            Unit::Milliseconds => Ok(value),
            Unit::Seconds => {
                value
                    .checked_mul(1000)
                    .ok_or_else(|| PolicyParseError::NumberTooLarge {
                        text: text.to_string(),
                    })
            }
        };
    }
    parse_duration_with_unit(text).map(|(ms, _)| ms)
}

/// Why a policy text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyParseError {
    /// Nothing but whitespace.
    Empty,
    /// Not `always`, `never` or `up-to:...`.
    UnknownPolicy {
        /// The offending text.
        text: String,
    },
    /// `up-to:` without a count.
    MissingRestartCount,
    /// Not a decimal number.
    InvalidNumber {
        /// The offending text.
        text: String,
    },
    /// A number that does not fit (count > u32, duration > u64 ms).
    NumberTooLarge {
        /// The offending text.
        text: String,
    },
    /// A duration without `ms` or `s`.
    MissingUnit {
        /// The offending text.
        text: String,
    },
    /// An option other than `backoff=`.
    UnknownOption {
        /// The offending text.
        text: String,
    },
    /// `backoff=` without `..`.
    MalformedBackoff {
        /// The offending text.
        text: String,
    },
    /// The back-off's first delay exceeds its maximum.
    BackoffStartsAboveMaximum {
        /// First delay.
        initial_ms: u64,
        /// Maximum delay.
        max_ms: u64,
    },
    /// `backoff=0..N` with N > 0: doubling 0 never grows.
    BackoffStartsAtZero,
}

impl fmt::Display for PolicyParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SYNTAX: &str =
            "expected \"always\", \"never\" or \"up-to:N[/WINDOW][,backoff=MIN..MAX]\"";
        match self {
            PolicyParseError::Empty => write!(f, "empty restart policy; {SYNTAX}"),
            PolicyParseError::UnknownPolicy { text } => {
                write!(f, "unknown restart policy \"{text}\"; {SYNTAX}")
            }
            PolicyParseError::MissingRestartCount => {
                f.write_str("\"up-to:\" needs a restart count, e.g. \"up-to:5\"")
            }
            PolicyParseError::InvalidNumber { text } => {
                write!(f, "\"{text}\" is not a decimal number")
            }
            PolicyParseError::NumberTooLarge { text } => write!(f, "\"{text}\" is too large"),
            PolicyParseError::MissingUnit { text } => {
                write!(f, "duration \"{text}\" needs a unit, \"ms\" or \"s\"")
            }
            PolicyParseError::UnknownOption { text } => {
                write!(
                    f,
                    "unknown option \"{text}\"; the only option is \"backoff=MIN..MAX\""
                )
            }
            PolicyParseError::MalformedBackoff { text } => {
                write!(f, "back-off \"{text}\" must look like \"10..1000ms\"")
            }
            PolicyParseError::BackoffStartsAboveMaximum { initial_ms, max_ms } => write!(
                f,
                "back-off starts at {initial_ms} ms, above its maximum of {max_ms} ms"
            ),
            PolicyParseError::BackoffStartsAtZero => {
                f.write_str("back-off must start above 0 ms (doubling 0 never grows)")
            }
        }
    }
}

impl core::error::Error for PolicyParseError {}

impl fmt::Display for RestartPolicy {
    /// The canonical text form accepted by [`parse_policy`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestartPolicy::Always => f.write_str("always"),
            RestartPolicy::Never => f.write_str("never"),
            RestartPolicy::UpTo {
                max_restarts,
                window_ms,
                initial_backoff_ms,
                max_backoff_ms,
            } => {
                write!(f, "up-to:{max_restarts}")?;
                if *window_ms != 0 {
                    write!(f, "/{window_ms}ms")?;
                }
                if *initial_backoff_ms != 0 || *max_backoff_ms != 0 {
                    write!(f, ",backoff={initial_backoff_ms}..{max_backoff_ms}ms")?;
                }
                Ok(())
            }
        }
    }
}

impl core::str::FromStr for RestartPolicy {
    type Err = PolicyParseError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_policy(text)
    }
}
