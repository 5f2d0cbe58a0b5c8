use super::*;
use crate::analysis::{Limits, NullSink, Tee};
use crate::payload::{PayloadCollector, Selection};
use crate::pipeline::{Options, analyze_path, analyze_path_with};

fn sample(name: &str) -> String {
    format!("{}/captures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Indexes `path`, returning the index and every message with its whole
/// payload as the payload collector saw them.
#[allow(clippy::type_complexity)]
fn index_with_payloads(
    path: &str,
    limits: IndexLimits,
) -> (Index, Vec<(RecordKey, usize, Message, Vec<u8>)>) {
    let (mut w, index) = IndexWriter::new(limits).unwrap();
    let mut seen = Vec::new();
    let collector = PayloadCollector::new(Selection::default(), |c, m| {
        seen.push((c.key(), m.index, m.msg.clone(), m.payload.to_vec()));
    });
    let opts = Options {
        drop_finished: true,
        ..Options::default()
    };
    let mut tee = Tee::new(collector, &mut w);
    analyze_path_with(path, &opts, &mut tee).unwrap();
    drop(tee);
    w.finish();
    (index, seen)
}

const SAMPLES: &[&str] = &[
    "close_codes.pcapng",
    "deflate_no_takeover.pcap",
    "deflate_takeover.pcap",
    "flv_stream.pcap",
    "fragmented_node.pcapng",
    "lossy_netns.pcap",
    "many_conns.pcap",
    "midstream.pcap",
    "ping_pong.pcap",
    "seed_echo.pcapng",
    "sizes_py.pcap",
    "subprotocol.pcapng",
    "truncated_snaplen.pcap",
];

#[test]
fn messages_and_whole_payloads_read_back_exactly() {
    for name in SAMPLES {
        let (index, seen) = index_with_payloads(&sample(name), IndexLimits::default());
        assert!(index.done());
        assert!(
            !seen.is_empty() || *name == "truncated_snaplen.pcap",
            "{name}"
        );
        for (key, i, msg, payload) in &seen {
            let slot = index.slot_of(*key).expect("connection indexed");
            let row = index
                .message_row(slot, *i as u64)
                .unwrap_or_else(|| panic!("{name}: message {i} of {key}"));
            assert_eq!(row.kind, RowKind::Message);
            let rec = index.record(&row).unwrap();
            let Record::Message(m) = &rec else {
                panic!("not a message record")
            };
            assert_eq!(m.as_ref(), msg, "{name}: message {i} of {key}");
            assert_eq!(row.pay_len, payload.len() as u64);
            assert_eq!(&index.payload(&row, 0, usize::MAX).unwrap(), payload);
            let mut out = Vec::new();
            index.copy_payload(&row, &mut out).unwrap();
            assert_eq!(&out, payload);
            // A window in the middle reads just that window.
            if payload.len() > 10 {
                assert_eq!(index.payload(&row, 3, 5).unwrap(), payload[3..8]);
            }
        }
    }
}

#[test]
fn rows_match_the_model_record_for_record() {
    for name in SAMPLES {
        let model = analyze_path(&sample(name), Limits::default(), &mut NullSink).unwrap();
        let (index, _) = index_with_payloads(&sample(name), IndexLimits::default());
        for c in &model.connections {
            let slot = index.slot_of(c.key()).expect("every reported connection");
            let entry = index.connection(slot).unwrap();
            assert!(entry.ended && entry.reported);
            assert_eq!(entry.key, c.key());
            // The summary is the model's record but its messages and
            // control frames (its close frames stay).
            let want = Connection {
                messages: Vec::new(),
                control: writer::closes(&c.control),
                ..c.clone()
            };
            assert_eq!(index.summary(slot).as_deref(), Some(&want), "{name}");
            let (mut ctl, mut vio, mut ano, mut msgs, mut tcp) = (vec![], vec![], vec![], 0, 0);
            for k in 0..index.conn_len(slot) {
                let r = index.conn_row(slot, k).unwrap();
                assert_eq!(r.slot, slot);
                match index.record(&r).unwrap() {
                    Record::Control(f) => ctl.push((*f).clone()),
                    Record::Violation(v) => vio.push((*v).clone()),
                    Record::Anomaly(a) => ano.push((*a).clone()),
                    Record::Message(_) => msgs += 1,
                    _ if r.kind == RowKind::Tcp => tcp += 1,
                    _ => {}
                }
            }
            assert_eq!(ctl, c.control, "{name} {}", c.key());
            assert_eq!(vio, c.violation_details, "{name} {}", c.key());
            assert_eq!(ano, c.anomalies, "{name} {}", c.key());
            assert_eq!(msgs, c.messages.len(), "{name} {}", c.key());
            assert_eq!(tcp, c.tcp_events.len(), "{name} {}", c.key());
            assert_eq!(index.conn_messages(slot), c.messages.len() as u64);
        }
        // The whole timeline is every connection's rows.
        let total: u64 = (0..index.connections().len() as u32)
            .map(|s| index.conn_len(s))
            .sum();
        assert_eq!(total, index.len(), "{name}");
    }
}

#[test]
fn small_extents_and_the_spill_cap() {
    // Extents of 7 bytes: every message of some size is in several.
    let limits = IndexLimits {
        extent_bytes: 7,
        ..IndexLimits::default()
    };
    let (index, seen) = index_with_payloads(&sample("sizes_py.pcap"), limits);
    let mut several = 0;
    for (key, i, _, payload) in &seen {
        let slot = index.slot_of(*key).unwrap();
        let row = index.message_row(slot, *i as u64).unwrap();
        several += usize::from(row.flags & flags::EXTENTS != 0);
        assert_eq!(&index.payload(&row, 0, usize::MAX).unwrap(), payload);
        if payload.len() > 20 {
            assert_eq!(index.payload(&row, 5, 11).unwrap(), payload[5..16]);
        }
    }
    assert!(several > 0);

    let limits = IndexLimits {
        max_spill_bytes: 100,
        ..IndexLimits::default()
    };
    let (index, seen) = index_with_payloads(&sample("sizes_py.pcap"), limits);
    assert!(index.spill_bytes() <= 100);
    assert_eq!(index.notices().len(), 1, "{:?}", index.notices());
    let cut = seen.iter().any(|(key, i, _, payload)| {
        let slot = index.slot_of(*key).unwrap();
        let row = index.message_row(slot, *i as u64).unwrap();
        let kept = index.payload(&row, 0, usize::MAX).unwrap();
        assert_eq!(kept[..], payload[..kept.len()]);
        row.flags & flags::PAYLOAD_CUT != 0
    });
    assert!(cut);
}

#[test]
fn chains_span_blocks() {
    // More rows than one chain block in a connection.
    let (index, _) = index_with_payloads(&sample("lossy_netns.pcap"), IndexLimits::default());
    let slot = (0..index.connections().len() as u32)
        .max_by_key(|&s| index.conn_len(s))
        .unwrap();
    let n = index.conn_len(slot);
    assert!(n > CHAIN_BLOCK as u64, "{n} rows");
    let mut last = None;
    for k in 0..n {
        let r = index.conn_row(slot, k).unwrap();
        assert!(last.is_none_or(|l| r.no > l));
        last = Some(r.no);
    }
    assert!(index.conn_row(slot, n).is_none());
}

#[test]
fn garbage_never_panics() {
    let mut x = 0x1234_5678_u32;
    for len in 0..300 {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let _ = codec::get_message(&mut Dec(&bytes));
        let _ = codec::get_control(&mut Dec(&bytes));
        let _ = codec::get_violation(&mut Dec(&bytes));
        let _ = codec::get_anomaly(&mut Dec(&bytes));
        if bytes.len() >= ROW_BYTES {
            let _ = Row::decode(0, &bytes[..ROW_BYTES]);
        }
    }
}

#[test]
fn sorted_index_is_in_the_models_order() {
    for name in SAMPLES {
        let model = analyze_path(&sample(name), Limits::default(), &mut NullSink).unwrap();
        let want = IndexWriter::from_analysis(&model).unwrap();
        let (index, _) = index_with_payloads(&sample(name), IndexLimits::default());
        let sorted = index.sorted(u64::MAX).expect("done and small");
        assert!(index.sorted(index.len().saturating_sub(1)).is_none() || index.is_empty());
        let key = |i: &Index, no| {
            let r = i.row(no).unwrap();
            let conn = i.key(r.slot).unwrap();
            (r.packet, r.kind, r.seq, conn)
        };
        assert_eq!(sorted.len(), want.len(), "{name}");
        for no in 0..want.len() {
            assert_eq!(key(&sorted, no), key(&want, no), "{name} row {no}");
        }
        // Records and payloads read through the sorted rows.
        for no in 0..sorted.len() {
            let r = sorted.row(no).unwrap();
            assert!(sorted.record(&r).is_some());
            if r.kind == RowKind::Message {
                assert_eq!(
                    sorted.payload(&r, 0, usize::MAX).unwrap().len() as u64,
                    r.pay_len
                );
            }
        }
    }
}

/// Every capture under `captures/` (the wss ones with their key logs, so
/// that decrypted TLS summaries are covered too).
fn every_capture() -> Vec<(std::path::PathBuf, Option<std::path::PathBuf>)> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
                out.push(p);
            }
        }
    }
    let mut paths = Vec::new();
    walk(
        std::path::Path::new(&format!("{}/captures", env!("CARGO_MANIFEST_DIR"))),
        &mut paths,
    );
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let keylog = p.with_extension("keylog");
            let keylog = keylog.exists().then_some(keylog);
            (p, keylog)
        })
        .collect()
}

