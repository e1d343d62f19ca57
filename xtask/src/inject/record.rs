//! One JSON object per trial (`trials.jsonl`), written by hand (xtask has
//! no serde), and a small reader for looking records up again.
//!
//! Invariants:
//! - Each record is one line: no raw newline inside (strings are escaped
//!   with [`crate::bench::json_string`]).
//! - Keys come in a fixed order; optional values are `null`, never absent.
//! - [`TrialRecord::from_json`] reads back exactly what
//!   [`TrialRecord::to_json_line`] wrote.

use std::fmt::Write as _;

use super::classify::Outcome;
use super::protocol::Patch;
use super::trial::TrialSpec;
use crate::bench::json_string;

/// One injected fault, as recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultRecord {
    /// Fault type.
    pub fault_type: String,
    /// `SYMBOL+0xOFF` of a patch, `fail-point`, or `ext crash`.
    pub site: Option<String>,
    /// Patched address.
    pub address: Option<String>,
    /// Bytes before (hex).
    pub old_bytes: Option<String>,
    /// Bytes after (hex).
    pub new_bytes: Option<String>,
    /// Instruction before.
    pub before: Option<String>,
    /// Instruction after.
    pub after: Option<String>,
}

impl FaultRecord {
    /// A patch reported by the engine.
    pub fn from_patch(patch: &Patch) -> FaultRecord {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        FaultRecord {
            fault_type: patch.fault_type.clone(),
            site: some(&patch.site),
            address: some(&patch.address),
            old_bytes: some(&patch.old),
            new_bytes: some(&patch.new),
            before: some(&patch.before),
            after: some(&patch.after),
        }
    }

    /// A fault without code bytes (a crash kind or a fail point).
    pub fn at_site(fault_type: &str, site: &str) -> FaultRecord {
        FaultRecord {
            fault_type: fault_type.to_string(),
            site: Some(site.to_string()),
            ..FaultRecord::default()
        }
    }
}

/// The record of one trial.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialRecord {
    /// What was run.
    pub spec: TrialSpec,
    /// The kernel build (a digest of the kernel ELF).
    pub build: String,
    /// Outcome.
    pub outcome: Outcome,
    /// Why (one line).
    pub detail: String,
    /// For an isolated `kernel-crash` or `hang`: its suggested cause
    /// (`TAG: text`, see [`super::explain`]).
    pub cause: Option<String>,
    /// The faults injected.
    pub faults: Vec<FaultRecord>,
    /// Whether the fault fired (`None`: unknown).
    pub activated: Option<bool>,
    /// First recovery's time, in milliseconds.
    pub recovery_ms: Option<f64>,
    /// Fault kinds the kernel detected in the extension.
    pub detected: Vec<String>,
    /// The trial ran in a boot that earlier trials had used.
    pub reused_boot: bool,
    /// Wall time of the trial, in seconds (boot included when fresh).
    pub duration_s: f64,
    /// When it started (UTC).
    pub started: String,
    /// The command that re-runs it.
    pub reproduce: String,
    /// The serial log kept for it (relative to the output directory).
    pub log: Option<String>,
}

fn optional_string(value: &Option<String>, out: &mut String) {
    match value {
        Some(text) => json_string(text, out),
        None => out.push_str("null"),
    }
}

impl TrialRecord {
    /// The record as one line of JSON (without the newline).
    pub fn to_json_line(&self) -> String {
        let mut s = String::from("{");
        let key = |s: &mut String, name: &str| {
            if s.len() > 1 {
                s.push(',');
            }
            json_string(name, s);
            s.push(':');
        };
        key(&mut s, "id");
        json_string(&self.spec.id(), &mut s);
        key(&mut s, "build");
        json_string(&self.build, &mut s);
        key(&mut s, "extension");
        json_string(&self.spec.extension, &mut s);
        key(&mut s, "mode");
        json_string(self.spec.mode.name(), &mut s);
        key(&mut s, "fault_type");
        json_string(self.spec.fault.name, &mut s);
        key(&mut s, "seed");
        let _ = write!(s, "{}", self.spec.seed);
        key(&mut s, "count");
        let _ = write!(s, "{}", self.spec.count);
        key(&mut s, "knobs");
        json_string(&self.spec.knobs.joined(","), &mut s);
        key(&mut s, "faults");
        s.push('[');
        for (index, fault) in self.faults.iter().enumerate() {
            if index > 0 {
                s.push(',');
            }
            s.push_str("{\"type\":");
            json_string(&fault.fault_type, &mut s);
            for (name, value) in [
                ("site", &fault.site),
                ("address", &fault.address),
                ("old_bytes", &fault.old_bytes),
                ("new_bytes", &fault.new_bytes),
                ("before", &fault.before),
                ("after", &fault.after),
            ] {
                s.push(',');
                json_string(name, &mut s);
                s.push(':');
                optional_string(value, &mut s);
            }
            s.push('}');
        }
        s.push(']');
        key(&mut s, "outcome");
        json_string(self.outcome.name(), &mut s);
        key(&mut s, "detail");
        json_string(&self.detail, &mut s);
        key(&mut s, "cause");
        optional_string(&self.cause, &mut s);
        key(&mut s, "activated");
        s.push_str(match self.activated {
            Some(true) => "true",
            Some(false) => "false",
            None => "null",
        });
        key(&mut s, "recovery_ms");
        match self.recovery_ms {
            Some(ms) => {
                let _ = write!(s, "{ms:.3}");
            }
            None => s.push_str("null"),
        }
        key(&mut s, "detected");
        s.push('[');
        for (index, kind) in self.detected.iter().enumerate() {
            if index > 0 {
                s.push(',');
            }
            json_string(kind, &mut s);
        }
        s.push(']');
        key(&mut s, "reused_boot");
        s.push_str(if self.reused_boot { "true" } else { "false" });
        key(&mut s, "duration_s");
        let _ = write!(s, "{:.3}", self.duration_s);
        key(&mut s, "started");
        json_string(&self.started, &mut s);
        key(&mut s, "reproduce");
        json_string(&self.reproduce, &mut s);
        key(&mut s, "log");
        optional_string(&self.log, &mut s);
        s.push('}');
        s
    }

