//! A progress bar on standard error while a large capture file is read.
//!
//! Shown only when all of these hold, so that scripts, pipes, CI logs and
//! small files never see it:
//! - standard error is a terminal (never when it is redirected or piped);
//! - the input is a regular file (its size gives the total; `-` is skipped,
//!   since a pipe's size is unknown and a live source never ends);
//! - the file is at least [`MIN_BYTES`] long;
//! - reading has taken longer than [`DELAY`] (a fast run shows nothing).
//!
//! The bar is drawn by its own thread from a [`ReadCounter`] that the
//! pipeline's counting reader advances, so the analysis loop does no
//! formatting and no terminal I/O. It is plain text without colour (so
//! `NO_COLOR` holds trivially) and is erased when reading ends, leaving the
//! terminal as it was.

use anyhow::Result;
use std::io::{IsTerminal, Write};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wsinspect::analysis::Consumer;
use wsinspect::model::Analysis;
use wsinspect::pipeline::{self, ReadCounter};

/// Files smaller than this are read too fast for a bar to help.
pub const MIN_BYTES: u64 = 4 << 20;
/// No bar before reading has lasted this long.
pub const DELAY: Duration = Duration::from_millis(300);
/// Redraw interval.
const TICK: Duration = Duration::from_millis(100);

/// Analyses `path` like [`pipeline::analyze_path_with`], with a progress bar
/// on standard error when the conditions in the module docs hold.
/// Subcommands that read a capture call this instead of the pipeline
/// directly.
pub fn analyze_path(
    path: &str,
    opts: &pipeline::Options,
    sink: &mut dyn Consumer,
) -> Result<Analysis> {
    let (bar, opts) = with_bar(path, opts);
    let result = pipeline::analyze_path_with(path, &opts, sink);
    drop(bar);
    Ok(result?)
}

/// `opts` with a progress counter for `path`, and the bar drawing it (keep
/// it alive while reading; dropping it erases the bar). For code that reads
/// through library functions taking `&Options` (export, stats).
pub fn with_bar(path: &str, opts: &pipeline::Options) -> (Bar, pipeline::Options) {
    let bar = Bar::start(path);
    let mut opts = opts.clone();
    opts.progress = bar.counter().cloned();
    (bar, opts)
}