#[test]
fn every_connection_record_reads_back_exactly() {
    let mut checked = 0;
    // What the samples cover: every optional part of a record at least once.
    let mut seen = [false; 7];
    for (path, keylog) in every_capture() {
        let mut opts = Options::default();
        if let Some(k) = keylog {
            let text = std::fs::read_to_string(k).unwrap();
            opts.keylog = Some(std::sync::Arc::new(crate::tls::KeyLog::parse(&text).0));
        }
        let Ok(a) = analyze_path_with(path.to_str().unwrap(), &opts, &mut NullSink) else {
            continue;
        };
        for c in &a.connections {
            let mut e = codec::Enc::default();
            summary::put_connection(&mut e, c);
            let mut d = Dec(&e.0);
            let back = summary::get_connection(&mut d);
            assert_eq!(back.as_ref(), Some(c), "{}", path.display());
            assert!(d.0.is_empty(), "{}", path.display());
            // A cut record is none, never a panic.
            for cut in [0, 1, e.0.len() / 2, e.0.len() - 1] {
                assert!(summary::get_connection(&mut Dec(&e.0[..cut])).is_none());
            }
            checked += 1;
            for (i, has) in [
                c.tls.as_ref().is_some_and(|t| t.decrypted),
                !c.app_messages.is_empty(),
                !c.app_findings.is_empty(),
                !c.encapsulation.is_empty(),
                c.h2.is_some(),
                c.stream_end.is_some(),
                c.http_exchanges
                    .iter()
                    .any(|x| !x.request_app.is_empty() || !x.response_app.is_empty()),
            ]
            .into_iter()
            .enumerate()
            {
                seen[i] |= has;
            }
        }
    }
    assert!(checked > 100, "{checked}");
    assert_eq!(seen, [true; 7]);
}