    /// Reads a line written by [`TrialRecord::to_json_line`].
    pub fn from_json(line: &str) -> Result<TrialRecord, String> {
        let value = Json::parse(line)?;
        let text = |k: &str| -> Result<String, String> {
            match value.get(k) {
                Some(Json::Text(t)) => Ok(t.clone()),
                _ => Err(format!("record has no string {k:?}")),
            }
        };
        let optional_text = |v: Option<&Json>| match v {
            Some(Json::Text(t)) => Some(t.clone()),
            _ => None,
        };
        let number = |k: &str| match value.get(k) {
            Some(Json::Number(n)) => Some(*n),
            _ => None,
        };
        let spec = TrialSpec::parse_id(&text("id")?)?;
        let outcome = Outcome::parse(&text("outcome")?).ok_or("record has an unknown outcome")?;
        let faults = match value.get("faults") {
            Some(Json::List(items)) => items
                .iter()
                .map(|item| FaultRecord {
                    fault_type: optional_text(item.get("type")).unwrap_or_default(),
                    site: optional_text(item.get("site")),
                    address: optional_text(item.get("address")),
                    old_bytes: optional_text(item.get("old_bytes")),
                    new_bytes: optional_text(item.get("new_bytes")),
                    before: optional_text(item.get("before")),
                    after: optional_text(item.get("after")),
                })
                .collect(),
            _ => return Err("record has no list \"faults\"".into()),
        };
        let detected = match value.get("detected") {
            Some(Json::List(items)) => items
                .iter()
                .filter_map(|i| optional_text(Some(i)))
                .collect(),
            _ => Vec::new(),
        };
        Ok(TrialRecord {
            spec,
            build: text("build")?,
            outcome,
            detail: text("detail").unwrap_or_default(),
            cause: optional_text(value.get("cause")),
            faults,
            activated: match value.get("activated") {
                Some(Json::Bool(b)) => Some(*b),
                _ => None,
            },
            recovery_ms: number("recovery_ms"),
            detected,
            reused_boot: matches!(value.get("reused_boot"), Some(Json::Bool(true))),
            duration_s: number("duration_s").unwrap_or(0.0),
            started: text("started").unwrap_or_default(),
            reproduce: text("reproduce").unwrap_or_default(),
            log: optional_text(value.get("log")),
        })
    }
}

