//! TLS decryption for passive captures (sans-IO).
//!
//! Fed the reassembled TCP byte stream of each direction of one connection, [`TlsConnection`] frames
//! TLS records, follows the handshake in plaintext (ClientHello, ServerHello), derives traffic keys
//! from an NSS key log ([`KeyLog`]) and emits the plaintext of every application_data record with the
//! packets that carried its first and last byte ([`TlsOutput::AppData`]).
//!
//! Supported: TLS 1.3 (RFC 8446) with TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384,
//! TLS_CHACHA20_POLY1305_SHA256, including KeyUpdate; TLS 1.2 (RFC 5246) with the AEAD suites
//! (ECDHE/DHE/RSA + AES-GCM, RFC 5288/5289; ECDHE/DHE + ChaCha20-Poly1305, RFC 7905).
//! Not supported: 0-RTT early data, CBC/CCM suites, TLS 1.2 renegotiation, TLS 1.0/1.1.
mod cipher;
mod handshake;
mod keylog;
mod keys;
mod record;

use std::sync::Arc;

use cipher::{OpenError, RecordCipher};
use handshake::{ClientHello, HandshakeBuffer, Message, ServerHello};
use keys::{Suite, TrafficKeys};
use record::{FramingError, Record, RecordReader};

pub use keylog::{KeyLog, KeyLogError};

/// Packet numbers are only copied from the caller's arguments, never made up.
pub use crate::capture::PacketNo;

/// Reasons reported in [`TlsInfo::reason`].
use crate::model::NotDecrypted;

/// What [`TlsConnection::push`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsOutput<'a> {
    /// Plaintext of one application_data record (inner content type 23 for TLS 1.3).
    AppData {
        /// Sent by the client (the ClientHello's sender).
        from_client: bool,
        /// The decrypted plaintext.
        data: &'a [u8],
        /// Packet that carried the first byte of the record (its 5-byte header).
        first_packet: PacketNo,
        /// Packet that carried the last byte of the record.
        last_packet: PacketNo,
    },
    /// Something worth reporting (bad record MAC, unsupported suite, alert received ...).
    Note {
        /// Concerns the client's direction.
        from_client: bool,
        /// Where it was seen.
        packet: PacketNo,
        /// What happened.
        detail: String,
    },
}

/// What is known of the protocol the server selected by ALPN (RFC 7301):
/// a TLS 1.3 server sends its choice in EncryptedExtensions (RFC 8446
/// §4.3.1), which cannot be read without the keys, so "none" and
/// "unknown" are different answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlpnState {
    /// The server selected the protocol given in `alpn`.
    Selected,
    /// No protocol was negotiated: the server's (readable) hello carried
    /// none, or the client offered none.
    NotNegotiated,
    /// TLS 1.3 without keys: the choice is in the encrypted
    /// EncryptedExtensions.
    Encrypted,
    /// The server's hello was not captured.
    #[default]
    NotCaptured,
}

/// Summary of one TLS connection.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct TlsInfo {
    /// "1.2" | "1.3" (negotiated: ServerHello, supported_versions extension for 1.3).
    pub version: Option<String>,
    /// IANA name, e.g. "TLS_AES_256_GCM_SHA384".
    pub cipher_suite: Option<String>,
    /// ClientHello server_name.
    pub sni: Option<String>,
    /// Protocol selected by the server (ServerHello for 1.2, EncryptedExtensions for 1.3).
    pub alpn: Option<String>,
    /// Whether `alpn` is known, and why not.
    pub alpn_state: AlpnState,
    /// Protocols the client offered (`None`: ClientHello not captured;
    /// empty: no ALPN extension).
    pub alpn_offered: Option<Vec<String>>,
    /// Every application/handshake record that needed decryption was decrypted.
    pub decrypted: bool,
    /// Why not decrypted; `None` when decrypted.
    #[schemars(with = "Option<String>")]
    pub reason: Option<NotDecrypted>,
    /// Records seen `[client, server]`.
    pub records: [u64; 2],
}

