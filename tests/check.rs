//! CLI tests of `wsinspect check`: each rule where it must pass and where it
//! must fail, exit codes, baselines (the project's own suite, and a diff on
//! a capture with one payload byte changed), JSON, JUnit (checked against
//! the structure the common JUnit schema requires) and GitHub annotations.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_wsinspect");

fn cap(name: &str) -> String {
    format!("{}/captures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn expected_dir() -> String {
    format!("{}/captures/expected", env!("CARGO_MANIFEST_DIR"))
}

fn check(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("check")
        .args(args)
        .env_remove("GITHUB_ACTIONS")
        .output()
        .expect("run wsinspect")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

/// All 19 sample captures; the wss ones decrypt with the key logs of
/// [`keylog_args`].
fn regression_captures() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(cap(""))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
        .map(|n| cap(&n))
        .collect();
    v.sort();
    v
}

fn keylog_args() -> Vec<String> {
    ["wss_tls12.keylog", "wss_tls13.keylog"]
        .iter()
        .flat_map(|k| ["--keylog".to_string(), cap(k)])
        .collect()
}

#[test]
fn undecrypted_fails_only_when_keys_were_given_and_did_not_work() {
    let tls12 = cap("wss_tls12.pcap");
    // No keys at all: nothing to judge.
    assert_eq!(code(&check(&["--deny", "undecrypted", &tls12])), 0);
    // The right keys: decrypted.
    let k = keylog_args();
    assert_eq!(
        code(&check(&["--deny", "undecrypted", &k[0], &k[1], &tls12])),
        0
    );
    // Keys for other connections only: this one is not decrypted.
    let o = check(&["--deny", "undecrypted", &k[2], &k[3], &tls12]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("no key for this client random"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn help_documents_the_exit_codes_and_rules() {
    let o = Command::new(BIN)
        .args(["check", "--help"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0);
    let s = stdout(&o);
    for needle in [
        "Exit status",
        "0  every rule held",
        "1  a rule failed",
        "2  usage error",
        "abnormal-close",
        "close-code=LIST",
        "--baseline",
        "--strict",
        "GITHUB_ACTIONS",
    ] {
        assert!(s.contains(needle), "--help lacks {needle:?}:\n{s}");
    }
}

/// (arguments, capture, exit code, text that must appear in stdout)
const RULE_CASES: &[(&[&str], &str, i32, &str)] = &[
    (
        &["--deny", "violations"],
        "close_codes.pcapng",
        1,
        "connection 9 packet #121",
    ),
    (
        &["--deny", "violations"],
        "seed_echo.pcapng",
        0,
        "pass  violations",
    ),
    (
        &["--deny", "violation=invalid_utf8"],
        "close_codes.pcapng",
        1,
        "FAIL  violation=invalid_utf8",
    ),
    (
        &["--deny", "violation=bad_close_code"],
        "close_codes.pcapng",
        0,
        "pass  violation=bad_close_code",
    ),
    (
        &["--deny", "rejected-upgrade"],
        "upgrade_rejected.pcap",
        1,
        "GET /forbidden answered 403",
    ),
    (
        &["--deny", "rejected-upgrade"],
        "close_codes.pcapng",
        0,
        "pass  rejected-upgrade",
    ),
    (
        &["--deny", "bad-accept"],
        "upgrade_rejected.pcap",
        1,
        "connection 2 packet #16",
    ),
    (
        &["--deny", "bad-accept"],
        "seed_echo.pcapng",
        0,
        "pass  bad-accept",
    ),
    (
        &["--deny", "abnormal-close"],
        "close_codes.pcapng",
        1,
        "connection 8 packet #113: TCP reset by the client",
    ),
    (
        &["--deny", "abnormal-close"],
        "ping_pong.pcap",
        0,
        "pass  abnormal-close",
    ),
    (
        &["--deny", "close-code=1011,4000-4999"],
        "close_codes.pcapng",
        1,
        "code 4000 (private use)",
    ),
    (
        &["--deny", "close-code=1011,4000-4999"],
        "seed_echo.pcapng",
        0,
        "pass  close-code=1011,4000-4999",
    ),
    (
        &["--deny", "loss"],
        "truncated_snaplen.pcap",
        1,
        "never captured",
    ),
    (&["--deny", "loss"], "lossy_netns.pcap", 0, "pass  loss"),
    (
        &["--deny", "no-websocket"],
        "seed_echo.pcapng",
        0,
        "pass  no-websocket",
    ),
    (
        &["--max-message-size", "100000"],
        "sizes_py.pcap",
        1,
        "is 200000 bytes, over the limit of 100000",
    ),
    (
        &["--max-message-size", "200000"],
        "sizes_py.pcap",
        0,
        "pass  max-message-size=200000",
    ),
    (
        &["--require-subprotocol", "chat"],
        "subprotocol.pcapng",
        0,
        "pass  require-subprotocol=chat",
    ),
    (
        &["--require-subprotocol", "chat"],
        "seed_echo.pcapng",
        1,
        "no subprotocol negotiated",
    ),
    (
        &["--require-extension", "permessage-deflate"],
        "deflate_no_takeover.pcap",
        0,
        "pass  require-extension",
    ),
    (
        &["--require-extension", "permessage-deflate"],
        "fragmented_node.pcapng",
        1,
        "not negotiated",
    ),
    // No rule at all: violations is implied.
    (&[], "close_codes.pcapng", 1, "FAIL  violations"),
];

#[test]
fn each_rule_passes_and_fails_where_it_must() {
    for (args, capture, want, needle) in RULE_CASES {
        let c = cap(capture);
        let mut all: Vec<&str> = args.to_vec();
        all.push(&c);
        let o = check(&all);
        let s = stdout(&o);
        assert_eq!(code(&o), *want, "{args:?} {capture}:\n{s}");
        assert!(
            s.contains(needle),
            "{args:?} {capture}: no {needle:?} in\n{s}"
        );
    }
}

#[test]
fn rules_combine_and_any_failure_fails_the_run() {
    let o = check(&[
        "--deny",
        "bad-accept",
        "--deny",
        "rejected-upgrade",
        "--deny",
        "abnormal-close",
        &cap("upgrade_rejected.pcap"),
        &cap("seed_echo.pcapng"),
    ]);
    let s = stdout(&o);
    assert_eq!(code(&o), 1, "{s}");
    assert!(s.contains("upgrade_rejected.pcap: FAIL"), "{s}");
    assert!(s.contains("seed_echo.pcapng: ok"), "{s}");
    assert!(
        s.contains("check: 2 captures, 1 passed, 1 failed, 0 errors"),
        "{s}"
    );
}

#[test]
fn a_capture_with_no_websocket_fails_no_websocket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.pcap");
    let f = std::fs::File::create(&path).unwrap();
    let w = wsinspect::capture::writer::PcapWriter::new(
        f,
        wsinspect::capture::LinkType::from(1u32),
        65535,
        wsinspect::capture::writer::Endian::Little,
        false,
    )
    .unwrap();
    w.finish().unwrap();
    let o = check(&["--deny", "no-websocket", path.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(stdout(&o).contains("no WebSocket connection in empty.pcap"));
}

#[test]
fn exit_code_2_on_usage_and_unreadable_input() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.pcap");
    std::fs::write(&text, "this is not a capture\n").unwrap();
    let missing = dir.path().join("missing.pcap");
    let cases: Vec<Vec<String>> = vec![
        vec!["--deny".into(), "nonsense".into(), cap("seed_echo.pcapng")],
        vec![
            "--deny".into(),
            "close-code=99999".into(),
            cap("seed_echo.pcapng"),
        ],
        vec!["--update".into(), cap("seed_echo.pcapng")],
        vec![
            "--baseline".into(),
            expected_dir(),
            "--ignore".into(),
            "sha265".into(),
            cap("seed_echo.pcapng"),
        ],
        vec![],
        vec![missing.display().to_string()],
        vec![text.display().to_string()],
        // Unreadable input wins over a failing rule.
        vec![cap("close_codes.pcapng"), missing.display().to_string()],
    ];
    for args in cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = check(&a);
        assert_eq!(
            code(&o),
            2,
            "{args:?}: {}{}",
            stdout(&o),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn missing_or_bad_baselines_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let o = check(&["--baseline", d, &cap("seed_echo.pcapng")]);
    assert_eq!(code(&o), 2);
    assert!(
        stdout(&o).contains("no baseline; create it with --update"),
        "{}",
        stdout(&o)
    );
    std::fs::write(
        dir.path().join("seed_echo.pcapng.json"),
        "{\"baseline_version\": 7}",
    )
    .unwrap();
    let o = check(&["--baseline", d, &cap("seed_echo.pcapng")]);
    assert_eq!(code(&o), 2);
    assert!(
        stdout(&o).contains("unsupported baseline_version 7"),
        "{}",
        stdout(&o)
    );
    // Two captures with one file name would share a baseline.
    let other = dir.path().join("seed_echo.pcapng");
    std::fs::copy(cap("seed_echo.pcapng"), &other).unwrap();
    let o = check(&[
        "--baseline",
        d,
        &cap("seed_echo.pcapng"),
        other.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 2);
}

#[test]
fn the_projects_own_captures_match_their_baselines() {
    let caps = regression_captures();
    assert_eq!(caps.len(), 19);
    let mut args = vec!["--baseline".to_string(), expected_dir()];
    args.extend(keylog_args());
    args.extend(caps);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = check(&a);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(stdout(&o).contains("check: 19 captures, 19 passed, 0 failed, 0 errors"));
    // Volatile fields are stored too: the same captures match with --strict.
    let mut strict = a.clone();
    strict.insert(0, "--strict");
    assert_eq!(code(&check(&strict)), 0);
}

/// Copies seed_echo.pcapng into `dir` with one byte of the server's reply
/// (an unmasked text frame, so its bytes appear as is) changed.
fn modified_seed_echo(dir: &Path) -> PathBuf {
    let mut bytes = std::fs::read(cap("seed_echo.pcapng")).unwrap();
    let needle = b"fu wu qi de xin xi!";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("reply payload in the capture");
    bytes[at] = b'F';
    let path = dir.join("seed_echo.pcapng");
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn baseline_diff_names_the_changed_message() {
    let dir = tempfile::tempdir().unwrap();
    let modified = modified_seed_echo(dir.path());
    let o = check(&["--baseline", &expected_dir(), modified.to_str().unwrap()]);
    let s = stdout(&o);
    assert_eq!(code(&o), 1, "{s}");
    assert!(s.contains("FAIL  baseline"), "{s}");
    // The reply is the second message; its hash and preview changed, nothing else.
    assert!(s.contains("2 differences"), "{s}");
    assert!(
        s.contains(
            "connection 1 (/) › message 2 (s2c text, packet 9) › sha256: expected \"5972d663"
        ),
        "{s}"
    );
    assert!(
        s.contains("message 2 (s2c text, packet 9) › preview: expected \"fu wu qi de xin xi! \\\" \", got \"Fu wu qi de xin xi! \\\" \""),
        "{s}"
    );
    assert!(!s.contains("message 1 ("), "{s}");
}

#[test]
fn update_writes_then_check_passes_and_reports_changes() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("expected");
    let b = base.to_str().unwrap();
    let seed = cap("seed_echo.pcapng");
    let o = check(&["--baseline", b, "--update", &seed]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(stdout(&o).contains("(created)"));
    let written = std::fs::read_to_string(base.join("seed_echo.pcapng.json")).unwrap();
    assert!(written.starts_with("{\n  \"baseline_version\": 1,\n"));
    // The same bytes as the committed baseline: the file is stable.
    assert_eq!(
        written,
        std::fs::read_to_string(Path::new(&expected_dir()).join("seed_echo.pcapng.json")).unwrap()
    );
    assert_eq!(code(&check(&["--baseline", b, &seed])), 0);
    // Refresh from a changed capture: the update says how much changed,
    // and afterwards the changed capture matches.
    let modified = modified_seed_echo(dir.path());
    let m = modified.to_str().unwrap();
    let o = check(&["--baseline", b, "--update", m]);
    assert_eq!(code(&o), 0);
    assert!(
        stdout(&o).contains("updated, 2 differences"),
        "{}",
        stdout(&o)
    );
    assert_eq!(code(&check(&["--baseline", b, m])), 0);
    assert_eq!(code(&check(&["--baseline", b, &seed])), 1);
}

#[test]
fn volatile_fields_need_strict_and_packets_can_be_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        std::fs::read_to_string(Path::new(&expected_dir()).join("seed_echo.pcapng.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["connections"][0]["client_port"] = 1.into();
    v["connections"][0]["handshake"]["sec_websocket_accept"] = "x".into();
    std::fs::write(dir.path().join("seed_echo.pcapng.json"), v.to_string()).unwrap();
    let d = dir.path().to_str().unwrap();
    let seed = cap("seed_echo.pcapng");
    assert_eq!(code(&check(&["--baseline", d, &seed])), 0);
    let o = check(&["--baseline", d, "--strict", &seed]);
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).contains("connection 1 (/) › client_port: expected 1, got "),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("handshake › sec_websocket_accept"),
        "{}",
        stdout(&o)
    );

    v["connections"][0]["messages"][0]["first_packet"] = 100.into();
    std::fs::write(dir.path().join("seed_echo.pcapng.json"), v.to_string()).unwrap();
    assert_eq!(code(&check(&["--baseline", d, &seed])), 1);
    assert_eq!(
        code(&check(&["--baseline", d, "--ignore", "packets", &seed])),
        0
    );
}

#[test]
fn json_output_is_one_document_with_the_findings() {
    let o = check(&[
        "--format",
        "json",
        "--deny",
        "abnormal-close",
        &cap("close_codes.pcapng"),
        &cap("seed_echo.pcapng"),
    ]);
    assert_eq!(code(&o), 1);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    assert_eq!(v["exit_code"], 1);
    assert_eq!(v["rules"], serde_json::json!(["abnormal-close"]));
    assert_eq!(v["summary"]["failed"], 1);
    let caps = v["captures"].as_array().unwrap();
    assert_eq!(caps[0]["status"], "fail");
    assert_eq!(caps[0]["findings"][0]["rule"], "abnormal-close");
    assert_eq!(caps[0]["findings"][0]["connection"], 8);
    assert_eq!(caps[0]["findings"][0]["packet"], 113);
    assert_eq!(caps[1]["status"], "pass");
}

#[test]
fn github_annotations_when_running_in_actions() {
    let run = |format: &str| {
        Command::new(BIN)
            .args(["check", "--format", format, "--deny", "bad-accept"])
            .arg(cap("upgrade_rejected.pcap"))
            .env("GITHUB_ACTIONS", "true")
            .output()
            .unwrap()
    };
    let o = run("text");
    assert_eq!(code(&o), 1);
    let s = stdout(&o);
    let line = s
        .lines()
        .find(|l| l.starts_with("::error "))
        .unwrap_or_else(|| panic!("no annotation in\n{s}"));
    assert!(
        line.starts_with(&format!(
            "::error file={},title=wsinspect check%3A bad-accept::upgrade_rejected.pcap: connection 2 packet #16: ",
            cap("upgrade_rejected.pcap")
        )),
        "{line}"
    );
    // With a JSON document on stdout the annotations go to stderr.
    let o = run("json");
    assert!(serde_json::from_slice::<serde_json::Value>(&o.stdout).is_ok());
    assert!(String::from_utf8_lossy(&o.stderr).contains("::error file="));
    // Not in Actions: no annotations.
    let o = check(&["--deny", "bad-accept", &cap("upgrade_rejected.pcap")]);
    assert!(!stdout(&o).contains("::error"));
}

// ---------------------------------------------------------------- JUnit

#[derive(Debug, Default)]
struct Node {
    name: String,
    attrs: BTreeMap<String, String>,
    children: Vec<Node>,
    text: String,
}

/// A small DOM from quick-xml events; fails on malformed XML.
fn parse_xml(xml: &str) -> Node {
    use quick_xml::events::Event;
    fn element(e: &quick_xml::events::BytesStart<'_>) -> Node {
        let mut n = Node {
            name: e.name().as_ref().to_string(),
            ..Node::default()
        };
        for a in e.attributes() {
            let a = a.expect("well-formed attribute");
            let v = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .expect("attribute value");
            let old = n.attrs.insert(a.key.as_ref().to_string(), v.into_owned());
            assert!(old.is_none(), "duplicate attribute");
        }
        n
    }
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut stack: Vec<Node> = vec![Node::default()];
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => stack.push(element(&e)),
            Event::Empty(e) => {
                let n = element(&e);
                stack.last_mut().unwrap().children.push(n);
            }
            Event::End(e) => {
                let n = stack.pop().unwrap();
                assert_eq!(n.name, e.name().as_ref(), "mismatched end tag");
                stack.last_mut().unwrap().children.push(n);
            }
            Event::Text(t) => stack.last_mut().unwrap().text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                let s = if r.is_char_ref() {
                    r.resolve_char_ref().unwrap().unwrap().to_string()
                } else {
                    match r.xml10_content().as_ref() {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "apos" => "'",
                        other => panic!("undeclared entity &{other};"),
                    }
                    .to_string()
                };
                stack.last_mut().unwrap().text.push_str(&s);
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) => {}
            other => panic!("unexpected XML event {other:?}"),
        }
    }
    assert_eq!(stack.len(), 1, "unclosed elements");
    let mut doc = stack.pop().unwrap();
    assert_eq!(doc.children.len(), 1, "exactly one root element");
    doc.children.pop().unwrap()
}

fn attr<'a>(n: &'a Node, k: &str) -> &'a str {
    n.attrs
        .get(k)
        .unwrap_or_else(|| panic!("<{}> lacks required attribute {k}", n.name))
}

fn int_attr(n: &Node, k: &str) -> u64 {
    attr(n, k)
        .parse()
        .unwrap_or_else(|_| panic!("<{}> {k} is not a non-negative integer", n.name))
}

fn decimal_attr(n: &Node, k: &str) {
    let v = attr(n, k);
    let ok = !v.is_empty()
        && v.chars().filter(|c| *c == '.').count() <= 1
        && v.chars().all(|c| c.is_ascii_digit() || c == '.');
    assert!(ok, "<{}> {k}={v:?} is not a decimal", n.name);
}

/// The structure of Ant's JUnit.xsd (the schema Jenkins, GitLab and the
/// GitHub test reporters accept): testsuites › testsuite (name, timestamp,
/// hostname, tests, failures, errors, time, id, package) with properties,
/// testcase*, system-out, system-err in that order; testcase (name,
/// classname, time) with at most one failure or error, which needs `type`.
/// Counts must agree with the elements.
fn validate_junit(root: &Node) {
    assert_eq!(root.name, "testsuites");
    let (mut tests, mut failures, mut errors) = (0, 0, 0);
    for suite in &root.children {
        assert_eq!(suite.name, "testsuite");
        assert!(!attr(suite, "name").trim().is_empty());
        assert!(!attr(suite, "hostname").is_empty());
        assert!(!attr(suite, "package").is_empty());
        int_attr(suite, "id");
        decimal_attr(suite, "time");
        let ts = attr(suite, "timestamp");
        let shape: String = ts
            .chars()
            .map(|c| if c.is_ascii_digit() { 'd' } else { c })
            .collect();
        assert_eq!(shape, "dddd-dd-ddTdd:dd:dd", "timestamp {ts}");
        let names: Vec<&str> = suite.children.iter().map(|c| c.name.as_str()).collect();
        assert!(names.len() >= 3, "{names:?}");
        assert_eq!(names[0], "properties");
        assert_eq!(&names[names.len() - 2..], ["system-out", "system-err"]);
        for p in &suite.children[0].children {
            assert_eq!(p.name, "property");
            attr(p, "name");
            attr(p, "value");
        }
        let cases = &suite.children[1..suite.children.len() - 2];
        let (mut f, mut e) = (0, 0);
        for case in cases {
            assert_eq!(case.name, "testcase");
            assert!(!attr(case, "name").trim().is_empty());
            assert!(!attr(case, "classname").trim().is_empty());
            decimal_attr(case, "time");
            assert!(
                case.children.len() <= 1,
                "one failure or error per testcase"
            );
            for r in &case.children {
                match r.name.as_str() {
                    "failure" => f += 1,
                    "error" => e += 1,
                    other => panic!("unexpected <{other}> in testcase"),
                }
                attr(r, "type");
                attr(r, "message");
            }
        }
        assert_eq!(int_attr(suite, "tests"), cases.len() as u64);
        assert_eq!(int_attr(suite, "failures"), f);
        assert_eq!(int_attr(suite, "errors"), e);
        tests += cases.len() as u64;
        failures += f;
        errors += e;
    }
    assert_eq!(int_attr(root, "tests"), tests);
    assert_eq!(int_attr(root, "failures"), failures);
    assert_eq!(int_attr(root, "errors"), errors);
}

#[test]
fn junit_output_is_valid_and_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let modified = modified_seed_echo(dir.path());
    let bogus = dir.path().join("bogus.pcap");
    std::fs::write(&bogus, "<not a capture & not xml>").unwrap();
    // A subprotocol name full of markup ends up in failure messages.
    let nasty = "<chat&\"x'>";
    let o = check(&[
        "--format",
        "junit",
        "--deny",
        "violations",
        "--deny",
        "abnormal-close",
        "--require-subprotocol",
        nasty,
        &cap("close_codes.pcapng"),
        &cap("subprotocol.pcapng"),
        bogus.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 2);
    let xml = stdout(&o);
    let root = parse_xml(&xml);
    validate_junit(&root);
    assert_eq!(root.children.len(), 3);
    let close = &root.children[0];
    assert_eq!(attr(close, "name"), "close_codes.pcapng");
    // capture + 9 connections; every connection lacks the subprotocol.
    assert_eq!(int_attr(close, "tests"), 10);
    assert_eq!(int_attr(close, "failures"), 9);
    let c8 = close
        .children
        .iter()
        .find(|c| {
            c.attrs
                .get("name")
                .is_some_and(|n| n.starts_with("connection 8: "))
        })
        .unwrap();
    let failure = &c8.children[0];
    assert_eq!(
        attr(failure, "type"),
        "abnormal-close,require-subprotocol=<chat&\"x'>"
    );
    assert!(
        failure
            .text
            .contains("[abnormal-close] connection 8 packet #113"),
        "{}",
        failure.text
    );
    assert!(
        failure.text.contains(&format!("{nasty:?} required")),
        "{}",
        failure.text
    );
    let c9 = close
        .children
        .iter()
        .find(|c| {
            c.attrs
                .get("name")
                .is_some_and(|n| n.starts_with("connection 9: "))
        })
        .unwrap();
    assert!(c9.children[0].text.contains("[violations]"));
    // The unreadable file is an error, not a failure.
    let bogus_suite = &root.children[2];
    assert_eq!(int_attr(bogus_suite, "errors"), 1);
    assert_eq!(bogus_suite.children[1].children[0].name, "error");

    // A baseline difference is a failing "baseline" test case.
    let o = check(&[
        "--format",
        "junit",
        "--baseline",
        &expected_dir(),
        modified.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 1);
    let root = parse_xml(&stdout(&o));
    validate_junit(&root);
    let suite = &root.children[0];
    let base = suite
        .children
        .iter()
        .find(|c| c.attrs.get("name").map(String::as_str) == Some("baseline"))
        .unwrap();
    assert_eq!(attr(&base.children[0], "type"), "baseline");
    assert!(
        base.children[0]
            .text
            .contains("message 2 (s2c text, packet 9) › sha256")
    );
}

#[test]
fn junit_to_a_file_keeps_the_text_summary_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("junit.xml");
    let o = check(&[
        "--format",
        "junit",
        "--output",
        file.to_str().unwrap(),
        &cap("seed_echo.pcapng"),
    ]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("seed_echo.pcapng: ok"));
    let root = parse_xml(&std::fs::read_to_string(&file).unwrap());
    validate_junit(&root);
    assert_eq!(int_attr(&root, "failures"), 0);
}

#[test]
fn the_validator_rejects_broken_junit() {
    // Negative controls: the structural check can fail.
    let broken = [
        r#"<testsuites tests="1" failures="0" errors="0"><testsuite name="a" timestamp="2026-01-01T00:00:00" hostname="h" tests="1" failures="0" errors="0" time="0" id="0" package="p"><properties/><testcase classname="c" time="0"/><system-out/><system-err/></testsuite></testsuites>"#,
        r#"<testsuites tests="1" failures="0" errors="0"><testsuite name="a" timestamp="2026-01-01T00:00:00" hostname="h" tests="2" failures="0" errors="0" time="0" id="0" package="p"><properties/><testcase name="n" classname="c" time="0"/><system-out/><system-err/></testsuite></testsuites>"#,
        r#"<testsuites tests="1" failures="1" errors="0"><testsuite name="a" timestamp="2026-01-01T00:00:00" hostname="h" tests="1" failures="1" errors="0" time="0" id="0" package="p"><properties/><testcase name="n" classname="c" time="0"><failure message="m">x</failure></testcase><system-out/><system-err/></testsuite></testsuites>"#,
        r#"<testsuites tests="0" failures="0" errors="0"><testsuite name="a" timestamp="yesterday" hostname="h" tests="0" failures="0" errors="0" time="0" id="0" package="p"><properties/><system-out/><system-err/></testsuite></testsuites>"#,
    ];
    for xml in broken {
        let r = std::panic::catch_unwind(|| validate_junit(&parse_xml(xml)));
        assert!(r.is_err(), "accepted: {xml}");
    }
}
