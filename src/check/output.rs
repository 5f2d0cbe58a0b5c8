//! Output of `wsinspect check`: the results of a run as data
//! ([`CaptureResult`]), the exit code, and one writer per format: text for
//! people, JSON, JUnit XML, and GitHub Actions workflow commands.
//!
//! The writers are pure functions of the results (and of a run timestamp
//! passed in for JUnit), so they are tested without running the binary.

use super::baseline::{DiffKind, DiffLine};
use super::{Finding, Rule};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use std::io::{self, Write};

/// Exit status: every rule held and every baseline matched.
pub const EXIT_OK: u8 = 0;
/// Exit status: a rule failed or a baseline differs.
pub const EXIT_FAIL: u8 = 1;
/// Exit status: bad usage, or an input (capture or baseline) could not be read.
pub const EXIT_ERROR: u8 = 2;

/// Differences shown per capture in the text output and annotations.
pub const TEXT_DIFF_LINES: usize = 40;
/// Differences kept per capture in the JSON and JUnit documents.
pub const DOC_DIFF_LINES: usize = 500;

/// A connection, as the per-connection JUnit test cases name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnInfo {
    /// 1-based id.
    pub id: u32,
    /// `client → server (protocol)`, plus the request target when known.
    pub label: String,
}

/// What happened to the baseline of one capture.
#[derive(Debug, Clone, PartialEq)]
pub enum BaselineOutcome {
    /// No `--baseline` given.
    NotChecked,
    /// Compared; no difference.
    Matches {
        /// The baseline file.
        file: String,
    },
    /// Compared; differences found.
    Differs {
        /// The baseline file.
        file: String,
        /// Every difference.
        lines: Vec<DiffLine>,
    },
    /// `--update` wrote the file.
    Written {
        /// The baseline file.
        file: String,
        /// There was no file before.
        created: bool,
        /// Differences from the previous file (empty when unchanged or new).
        changes: usize,
    },
    /// The baseline could not be read or written.
    Error {
        /// The baseline file.
        file: String,
        /// Why.
        message: String,
    },
}

/// The result of checking one capture.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureResult {
    /// The path as given on the command line (annotations point at it).
    pub path: String,
    /// The capture's file name.
    pub name: String,
    /// Set when the capture could not be analysed at all.
    pub error: Option<String>,
    /// Connections, for per-connection test cases.
    pub connections: Vec<ConnInfo>,
    /// Failed rules.
    pub findings: Vec<Finding>,
    /// The baseline comparison.
    pub baseline: BaselineOutcome,
    /// Seconds spent on the capture (JUnit `time`).
    pub seconds: f64,
}

impl CaptureResult {
    /// The capture or its baseline could not be read.
    pub fn errored(&self) -> bool {
        self.error.is_some() || matches!(self.baseline, BaselineOutcome::Error { .. })
    }

    /// A rule failed or the baseline differs.
    pub fn failed(&self) -> bool {
        !self.findings.is_empty() || matches!(self.baseline, BaselineOutcome::Differs { .. })
    }

    fn status(&self) -> Status {
        if self.errored() {
            Status::Error
        } else if self.failed() {
            Status::Fail
        } else {
            Status::Pass
        }
    }
}

/// 2 when any input was unreadable, else 1 when anything failed, else 0.
pub fn exit_code(results: &[CaptureResult]) -> u8 {
    if results.iter().any(CaptureResult::errored) {
        EXIT_ERROR
    } else if results.iter().any(CaptureResult::failed) {
        EXIT_FAIL
    } else {
        EXIT_OK
    }
}

fn conn_label(r: &CaptureResult, id: Option<u32>) -> String {
    match id {
        None => "capture".into(),
        Some(id) => r
            .connections
            .iter()
            .find(|c| c.id == id)
            .map(|c| format!("connection {}: {}", c.id, c.label))
            .unwrap_or_else(|| format!("connection {id}")),
    }
}

fn finding_line(r: &CaptureResult, f: &Finding) -> String {
    let at = f
        .packet
        .map(|p| format!(" packet #{p}"))
        .unwrap_or_default();
    match f.connection {
        Some(id) => format!("connection {id}{at}: {}", f.detail),
        None => format!("{}{at}: {}", conn_label(r, None), f.detail),
    }
}

