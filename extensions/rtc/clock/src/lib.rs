//! The `rtc` extension's hardware-free logic, tested on the host with plain
//! `cargo test`: decoding the MC146818 CMOS clock's registers (BCD or
//! binary, 12- or 24-hour), reading them consistently through any register
//! accessor, calendar arithmetic (seconds since the Unix epoch) and the
//! text the device returns.
//!
//! The driver (`extensions/rtc/src/main.rs`) only adds the port accesses:
//! it hands [`read_stable`] a closure that reads one CMOS register through
//! the kernel.
//!
//! Invariants:
//! - A [`DateTime`] is always a valid calendar date and time of the years
//!   1900 to 9999 (the constructor and [`decode`] check every field), so
//!   [`DateTime::unix_seconds`] and [`DateTime::text`] cannot fail.
//! - [`read_stable`] returns registers only after two consecutive reads,
//!   each started while no update was in progress, agree; its loops are
//!   bounded.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use core::fmt;

/// CMOS register: seconds (0-59).
pub const SECONDS: u8 = 0x00;
/// CMOS register: minutes (0-59).
pub const MINUTES: u8 = 0x02;
/// CMOS register: hours (0-23, or 1-12 with bit 7 meaning PM).
pub const HOURS: u8 = 0x04;
/// CMOS register: day of the month (1-31).
pub const DAY: u8 = 0x07;
/// CMOS register: month (1-12).
pub const MONTH: u8 = 0x08;
/// CMOS register: year in the century (0-99).
pub const YEAR: u8 = 0x09;
/// CMOS register: the century (19, 20, ...). Not part of the MC146818
/// itself; PCs (and QEMU) keep it here, where ACPI's FADT says.
pub const CENTURY: u8 = 0x32;
/// CMOS register: status A (bit 7: update in progress).
pub const STATUS_A: u8 = 0x0a;
/// CMOS register: status B (bit 2: binary, bit 1: 24-hour).
pub const STATUS_B: u8 = 0x0b;

/// Status A: the clock is updating its registers (they may be
/// inconsistent until the bit clears).
pub const UPDATE_IN_PROGRESS: u8 = 1 << 7;
/// Status B: the time registers are binary (clear: BCD).
pub const BINARY: u8 = 1 << 2;
/// Status B: 24-hour mode (clear: 12-hour, with [`PM`] in the hours).
pub const HOUR_24: u8 = 1 << 1;
/// Hours register in 12-hour mode: the time is after noon.
pub const PM: u8 = 1 << 7;

/// How many times [`read_stable`] reads the registers before it gives up
/// (they change at most once a second, so two reads agree at the latest
/// on the third).
pub const MAX_READS: usize = 8;
/// How many times [`read_stable`] polls status A for the end of one
/// update before it gives up (an update takes under 2 ms; the driver waits
/// 1 ms between polls).
pub const MAX_UPDATE_POLLS: usize = 20;

/// The raw contents of the time registers, as read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Registers {
    /// Register 0x00.
    pub seconds: u8,
    /// Register 0x02.
    pub minutes: u8,
    /// Register 0x04.
    pub hours: u8,
    /// Register 0x07.
    pub day: u8,
    /// Register 0x08.
    pub month: u8,
    /// Register 0x09.
    pub year: u8,
    /// Register 0x32.
    pub century: u8,
    /// Register 0x0b (how the others are encoded).
    pub status_b: u8,
}

/// A field that does not decode to a valid date or time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Which field.
    pub field: &'static str,
    /// Its raw register value.
    pub value: u8,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad {} register value {:#04x}", self.field, self.value)
    }
}

/// A calendar date and time (the clock keeps local time or UTC, as the
/// machine's owner set it; QEMU's default is UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

