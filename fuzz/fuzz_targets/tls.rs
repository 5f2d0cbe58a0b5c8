//! The TLS layer over arbitrary record streams, both directions
//! interleaved: no panic, no plaintext larger than a TLS record can hold.
//! The sample key logs are loaded, so mutated copies of the real wss
//! handshakes (the seeds) reach key derivation and record decryption.
//!
//! Input: records of `[ctl u8][len u16 BE][len bytes]`; ctl bit 0 set =
//! from the server, bit 1 set = a gap of `len` bytes instead of data.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use wsinspect::capture::PacketNo;
use wsinspect::tls::{KeyLog, TlsConnection, TlsOutput};

/// RFC 8446 §5.2 / RFC 5246 §6.2.3: at most 2^14 + 2048 bytes of ciphertext.
const MAX_RECORD: usize = (1 << 14) + 2048;

static KEYS: OnceLock<Arc<KeyLog>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let keys = KEYS.get_or_init(|| {
        let text = concat!(
            include_str!("../../captures/wss_tls12.keylog"),
            "\n",
            include_str!("../../captures/wss_tls13.keylog")
        );
        Arc::new(KeyLog::parse(text).0)
    });
    let mut conn = TlsConnection::new(Some(keys.clone()));
    let mut rest = data;
    let mut packet = 0u64;
    while let [ctl, hi, lo, tail @ ..] = rest {
        let from_client = ctl & 1 == 0;
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        packet += 1;
        if ctl & 2 != 0 {
            conn.gap(from_client, len as u64);
            rest = tail;
            continue;
        }
        let (chunk, next) = tail.split_at(len.min(tail.len()));
        conn.push(from_client, chunk, PacketNo(packet), &mut |o| {
            if let TlsOutput::AppData { data, .. } = o {
                assert!(data.len() <= MAX_RECORD);
            }
        });
        rest = next;
    }
    let _ = conn.info();
});