// ------------------------------------------------------------------ text

/// The text summary: per capture, each rule with its result, then the
/// baseline, then one closing line with the counts.
pub fn write_text(
    results: &[CaptureResult],
    rules: &[Rule],
    out: &mut impl Write,
) -> io::Result<()> {
    write_text_styled(results, rules, false, out)
}

/// [`write_text`], with `ok`/`pass` in green and `FAIL`/`ERROR` in red
/// (ANSI SGR) when `color`.
pub fn write_text_styled(
    results: &[CaptureResult],
    rules: &[Rule],
    color: bool,
    out: &mut impl Write,
) -> io::Result<()> {
    let paint = |word: &'static str| -> std::borrow::Cow<'static, str> {
        let sgr = match word.trim() {
            "ok" | "pass" => "32",
            "FAIL" | "ERROR" => "1;31",
            _ => return word.into(),
        };
        if color {
            format!("\x1b[{sgr}m{word}\x1b[0m").into()
        } else {
            word.into()
        }
    };
    for r in results {
        let head = paint(match r.status() {
            Status::Pass => "ok",
            Status::Fail => "FAIL",
            Status::Error => "ERROR",
        });
        writeln!(
            out,
            "{}: {head} ({})",
            r.path,
            crate::report::count(r.connections.len() as u64, "connection")
        )?;
        if let Some(e) = &r.error {
            writeln!(out, "  error: {e}")?;
            continue;
        }
        for rule in rules {
            let hits: Vec<&Finding> = r.findings.iter().filter(|f| &f.rule == rule).collect();
            if hits.is_empty() {
                writeln!(out, "  {}  {rule}", paint("pass"))?;
            } else {
                writeln!(
                    out,
                    "  {}  {rule}: {}",
                    paint("FAIL"),
                    crate::report::count(hits.len() as u64, "finding")
                )?;
                for f in hits {
                    writeln!(out, "          {}", finding_line(r, f))?;
                }
            }
        }
        match &r.baseline {
            BaselineOutcome::NotChecked => {}
            BaselineOutcome::Matches { file } => {
                writeln!(out, "  {}  baseline {file}", paint("pass"))?
            }
            BaselineOutcome::Differs { file, lines } => {
                writeln!(
                    out,
                    "  {}  baseline {file}: {}",
                    paint("FAIL"),
                    crate::report::count(lines.len() as u64, "difference")
                )?;
                for l in lines.iter().take(TEXT_DIFF_LINES) {
                    writeln!(out, "          {l}")?;
                }
                if lines.len() > TEXT_DIFF_LINES {
                    writeln!(
                        out,
                        "          … and {} more",
                        lines.len() - TEXT_DIFF_LINES
                    )?;
                }
            }
            BaselineOutcome::Written {
                file,
                created,
                changes,
            } => {
                let what = if *created {
                    "created".to_string()
                } else if *changes == 0 {
                    "unchanged".to_string()
                } else {
                    format!(
                        "updated, {} from the previous one",
                        crate::report::count(*changes as u64, "difference")
                    )
                };
                writeln!(out, "  wrote baseline {file} ({what})")?;
            }
            BaselineOutcome::Error { file, message } => {
                writeln!(out, "  {} baseline {file}: {message}", paint("ERROR"))?
            }
        }
    }
    let with = |s: Status| results.iter().filter(|r| r.status() == s).count();
    writeln!(
        out,
        "check: {}, {} passed, {} failed, {}",
        crate::report::count(results.len() as u64, "capture"),
        with(Status::Pass),
        with(Status::Fail),
        crate::report::count(with(Status::Error) as u64, "error")
    )
}

// ------------------------------------------------------------------ JSON

/// One difference from the baseline, as data.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum DiffJson {
    /// Present on both sides with different values.
    Changed {
        /// Where (the same readable path as the text output).
        path: String,
        /// The baseline's value.
        expected: Value,
        /// The capture's value.
        actual: Value,
        /// The difference as one line for people.
        text: String,
    },
    /// In the baseline, not in the capture.
    Missing {
        /// Where.
        path: String,
        /// The baseline's value.
        expected: Value,
        /// The difference as one line for people.
        text: String,
    },
    /// In the capture, not in the baseline.
    Unexpected {
        /// Where.
        path: String,
        /// The capture's value.
        actual: Value,
        /// The difference as one line for people.
        text: String,
    },
}