impl DateTime {
    /// A date and time, if every field is in range (years 1900 to 9999).
    pub fn new(year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> Option<Self> {
        let valid = (1900..=9999).contains(&year)
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month)
            && hour < 24
            && minute < 60
            && second < 60;
        valid.then_some(DateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
        })
    }

    /// The year (1900 to 9999).
    pub fn year(&self) -> u16 {
        self.year
    }

    /// The month (1 to 12).
    pub fn month(&self) -> u8 {
        self.month
    }

    /// The day of the month (1 to 31).
    pub fn day(&self) -> u8 {
        self.day
    }

    /// The hour (0 to 23).
    pub fn hour(&self) -> u8 {
        self.hour
    }

    /// The minute (0 to 59).
    pub fn minute(&self) -> u8 {
        self.minute
    }

    /// The second (0 to 59).
    pub fn second(&self) -> u8 {
        self.second
    }

    /// Seconds since 1970-01-01 00:00:00 (negative before it), reading
    /// the date as UTC.
    pub fn unix_seconds(&self) -> i64 {
        let days = days_from_civil(i64::from(self.year), self.month, self.day);
        days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    /// The device's text: `YYYY-MM-DD HH:MM:SS\n` (20 bytes).
    pub fn text(&self) -> [u8; TEXT_LEN] {
        let mut text = *b"0000-00-00 00:00:00\n";
        let digits = |field: &mut [u8], mut value: u16| {
            for byte in field.iter_mut().rev() {
                *byte = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        digits(&mut text[0..4], self.year);
        digits(&mut text[5..7], self.month.into());
        digits(&mut text[8..10], self.day.into());
        digits(&mut text[11..13], self.hour.into());
        digits(&mut text[14..16], self.minute.into());
        digits(&mut text[17..19], self.second.into());
        text
    }
}

/// Length of [`DateTime::text`].
pub const TEXT_LEN: usize = 20;

/// Is `year` a leap year (Gregorian)?
pub fn is_leap_year(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

/// Days in `month` (1 to 12) of `year`; 0 for a month out of range.
pub fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days from 1970-01-01 to the given date of the proleptic Gregorian
/// calendar (negative before it). Counts in 400-year eras of 146,097 days
/// with the year starting in March, so that the leap day is the last day of
/// its year (the method of Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    // Months counted from March: March is 0, February is 11.
    let month_from_march = (i64::from(month) + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719,468 days from 0000-03-01 to 1970-01-01.
    era * 146_097 + day_of_era - 719_468
}

/// The value of a BCD byte (two decimal digits), if both nibbles are digits.
pub fn bcd_to_binary(value: u8) -> Option<u8> {
    let (tens, ones) = (value >> 4, value & 0x0f);
    (tens <= 9 && ones <= 9).then_some(tens * 10 + ones)
}

/// Decodes the time registers in the encoding status B gives (BCD or
/// binary; 12- or 24-hour). The century register is used when it holds 19
/// to 99; otherwise (a clock without one, which reads 0 or 0xff) years 70
/// to 99 are 19xx and 00 to 69 are 20xx.
pub fn decode(registers: &Registers) -> Result<DateTime, DecodeError> {
    let binary = registers.status_b & BINARY != 0;
    let field = |field: &'static str, value: u8| {
        let decoded = if binary {
            Some(value)
        } else {
            bcd_to_binary(value)
        };
        decoded.ok_or(DecodeError { field, value })
    };
    let bad = |field: &'static str, value: u8| DecodeError { field, value };
    let second = field("seconds", registers.seconds)?;
    let minute = field("minutes", registers.minutes)?;
    let hour = if registers.status_b & HOUR_24 != 0 {
        field("hours", registers.hours)?
    } else {
        // 1 to 12, bit 7 for PM: 12 AM is midnight, 12 PM noon.
        let hour = field("hours", registers.hours & !PM)?;
        if !(1..=12).contains(&hour) {
            return Err(bad("hours", registers.hours));
        }
        match registers.hours & PM != 0 {
            true => hour % 12 + 12,
            false => hour % 12,
        }
    };
    let day = field("day", registers.day)?;
    let month = field("month", registers.month)?;
    let year = field("year", registers.year)?;
    if year > 99 {
        return Err(bad("year", registers.year));
    }
    let century = match field("century", registers.century) {
        Ok(century @ 19..=99) => century,
        _ if year >= 70 => 19,
        _ => 20,
    };
    let full_year = u16::from(century) * 100 + u16::from(year);
    DateTime::new(full_year, month, day, hour, minute, second).ok_or_else(|| {
        // Name the first field out of range.
        if !(1..=12).contains(&month) {
            bad("month", registers.month)
        } else if day == 0 || day > days_in_month(full_year, month) {
            bad("day", registers.day)
        } else if hour >= 24 {
            bad("hours", registers.hours)
        } else if minute >= 60 {
            bad("minutes", registers.minutes)
        } else {
            bad("seconds", registers.seconds)
        }
    })
}

/// Why [`read_stable`] gave no registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadError<E> {
    /// Reading a register failed.
    Access(E),
    /// Status A said "update in progress" for [`MAX_UPDATE_POLLS`] polls.
    StuckInUpdate,
    /// [`MAX_READS`] reads in a row never agreed twice.
    Unstable,
}

impl<E: fmt::Debug> fmt::Display for ReadError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Access(error) => write!(f, "register access failed: {error:?}"),
            ReadError::StuckInUpdate => f.write_str("the clock stays in its update cycle"),
            ReadError::Unstable => f.write_str("the clock's registers never read the same twice"),
        }
    }
}

