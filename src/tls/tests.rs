//! Connection-level tests on the RFC 8448 §3 "Simple 1-RTT Handshake" transcript.

use super::test_pk::{num, pk};
use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    s.chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
        .collect()
}

const CLIENT_RANDOM: &str = "cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7";

/// RFC 8448 §3 traffic secrets as an NSS key log.
fn rfc8448_keylog() -> String {
    [
        (
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
            "b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21",
        ),
        (
            "SERVER_HANDSHAKE_TRAFFIC_SECRET",
            "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38",
        ),
        (
            "CLIENT_TRAFFIC_SECRET_0",
            "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5",
        ),
        (
            "SERVER_TRAFFIC_SECRET_0",
            "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643",
        ),
    ]
    .iter()
    .map(|(l, s)| format!("{l} {CLIENT_RANDOM} {s}\n"))
    .collect()
}

/// Builds a record from a type/version prefix and a hex fragment.
fn rec(prefix: &str, fragment: &str) -> Vec<u8> {
    let f = hex(fragment);
    let mut r = hex(prefix);
    r.extend_from_slice(&(f.len() as u16).to_be_bytes());
    r.extend_from_slice(&f);
    r
}

/// RFC 8448 §3 records in transmission order: `(from_client, record bytes)`.
fn rfc8448_records() -> Vec<(bool, Vec<u8>)> {
    let ch = rec(
        "160301",
        "010000c00303cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7000006130113031302010000910000000b0009000006736572766572ff01000100000a00140012001d0017001800190100010101020103010400230000003300260024001d002099381de560e4bd43d23d8e435a7dbafeb3c06e51c13cae4d5413691e529aaf2c002b0003020304000d0020001e040305030603020308040805080604010501060102010402050206020202002d00020101001c00024001",
    );
    let sh = rec(
        "160303",
        "020000560303a6af06a4121860dc5e6e60249cd34c95930c8ac5cb1434dac155772ed3e2692800130100002e00330024001d0020c9828876112095fe66762bdbf7c672e156d6cc253b833df1dd69b1b04e751f0f002b00020304",
    );
    let s_hs = rec(
        "170303",
        "d1ff334a56f5bff6594a07cc87b580233f500f45e489e7f33af35edf7869fcf40aa40aa2b8ea73f848a7ca07612ef9f945cb960b4068905123ea78b111b429ba9191cd05d2a389280f526134aadc7fc78c4b729df828b5ecf7b13bd9aefb0e57f271585b8ea9bb355c7c79020716cfb9b1183ef3ab20e37d57a6b9d7477609aee6e122a4cf51427325250c7d0e509289444c9b3a648f1d71035d2ed65b0e3cdd0cbae8bf2d0b227812cbb360987255cc744110c453baa4fcd610928d809810e4b7ed1a8fd991f06aa6248204797e36a6a73b70a2559c09ead686945ba246ab66e5edd8044b4c6de3fcf2a89441ac66272fd8fb330ef8190579b3684596c960bd596eea520a56a8d650f563aad27409960dca63d3e688611ea5e22f4415cf9538d51a200c27034272968a264ed6540c84838d89f72c24461aad6d26f59ecaba9acbbb317b66d902f4f292a36ac1b639c637ce343117b659622245317b49eeda0c6258f100d7d961ffb138647e92ea330faeea6dfa31c7a84dc3bd7e1b7a6c7178af36879018e3f252107f243d243dc7339d5684c8b0378bf30244da8c87c843f5e56eb4c5e8280a2b48052cf93b16499a66db7cca71e4599426f7d461e66f99882bd89fc50800becca62d6c74116dbd2972fda1fa80f85df881edbe5a37668936b335583b599186dc5c6918a396fa48a181d6b6fa4f9d62d513afbb992f2b992f67f8afe67f76913fa388cb5630c8ca01e0c65d11c66a1e2ac4c85977b7c7a6999bbf10dc35ae69f5515614636c0b9b68c19ed2e31c0b3b66763038ebba42f3b38edc0399f3a9f23faa63978c317fc9fa66a73f60f0504de93b5b845e275592c12335ee340bbc4fddd502784016e4b3be7ef04dda49f4b440a30cb5d2af939828fd4ae3794e44f94df5a631ede42c1719bfdabf0253fe5175be898e750edc53370d2b",
    );
    let c_fin = rec(
        "170303",
        "75ec4dc238cce60b298044a71e219c56cc77b0517fe9b93c7a4bfc44d87f38f80338ac98fc46deb384bd1caeacab6867d726c40546",
    );
    let s_nst = rec(
        "170303",
        "3a6b8f90414a97d6959c3487680de5134a2b240e6cffac116e95d41d6af8f6b580dcf3d11d63c758db289a015940252f55713e061dc13e078891a38efbcf5753ad8ef170ad3c7353d16d9da773b9ca7f2b9fa1b6c0d4a3d03f75e09c30ba1e62972ac46f75f7b981be63439b2999ce13064615139891d5e4c5b406f16e3fc181a77ca475840025db2f0a77f81b5ab05b94c01346755f69232c86519d86cbeeac87aac347d143f9605d64f650db4d023e70e952ca49fe5137121c74bc2697687e248746d6df353005f3bce18696129c8153556b3b6c6779b37bf15985684f",
    );
    let c_app = rec(
        "170303",
        "a23f7054b62c94d0affafe8228ba55cbefacea42f914aa66bcab3f2b9819a8a5b46b395bd54a9a20441e2b62974e1f5a6292a2977014bd1e3deae63aeebb21694915e4",
    );
    let s_app = rec(
        "170303",
        "2e937e11ef4ac740e538ad36005fc4a46932fc3225d05f82aa1b36e30efaf97d90e6dffc602dcb501a59a8fcc49c4bf2e5f0a21c0047c2abf332540dd032e167c2955d",
    );
    let c_alert = rec("170303", "c9872760655666b74d7ff1153efd6db6d0b0e3");
    let s_alert = rec("170303", "b58fd67166ebf599d24720cfbe7efa7a8864a9");
    assert_eq!(s_hs.len(), 5 + 0x2a2);
    assert_eq!(s_nst.len(), 5 + 0xde);
    vec![
        (true, ch),
        (false, sh),
        (false, s_hs),
        (true, c_fin),
        (false, s_nst),
        (true, c_app),
        (false, s_app),
        (true, c_alert),
        (false, s_alert),
    ]
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    App(bool, Vec<u8>, u64, u64),
    Note(bool, u64, String),
}