/// TLS 1.3 key epoch of one direction (RFC 8446 §7.1, §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Epoch {
    /// Plaintext or TLS 1.2.
    #[default]
    None,
    /// Handshake traffic keys.
    Handshake,
    /// Application traffic keys of generation N (KeyUpdate increments it).
    Application,
}

/// State of one direction.
#[derive(Debug, Default)]
struct Side {
    reader: RecordReader,
    hs: HandshakeBuffer,
    /// Records from now on are protected (TLS 1.2: after ChangeCipherSpec; TLS 1.3: after ServerHello).
    encrypted: bool,
    /// Decrypts this direction's records; `None` when we cannot (no keys, failure).
    cipher: Option<RecordCipher>,
    /// TLS 1.2: keys to install at this direction's ChangeCipherSpec (RFC 5246 §7.1).
    pending12: Option<TrafficKeys>,
    epoch: Epoch,
    /// TLS 1.3: current application traffic secret (for KeyUpdate).
    app_secret: Option<Vec<u8>>,
    /// TLS 1.3 client: a record under the handshake keys decrypted (no more 0-RTT after it).
    hs_record_opened: bool,
    /// Framing lost: ignore all further bytes.
    stopped: bool,
    records: u64,
}

/// Per-TCP-connection TLS decryptor.
#[derive(Debug)]
pub struct TlsConnection {
    keylog: Option<Arc<KeyLog>>,
    /// `(client, server)`.
    sides: (Side, Side),
    client_hello: Option<ClientHello>,
    server_hello: Option<ServerHello>,
    suite: Option<Suite>,
    alpn: Option<String>,
    /// TLS 1.3: the server's EncryptedExtensions was read.
    encrypted_extensions_seen: bool,
    /// Handshake not captured: only count records.
    blind: bool,
    reason: Option<NotDecrypted>,
}

fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSL 3.0".to_string(),
        0x0301 => "1.0".to_string(),
        0x0302 => "1.1".to_string(),
        0x0303 => "1.2".to_string(),
        0x0304 => "1.3".to_string(),
        other => format!("0x{other:04x}"),
    }
}

/// Alert description names (RFC 8446 §6, RFC 5246 §7.2).
fn alert_name(d: u8) -> &'static str {
    match d {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        22 => "record_overflow",
        40 => "handshake_failure",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => "unknown",
    }
}

fn alert_detail(body: &[u8]) -> String {
    match body {
        [level, desc] => format!(
            "TLS alert: {} {} ({level}/{desc})",
            match level {
                1 => "warning",
                2 => "fatal",
                _ => "level?",
            },
            alert_name(*desc)
        ),
        _ => format!("malformed TLS alert ({} bytes)", body.len()),
    }
}