/// Reads every time register with `read` (one CMOS register by index),
/// waiting (with `wait`) while an update is in progress, until two
/// consecutive reads agree: the registers change once a second and an
/// update may begin between two register reads, so a single read can mix
/// two seconds (59 seconds of the old minute with the new minute).
pub fn read_stable<E>(
    mut read: impl FnMut(u8) -> Result<u8, E>,
    mut wait: impl FnMut(),
) -> Result<Registers, ReadError<E>> {
    let mut previous = None;
    for _ in 0..MAX_READS {
        let mut polls = 0;
        while read(STATUS_A).map_err(ReadError::Access)? & UPDATE_IN_PROGRESS != 0 {
            polls += 1;
            if polls >= MAX_UPDATE_POLLS {
                return Err(ReadError::StuckInUpdate);
            }
            wait();
        }
        let mut get = |index| read(index).map_err(ReadError::Access);
        let registers = Registers {
            seconds: get(SECONDS)?,
            minutes: get(MINUTES)?,
            hours: get(HOURS)?,
            day: get(DAY)?,
            month: get(MONTH)?,
            year: get(YEAR)?,
            century: get(CENTURY)?,
            status_b: get(STATUS_B)?,
        };
        if previous == Some(registers) {
            return Ok(registers);
        }
        previous = Some(registers);
    }
    Err(ReadError::Unstable)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QEMU's encoding: BCD, 24-hour.
    const QEMU_STATUS_B: u8 = HOUR_24;

    fn bcd(value: u8) -> u8 {
        (value / 10) << 4 | (value % 10)
    }

    fn registers(status_b: u8, fields: [u8; 7]) -> Registers {
        let [century, year, month, day, hours, minutes, seconds] = fields;
        Registers {
            seconds,
            minutes,
            hours,
            day,
            month,
            year,
            century,
            status_b,
        }
    }

    fn date(text: &str) -> DateTime {
        let number = |range: core::ops::Range<usize>| text[range].parse::<u16>().unwrap();
        DateTime::new(
            number(0..4),
            number(5..7) as u8,
            number(8..10) as u8,
            number(11..13) as u8,
            number(14..16) as u8,
            number(17..19) as u8,
        )
        .unwrap()
    }

    #[test]
    fn bcd_decodes_every_two_digit_value_and_refuses_the_rest() {
        for value in 0..=255u8 {
            let expected =
                ((value >> 4) < 10 && (value & 15) < 10).then(|| (value >> 4) * 10 + (value & 15));
            assert_eq!(bcd_to_binary(value), expected, "{value:#x}");
        }
        assert_eq!(bcd_to_binary(0x59), Some(59));
        assert_eq!(bcd_to_binary(0x1a), None);
        assert_eq!(bcd_to_binary(0xa1), None);
    }

    #[test]
    fn known_dates_have_their_unix_seconds() {
        assert_eq!(date("1970-01-01 00:00:00").unix_seconds(), 0);
        assert_eq!(date("2000-01-01 00:00:00").unix_seconds(), 946_684_800);
        assert_eq!(date("2024-02-29 12:34:56").unix_seconds(), 1_709_210_096);
        assert_eq!(
            date("2038-01-19 03:14:07").unix_seconds(),
            i64::from(i32::MAX)
        );
        assert_eq!(date("2099-12-31 23:59:59").unix_seconds(), 4_102_444_799);
        assert_eq!(date("1900-01-01 00:00:00").unix_seconds(), -2_208_988_800);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn days_from_civil_counts_every_day_from_1900_to_2400() {
        // An independent count: walk the calendar one day at a time.
        let mut expected = days_from_civil(1900, 1, 1);
        for year in 1900..=2400u16 {
            let mut days_in_year = 0;
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    assert_eq!(
                        days_from_civil(i64::from(year), month, day),
                        expected,
                        "{year}-{month}-{day}"
                    );
                    expected += 1;
                    days_in_year += 1;
                }
            }
            assert_eq!(days_in_year, if is_leap_year(year) { 366 } else { 365 });
        }
        assert!(is_leap_year(2000) && is_leap_year(2024) && !is_leap_year(1900));
        assert!(!is_leap_year(2100) && !is_leap_year(2023));
    }

    #[test]
    fn text_is_zero_padded_with_a_newline() {
        assert_eq!(
            &date("2025-03-04 05:06:07").text(),
            b"2025-03-04 05:06:07\n"
        );
        assert_eq!(
            &date("9999-12-31 23:59:59").text(),
            b"9999-12-31 23:59:59\n"
        );
        assert_eq!(
            &DateTime::new(1900, 1, 1, 0, 0, 0).unwrap().text(),
            b"1900-01-01 00:00:00\n"
        );
    }

    #[test]
    fn new_refuses_impossible_dates() {
        assert!(DateTime::new(2024, 2, 29, 0, 0, 0).is_some());
        assert!(DateTime::new(2023, 2, 29, 0, 0, 0).is_none());
        assert!(DateTime::new(2100, 2, 29, 0, 0, 0).is_none());
        assert!(DateTime::new(2025, 4, 31, 0, 0, 0).is_none());
        assert!(DateTime::new(2025, 0, 1, 0, 0, 0).is_none());
        assert!(DateTime::new(2025, 13, 1, 0, 0, 0).is_none());
        assert!(DateTime::new(2025, 1, 0, 0, 0, 0).is_none());
        assert!(DateTime::new(2025, 1, 1, 24, 0, 0).is_none());
        assert!(DateTime::new(2025, 1, 1, 0, 60, 0).is_none());
        assert!(DateTime::new(2025, 1, 1, 0, 0, 60).is_none());
        assert!(DateTime::new(1899, 12, 31, 0, 0, 0).is_none());
        assert!(DateTime::new(10000, 1, 1, 0, 0, 0).is_none());
    }

    #[test]
    fn decodes_bcd_24_hour_as_qemu_sets_it() {
        let raw = registers(QEMU_STATUS_B, [0x20, 0x25, 0x12, 0x31, 0x23, 0x59, 0x58]);
        assert_eq!(decode(&raw), Ok(date("2025-12-31 23:59:58")));
    }

    #[test]
    fn decodes_binary_24_hour() {
        let raw = registers(BINARY | HOUR_24, [20, 25, 7, 9, 13, 5, 42]);
        assert_eq!(decode(&raw), Ok(date("2025-07-09 13:05:42")));
    }

    #[test]
    fn decodes_12_hour_mode_in_bcd_and_binary() {
        // (hours register, 24-hour value) for BCD, then binary.
        let bcd_cases = [
            (0x12, 0),
            (0x01, 1),
            (0x11, 11),
            (0x92, 12),
            (0x81, 13),
            (0x91, 23),
        ];
        for (hours, expected) in bcd_cases {
            let raw = registers(0, [0x20, 0x25, 0x01, 0x02, hours, 0x30, 0x00]);
            let time = decode(&raw).unwrap();
            assert_eq!(time.hour(), expected, "BCD hours register {hours:#x}");
        }
        for hour in 0..24u8 {
            let register = match hour {
                0 => 12,
                1..=11 => hour,
                12 => 12 | PM,
                _ => (hour - 12) | PM,
            };
            let raw = registers(BINARY, [20, 25, 1, 2, register, 30, 0]);
            assert_eq!(decode(&raw).unwrap().hour(), hour, "binary {register:#x}");
            let raw = registers(
                0,
                [
                    0x20,
                    0x25,
                    0x01,
                    0x02,
                    bcd(register & !PM) | (register & PM),
                    0x30,
                    0,
                ],
            );
            assert_eq!(decode(&raw).unwrap().hour(), hour, "BCD {register:#x}");
        }
        // 0 and 13 o'clock do not exist in 12-hour mode.
        for hours in [0x00, 0x80, 0x13, 0x93] {
            let raw = registers(0, [0x20, 0x25, 0x01, 0x02, hours, 0x30, 0x00]);
            assert_eq!(decode(&raw).unwrap_err().field, "hours", "{hours:#x}");
        }
    }

    #[test]
    fn decode_uses_the_century_register_or_guesses_from_the_year() {
        let year = |century: u8, year: u8| {
            decode(&registers(QEMU_STATUS_B, [century, year, 1, 1, 0, 0, 0])).map(|t| t.year())
        };
        assert_eq!(year(0x20, 0x25), Ok(2025));
        assert_eq!(year(0x19, 0x99), Ok(1999));
        assert_eq!(year(0x21, 0x00), Ok(2100));
        // No century register: 70-99 are 19xx, 00-69 20xx.
        for missing in [0x00, 0xff, 0x18, 0x5a] {
            assert_eq!(year(missing, 0x25), Ok(2025), "century {missing:#x}");
            assert_eq!(year(missing, 0x70), Ok(1970), "century {missing:#x}");
            assert_eq!(year(missing, 0x69), Ok(2069), "century {missing:#x}");
        }
    }

    #[test]
    fn decode_names_the_bad_field() {
        let bad = |fields: [u8; 7]| decode(&registers(QEMU_STATUS_B, fields)).unwrap_err();
        assert_eq!(
            bad([0x20, 0x25, 0x01, 0x01, 0x00, 0x00, 0x5a]),
            DecodeError {
                field: "seconds",
                value: 0x5a
            }
        );
        assert_eq!(
            bad([0x20, 0x25, 0x01, 0x01, 0x00, 0x60, 0x00]).field,
            "minutes"
        );
        assert_eq!(
            bad([0x20, 0x25, 0x01, 0x01, 0x24, 0x00, 0x00]).field,
            "hours"
        );
        assert_eq!(bad([0x20, 0x25, 0x01, 0x32, 0x00, 0x00, 0x00]).field, "day");
        assert_eq!(bad([0x20, 0x25, 0x02, 0x29, 0x00, 0x00, 0x00]).field, "day");
        assert_eq!(
            bad([0x20, 0x25, 0x13, 0x01, 0x00, 0x00, 0x00]).field,
            "month"
        );
        assert_eq!(
            bad([0x20, 0x25, 0x00, 0x01, 0x00, 0x00, 0x00]).field,
            "month"
        );
        assert_eq!(
            bad([0x20, 0xa5, 0x01, 0x01, 0x00, 0x00, 0x00]).field,
            "year"
        );
        let binary_year = decode(&registers(BINARY | HOUR_24, [20, 100, 1, 1, 0, 0, 0]));
        assert_eq!(binary_year.unwrap_err().field, "year");
        // 2024 is a leap year: 02-29 decodes.
        assert!(decode(&registers(QEMU_STATUS_B, [0x20, 0x24, 0x02, 0x29, 0, 0, 0])).is_ok());
    }

    /// A clock whose registers are given per read round; status A answers
    /// "update in progress" for the first `busy_polls` polls.
    struct FakeClock {
        rounds: Vec<Registers>,
        round: usize,
        busy_polls: usize,
        polls: usize,
        reads: usize,
    }

    impl FakeClock {
        fn read(&mut self, index: u8) -> Result<u8, &'static str> {
            self.reads += 1;
            let now = self.rounds[self.round.min(self.rounds.len() - 1)];
            Ok(match index {
                STATUS_A => {
                    self.polls += 1;
                    if self.polls <= self.busy_polls {
                        UPDATE_IN_PROGRESS | 0x26
                    } else {
                        0x26
                    }
                }
                SECONDS => now.seconds,
                MINUTES => now.minutes,
                HOURS => now.hours,
                DAY => now.day,
                MONTH => now.month,
                YEAR => now.year,
                CENTURY => now.century,
                STATUS_B => {
                    // The last register of a round: the next round starts.
                    self.round += 1;
                    now.status_b
                }
                _ => return Err("unexpected register"),
            })
        }
    }

    fn fake(rounds: Vec<Registers>, busy_polls: usize) -> FakeClock {
        FakeClock {
            rounds,
            round: 0,
            busy_polls,
            polls: 0,
            reads: 0,
        }
    }

    #[test]
    fn read_stable_waits_for_the_update_and_for_two_equal_reads() {
        let before = registers(QEMU_STATUS_B, [0x20, 0x25, 0x12, 0x31, 0x23, 0x59, 0x59]);
        // A round that mixed the old minute with the new second.
        let torn = registers(QEMU_STATUS_B, [0x20, 0x25, 0x12, 0x31, 0x23, 0x59, 0x00]);
        let after = registers(QEMU_STATUS_B, [0x20, 0x26, 0x01, 0x01, 0x00, 0x00, 0x00]);
        let mut clock = fake(vec![before, torn, after, after], 3);
        let mut waits = 0;
        let read = read_stable(|index| clock.read(index), || waits += 1);
        assert_eq!(read, Ok(after));
        assert_eq!(waits, 3, "one wait per busy poll");
        assert_eq!(clock.round, 4, "four rounds: before, torn, after, after");
        assert_eq!(decode(&after), Ok(date("2026-01-01 00:00:00")));
    }

    #[test]
    fn read_stable_gives_up_on_a_clock_stuck_in_update_or_never_stable() {
        let time = registers(QEMU_STATUS_B, [0x20, 0x25, 0x01, 0x01, 0x00, 0x00, 0x00]);
        let mut stuck = fake(vec![time], usize::MAX);
        let mut waits = 0;
        assert_eq!(
            read_stable(|index| stuck.read(index), || waits += 1),
            Err(ReadError::StuckInUpdate)
        );
        assert_eq!(waits, MAX_UPDATE_POLLS - 1);
        let changing: Vec<Registers> = (0..=MAX_READS as u8)
            .map(|second| Registers {
                seconds: bcd(second),
                ..time
            })
            .collect();
        let mut unstable = fake(changing, 0);
        assert_eq!(
            read_stable(|index| unstable.read(index), || {}),
            Err(ReadError::Unstable)
        );
        assert_eq!(unstable.round, MAX_READS);
        let mut reads = 0;
        let failing = read_stable(
            |_| {
                reads += 1;
                Err::<u8, _>("port refused")
            },
            || {},
        );
        assert_eq!(failing, Err(ReadError::Access("port refused")));
        assert_eq!(reads, 1);
    }
}