/// A parsed JSON value (enough for reading records back).
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number.
    Number(f64),
    /// A string.
    Text(String),
    /// An array.
    List(Vec<Json>),
    /// An object, keys in order.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Parses one JSON document (surrounding whitespace allowed).
    pub fn parse(text: &str) -> Result<Json, String> {
        let mut reader = Reader {
            bytes: text.as_bytes(),
            at: 0,
        };
        let value = reader.value()?;
        reader.space();
        if reader.at != reader.bytes.len() {
            return Err(format!("trailing text at byte {}", reader.at));
        }
        Ok(value)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn space(&mut self) {
        while self
            .bytes
            .get(self.at)
            .is_some_and(|b| b.is_ascii_whitespace())
        {
            self.at += 1;
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, String> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(format!("bad literal at byte {}", self.at))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.space();
        match self.bytes.get(self.at) {
            None => Err("unexpected end of JSON".into()),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'"') => self.string().map(Json::Text),
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                self.space();
                if self.bytes.get(self.at) == Some(&b']') {
                    self.at += 1;
                    return Ok(Json::List(items));
                }
                loop {
                    items.push(self.value()?);
                    self.space();
                    match self.bytes.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b']') => {
                            self.at += 1;
                            return Ok(Json::List(items));
                        }
                        _ => return Err(format!("expected , or ] at byte {}", self.at)),
                    }
                }
            }
            Some(b'{') => {
                self.at += 1;
                let mut members = Vec::new();
                self.space();
                if self.bytes.get(self.at) == Some(&b'}') {
                    self.at += 1;
                    return Ok(Json::Object(members));
                }
                loop {
                    self.space();
                    let key = self.string()?;
                    self.space();
                    if self.bytes.get(self.at) != Some(&b':') {
                        return Err(format!("expected : at byte {}", self.at));
                    }
                    self.at += 1;
                    members.push((key, self.value()?));
                    self.space();
                    match self.bytes.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b'}') => {
                            self.at += 1;
                            return Ok(Json::Object(members));
                        }
                        _ => return Err(format!("expected , or }} at byte {}", self.at)),
                    }
                }
            }
            Some(_) => {
                let start = self.at;
                while self
                    .bytes
                    .get(self.at)
                    .is_some_and(|b| b.is_ascii_digit() || b"+-.eE".contains(b))
                {
                    self.at += 1;
                }
                std::str::from_utf8(&self.bytes[start..self.at])
                    .ok()
                    .and_then(|t| t.parse::<f64>().ok())
                    .map(Json::Number)
                    .ok_or_else(|| format!("bad value at byte {start}"))
            }
        }
    }

    fn string(&mut self) -> Result<String, String> {
        if self.bytes.get(self.at) != Some(&b'"') {
            return Err(format!("expected a string at byte {}", self.at));
        }
        self.at += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(&b) = self.bytes.get(self.at) else {
                return Err("unterminated string".into());
            };
            self.at += 1;
            match b {
                b'"' => {
                    return String::from_utf8(out).map_err(|_| "string is not UTF-8".to_string());
                }
                b'\\' => {
                    let Some(&e) = self.bytes.get(self.at) else {
                        return Err("unterminated escape".into());
                    };
                    self.at += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'u' => {
                            let hex = self
                                .bytes
                                .get(self.at..self.at + 4)
                                .and_then(|h| std::str::from_utf8(h).ok())
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .ok_or("bad \\u escape")?;
                            self.at += 4;
                            let c = char::from_u32(hex).unwrap_or('\u{fffd}');
                            let mut buffer = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
                        }
                        other => out.push(other),
                    }
                }
                other => out.push(other),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inject::faults;
    use crate::inject::trial::{Knobs, Mode};

    fn record() -> TrialRecord {
        TrialRecord {
            spec: TrialSpec {
                extension: "crashtest".into(),
                mode: Mode::Isolated,
                fault: faults::find("pointer").unwrap(),
                seed: 77,
                count: 2,
                knobs: Knobs::default(),
            },
            build: "0123456789abcdef".into(),
            outcome: Outcome::Recovered,
            detail: "1 fault(s) detected; recovered \"fine\"\nsecond line".into(),
            cause: None,
            faults: vec![
                FaultRecord {
                    fault_type: "pointer".into(),
                    site: Some("crashtest::checksum+0x1b".into()),
                    address: Some("0xffffc00000004067".into()),
                    old_bytes: Some("488b07".into()),
                    new_bytes: Some("488b47".into()),
                    before: Some("mov rax, [rdi]".into()),
                    after: Some("mov rax, [rdi+0x0]".into()),
                },
                FaultRecord::at_site("panic", "ext crash"),
            ],
            activated: Some(true),
            recovery_ms: Some(2.68),
            detected: vec!["page-fault".into()],
            reused_boot: true,
            duration_s: 0.5,
            started: "2025-01-01T00:00:00Z".into(),
            reproduce:
                "cargo xtask inject --reproduce crashtest:isolated:pointer:77:2 --out /tmp/c".into(),
            log: None,
        }
    }

    #[test]
    fn a_record_is_one_line_with_the_agreed_keys_and_reads_back() {
        let line = record().to_json_line();
        assert!(!line.contains('\n'));
        for key in [
            "\"id\":\"crashtest:isolated:pointer:77:2\"",
            "\"extension\":\"crashtest\"",
            "\"mode\":\"isolated\"",
            "\"seed\":77",
            "\"outcome\":\"recovered\"",
            "\"activated\":true",
            "\"recovery_ms\":2.680",
            "\"reused_boot\":true",
            "\"site\":\"crashtest::checksum+0x1b\"",
            "\"old_bytes\":\"488b07\"",
            "\"log\":null",
            "\"reproduce\":\"cargo xtask inject --reproduce",
        ] {
            assert!(line.contains(key), "{key} missing in {line}");
        }
        let back = TrialRecord::from_json(&line).unwrap();
        assert_eq!(back, record());
    }

    #[test]
    fn the_reader_rejects_broken_json() {
        for bad in [
            "",
            "{",
            "{\"a\":}",
            "[1,]",
            "{\"a\":1} x",
            "\"open",
            "{\"a\" 1}",
        ] {
            assert!(Json::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Json::parse(" {\"a\": [1, -2.5e1, null, \"\\u0041\\n\"]} ").unwrap(),
            Json::Object(vec![(
                "a".into(),
                Json::List(vec![
                    Json::Number(1.0),
                    Json::Number(-25.0),
                    Json::Null,
                    Json::Text("A\n".into())
                ])
            )])
        );
        assert!(TrialRecord::from_json("{\"id\":\"x\"}").is_err());
    }
}
