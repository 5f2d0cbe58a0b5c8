//! The analyzer options that live capture uses (eviction of finished
//! connections, retiring closed connections during the capture, snapshots)
//! must not change what is reported: checked on every sample capture.

use std::cell::Cell;
use std::fs::File;
use std::io::BufReader;
use std::ops::ControlFlow;
use std::rc::Rc;
use wsinspect::analysis::{Analyzer, CaptureInfo, Consumer, Event, Limits};
use wsinspect::capture::{CaptureReader, Timestamp};
use wsinspect::model::Analysis;

/// Records what a streaming consumer sees.
#[derive(Default)]
struct Events {
    lines: Vec<String>,
    /// Connection ends so far, readable while the analyzer holds the sink.
    ends: Rc<Cell<usize>>,
}

impl Consumer for Events {
    fn event(&mut self, ev: Event<'_>) -> ControlFlow<()> {
        let Some(c) = ev.conn() else {
            return ControlFlow::Continue(());
        };
        let who = format!("{}>{}", c.client, c.server);
        let line = match &ev {
            Event::Handshake(c) => format!("{who} handshake {:?}", c.handshake.status),
            Event::Message { message: m, .. } => {
                format!("{who} message {:?} {:?}", m.dir, m.sha256)
            }
            Event::Control { frame: f, .. } => {
                format!("{who} control {:?} {:?}", f.dir, f.close_code)
            }
            Event::Violation { violation: v, .. } => format!("{who} violation {}", v.detail),
            Event::Anomaly { anomaly: a, .. } => format!("{who} anomaly {}", a.detail),
            Event::End(_) => {
                self.ends.set(self.ends.get() + 1);
                return ControlFlow::Continue(());
            }
            _ => return ControlFlow::Continue(()),
        };
        self.lines.push(line);
        ControlFlow::Continue(())
    }
}

fn captures() -> Vec<std::path::PathBuf> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/captures");
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.to_string_lossy();
            (n.ends_with(".pcap") || n.ends_with(".pcapng")) && !n.contains("wss_")
        })
        .collect();
    v.sort();
    v
}

/// What one analysis gave: the model, the events, a snapshot after 12
/// packets, and how many connections had ended before the last packet.
struct Run {
    analysis: Analysis,
    events: Events,
    mid: Option<Analysis>,
    ended_early: usize,
}

/// Analyses a capture; with `linger`, eviction is on, closed connections
/// are retired and long ones trimmed to their last 2 messages after every
/// packet, as `wsinspect live` does on its ticks.
fn analyze(path: &std::path::Path, linger: Option<i128>) -> Run {
    let live = linger.is_some();
    let mut r = CaptureReader::new(BufReader::new(File::open(path).unwrap())).unwrap();
    let mut ev = Events::default();
    let ends = ev.ends.clone();
    let mut mid = None;
    let mut ended_early = 0;
    let a = {
        let mut an = Analyzer::new(Limits::default(), &mut ev);
        an.set_evict_finished(live);
        let mut last = Timestamp::default();
        let mut n = 0;
        while let Ok(Some(p)) = r.next_packet() {
            an.push(&p);
            last = p.ts;
            n += 1;
            if let Some(l) = linger {
                an.retire_closed(p.ts, l);
                an.trim_live(2);
            }
            ended_early = ends.get();
            if n == 12 {
                mid = Some(an.snapshot(CaptureInfo::default()));
            }
        }
        if live {
            an.retire_closed(Timestamp(last.0 + 10_000_000_000), 1_000_000_000);
        }
        an.finish(CaptureInfo::default())
    };
    Run {
        analysis: a,
        events: ev,
        mid,
        ended_early,
    }
}

#[test]
fn eviction_and_early_retirement_report_the_same() {
    for path in captures() {
        let name = path.display();
        let Run {
            analysis: whole,
            events: ev_whole,
            mid,
            ..
        } = analyze(&path, None);
        let Run {
            analysis: live,
            events: ev_live,
            ..
        } = analyze(&path, Some(1_000_000_000));
        let mut a = ev_whole.lines.clone();
        let mut b = ev_live.lines.clone();
        a.sort();
        b.sort();
        assert_eq!(a, b, "{name}: streamed events differ");
        assert_eq!(whole.stats.messages, live.stats.messages, "{name}");
        assert_eq!(
            whole.stats.control_frames, live.stats.control_frames,
            "{name}"
        );
        assert_eq!(whole.stats.violations, live.stats.violations, "{name}");
        assert_eq!(
            whole.stats.websocket_connections, live.stats.websocket_connections,
            "{name}"
        );
        assert_eq!(whole.connections.len(), live.connections.len(), "{name}");
        for (w, l) in whole.connections.iter().zip(&live.connections) {
            assert_eq!(w.handshake, l.handshake, "{name}");
            assert_eq!(w.stats, l.stats, "{name}");
            assert_eq!(w.tcp_end, l.tcp_end, "{name}");
            assert!(
                l.messages.is_empty() && l.control.is_empty(),
                "{name}: evicted"
            );
        }
        // A snapshot part-way never reports more than the end does.
        if let Some(m) = mid {
            assert!(m.stats.messages <= whole.stats.messages, "{name}");
            assert!(m.connections.len() <= whole.connections.len() + 1, "{name}");
        }
    }
}

#[test]
fn closed_connections_end_during_the_capture() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/captures/many_conns.pcap");
    let whole = analyze(std::path::Path::new(path), None);
    let live = analyze(std::path::Path::new(path), Some(0));
    let n = whole.analysis.connections.len();
    assert!(n > 1);
    // Without retire_closed connections end at finish(); with it, as soon
    // as both FINs are in.
    assert_eq!(whole.ended_early, 0);
    assert!(live.ended_early >= n - 1, "{} of {n}", live.ended_early);
    assert_eq!(live.analysis.stats.messages, whole.analysis.stats.messages);
}

#[test]
fn snapshot_shows_a_connection_in_progress() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/captures/seed_echo.pcapng");
    let mut r = CaptureReader::new(BufReader::new(File::open(path).unwrap())).unwrap();
    let mut sink = Events::default();
    let mut an = Analyzer::new(Limits::default(), &mut sink);
    let mut snaps = Vec::new();
    while let Ok(Some(p)) = r.next_packet() {
        an.push(&p);
        snaps.push(an.snapshot(CaptureInfo::default()));
    }
    let end = an.finish(CaptureInfo::default());
    let counts: Vec<u64> = snaps.iter().map(|s| s.stats.messages).collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    assert_eq!(counts.last().copied(), Some(end.stats.messages));
    let first_ws = snaps
        .iter()
        .position(|s| s.stats.websocket_connections == 1);
    assert!(
        first_ws.is_some_and(|i| i + 1 < snaps.len()),
        "upgrade seen before the end"
    );
    let last = snaps.last().unwrap();
    assert_eq!(last.connections[0].messages, end.connections[0].messages);
    assert_eq!(last.connections[0].handshake, end.connections[0].handshake);
}
