//! RFC 7541 Appendix C examples, a property test against an independent
//! encoder (httlib-hpack), and the passive decoder's own cases: lost table
//! state, caps, hostile blocks.

use super::*;
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn pairs(b: &DecodedBlock) -> Vec<(String, String)> {
    b.fields
        .iter()
        .map(|f| {
            (
                String::from_utf8(f.name.clone()).unwrap(),
                String::from_utf8(f.value.clone()).unwrap(),
            )
        })
        .collect()
}

fn ex(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

const BIG: usize = 1 << 20;

fn decode_ok(d: &mut Decoder, h: &str) -> DecodedBlock {
    let b = d.decode(&hex(h), BIG);
    assert!(b.complete(), "{b:?}");
    b
}

#[test]
fn c2_literal_and_indexed_fields() {
    let mut d = Decoder::new(BIG);
    let b = decode_ok(
        &mut d,
        "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
    );
    assert_eq!(pairs(&b), ex(&[("custom-key", "custom-header")]));
    assert_eq!(d.retained_bytes(), 55);

    let mut d = Decoder::new(BIG);
    let b = decode_ok(&mut d, "040c 2f73 616d 706c 652f 7061 7468");
    assert_eq!(pairs(&b), ex(&[(":path", "/sample/path")]));
    assert_eq!(d.retained_bytes(), 0);

    let mut d = Decoder::new(BIG);
    let b = decode_ok(&mut d, "1008 7061 7373 776f 7264 0673 6563 7265 74");
    assert_eq!(pairs(&b), ex(&[("password", "secret")]));
    assert!(b.fields[0].never_indexed);
    assert_eq!(d.retained_bytes(), 0);

    let mut d = Decoder::new(BIG);
    assert_eq!(pairs(&decode_ok(&mut d, "82")), ex(&[(":method", "GET")]));
}

fn requests(blocks: [&str; 3]) {
    let mut d = Decoder::new(BIG);
    let r1 = [
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        (":authority", "www.example.com"),
    ];
    assert_eq!(pairs(&decode_ok(&mut d, blocks[0])), ex(&r1));
    assert_eq!(d.retained_bytes(), 57);
    let mut r2 = r1.to_vec();
    r2.push(("cache-control", "no-cache"));
    assert_eq!(pairs(&decode_ok(&mut d, blocks[1])), ex(&r2));
    assert_eq!(d.retained_bytes(), 110);
    let r3 = [
        (":method", "GET"),
        (":scheme", "https"),
        (":path", "/index.html"),
        (":authority", "www.example.com"),
        ("custom-key", "custom-value"),
    ];
    assert_eq!(pairs(&decode_ok(&mut d, blocks[2])), ex(&r3));
    assert_eq!(d.retained_bytes(), 164);
}

#[test]
fn c3_requests_without_huffman() {
    requests([
        "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "8286 84be 5808 6e6f 2d63 6163 6865",
        "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
    ]);
}

#[test]
fn c4_requests_with_huffman() {
    requests([
        "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
        "8286 84be 5886 a8eb 1064 9cbf",
        "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
    ]);
}

fn responses(blocks: [&str; 3]) {
    let mut d = Decoder::new(BIG);
    d.assume_table_size(256);
    let date1 = "Mon, 21 Oct 2013 20:13:21 GMT";
    let url = "https://www.example.com";
    let r1 = [
        (":status", "302"),
        ("cache-control", "private"),
        ("date", date1),
        ("location", url),
    ];
    assert_eq!(pairs(&decode_ok(&mut d, blocks[0])), ex(&r1));
    assert_eq!(d.retained_bytes(), 222);
    let mut r2 = r1;
    r2[0] = (":status", "307");
    assert_eq!(pairs(&decode_ok(&mut d, blocks[1])), ex(&r2));
    assert_eq!(d.retained_bytes(), 222);
    let r3 = [
        (":status", "200"),
        ("cache-control", "private"),
        ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
        ("location", url),
        ("content-encoding", "gzip"),
        (
            "set-cookie",
            "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
        ),
    ];
    assert_eq!(pairs(&decode_ok(&mut d, blocks[2])), ex(&r3));
    assert_eq!(d.retained_bytes(), 215);
}

#[test]
fn c5_responses_without_huffman_evicting() {
    responses([
        "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
         2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
         6c65 2e63 6f6d",
        "4803 3330 37c1 c0bf",
        "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
         54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
         5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
         3d31",
    ]);
}

#[test]
fn c6_responses_with_huffman_evicting() {
    responses([
        "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
         2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        "4883 640e ffc1 c0bf",
        "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
         77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
         9587 3160 65c0 03ed 4ee5 b106 3d50 07",
    ]);
}

#[test]
fn c5_picked_up_after_the_first_block() {
    // The first response (which filled the table) was not captured: the
    // second's references to the dynamic table are lost, never guessed; the
    // literal `:status 307` is decoded.
    let mut d = Decoder::unknown_state(BIG);
    let b = d.decode(&hex("4803 3330 37c1 c0bf"), BIG);
    assert_eq!(pairs(&b), ex(&[(":status", "307")]));
    assert_eq!(b.lost, 3);
    assert!(b.error.is_none());
    // Index 62 is now the entry just added.
    let b = d.decode(&hex("be"), BIG);
    assert_eq!(pairs(&b), ex(&[(":status", "307")]));
    // A size update to 0 empties the table: the state is known again.
    assert!(!d.state_known());
    let b = d.decode(&hex("20 3fe1 1f 82"), BIG);
    assert!(b.complete());
    assert!(d.state_known());
    assert_eq!(
        d.decode(&hex("be"), BIG).error,
        Some(HpackError::IndexOutOfRange(62))
    );
}

#[test]
fn table_known_again_once_known_entries_fill_it() {
    // Size update to 64, then one 52-byte entry: no 32-byte entry fits
    // beside it, so nothing unknown can remain.
    let mut d = Decoder::unknown_state(BIG);
    let mut block = hex("3f21 40");
    block.push(20);
    block.extend_from_slice("k".repeat(20).as_bytes());
    block.push(0);
    let b = d.decode(&block, BIG);
    assert!(b.complete());
    assert!(d.state_known());
}

#[test]
fn hostile_blocks_are_errors_not_panics() {
    let cases: &[(&str, HpackError)] = &[
        ("80", HpackError::ZeroIndex),
        ("ff 80 80 80 80 80 01", HpackError::IntegerOverflow),
        ("ff ff ff ff ff 0f", HpackError::IntegerOverflow),
        ("c0", HpackError::IndexOutOfRange(64)),
        ("40 05 61", HpackError::Truncated),
        ("41", HpackError::Truncated),
        (
            "40 84 ff ff ff ff 00",
            HpackError::Huffman(HuffmanError::Eos),
        ),
        (
            "40 81 ff 00",
            HpackError::Huffman(HuffmanError::LongPadding),
        ),
        ("40 81 18 00", HpackError::Huffman(HuffmanError::BadPadding)),
        ("82 20", HpackError::LateTableSizeUpdate),
        (
            "3fe2 1f",
            HpackError::TableSizeAboveLimit {
                size: 4097,
                limit: 4096,
            },
        ),
    ];
    for (h, want) in cases {
        let mut d = Decoder::new(BIG);
        let b = d.decode(&hex(h), BIG);
        assert_eq!(b.error.as_ref(), Some(want), "{h}");
        assert!(!d.state_known(), "an error leaves the state unknown");
    }
}

#[test]
fn index_bomb_is_bounded_by_the_list_cap() {
    // One 4000-byte entry, then 10 000 one-byte references to it: 40 MB
    // decoded from 10 KB. Only the cap is kept; the rest is counted.
    let mut d = Decoder::new(BIG);
    let mut block = vec![0x40, 0x01, b'x', 0x7f];
    let mut v = 3968 - 127;
    while v >= 128 {
        block.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    block.push(v as u8);
    block.extend(std::iter::repeat_n(b'y', 3968));
    block.extend(std::iter::repeat_n(0xbe, 10_000));
    let b = d.decode(&block, 64 * 1024);
    assert!(b.error.is_none(), "{:?}", b.error);
    assert_eq!(b.fields.len(), 16);
    assert_eq!(b.dropped, 10_001 - 16);
    assert_eq!(b.list_size, 10_001 * 4001);
}

#[test]
fn keep_cap_turns_old_entries_into_lost_ones() {
    let mut d = Decoder::new(100);
    d.assume_table_size(4096);
    // Two 40-byte entries fit in 100, a third pushes the first out of what
    // is kept though the encoder still has it.
    let b = d.decode(
        &hex("4001 6106 3131 3131 3131 4001 6206 3232 3232 3232"),
        BIG,
    );
    assert!(b.complete());
    assert!(!d.take_cap_hit());
    let b = d.decode(&hex("4001 6306 3333 3333 3333"), BIG);
    assert!(b.complete());
    assert!(d.take_cap_hit());
    let b = d.decode(&hex("be bf c0"), BIG);
    assert_eq!(pairs(&b), ex(&[("c", "333333"), ("b", "222222")]));
    assert_eq!(b.lost, 1);
}

/// One header list for the property test: names from a small set so that
/// the encoder finds matches in both tables.
fn field() -> impl Strategy<Value = (Vec<u8>, Vec<u8>, u8)> {
    let names = prop::sample::select(vec![
        ":method",
        ":path",
        ":authority",
        "content-type",
        "x-a",
        "x-bb",
        "sec-websocket-protocol",
    ]);
    (
        prop_oneof![
            names.prop_map(|n| n.as_bytes().to_vec()),
            prop::collection::vec(b'a'..=b'z', 1..12)
        ],
        prop_oneof![
            prop::sample::select(vec!["GET", "/", "a", "chat"]).prop_map(|v| v.as_bytes().to_vec()),
            prop::collection::vec(any::<u8>(), 0..60)
        ],
        prop::sample::select(vec![
            0u8, 0x1, 0x2, 0x3, 0x4, 0x7, 0x8, 0xb, 0x14, 0x17, 0x13,
        ]),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn decodes_what_an_independent_encoder_wrote(
        blocks in prop::collection::vec(
            (prop::option::of(0u32..600), prop::collection::vec(field(), 0..12)),
            1..8,
        ),
        limit in prop::sample::select(vec![0u32, 64, 256, 4096]),
    ) {
        let mut enc = httlib_hpack::Encoder::with_dynamic_size(limit);
        let mut dec = Decoder::new(BIG);
        dec.set_limit(Some(limit));
        // The encoder starts at its limit; tell the decoder as a size update.
        let mut first = true;
        for (update, fields) in blocks {
            let mut wire = Vec::new();
            if first {
                enc.update_max_dynamic_size(limit, &mut wire).unwrap();
                first = false;
            }
            if let Some(u) = update {
                enc.update_max_dynamic_size(u.min(limit), &mut wire).unwrap();
            }
            for f in &fields {
                enc.encode(f.clone(), &mut wire).unwrap();
            }
            let got = dec.decode(&wire, BIG);
            prop_assert!(got.complete(), "{:?}", got);
            let got: Vec<_> = got.fields.iter().map(|f| (f.name.clone(), f.value.clone())).collect();
            let want: Vec<_> = fields.iter().map(|(n, v, _)| (n.clone(), v.clone())).collect();
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn arbitrary_blocks_never_panic(blocks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 1..6)) {
        let mut d = Decoder::unknown_state(4096);
        for b in blocks {
            let got = d.decode(&b, 1024);
            prop_assert!(got.fields.iter().map(Field::size).sum::<usize>() <= 1024);
            prop_assert!(d.retained_bytes() <= 4096);
        }
    }
}
