//! The documentation is tested: every command shown in README.md and
//! docs/*.md is run, and its output must be what the page shows.
//!
//! What is checked: fenced blocks opened with ```` ```console ````. In them,
//! a line starting with `$ ` is a command; the lines after it, up to the next
//! `$ ` line or the end of the block, are its expected standard output.
//! Commands run with `sh -c` from the repository root, with the freshly
//! built `wsinspect` first on `PATH`, standard input empty, `NO_COLOR=1`,
//! `TERM=dumb`, without `SSLKEYLOGFILE`. So pipes (`| head -3`) and redirections work as written.
//!
//! How the shown output may differ from the real one (and nothing else):
//! - A line that is exactly `...` stands for any number of lines (zero or
//!   more), so long outputs can be cut; everything around it must match.
//! - Trailing spaces and trailing empty lines are ignored.
//! - A last line `[exit N]` says the command exits with status N; without it
//!   the command must exit with 0.
//! - `<!-- docs-test: sample -->` on the line just before a fence marks a
//!   block for a subcommand that another branch is still building. While the
//!   binary does not know the subcommand, the block is skipped with a notice;
//!   once it does, the block is checked like any other, so the sample must be
//!   refreshed then.
//! - `<!-- docs-test: transcript (why) -->` before a fence marks a recorded
//!   session that cannot be replayed by a test (it needs root, a live
//!   network or files made during the session). It is not run; keep such
//!   blocks few, and say why in the marker.
//! - A command that runs longer than 60 s is killed and fails the test.
//! - A command whose program is not installed (exit status 127 and not
//!   `wsinspect`, for instance `openssl`) is skipped with a notice.
//!
//! To refresh the pages after a change of output, run
//! `WSINSPECT_BLESS=1 cargo test --test docs`: every mismatching block is
//! rewritten with the real output (keeping as many leading and trailing
//! lines around a `...` as the page showed), then review the diff.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A checked command and what the page says about it.
#[derive(Debug, Clone)]
struct Example {
    file: PathBuf,
    /// 1-based line of the `$ ` line.
    line: usize,
    command: String,
    expected: Vec<String>,
    exit: i32,
    sample: bool,
    /// A recorded transcript that cannot be replayed here (root, a live
    /// network, files made during the session): shown, not run.
    transcript: bool,
    /// 0-based line range (in the file) of the expected output, for bless.
    out_start: usize,
    out_end: usize,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// Splits a page into its console examples.
fn parse(file: &Path, text: &str) -> Vec<Example> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_end() != "```console" {
            i += 1;
            continue;
        }
        let marker = if i > 0 { lines[i - 1].trim() } else { "" };
        let sample = marker == "<!-- docs-test: sample -->";
        let transcript = marker.starts_with("<!-- docs-test: transcript");
        let start = i + 1;
        let mut end = start;
        while end < lines.len() && lines[end].trim_end() != "```" {
            end += 1;
        }
        assert!(
            end < lines.len(),
            "{}:{}: console block is never closed",
            file.display(),
            i + 1
        );
        let mut j = start;
        while j < end {
            let Some(cmd) = lines[j].strip_prefix("$ ") else {
                panic!(
                    "{}:{}: a console block must start with a `$ ` command line, found {:?}",
                    file.display(),
                    j + 1,
                    lines[j]
                );
            };
            let out_start = j + 1;
            let mut k = out_start;
            while k < end && !lines[k].starts_with("$ ") {
                k += 1;
            }
            let mut expected: Vec<String> = lines[out_start..k]
                .iter()
                .map(|l| l.trim_end().to_string())
                .collect();
            while expected.last().is_some_and(|l| l.is_empty()) {
                expected.pop();
            }
            let mut exit = 0;
            let marker = expected.last().and_then(|last| {
                let n = last.strip_prefix("[exit ")?.strip_suffix(']')?;
                Some(n.parse::<i32>().unwrap_or_else(|_| {
                    panic!("{}:{}: bad exit marker {last:?}", file.display(), k)
                }))
            });
            if let Some(n) = marker {
                exit = n;
                expected.pop();
            }
            out.push(Example {
                file: file.to_path_buf(),
                line: j + 1,
                command: cmd.to_string(),
                expected,
                exit,
                sample,
                transcript,
                out_start,
                out_end: k,
            });
            j = k;
        }
        i = end + 1;
    }
    out
}