impl DiffJson {
    fn new(l: &DiffLine) -> Self {
        let (path, text) = (l.path.clone(), l.to_string());
        match &l.kind {
            DiffKind::Changed { expected, actual } => DiffJson::Changed {
                path,
                expected: expected.clone(),
                actual: actual.clone(),
                text,
            },
            DiffKind::Missing(v) => DiffJson::Missing {
                path,
                expected: v.clone(),
                text,
            },
            DiffKind::Unexpected(v) => DiffJson::Unexpected {
                path,
                actual: v.clone(),
                text,
            },
        }
    }
}

/// What happened to one capture's baseline, as data.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum BaselineJson {
    /// No `--baseline` given.
    NotChecked,
    /// Compared; no difference.
    Matches {
        /// The baseline file.
        file: String,
    },
    /// Compared; differences found.
    Differs {
        /// The baseline file.
        file: String,
        /// How many differences there are.
        differences: usize,
        /// The first differences (at most 500).
        diff: Vec<DiffJson>,
    },
    /// `--update` wrote the file.
    Written {
        /// The baseline file.
        file: String,
        /// There was no file before.
        created: bool,
        /// Differences from the previous file (0 when unchanged or new).
        changes: usize,
    },
    /// The baseline could not be read or written.
    Error {
        /// The baseline file.
        file: String,
        /// Why.
        error: String,
    },
}

impl BaselineJson {
    fn new(b: &BaselineOutcome) -> Self {
        match b {
            BaselineOutcome::NotChecked => BaselineJson::NotChecked,
            BaselineOutcome::Matches { file } => BaselineJson::Matches { file: file.clone() },
            BaselineOutcome::Differs { file, lines } => BaselineJson::Differs {
                file: file.clone(),
                differences: lines.len(),
                diff: lines
                    .iter()
                    .take(DOC_DIFF_LINES)
                    .map(DiffJson::new)
                    .collect(),
            },
            BaselineOutcome::Written {
                file,
                created,
                changes,
            } => BaselineJson::Written {
                file: file.clone(),
                created: *created,
                changes: *changes,
            },
            BaselineOutcome::Error { file, message } => BaselineJson::Error {
                file: file.clone(),
                error: message.clone(),
            },
        }
    }
}

/// How one capture fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every rule held and the baseline (if any) matched.
    Pass,
    /// A rule failed or the baseline differs.
    Fail,
    /// The capture or its baseline could not be read.
    Error,
}

/// Counts of captures by status.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CheckSummary {
    /// Captures checked.
    pub captures: usize,
    /// Captures that passed.
    pub passed: usize,
    /// Captures that failed.
    pub failed: usize,
    /// Captures that could not be read.
    pub errors: usize,
}

/// The result of one capture.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CaptureJson {
    /// The path as given on the command line.
    pub capture: String,
    /// The capture's file name.
    pub name: String,
    /// How it fared.
    pub status: Status,
    /// Why the capture could not be analysed (null when it was).
    pub error: Option<String>,
    /// Connections in the capture.
    pub connections: usize,
    /// The rules that failed, with where.
    pub findings: Vec<Finding>,
    /// The baseline comparison.
    pub baseline: BaselineJson,
}

/// The whole run of `check -T json` (without its version stamp, see
/// [`write_json`]).
#[derive(Debug, Serialize, JsonSchema)]
pub struct CheckDocument {
    /// The exit status of the run (0 pass, 1 fail, 2 error).
    pub exit_code: u8,
    /// The rules checked, in their canonical spelling.
    pub rules: Vec<Rule>,
    /// Counts by status.
    pub summary: CheckSummary,
    /// One entry per capture, in command-line order.
    pub captures: Vec<CaptureJson>,
}