fn collect_into(v: &mut Vec<Ev>) -> impl FnMut(TlsOutput<'_>) + '_ {
    |o| match o {
        TlsOutput::AppData {
            from_client,
            data,
            first_packet,
            last_packet,
        } => v.push(Ev::App(
            from_client,
            data.to_vec(),
            num(first_packet),
            num(last_packet),
        )),
        TlsOutput::Note {
            from_client,
            packet,
            detail,
        } => v.push(Ev::Note(from_client, num(packet), detail)),
    }
}

/// Feeds every record as one packet (packet numbers 1, 2, ...).
fn run_whole(conn: &mut TlsConnection, records: &[(bool, Vec<u8>)]) -> Vec<Ev> {
    let mut ev = Vec::new();
    {
        let mut sink = collect_into(&mut ev);
        for (n, (c, r)) in records.iter().enumerate() {
            conn.push(*c, r, pk(n as u64 + 1), &mut sink);
        }
    }
    ev
}

fn keylog(text: &str) -> Option<Arc<KeyLog>> {
    let (k, errs) = KeyLog::parse(text);
    assert!(errs.is_empty(), "{errs:?}");
    Some(Arc::new(k))
}

fn payload() -> Vec<u8> {
    (0u8..=0x31).collect()
}

#[test]
fn rfc8448_full_connection_decrypts() {
    let mut conn = TlsConnection::new(keylog(&rfc8448_keylog()));
    let ev = run_whole(&mut conn, &rfc8448_records());
    let apps: Vec<&Ev> = ev.iter().filter(|e| matches!(e, Ev::App(..))).collect();
    assert_eq!(
        apps,
        vec![
            &Ev::App(true, payload(), 6, 6),
            &Ev::App(false, payload(), 7, 7)
        ]
    );
    let notes: Vec<&Ev> = ev.iter().filter(|e| matches!(e, Ev::Note(..))).collect();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(matches!(notes[0], Ev::Note(true, 8, d) if d.contains("close_notify")));
    assert!(matches!(notes[1], Ev::Note(false, 9, d) if d.contains("close_notify")));
    let info = conn.info();
    assert_eq!(
        info,
        TlsInfo {
            version: Some("1.3".into()),
            cipher_suite: Some("TLS_AES_128_GCM_SHA256".into()),
            sni: Some("server".into()),
            alpn: None,
            // RFC 8448 §3: the ClientHello offers no ALPN.
            alpn_state: super::AlpnState::NotNegotiated,
            alpn_offered: Some(vec![]),
            decrypted: true,
            reason: None,
            records: [4, 5],
        }
    );
}

/// The whole transcript as one stream per direction, fed one byte per packet, gives the same
/// plaintext with first/last packet = the packets of the record's first/last byte.
#[test]
fn rfc8448_byte_by_byte() {
    let records = rfc8448_records();
    let mut conn = TlsConnection::new(keylog(&rfc8448_keylog()));
    let mut ev = Vec::new();
    let mut sink = collect_into(&mut ev);
    let mut packet: u64 = 0;
    let mut spans = Vec::new();
    for (c, r) in &records {
        let first = packet + 1;
        for b in r {
            packet += 1;
            conn.push(*c, std::slice::from_ref(b), pk(packet), &mut sink);
        }
        spans.push((first, packet));
    }
    drop(sink);
    let apps: Vec<Ev> = ev
        .into_iter()
        .filter(|e| matches!(e, Ev::App(..)))
        .collect();
    assert_eq!(
        apps,
        vec![
            Ev::App(true, payload(), spans[5].0, spans[5].1),
            Ev::App(false, payload(), spans[6].0, spans[6].1),
        ]
    );
    assert!(conn.info().decrypted);
}

/// Several records in one piece, and one record split in two pieces.
#[test]
fn rfc8448_coalesced_records() {
    let records = rfc8448_records();
    let mut conn = TlsConnection::new(keylog(&rfc8448_keylog()));
    let mut ev = Vec::new();
    let mut sink = collect_into(&mut ev);
    conn.push(true, &records[0].1, pk(1), &mut sink);
    let mut server: Vec<u8> = records[1].1.clone();
    server.extend_from_slice(&records[2].1);
    conn.push(false, &server, pk(2), &mut sink);
    conn.push(true, &records[3].1, pk(3), &mut sink);
    // NST + app data + alert of the server in one stream, split in the middle of the app record.
    let mut tail = records[4].1.clone();
    tail.extend_from_slice(&records[6].1);
    let cut = records[4].1.len() + 10;
    conn.push(true, &records[5].1, pk(4), &mut sink);
    conn.push(false, &tail[..cut], pk(5), &mut sink);
    conn.push(false, &tail[cut..], pk(6), &mut sink);
    drop(sink);
    let apps: Vec<Ev> = ev
        .into_iter()
        .filter(|e| matches!(e, Ev::App(..)))
        .collect();
    assert_eq!(
        apps,
        vec![
            Ev::App(true, payload(), 4, 4),
            Ev::App(false, payload(), 5, 6)
        ]
    );
}

#[test]
fn wrong_keys_give_bad_record_mac_and_no_output() {
    let bad = rfc8448_keylog().replace("b67b7d69", "b67b7d60");
    let mut conn = TlsConnection::new(keylog(&bad));
    let ev = run_whole(&mut conn, &rfc8448_records());
    assert!(
        !ev.iter().any(|e| matches!(e, Ev::App(false, ..))),
        "{ev:?}"
    );
    assert!(
        ev.iter()
            .any(|e| matches!(e, Ev::Note(false, 3, d) if d.contains("bad record MAC")))
    );
    let info = conn.info();
    assert!(!info.decrypted);
    assert_eq!(info.reason, Some(crate::model::NotDecrypted::BadRecordMac));
    assert_eq!(info.records, [4, 5]);

    // Wrong application secret only: the handshake decrypts, application data does not.
    let bad = rfc8448_keylog().replace("9e40646c", "9e40646d");
    let mut conn = TlsConnection::new(keylog(&bad));
    let ev = run_whole(&mut conn, &rfc8448_records());
    assert!(!ev.iter().any(|e| matches!(e, Ev::App(true, ..))));
    assert!(ev.iter().any(|e| matches!(e, Ev::App(false, ..))));
    assert_eq!(
        conn.info().reason,
        Some(crate::model::NotDecrypted::BadRecordMac)
    );
}

#[test]
fn without_keys_reports_handshake_facts() {
    let mut conn = TlsConnection::new(None);
    let ev = run_whole(&mut conn, &rfc8448_records());
    assert!(!ev.iter().any(|e| matches!(e, Ev::App(..))));
    let info = conn.info();
    assert_eq!(info.version.as_deref(), Some("1.3"));
    assert_eq!(info.cipher_suite.as_deref(), Some("TLS_AES_128_GCM_SHA256"));
    assert_eq!(info.sni.as_deref(), Some("server"));
    assert_eq!(info.reason, Some(crate::model::NotDecrypted::NoKeyLog));
    assert!(!info.decrypted);
    assert_eq!(info.records, [4, 5]);

    let other = rfc8448_keylog().replace(CLIENT_RANDOM, &"11".repeat(32));
    let mut conn = TlsConnection::new(keylog(&other));
    run_whole(&mut conn, &rfc8448_records());
    assert_eq!(conn.info().reason, Some(crate::model::NotDecrypted::NoKey));
}

#[test]
fn mid_connection_start_is_handshake_not_captured() {
    let records = rfc8448_records();
    let mut conn = TlsConnection::new(keylog(&rfc8448_keylog()));
    let ev = run_whole(&mut conn, &records[5..]);
    assert!(!ev.iter().any(|e| matches!(e, Ev::App(..))));
    let info = conn.info();
    assert_eq!(
        info.reason,
        Some(crate::model::NotDecrypted::HandshakeNotCaptured)
    );
    assert_eq!(info.version, None);

    // Starting in the middle of a record: framing is garbage.
    let mut conn = TlsConnection::new(keylog(&rfc8448_keylog()));
    let mut ev = Vec::new();
    conn.push(true, &records[0].1[7..], pk(1), &mut collect_into(&mut ev));
    assert_eq!(
        conn.info().reason,
        Some(crate::model::NotDecrypted::HandshakeNotCaptured)
    );
}

#[test]
fn gap_stops_the_direction() {
    let records = rfc8448_records();
    let mut conn = TlsConnection::new(keylog(&rfc8448_keylog()));
    let mut ev = run_whole(&mut conn, &records[..5]);
    conn.gap(true, 100);
    let mut sink = collect_into(&mut ev);
    conn.push(true, &records[5].1, pk(6), &mut sink);
    conn.push(false, &records[6].1, pk(7), &mut sink);
    drop(sink);
    let apps: Vec<&Ev> = ev.iter().filter(|e| matches!(e, Ev::App(..))).collect();
    assert_eq!(apps, vec![&Ev::App(false, payload(), 7, 7)]);
    assert_eq!(
        conn.info().reason,
        Some(crate::model::NotDecrypted::BytesMissing)
    );
}

#[test]
fn oversized_record_stops_the_direction() {
    let records = rfc8448_records();
    let mut conn = TlsConnection::new(keylog(&rfc8448_keylog()));
    let mut ev = run_whole(&mut conn, &records[..4]);
    conn.push(
        false,
        &[23, 3, 3, 0xff, 0xff],
        pk(9),
        &mut collect_into(&mut ev),
    );
    let info = conn.info();
    assert!(!info.decrypted);
    assert!(
        info.reason
            .unwrap()
            .to_string()
            .contains("exceeds the maximum")
    );
}

#[test]
fn looks_like_tls() {
    assert!(TlsConnection::looks_like_tls(&[0x16, 3, 1, 0, 0xc4, 1]));
    assert!(TlsConnection::looks_like_tls(&[0x16, 3]));
    assert!(!TlsConnection::looks_like_tls(b"GET / HTTP/1.1"));
    assert!(!TlsConnection::looks_like_tls(&[]));
    assert!(!TlsConnection::looks_like_tls(&[0x16, 3, 5]));
    assert!(!TlsConnection::looks_like_tls(&[0x16, 3, 3, 0, 0]));
    assert!(!TlsConnection::looks_like_tls(&[0x17, 3, 3, 0, 5]));
}

/// KeyUpdate (RFC 8446 §4.6.3): records after it use the next secret (§7.2). Built by sealing
/// records with our own key schedule on top of the RFC 8448 application secret.
#[test]
fn key_update_switches_to_next_secret() {
    use aes_gcm::aead::AeadInOut;
    use aes_gcm::{Aes128Gcm, KeyInit};
    let suite = keys::find_suite(0x1301, true).unwrap();
    let seal = |secret: &[u8], seq: u64, inner: &[u8]| -> Vec<u8> {
        let k = keys::tls13_traffic_keys(&suite, secret).unwrap();
        let mut nonce: [u8; 12] = k.iv.as_slice().try_into().unwrap();
        for (n, s) in nonce.iter_mut().skip(4).zip(seq.to_be_bytes()) {
            *n ^= s;
        }
        let header = [23u8, 3, 3, 0, (inner.len() + 16) as u8];
        let mut buf = inner.to_vec();
        Aes128Gcm::new_from_slice(&k.key)
            .unwrap()
            .encrypt_in_place(&nonce.into(), &header, &mut buf)
            .unwrap();
        let mut r = header.to_vec();
        r.extend_from_slice(&buf);
        r
    };
    let c_ap0 = hex("9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5");
    let c_ap1 = keys::tls13_next_secret(suite.hash, &c_ap0).unwrap();
    let mut records = rfc8448_records();
    records.truncate(6); // through the client's first application record (seq 0)
    records.push((true, seal(&c_ap0, 1, &[24, 0, 0, 1, 0, 22]))); // KeyUpdate(update_not_requested)
    records.push((true, seal(&c_ap1, 0, b"after update\x17\x00\x00")));
    let mut conn = TlsConnection::new(keylog(&rfc8448_keylog()));
    let ev = run_whole(&mut conn, &records);
    let apps: Vec<&Ev> = ev
        .iter()
        .filter(|e| matches!(e, Ev::App(true, ..)))
        .collect();
    assert_eq!(apps.len(), 2, "{ev:?}");
    assert_eq!(apps[1], &Ev::App(true, b"after update".to_vec(), 8, 8));
    assert!(conn.info().decrypted);
}

/// No input panics: random mutations of the transcript.
#[test]
fn mutated_transcripts_do_not_panic() {
    let records = rfc8448_records();
    let mut seed: u64 = 0x1234_5678_9abc_def0;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..300 {
        let mut conn = TlsConnection::new(keylog(&rfc8448_keylog()));
        let mut ev = Vec::new();
        let mut sink = collect_into(&mut ev);
        for (n, (c, r)) in records.iter().enumerate() {
            let mut r = r.clone();
            if next() % 3 == 0 && !r.is_empty() {
                let pos = (next() as usize) % r.len();
                r[pos] ^= (next() as u8) | 1;
            }
            if next() % 5 == 0 {
                let cut = (next() as usize) % (r.len() + 1);
                r.truncate(cut);
            }
            conn.push(*c, &r, pk(n as u64 + 1), &mut sink);
        }
        drop(sink);
        let _ = conn.info();
    }
}

/// TLS 1.2 AES-128-GCM (RFC 5288) vector from the wss_tls12 capture (node/OpenSSL): key block from
/// the CLIENT_RANDOM master secret (RFC 5246 §6.3), then the client's Finished record.
#[test]
fn tls12_aes128gcm_real_finished_record() {
    let suite = keys::find_suite(0xC02F, false).unwrap();
    let master = hex(
        "a24b89d3c69c33efc9123cf3ff3141eeaf852235a1a31c1bfbdddc1d8ca673b79058d8f47f08d7b8e30a38c37f418421",
    );
    let cr: [u8; 32] = hex("971f4e9c403ed35ce5716bfa2cc1498646a1fc04c75ec8105f7a55ea77261f50")
        .try_into()
        .unwrap();
    let sr: [u8; 32] = hex("61fe26e5b4e3c392a6144020dedc1a83baf4b2eefff6b97f93df8857cbedc5de")
        .try_into()
        .unwrap();
    let (client, server) = keys::tls12_key_block(&suite, &master, &cr, &sr).unwrap();
    assert_eq!((client.key.len(), client.iv.len()), (16, 4));
    assert_ne!(client.key, server.key);
    let record = hex(
        "160303002817de0ea4e0f4fd4c41fae968f52cdf589bb932ef38769138c3783391b3da7a7ee2c734fef3038808",
    );
    let header: [u8; 5] = record[..5].try_into().unwrap();
    let mut c = cipher::RecordCipher::new(suite.aead, &client).unwrap();
    let pt = c.open_tls12(&header, &record[5..]).unwrap();
    // Finished: type 20, length 12, verify_data (RFC 5246 §7.4.9).
    assert_eq!(pt.len(), 16);
    assert_eq!(pt[..4], [20, 0, 0, 12]);
    assert_eq!(c.seq(), 1);
    // The server's keys do not open the client's record.
    let mut s = cipher::RecordCipher::new(suite.aead, &server).unwrap();
    assert!(s.open_tls12(&header, &record[5..]).is_err());
}

#[test]
fn unsupported_suite_is_reported() {
    let mut records = rfc8448_records();
    let sh = &mut records[1].1;
    let pos = sh
        .windows(6)
        .position(|w| w == hex("00130100002e"))
        .unwrap();
    sh[pos + 2] = 0x04; // 0x1304 TLS_AES_128_CCM_SHA256
    let mut conn = TlsConnection::new(keylog(&rfc8448_keylog()));
    let ev = run_whole(&mut conn, &records);
    assert!(!ev.iter().any(|e| matches!(e, Ev::App(..))));
    let info = conn.info();
    assert_eq!(info.cipher_suite.as_deref(), Some("TLS_AES_128_CCM_SHA256"));
    assert_eq!(
        info.reason.as_ref().map(ToString::to_string).as_deref(),
        Some("unsupported cipher suite TLS_AES_128_CCM_SHA256")
    );
}

/// A TLS 1.3 ServerHello with pre_shared_key (RFC 8446 §4.2.11) and no key log entry.
#[test]
fn psk_resumption_without_keys() {
    let records = rfc8448_records();
    let mut body = hex("0303");
    body.extend_from_slice(&[0x42; 32]);
    body.extend_from_slice(&hex("00130100"));
    let exts = hex("002b00020304002900020000");
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut msg = vec![2, 0, 0, body.len() as u8];
    msg.extend_from_slice(&body);
    let mut sh = hex("160303");
    sh.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    sh.extend_from_slice(&msg);
    let other = rfc8448_keylog().replace(CLIENT_RANDOM, &"11".repeat(32));
    let mut conn = TlsConnection::new(keylog(&other));
    run_whole(&mut conn, &[records[0].clone(), (false, sh)]);
    assert_eq!(
        conn.info().reason,
        Some(crate::model::NotDecrypted::ResumptionWithoutKeys)
    );
}