/// `expected` (with `...` elisions) matches `actual`.
fn matches(expected: &[String], actual: &[String]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((e, rest)) if e == "..." => {
            (0..=actual.len()).any(|skip| matches(rest, &actual[skip..]))
        }
        Some((e, rest)) => actual
            .split_first()
            .is_some_and(|(a, arest)| a == e && matches(rest, arest)),
    }
}

struct Run {
    stdout: Vec<String>,
    stderr: String,
    status: i32,
    timed_out: bool,
}

/// `PATH` with the freshly built `wsinspect` first.
fn path_with_binary() -> std::ffi::OsString {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_wsinspect"));
    let bin_dir = bin.parent().expect("binary has a directory");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin_dir.to_path_buf()];
    dirs.extend(std::env::split_paths(&path));
    std::env::join_paths(dirs).expect("PATH joins")
}

/// Longest a documented command may run: a command that waits for input
/// or a network would otherwise hang the test suite.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

fn run(command: &str) -> Run {
    use std::os::unix::process::CommandExt;
    let child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(root())
        .env("PATH", path_with_binary())
        .env("NO_COLOR", "1")
        .env("TERM", "dumb")
        .env_remove("COLUMNS")
        // A key log in the environment would change what wss examples show.
        .env_remove("SSLKEYLOGFILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout can stop the whole pipeline.
        .process_group(0)
        .spawn()
        .expect("sh runs");
    let pid = child.id();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if done_rx.recv_timeout(TIMEOUT).is_err() {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(format!("-{pid}"))
                .status();
            return true;
        }
        false
    });
    let out = child.wait_with_output().expect("sh finishes");
    let _ = done_tx.send(());
    let timed_out = watchdog.join().unwrap_or(false);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut stdout: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
    while stdout.last().is_some_and(|l| l.is_empty()) {
        stdout.pop();
    }
    let mut stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if timed_out {
        stderr.push_str(&format!("\n(killed after {} s)\n", TIMEOUT.as_secs()));
    }
    Run {
        stdout,
        stderr,
        status: out.status.code().unwrap_or(-1),
        timed_out,
    }
}

/// Why an example is not checked now, if it is not.
fn skip_reason(ex: &Example, r: &Run) -> Option<String> {
    if r.timed_out {
        return None;
    }
    if ex.sample
        && r.stderr.contains("unrecognized subcommand")
        && r.stderr.contains("Usage: wsinspect")
    {
        return Some("sample for a subcommand this build does not have yet".into());
    }
    let program = ex.command.split_whitespace().next().unwrap_or_default();
    if r.status == 127 && program != "wsinspect" {
        return Some(format!("`{program}` is not installed"));
    }
    None
}

/// The expected block rewritten from the real output, keeping the page's
/// shape: as many lines before and after a `...` as it showed.
fn blessed(ex: &Example, actual: &[String], status: i32) -> Vec<String> {
    let mut lines = match ex.expected.iter().position(|l| l == "...") {
        Some(head) if actual.len() > ex.expected.len() => {
            let tail = ex.expected.len() - head - 1;
            let mut v = actual[..head].to_vec();
            v.push("...".into());
            v.extend_from_slice(&actual[actual.len() - tail..]);
            v
        }
        _ => actual.to_vec(),
    };
    if status != 0 {
        lines.push(format!("[exit {status}]"));
    }
    lines
}