#[test]
fn ended_connections_hold_no_chain_tail_and_no_summary() {
    let (index, _) = index_with_payloads(&sample("many_conns.pcap"), IndexLimits::default());
    let conns = index.connections();
    assert_eq!(conns.len(), 50);
    for c in conns.iter() {
        assert!(c.ended && c.sum_len > 0);
        assert_eq!(c.chain.tail.capacity() + c.msgs.tail.capacity(), 0);
    }
}

#[test]
fn summaries_are_read_through_a_bounded_cache() {
    let model = analyze_path(&sample("many_conns.pcap"), Limits::default(), &mut NullSink).unwrap();
    let index = IndexWriter::from_analysis(&model).unwrap();
    for _ in 0..3 {
        for (slot, c) in model.connections.iter().enumerate() {
            let s = index.summary(slot as u32).unwrap();
            assert_eq!((s.key(), s.stats), (c.key(), c.stats));
        }
    }
    let cache = index.cache();
    assert!(cache.summary_bytes <= SUMMARY_BYTES_KEPT);
    assert_eq!(cache.summaries.len(), 50);
    drop(cache);
    // Past its budget, the least recently used half goes.
    let mut c = Cache::default();
    let one = index.summary(0).unwrap();
    for slot in 0..1000u32 {
        c.put_summary(slot, 0, one.clone(), SUMMARY_BYTES_KEPT / 100);
    }
    assert!(c.summary_bytes <= SUMMARY_BYTES_KEPT && c.summaries.len() <= 100);
    assert!(c.summaries.contains_key(&999) && !c.summaries.contains_key(&0));
}