/// The whole run as one JSON document.
pub fn to_json(results: &[CaptureResult], rules: &[Rule]) -> CheckDocument {
    let count = |s: Status| results.iter().filter(|r| r.status() == s).count();
    CheckDocument {
        exit_code: exit_code(results),
        rules: rules.to_vec(),
        summary: CheckSummary {
            captures: results.len(),
            passed: count(Status::Pass),
            failed: count(Status::Fail),
            errors: count(Status::Error),
        },
        captures: results
            .iter()
            .map(|r| CaptureJson {
                capture: r.path.clone(),
                name: r.name.clone(),
                status: r.status(),
                error: r.error.clone(),
                connections: r.connections.len(),
                findings: r.findings.clone(),
                baseline: BaselineJson::new(&r.baseline),
            })
            .collect(),
    }
}

/// Writes [`to_json`], stamped with its contract's version
/// (`docs/schema/check.schema.json`), pretty-printed.
pub fn write_json(
    results: &[CaptureResult],
    rules: &[Rule],
    out: &mut impl Write,
) -> io::Result<()> {
    use crate::report::contract::{CHECK_SCHEMA_VERSION, Stamped};
    let doc = Stamped::new(CHECK_SCHEMA_VERSION, to_json(results, rules));
    serde_json::to_writer_pretty(&mut *out, &doc).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

// ----------------------------------------------------------------- JUnit

/// Escapes text for XML content and attribute values. Characters that XML
/// 1.0 does not allow at all (most C0 controls, U+FFFE/U+FFFF) become
/// U+FFFD, since a capture's strings can hold anything.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Kept exactly inside attributes too.
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// One JUnit test case: a failure message per failed item.
struct Case {
    name: String,
    failures: Vec<(String, String, String)>,
    error: Option<(String, String)>,
}

fn cases(r: &CaptureResult) -> Vec<Case> {
    let mut out = Vec::new();
    if let Some(e) = &r.error {
        out.push(Case {
            name: "analysis".into(),
            failures: vec![],
            error: Some(("unreadable capture".into(), e.clone())),
        });
        return out;
    }
    // Capture-level rules (no connection).
    let capture_level: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| f.connection.is_none())
        .collect();
    out.push(Case {
        name: "capture".into(),
        failures: capture_level
            .iter()
            .map(|f| (f.rule.to_string(), f.detail.clone(), finding_line(r, f)))
            .collect(),
        error: None,
    });
    for c in &r.connections {
        out.push(Case {
            name: format!("connection {}: {}", c.id, c.label),
            failures: r
                .findings
                .iter()
                .filter(|f| f.connection == Some(c.id))
                .map(|f| (f.rule.to_string(), f.detail.clone(), finding_line(r, f)))
                .collect(),
            error: None,
        });
    }
    match &r.baseline {
        BaselineOutcome::NotChecked => {}
        BaselineOutcome::Matches { .. } | BaselineOutcome::Written { .. } => out.push(Case {
            name: "baseline".into(),
            failures: vec![],
            error: None,
        }),
        BaselineOutcome::Differs { file, lines } => {
            let mut body: Vec<String> = lines
                .iter()
                .take(DOC_DIFF_LINES)
                .map(|l| l.to_string())
                .collect();
            if lines.len() > DOC_DIFF_LINES {
                body.push(format!("… and {} more", lines.len() - DOC_DIFF_LINES));
            }
            out.push(Case {
                name: "baseline".into(),
                failures: vec![(
                    "baseline".into(),
                    format!(
                        "{} from {file}",
                        crate::report::count(lines.len() as u64, "difference")
                    ),
                    body.join("\n"),
                )],
                error: None,
            });
        }
        BaselineOutcome::Error { file, message } => out.push(Case {
            name: "baseline".into(),
            failures: vec![],
            error: Some((format!("baseline {file} unusable"), message.clone())),
        }),
    }
    out
}