#[test]
fn every_console_example_in_the_docs_runs_as_shown() {
    let bless = std::env::var_os("WSINSPECT_BLESS").is_some();
    let mut failures = Vec::new();
    let mut checked = 0;
    for file in doc_files() {
        let text = std::fs::read_to_string(&file).expect("doc readable");
        let examples = parse(&file, &text);
        let mut rewrites: Vec<(usize, usize, Vec<String>)> = Vec::new();
        for ex in &examples {
            if ex.transcript {
                eprintln!(
                    "docs: NOT RUN {}:{} `{}`: marked as a recorded transcript",
                    ex.file.display(),
                    ex.line,
                    ex.command
                );
                continue;
            }
            let r = run(&ex.command);
            if let Some(why) = skip_reason(ex, &r) {
                eprintln!(
                    "docs: SKIPPED {}:{} `{}`: {why}",
                    ex.file.display(),
                    ex.line,
                    ex.command
                );
                continue;
            }
            checked += 1;
            if matches(&ex.expected, &r.stdout) && r.status == ex.exit {
                continue;
            }
            if bless {
                rewrites.push((ex.out_start, ex.out_end, blessed(ex, &r.stdout, r.status)));
                continue;
            }
            failures.push(format!(
                "{}:{}: `{}`\n  exit status: page says {}, got {}\n~~~~ page shows\n{}\n~~~~ real output\n{}\n~~~~ stderr\n{}~~~~",
                ex.file.display(),
                ex.line,
                ex.command,
                ex.exit,
                r.status,
                ex.expected.join("\n"),
                r.stdout.join("\n"),
                r.stderr
            ));
        }
        if !rewrites.is_empty() {
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            for (start, end, new) in rewrites.into_iter().rev() {
                // Keep a blank line that separated this output from the next
                // command inside the block.
                let keep_blank = end > start && lines[end - 1].trim().is_empty();
                let mut new = new;
                if keep_blank {
                    new.push(String::new());
                }
                lines.splice(start..end, new);
            }
            let mut out = lines.join("\n");
            out.push('\n');
            std::fs::write(&file, out).expect("doc writable");
            eprintln!("docs: BLESSED {}", file.display());
        }
    }
    assert!(
        failures.is_empty(),
        "{} documented command(s) do not produce what the docs show \
         (refresh with WSINSPECT_BLESS=1 cargo test --test docs, then review):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(checked > 0, "no console examples found in the docs");
}

/// Every `wsinspect` command the pages show in running text or in other
/// code blocks (not console examples) must at least parse: a subcommand or
/// flag that was renamed would otherwise linger in prose.
#[test]
fn every_wsinspect_command_line_in_the_docs_parses() {
    let mut failures = Vec::new();
    for file in doc_files() {
        let text = std::fs::read_to_string(&file).expect("doc readable");
        let all: Vec<&str> = text.lines().collect();
        let mut in_block = false;
        let mut lang = String::new();
        // Shell lines continued with a trailing backslash are one command,
        // reported at the line where it starts.
        let mut logical: Vec<(usize, String)> = Vec::new();
        let mut continued = false;
        for (n, line) in all.iter().enumerate() {
            match logical.last_mut() {
                Some((_, prev)) if continued => {
                    prev.push(' ');
                    prev.push_str(line.trim_end_matches('\\').trim());
                }
                _ => logical.push((n, line.trim_end_matches('\\').to_string())),
            }
            continued = line.ends_with('\\') && !line.trim_start().starts_with("```");
        }
        for (n, line) in logical {
            let line = line.as_str();
            if let Some(rest) = line.trim_start().strip_prefix("```") {
                in_block = !in_block;
                lang = rest.trim().to_string();
                continue;
            }
            if !in_block || !(lang == "sh" || lang == "bash") {
                continue;
            }
            // A shell snippet line that runs wsinspect (perhaps after a pipe).
            let Some(pos) = line.find("wsinspect ") else {
                continue;
            };
            if line.trim_start().starts_with('#') {
                continue;
            }
            let cmd = &line[pos..];
            let cmd = cmd
                .split(['|', '>', '#', ';', '&'])
                .next()
                .unwrap_or_default()
                .trim();
            let words: Vec<&str> = cmd.split_whitespace().collect();
            let Some(sub) = words.get(1) else { continue };
            // Parse only: `--help` after the subcommand and its arguments
            // validates the subcommand and every flag without running. The
            // shell splits the words, so quoted arguments stay whole.
            let parse = |line: &str| {
                Command::new("sh")
                    .arg("-c")
                    .arg(line)
                    .current_dir(root())
                    .env("PATH", path_with_binary())
                    .stdin(Stdio::null())
                    .output()
                    .expect("sh runs")
            };
            let mut out = parse(&format!("{cmd} --help"));
            if !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--help") {
                // A trailing free-form argument (live's capture filter) took
                // `--help` as a word: check the subcommand alone.
                let rest = words[2..].join(" ");
                out = parse(&format!("wsinspect {sub} --help {rest}"));
            }
            let stderr = String::from_utf8_lossy(&out.stderr);
            let unknown_sub = stderr.contains("unrecognized subcommand");
            let sample = all[n.saturating_sub(40)..n]
                .iter()
                .any(|l| l.contains("<!-- docs-test: sample -->"));
            if unknown_sub && sample {
                eprintln!(
                    "docs: SKIPPED {}:{} `{cmd}`: sample subcommand `{sub}`",
                    file.display(),
                    n + 1
                );
                continue;
            }
            if !out.status.success() {
                failures.push(format!("{}:{}: `{cmd}`: {stderr}", file.display(), n + 1));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn elision_matches_only_what_it_should() {
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let actual = v(&["a", "b", "c", "d"]);
    assert!(matches(&v(&["a", "b", "c", "d"]), &actual));
    assert!(matches(&v(&["a", "..."]), &actual));
    assert!(matches(&v(&["...", "d"]), &actual));
    assert!(matches(&v(&["a", "...", "d"]), &actual));
    assert!(matches(&v(&["a", "...", "b", "c", "d"]), &actual));
    assert!(matches(&v(&["..."]), &v(&[])));
    assert!(
        !matches(&v(&["a", "b"]), &actual),
        "no implicit prefix match"
    );
    assert!(!matches(&v(&["a", "...", "c"]), &actual), "tail must match");
    assert!(!matches(&v(&["b", "..."]), &actual), "head must match");
    assert!(!matches(&v(&[]), &actual));
}

#[test]
fn parser_reads_commands_outputs_exit_codes_and_sample_markers() {
    let page = "text\n<!-- docs-test: sample -->\n```console\n$ wsinspect a\none\n\n$ wsinspect b x\ntwo\n[exit 1]\n```\n```console\n$ wsinspect c\n```\n";
    let ex = parse(Path::new("t.md"), page);
    assert_eq!(ex.len(), 3);
    assert_eq!(ex[0].command, "wsinspect a");
    assert_eq!(ex[0].expected, vec!["one"]);
    assert!(ex[0].sample && ex[1].sample && !ex[2].sample);
    assert_eq!(
        (ex[1].expected.clone(), ex[1].exit),
        (vec!["two".into()], 1)
    );
    assert_eq!(ex[2].expected, Vec::<String>::new());
    assert_eq!(ex[0].line, 4);
}

/// The walkthrough works the Sec-WebSocket-Accept check by hand with
/// openssl. Whether or not openssl is installed here, the key and result it
/// shows must agree with the library's computation (RFC 6455 §4.2.2).
#[test]
fn worked_accept_key_in_walkthrough_is_right() {
    let text = std::fs::read_to_string(root().join("docs/article-walkthrough.md"))
        .expect("walkthrough exists");
    let examples = parse(Path::new("docs/article-walkthrough.md"), &text);
    let worked: Vec<&Example> = examples
        .iter()
        .filter(|e| e.command.contains("openssl sha1"))
        .collect();
    assert!(
        !worked.is_empty(),
        "the walkthrough works the accept key by hand"
    );
    for ex in worked {
        let quoted = ex
            .command
            .split('\'')
            .nth(3)
            .expect("printf '%s' 'KEY…GUID'");
        let key = quoted
            .strip_suffix("258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
            .expect("key followed by the RFC 6455 GUID");
        assert_eq!(
            ex.expected,
            vec![wsinspect::http::handshake::expected_accept(key)],
            "{}:{}",
            ex.file.display(),
            ex.line
        );
    }
}