/// A running progress bar; dropping it stops and erases it.
pub struct Bar {
    counter: Option<ReadCounter>,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Bar {
    /// Starts a bar for `path` if the conditions in the module docs hold;
    /// otherwise an inert bar that counts nothing.
    pub fn start(path: &str) -> Bar {
        let inert = Bar {
            counter: None,
            stop: None,
            thread: None,
        };
        if path == "-" || !std::io::stderr().is_terminal() {
            return inert;
        }
        let total = match std::fs::metadata(path) {
            Ok(m) if m.is_file() && m.len() >= MIN_BYTES => m.len(),
            _ => return inert,
        };
        let counter = ReadCounter::new();
        let (tx, rx) = mpsc::channel::<()>();
        let seen = counter.clone();
        let name = std::path::Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.to_string());
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut drawn = false;
            let mut err = std::io::stderr();
            // Until a stop is requested (or the bar is dropped), wake every
            // tick and redraw.
            while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(TICK) {
                let elapsed = started.elapsed();
                if elapsed < DELAY {
                    continue;
                }
                let width = crossterm::terminal::size()
                    .map(|(w, _)| usize::from(w))
                    .unwrap_or(80);
                let line = render(&name, seen.get(), total, elapsed, width);
                // A failed write to the terminal is not worth failing the
                // analysis for; the bar simply stops showing.
                let _ = write!(err, "\r{line}\x1b[K");
                let _ = err.flush();
                drawn = true;
            }
            if drawn {
                let _ = write!(err, "\r\x1b[K");
                let _ = err.flush();
            }
        });
        Bar {
            counter: Some(counter),
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    /// The counter the pipeline should advance, if the bar is shown.
    pub fn counter(&self) -> Option<&ReadCounter> {
        self.counter.as_ref()
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One line of the bar, at most `width` characters:
/// `name [=====>    ]  42%  12.0 MiB / 28.6 MiB  95.1 MiB/s  ETA 0:01`.
/// The name and then the bar shrink first when the terminal is narrow.
pub fn render(name: &str, done: u64, total: u64, elapsed: Duration, width: usize) -> String {
    let done = done.min(total);
    let frac = if total == 0 {
        1.0
    } else {
        done as f64 / total as f64
    };
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
    let eta = if rate > 0.0 {
        format!("ETA {}", clock((total - done) as f64 / rate))
    } else {
        "ETA --:--".to_string()
    };
    let stats = format!(
        // Fixed-width numbers keep the bar from jittering as they grow.
        "{:>3}%  {:>9} / {}  {:>9}/s  {eta}",
        (frac * 100.0).floor() as u64,
        size(done as f64),
        size(total as f64),
        size(rate),
    );
    let stats_w = stats.chars().count();
    // Room left for "name [bar]  ".
    let room = width.saturating_sub(stats_w + 1);
    let name: String = if room >= 30 {
        let keep = (room - 14).min(name.chars().count());
        name.chars().take(keep).collect()
    } else {
        String::new()
    };
    let name_w = name.chars().count();
    let bar_w = room.saturating_sub(name_w + usize::from(name_w > 0) + 4);
    if bar_w < 5 {
        return stats.chars().take(width.saturating_sub(1)).collect();
    }
    let filled = ((frac * bar_w as f64).floor() as usize).min(bar_w);
    let mut bar = "=".repeat(filled);
    if filled < bar_w {
        bar.push('>');
        bar.push_str(&" ".repeat(bar_w - filled - 1));
    }
    let sep = if name_w > 0 { " " } else { "" };
    format!("{name}{sep}[{bar}]  {stats}")
}

/// Bytes in binary units with one decimal.
fn size(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Seconds as `m:ss` (or `h:mm:ss`).
fn clock(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shows_fraction_sizes_rate_and_eta() {
        let l = render("big.pcap", 50 << 20, 100 << 20, Duration::from_secs(2), 100);
        assert!(l.starts_with("big.pcap ["), "{l}");
        assert!(
            l.ends_with(" 50%   50.0 MiB / 100.0 MiB   25.0 MiB/s  ETA 0:02"),
            "{l}"
        );
        assert!(l.chars().count() <= 100, "{l}");
        // Half the bar is filled.
        let inner = &l[l.find('[').unwrap() + 1..l.find(']').unwrap()];
        let filled = inner.chars().filter(|&c| c == '=').count();
        assert!(
            filled * 2 == inner.len() || filled * 2 + 1 == inner.len(),
            "{l}"
        );
    }

    #[test]
    fn never_wider_than_the_terminal() {
        for width in 0..160 {
            let l = render(
                "a-very-long-capture-file-name-from-production.pcapng",
                7 << 30,
                9 << 30,
                Duration::from_secs(61),
                width,
            );
            assert!(l.chars().count() < width.max(1), "width {width}: {l:?}");
        }
    }

    #[test]
    fn start_and_end_states() {
        let l = render("x", 0, 10 << 20, Duration::from_millis(300), 80);
        assert!(l.contains("  0%") && l.ends_with("ETA --:--"), "{l}");
        let l = render("x", 12 << 20, 10 << 20, Duration::from_secs(3600), 80);
        assert!(l.contains("100%") && l.ends_with("ETA 0:00"), "{l}");
        assert!(!l.contains('>'), "a full bar has no head: {l}");
    }

    /// The README shows the bar as seen in a 120-column terminal; it must be
    /// what `render` draws for those numbers.
    #[test]
    fn readme_shows_the_real_bar() {
        let total = 55_973_864; // the 53.4 MiB capture of the README
        let done = 13_736_345; // 13.1 MiB
        let line = render("big.pcap", done, total, Duration::from_secs_f64(11.9), 120);
        assert!(
            include_str!("../../README.md").contains(&format!("  {line}\n")),
            "README's progress bar line should be:\n{line}"
        );
    }

    #[test]
    fn clock_and_sizes() {
        assert_eq!(clock(59.4), "0:59");
        assert_eq!(clock(3725.0), "1:02:05");
        assert_eq!(size(1023.0), "1023 B");
        assert_eq!(size(1536.0), "1.5 KiB");
    }

    #[test]
    fn no_bar_for_stdin_or_when_stderr_is_not_a_terminal() {
        // `-` never gets a bar; under `cargo test` stderr is captured, so a
        // real file gets none either.
        assert!(Bar::start("-").counter().is_none());
        if !std::io::stderr().is_terminal() {
            assert!(Bar::start("Cargo.lock").counter().is_none());
        }
    }
}