/// Writes JUnit XML: `testsuites` › one `testsuite` per capture › one
/// `testcase` per connection (plus `capture` and `baseline` cases) ›
/// `failure` per failed rule or baseline. It carries every attribute and
/// element the common JUnit schemas require (Ant's `JUnit.xsd`: suite
/// `name`, `timestamp`, `hostname`, `tests`, `failures`, `errors`, `time`,
/// `id`, `package`, `properties`, `system-out`, `system-err`; case `name`,
/// `classname`, `time`; failure `type`). `timestamp` is the run's start,
/// ISO 8601 without a zone, as the schema wants.
pub fn write_junit(
    results: &[CaptureResult],
    timestamp: &str,
    out: &mut impl Write,
) -> io::Result<()> {
    let all: Vec<(&CaptureResult, Vec<Case>)> = results.iter().map(|r| (r, cases(r))).collect();
    let tests: usize = all.iter().map(|(_, c)| c.len()).sum();
    let failures: usize = all
        .iter()
        .flat_map(|(_, c)| c)
        .filter(|c| !c.failures.is_empty() && c.error.is_none())
        .count();
    let errors: usize = all
        .iter()
        .flat_map(|(_, c)| c)
        .filter(|c| c.error.is_some())
        .count();
    let total_time: f64 = results.iter().map(|r| r.seconds).sum();
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="wsinspect check" tests="{tests}" failures="{failures}" errors="{errors}" time="{total_time:.3}">"#
    )?;
    for (id, (r, cs)) in all.iter().enumerate() {
        let f = cs
            .iter()
            .filter(|c| !c.failures.is_empty() && c.error.is_none())
            .count();
        let e = cs.iter().filter(|c| c.error.is_some()).count();
        let name = xml_escape(&r.name);
        writeln!(
            out,
            r#"  <testsuite name="{name}" package="wsinspect.check" id="{id}" timestamp="{}" hostname="localhost" tests="{}" failures="{f}" errors="{e}" skipped="0" time="{:.3}">"#,
            xml_escape(timestamp),
            cs.len(),
            r.seconds
        )?;
        writeln!(out, "    <properties>")?;
        writeln!(
            out,
            r#"      <property name="capture" value="{}"/>"#,
            xml_escape(&r.path)
        )?;
        writeln!(out, "    </properties>")?;
        for c in cs {
            let open = format!(
                r#"    <testcase name="{}" classname="{name}" time="0.000""#,
                xml_escape(&c.name)
            );
            if c.failures.is_empty() && c.error.is_none() {
                writeln!(out, "{open}/>")?;
                continue;
            }
            writeln!(out, "{open}>")?;
            if let Some((msg, body)) = &c.error {
                writeln!(
                    out,
                    r#"      <error message="{}" type="error">{}</error>"#,
                    xml_escape(msg),
                    xml_escape(body)
                )?;
            } else {
                // JUnit allows one failure element per case: join the rules.
                let types: Vec<&str> = c.failures.iter().map(|f| f.0.as_str()).collect();
                let mut types_dedup = types.clone();
                types_dedup.dedup();
                let message = if let [only] = c.failures.as_slice() {
                    only.1.clone()
                } else {
                    format!(
                        "{}: {}",
                        crate::report::count(c.failures.len() as u64, "rule failure"),
                        types_dedup.join(", ")
                    )
                };
                let body: Vec<String> = c
                    .failures
                    .iter()
                    .map(|(rule, _, line)| format!("[{rule}] {line}"))
                    .collect();
                writeln!(
                    out,
                    r#"      <failure message="{}" type="{}">{}</failure>"#,
                    xml_escape(&message),
                    xml_escape(&types_dedup.join(",")),
                    xml_escape(&body.join("\n"))
                )?;
            }
            writeln!(out, "    </testcase>")?;
        }
        writeln!(out, "    <system-out></system-out>")?;
        writeln!(out, "    <system-err></system-err>")?;
        writeln!(out, "  </testsuite>")?;
    }
    writeln!(out, "</testsuites>")
}

// -------------------------------------------------------- GitHub Actions

