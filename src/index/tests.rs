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
            assert!(entry.ended);
            assert_eq!(entry.record.stats, c.stats, "{name}");
            assert_eq!(entry.record.tcp_events, c.tcp_events);
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
            let conn = i.connection(r.slot).unwrap().record.key();
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