type Out<'o> = &'o mut dyn FnMut(TlsOutput<'_>);

impl TlsConnection {
    /// A decryptor for one TCP connection. Without a key log (or with an empty one) nothing is
    /// decrypted, but version, cipher suite, SNI and (TLS 1.2) ALPN are still reported.
    pub fn new(keylog: Option<Arc<KeyLog>>) -> Self {
        let keylog = keylog.filter(|k| !k.is_empty());
        TlsConnection {
            reason: keylog.is_none().then_some(NotDecrypted::NoKeyLog),
            keylog,
            sides: Default::default(),
            client_hello: None,
            server_hello: None,
            suite: None,
            alpn: None,
            encrypted_extensions_seen: false,
            blind: false,
        }
    }

    /// Quick check on the first bytes a side sends: does it look like a TLS record (handshake 0x16,
    /// version 0x03 0x00..=0x04)? Checks as many of the 5 header bytes as are given (at least one);
    /// with the full header also requires a non-zero length within the record size limit.
    pub fn looks_like_tls(first_bytes: &[u8]) -> bool {
        match first_bytes {
            [] => false,
            [t] => *t == record::CT_HANDSHAKE,
            [t, ma] => *t == record::CT_HANDSHAKE && *ma == 3,
            [t, ma, mi] | [t, ma, mi, _] => *t == record::CT_HANDSHAKE && *ma == 3 && *mi <= 4,
            [t, ma, mi, l0, l1, ..] => {
                let len = usize::from(u16::from_be_bytes([*l0, *l1]));
                *t == record::CT_HANDSHAKE
                    && *ma == 3
                    && *mi <= 4
                    && len > 0
                    && len <= record::MAX_FRAGMENT
            }
        }
    }

    /// Feeds in-order reassembled bytes of one direction. `src` is the packet that carried all of
    /// `data` (callers call once per packet piece). Emits application data and notes through `out`.
    pub fn push(
        &mut self,
        from_client: bool,
        data: &[u8],
        src: PacketNo,
        out: &mut impl FnMut(TlsOutput<'_>),
    ) {
        self.push_dyn(from_client, data, src, out);
    }

    fn push_dyn(&mut self, from_client: bool, data: &[u8], src: PacketNo, out: Out<'_>) {
        if self.side(from_client).stopped || data.is_empty() {
            return;
        }
        let mut reader = std::mem::take(&mut self.side_mut(from_client).reader);
        let result = reader.push(data, src, &mut |rec| self.on_record(from_client, &rec, out));
        self.side_mut(from_client).reader = reader;
        if let Err(e) = result {
            self.side_mut(from_client).stopped = true;
            let detail = match e {
                FramingError::TooLong(_) => e.to_string(),
                FramingError::BadHeader { .. } => format!("not a TLS record stream: {e}"),
            };
            out(TlsOutput::Note {
                from_client,
                packet: src,
                detail: detail.clone(),
            });
            if self.client_hello.is_none() {
                self.not_captured();
            } else {
                self.fail(NotDecrypted::Record(detail));
            }
        }
    }

    /// `len` bytes of this direction were not captured: record boundaries and sequence numbers are
    /// lost, so this direction is not followed any further.
    pub fn gap(&mut self, from_client: bool, len: u64) {
        if len == 0 {
            return;
        }
        let side = self.side_mut(from_client);
        if side.stopped {
            return;
        }
        side.stopped = true;
        side.cipher = None;
        self.fail(NotDecrypted::BytesMissing);
    }

    fn alpn_state(&self) -> AlpnState {
        let offered_none = self
            .client_hello
            .as_ref()
            .is_some_and(|c| c.alpn.as_ref().is_none_or(Vec::is_empty));
        match self.server_hello.as_ref() {
            _ if self.alpn.is_some() => AlpnState::Selected,
            // RFC 7301 §3.1: a server answers ALPN only when it was offered.
            _ if offered_none => AlpnState::NotNegotiated,
            Some(sh) if sh.is_hrr() => AlpnState::NotCaptured,
            Some(sh) if sh.version() == 0x0304 && !self.encrypted_extensions_seen => {
                AlpnState::Encrypted
            }
            Some(_) => AlpnState::NotNegotiated,
            None => AlpnState::NotCaptured,
        }
    }

    /// What is known about the connection so far.
    pub fn info(&self) -> TlsInfo {
        let sh = self.server_hello.as_ref();
        TlsInfo {
            version: sh.map(|s| version_name(s.version())),
            cipher_suite: sh.map(|s| keys::suite_name(s.cipher_suite)),
            sni: self.client_hello.as_ref().and_then(|c| c.sni.clone()),
            alpn: self.alpn.clone(),
            alpn_state: self.alpn_state(),
            alpn_offered: self
                .client_hello
                .as_ref()
                .map(|c| c.alpn.clone().unwrap_or_default()),
            decrypted: self.reason.is_none(),
            reason: self.reason.clone(),
            records: [self.sides.0.records, self.sides.1.records],
        }
    }

    fn side_mut(&mut self, from_client: bool) -> &mut Side {
        if from_client {
            &mut self.sides.0
        } else {
            &mut self.sides.1
        }
    }

    fn side(&self, from_client: bool) -> &Side {
        if from_client {
            &self.sides.0
        } else {
            &self.sides.1
        }
    }

    /// Records the first reason decryption is incomplete.
    fn fail(&mut self, reason: NotDecrypted) {
        if self.reason.is_none() {
            self.reason = Some(reason);
        }
    }

    fn not_captured(&mut self) {
        self.fail(NotDecrypted::HandshakeNotCaptured);
        self.blind = true;
        for s in [&mut self.sides.0, &mut self.sides.1] {
            s.cipher = None;
            s.pending12 = None;
        }
    }

    fn is_tls13(&self) -> bool {
        self.server_hello
            .as_ref()
            .is_some_and(|s| !s.is_hrr() && s.version() == 0x0304)
    }

    fn on_record(&mut self, from_client: bool, rec: &Record<'_>, out: Out<'_>) {
        let side = self.side_mut(from_client);
        side.records = side.records.saturating_add(1);
        if self.blind {
            return;
        }
        let ct = rec.content_type();
        if self.client_hello.is_none() && !(from_client && ct == record::CT_HANDSHAKE) {
            // The stream does not begin with the ClientHello.
            self.not_captured();
            return;
        }
        let encrypted = self.side(from_client).encrypted;
        match ct {
            record::CT_CHANGE_CIPHER_SPEC => self.on_ccs(from_client, rec, out),
            // TLS 1.3 sends only application_data-typed records once protected (RFC 8446 §5.2);
            // anything else is a plaintext record (e.g. an alert before the peer had keys).
            record::CT_APPLICATION_DATA if encrypted => self.on_protected(from_client, rec, out),
            _ if encrypted && !self.is_tls13() => self.on_protected(from_client, rec, out),
            record::CT_HANDSHAKE => {
                self.on_plain_handshake(from_client, rec.fragment, rec.last_packet, out)
            }
            record::CT_ALERT => out(TlsOutput::Note {
                from_client,
                packet: rec.last_packet,
                detail: alert_detail(rec.fragment),
            }),
            record::CT_APPLICATION_DATA => self.on_unexpected_plain_appdata(from_client, rec, out),
            _ => {} // heartbeat: ignored
        }
    }

    fn on_unexpected_plain_appdata(&mut self, from_client: bool, rec: &Record<'_>, out: Out<'_>) {
        let early = from_client
            && self.server_hello.is_none()
            && self
                .client_hello
                .as_ref()
                .is_some_and(|c| c.offers_early_data);
        let detail = if early {
            "0-RTT early data record not decrypted"
        } else {
            "application_data record before the handshake completed"
        };
        out(TlsOutput::Note {
            from_client,
            packet: rec.last_packet,
            detail: detail.to_string(),
        });
        self.fail(if early {
            NotDecrypted::EarlyData
        } else {
            NotDecrypted::DataBeforeHandshake
        });
    }

    /// ChangeCipherSpec: TLS 1.2 switches this direction to the pending keys with sequence number 0
    /// (RFC 5246 §7.1, §6.1); TLS 1.3 ignores it (middlebox compatibility, RFC 8446 §5, §D.4).
    fn on_ccs(&mut self, from_client: bool, rec: &Record<'_>, out: Out<'_>) {
        // Only after a (non-HRR) ServerHello of a version below 1.3 does a CCS switch keys.
        let Some(sh) = self.server_hello.as_ref() else {
            return;
        };
        if sh.is_hrr() || sh.version() == 0x0304 {
            return;
        }
        let is12 = sh.version() == 0x0303;
        let side = self.side_mut(from_client);
        if side.encrypted {
            side.cipher = None;
            out(TlsOutput::Note {
                from_client,
                packet: rec.last_packet,
                detail: "second ChangeCipherSpec (renegotiation) not supported".to_string(),
            });
            self.fail(NotDecrypted::Renegotiation);
            return;
        }
        side.encrypted = true;
        side.hs.clear();
        if !is12 {
            return; // TLS 1.0/1.1: reason already set
        }
        if let Some(keys) = side.pending12.take() {
            let suite = self.suite;
            if let Some(suite) = suite {
                match RecordCipher::new(suite.aead, &keys) {
                    Ok(c) => self.side_mut(from_client).cipher = Some(c),
                    Err(_) => self.fail(NotDecrypted::NoKey),
                }
            }
        }
    }

    /// Plaintext handshake records: ClientHello / ServerHello (other messages are not needed).
    fn on_plain_handshake(
        &mut self,
        from_client: bool,
        fragment: &[u8],
        packet: PacketNo,
        out: Out<'_>,
    ) {
        let msgs = match self.side_mut(from_client).hs.push(fragment) {
            Ok(m) => m,
            Err(e) => {
                self.handshake_error(from_client, packet, &e.to_string(), out);
                return;
            }
        };
        for m in msgs {
            if self.client_hello.is_none() {
                // Only reachable for the client: the first message must be a ClientHello.
                if m.msg_type != handshake::HT_CLIENT_HELLO {
                    self.not_captured();
                    return;
                }
                match handshake::parse_client_hello(&m.body) {
                    Some(ch) => self.client_hello = Some(ch),
                    None => {
                        self.handshake_error(from_client, packet, "malformed ClientHello", out);
                        self.not_captured();
                        return;
                    }
                }
                continue;
            }
            if !from_client && m.msg_type == handshake::HT_SERVER_HELLO {
                match handshake::parse_server_hello(&m.body) {
                    Some(sh) => self.on_server_hello(sh, packet, out),
                    None => self.handshake_error(from_client, packet, "malformed ServerHello", out),
                }
            }
        }
    }

    fn handshake_error(&mut self, from_client: bool, packet: PacketNo, what: &str, out: Out<'_>) {
        out(TlsOutput::Note {
            from_client,
            packet,
            detail: what.to_string(),
        });
        self.fail(NotDecrypted::Handshake(what.to_string()));
    }

    /// ServerHello: negotiated version and suite; set up keys from the key log.
    fn on_server_hello(&mut self, sh: ServerHello, packet: PacketNo, out: Out<'_>) {
        if sh.is_hrr() {
            // HelloRetryRequest (RFC 8446 §4.1.4): a second ClientHello and ServerHello follow.
            self.server_hello = Some(sh);
            return;
        }
        let version = sh.version();
        if version == 0x0303 {
            self.alpn = sh.alpn.clone();
        }
        let id = sh.cipher_suite;
        let psk = sh.psk;
        let resumed12 = !sh.session_id.is_empty()
            && self
                .client_hello
                .as_ref()
                .is_some_and(|c| c.session_id == sh.session_id);
        self.server_hello = Some(sh);
        if version != 0x0303 && version != 0x0304 {
            let why = format!("unsupported TLS version {}", version_name(version));
            self.handshake_error(false, packet, &why, out);
            return;
        }
        let tls13 = version == 0x0304;
        if tls13 {
            // Both directions are protected from here on (RFC 8446 §2).
            for s in [&mut self.sides.0, &mut self.sides.1] {
                s.encrypted = true;
                s.hs.clear();
            }
        }
        let Some(suite) = keys::find_suite(id, tls13) else {
            let why = format!("unsupported cipher suite {}", keys::suite_name(id));
            self.handshake_error(false, packet, &why, out);
            return;
        };
        self.suite = Some(suite);
        let (Some(keylog), Some(ch)) = (self.keylog.clone(), self.client_hello.as_ref()) else {
            return; // no key log: reason already set
        };
        let random = ch.random;
        let missing = if psk || resumed12 {
            NotDecrypted::ResumptionWithoutKeys
        } else {
            NotDecrypted::NoKey
        };
        if tls13 {
            let secrets = keylog.tls13(&random);
            let hs = secrets
                .and_then(|s| Some((s.client_handshake.as_ref()?, s.server_handshake.as_ref()?)));
            let Some((c_hs, s_hs)) = hs else {
                self.fail(missing);
                return;
            };
            for (from_client, secret) in [(true, c_hs), (false, s_hs)] {
                match self.tls13_cipher(&suite, secret) {
                    Some(c) => {
                        self.side_mut(from_client).cipher = Some(c);
                        self.side_mut(from_client).epoch = Epoch::Handshake;
                    }
                    None => self.fail(NotDecrypted::SecretSuiteMismatch),
                }
            }
        } else {
            let Some(master) = keylog.master_secret(&random) else {
                self.fail(missing);
                return;
            };
            let server_random = self
                .server_hello
                .as_ref()
                .map(|s| s.random)
                .unwrap_or_default();
            match keys::tls12_key_block(&suite, master, &random, &server_random) {
                Ok((c, s)) => {
                    self.sides.0.pending12 = Some(c);
                    self.sides.1.pending12 = Some(s);
                }
                Err(_) => self.fail(NotDecrypted::NoKey),
            }
        }
    }

    /// A TLS 1.3 record cipher from a traffic secret (RFC 8446 §7.3); `None` when the secret length
    /// does not match the suite's hash.
    fn tls13_cipher(&self, suite: &Suite, secret: &[u8]) -> Option<RecordCipher> {
        if secret.len() != suite.hash.len() {
            return None;
        }
        let k = keys::tls13_traffic_keys(suite, secret).ok()?;
        RecordCipher::new(suite.aead, &k).ok()
    }

    /// A protected record: TLS 1.3 (outer type application_data) or TLS 1.2 after ChangeCipherSpec.
    fn on_protected(&mut self, from_client: bool, rec: &Record<'_>, out: Out<'_>) {
        let tls13 = self.is_tls13();
        let Some(cipher) = self.side_mut(from_client).cipher.as_mut() else {
            if !tls13 && self.server_hello.is_none() {
                self.fail(NotDecrypted::HandshakeNotCaptured);
            }
            return; // cannot decrypt: reason already recorded
        };
        let opened = if tls13 {
            cipher.open_tls13(&rec.header, rec.fragment)
        } else {
            cipher
                .open_tls12(&rec.header, rec.fragment)
                .map(|pt| Some((rec.content_type(), pt)))
        };
        match opened {
            Ok(Some((ct, pt))) => {
                if self.side_mut(from_client).epoch == Epoch::Handshake {
                    self.side_mut(from_client).hs_record_opened = true;
                }
                self.on_plaintext(from_client, ct, &pt, rec, out);
            }
            Ok(None) => {
                self.side_mut(from_client).cipher = None;
                self.handshake_error(
                    from_client,
                    rec.last_packet,
                    "TLS 1.3 record without content type (all-zero plaintext)",
                    out,
                );
            }
            Err(e) => {
                let side = self.side(from_client);
                let early = tls13
                    && from_client
                    && side.epoch == Epoch::Handshake
                    && !side.hs_record_opened
                    && self
                        .client_hello
                        .as_ref()
                        .is_some_and(|c| c.offers_early_data);
                if early && e == OpenError::BadMac {
                    // 0-RTT data under the early traffic keys, before the client's handshake records.
                    out(TlsOutput::Note {
                        from_client,
                        packet: rec.last_packet,
                        detail: "0-RTT early data record not decrypted".to_string(),
                    });
                    self.fail(NotDecrypted::EarlyData);
                    return;
                }
                self.side_mut(from_client).cipher = None;
                out(TlsOutput::Note {
                    from_client,
                    packet: rec.last_packet,
                    detail: format!("{e}: cannot decrypt this direction any further"),
                });
                self.fail(NotDecrypted::BadRecordMac);
            }
        }
    }

    /// Decrypted record content by (inner) content type.
    fn on_plaintext(
        &mut self,
        from_client: bool,
        ct: u8,
        pt: &[u8],
        rec: &Record<'_>,
        out: Out<'_>,
    ) {
        match ct {
            record::CT_APPLICATION_DATA => out(TlsOutput::AppData {
                from_client,
                data: pt,
                first_packet: rec.first_packet,
                last_packet: rec.last_packet,
            }),
            record::CT_ALERT => out(TlsOutput::Note {
                from_client,
                packet: rec.last_packet,
                detail: alert_detail(pt),
            }),
            record::CT_HANDSHAKE => {
                let msgs = match self.side_mut(from_client).hs.push(pt) {
                    Ok(m) => m,
                    Err(e) => {
                        self.side_mut(from_client).cipher = None;
                        self.handshake_error(from_client, rec.last_packet, &e.to_string(), out);
                        return;
                    }
                };
                for m in msgs {
                    self.on_protected_handshake(from_client, &m, rec.last_packet, out);
                }
            }
            _ => out(TlsOutput::Note {
                from_client,
                packet: rec.last_packet,
                detail: format!("unexpected protected record of content type {ct}"),
            }),
        }
    }

    /// Protected handshake messages. TLS 1.3: EncryptedExtensions (ALPN), Finished (switch to the
    /// application traffic keys, RFC 8446 §7.1 / §4.4.4), KeyUpdate (RFC 8446 §4.6.3, §7.2);
    /// TLS 1.2: Finished (nothing to do) and renegotiation (unsupported).
    fn on_protected_handshake(
        &mut self,
        from_client: bool,
        m: &Message,
        packet: PacketNo,
        out: Out<'_>,
    ) {
        if !self.is_tls13() {
            if matches!(m.msg_type, 0 | handshake::HT_CLIENT_HELLO) {
                out(TlsOutput::Note {
                    from_client,
                    packet,
                    detail: "TLS 1.2 renegotiation started (not supported)".to_string(),
                });
            }
            return;
        }
        let Some(suite) = self.suite else { return };
        match m.msg_type {
            handshake::HT_ENCRYPTED_EXTENSIONS if !from_client => {
                self.alpn = handshake::parse_encrypted_extensions_alpn(&m.body);
                self.encrypted_extensions_seen = true;
            }
            handshake::HT_FINISHED if self.side(from_client).epoch == Epoch::Handshake => {
                let secret = self.keylog.as_ref().and_then(|k| {
                    let s = k.tls13(&self.client_hello.as_ref()?.random)?;
                    if from_client {
                        s.client_traffic0.clone()
                    } else {
                        s.server_traffic0.clone()
                    }
                });
                self.install_app_secret(from_client, &suite, secret, packet, out);
            }
            handshake::HT_KEY_UPDATE if self.side(from_client).epoch == Epoch::Application => {
                let next = self
                    .side_mut(from_client)
                    .app_secret
                    .as_ref()
                    .and_then(|s| keys::tls13_next_secret(suite.hash, s).ok());
                self.install_app_secret(from_client, &suite, next, packet, out);
            }
            handshake::HT_NEW_SESSION_TICKET | handshake::HT_END_OF_EARLY_DATA => {}
            _ => {}
        }
    }

    /// Switches one direction to (new) application traffic keys, sequence number 0 (RFC 8446 §5.3).
    fn install_app_secret(
        &mut self,
        from_client: bool,
        suite: &Suite,
        secret: Option<Vec<u8>>,
        packet: PacketNo,
        out: Out<'_>,
    ) {
        let cipher = secret.as_ref().and_then(|s| self.tls13_cipher(suite, s));
        let side = self.side_mut(from_client);
        side.epoch = Epoch::Application;
        side.hs.clear();
        match cipher {
            Some(c) => {
                side.cipher = Some(c);
                side.app_secret = secret;
            }
            None => {
                side.cipher = None;
                side.app_secret = None;
                out(TlsOutput::Note {
                    from_client,
                    packet,
                    detail: "no usable application traffic secret in the key log".to_string(),
                });
                self.fail(NotDecrypted::NoKey);
            }
        }
    }
}

/// Test-only conversions between packet numbers and integers: the only test lines to change when
/// `PacketNo` becomes a newtype (`PacketNo(n)` and `p.0`).
#[cfg(test)]
mod test_pk {
    pub(crate) fn pk(n: u64) -> super::PacketNo {
        super::PacketNo(n)
    }
    pub(crate) fn num(p: super::PacketNo) -> u64 {
        p.0
    }
}

#[cfg(test)]
mod tests;