/// Escapes a workflow command's message (`%`, CR, LF), as the Actions
/// toolkit does.
fn gh_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value (also `:` and `,`).
fn gh_prop(s: &str) -> String {
    gh_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// One `::error file=…,title=…::message` line per finding, baseline
/// difference block or unreadable input.
pub fn write_github(results: &[CaptureResult], out: &mut impl Write) -> io::Result<()> {
    for r in results {
        let file = gh_prop(&r.path);
        if let Some(e) = &r.error {
            writeln!(
                out,
                "::error file={file},title={}::{}",
                gh_prop("wsinspect check: unreadable capture"),
                gh_data(e)
            )?;
        }
        for f in &r.findings {
            writeln!(
                out,
                "::error file={file},title={}::{}",
                gh_prop(&format!("wsinspect check: {}", f.rule)),
                gh_data(&format!("{}: {}", r.name, finding_line(r, f)))
            )?;
        }
        match &r.baseline {
            BaselineOutcome::Differs { file: bfile, lines } => {
                let mut msg: Vec<String> = lines
                    .iter()
                    .take(TEXT_DIFF_LINES)
                    .map(|l| l.to_string())
                    .collect();
                if lines.len() > TEXT_DIFF_LINES {
                    msg.push(format!("… and {} more", lines.len() - TEXT_DIFF_LINES));
                }
                writeln!(
                    out,
                    "::error file={},title={}::{}",
                    gh_prop(bfile),
                    gh_prop(&format!(
                        "wsinspect check: {} differs from its baseline ({})",
                        r.name,
                        crate::report::count(lines.len() as u64, "difference")
                    )),
                    gh_data(&msg.join("\n"))
                )?;
            }
            BaselineOutcome::Error {
                file: bfile,
                message,
            } => writeln!(
                out,
                "::error file={},title={}::{}",
                gh_prop(bfile),
                gh_prop("wsinspect check: baseline unusable"),
                gh_data(message)
            )?,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::PacketNo;

    fn result(findings: Vec<Finding>, baseline: BaselineOutcome) -> CaptureResult {
        CaptureResult {
            path: "dir/a,b:c.pcap".into(),
            name: "a,b:c.pcap".into(),
            error: None,
            connections: vec![ConnInfo {
                id: 1,
                label: "10.0.0.1:1 → 10.0.0.2:80 (websocket)".into(),
            }],
            findings,
            baseline,
            seconds: 0.5,
        }
    }

    fn finding(detail: &str) -> Finding {
        Finding {
            rule: Rule::Violations,
            connection: Some(1),
            packet: Some(PacketNo(7)),
            detail: detail.into(),
        }
    }

    #[test]
    fn exit_codes_order_error_over_failure() {
        let ok = result(vec![], BaselineOutcome::NotChecked);
        let fail = result(vec![finding("x")], BaselineOutcome::NotChecked);
        let mut err = ok.clone();
        err.error = Some("cannot open".into());
        let berr = result(
            vec![],
            BaselineOutcome::Error {
                file: "f".into(),
                message: "missing".into(),
            },
        );
        assert_eq!(exit_code(&[]), EXIT_OK);
        assert_eq!(exit_code(std::slice::from_ref(&ok)), EXIT_OK);
        assert_eq!(exit_code(&[ok.clone(), fail.clone()]), EXIT_FAIL);
        assert_eq!(exit_code(&[fail.clone(), err]), EXIT_ERROR);
        assert_eq!(exit_code(&[fail, berr]), EXIT_ERROR);
    }

    #[test]
    fn xml_escape_covers_markup_and_forbidden_characters() {
        assert_eq!(
            xml_escape("<a href=\"x\">&'\u{1}\n"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;\u{fffd}&#10;"
        );
    }

    #[test]
    fn github_commands_escape_properties_and_data() {
        let r = result(vec![finding("100% bad\nnext")], BaselineOutcome::NotChecked);
        let mut out = Vec::new();
        write_github(&[r], &mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert_eq!(
            s,
            "::error file=dir/a%2Cb%3Ac.pcap,title=wsinspect check%3A violations::a,b:c.pcap: connection 1 packet #7: 100%25 bad%0Anext\n"
        );
    }

    #[test]
    fn text_lists_each_rule() {
        let r = result(vec![finding("bad")], BaselineOutcome::NotChecked);
        let mut out = Vec::new();
        write_text(&[r], &[Rule::Violations, Rule::Loss], &mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains("FAIL  violations: 1 finding\n"), "{s}");
        assert!(s.contains("pass  loss"), "{s}");
        assert!(
            s.ends_with("check: 1 capture, 0 passed, 1 failed, 0 errors\n"),
            "{s}"
        );
    }
}
