//! Handshake message reassembly (RFC 8446 §4, RFC 5246 §7.4) and the few fields we read:
//! ClientHello random / session id / server_name (RFC 6066 §3), ServerHello random / cipher suite /
//! supported_versions (RFC 8446 §4.2.1) / ALPN (RFC 7301 §3.1), EncryptedExtensions ALPN.

use super::keylog::ClientRandom;

pub(crate) const HT_CLIENT_HELLO: u8 = 1;
pub(crate) const HT_SERVER_HELLO: u8 = 2;
pub(crate) const HT_NEW_SESSION_TICKET: u8 = 4;
pub(crate) const HT_END_OF_EARLY_DATA: u8 = 5;
pub(crate) const HT_ENCRYPTED_EXTENSIONS: u8 = 8;
pub(crate) const HT_FINISHED: u8 = 20;
pub(crate) const HT_KEY_UPDATE: u8 = 24;

const EXT_SERVER_NAME: u16 = 0;
const EXT_ALPN: u16 = 16;
const EXT_PRE_SHARED_KEY: u16 = 41;
const EXT_EARLY_DATA: u16 = 42;
const EXT_SUPPORTED_VERSIONS: u16 = 43;

/// ServerHello.random of a HelloRetryRequest (RFC 8446 §4.1.3).
const HRR_RANDOM: [u8; 32] = [
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
];

/// Largest handshake message we reassemble (certificate chains can be large; 2^24-1 is the format limit).
const MAX_MESSAGE: usize = 1 << 20;

/// Checked big-endian reader.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (a, b) = self.0.split_at_checked(n)?;
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }
    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
    fn random(&mut self) -> Option<[u8; 32]> {
        self.take(32)?.try_into().ok()
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Iterates `(type, data)` of an extensions block; stops at the first malformed entry.
fn extensions(block: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut r = Reader(block);
    std::iter::from_fn(move || {
        if r.is_empty() {
            return None;
        }
        let t = r.u16()?;
        let d = r.vec16()?;
        Some((t, d))
    })
}

/// What we need from a ClientHello (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ClientHello {
    pub(crate) random: ClientRandom,
    pub(crate) session_id: Vec<u8>,
    pub(crate) sni: Option<String>,
    pub(crate) offers_early_data: bool,
    /// The protocols offered in the ALPN extension (RFC 7301 §3.1), in the
    /// client's order; `None` without the extension.
    pub(crate) alpn: Option<Vec<String>>,
}

pub(crate) fn parse_client_hello(body: &[u8]) -> Option<ClientHello> {
    let mut r = Reader(body);
    let _legacy_version = r.u16()?;
    let random = r.random()?;
    let session_id = r.vec8()?.to_vec();
    let _suites = r.vec16()?;
    let _compression = r.vec8()?;
    let mut ch = ClientHello {
        random,
        session_id,
        ..ClientHello::default()
    };
    if r.is_empty() {
        return Some(ch);
    }
    for (t, d) in extensions(r.vec16()?) {
        match t {
            EXT_SERVER_NAME => ch.sni = parse_sni(d),
            EXT_EARLY_DATA => ch.offers_early_data = true,
            EXT_ALPN => ch.alpn = Some(parse_alpn_list(d)),
            _ => {}
        }
    }
    Some(ch)
}

/// server_name extension (RFC 6066 §3): the first host_name entry.
fn parse_sni(d: &[u8]) -> Option<String> {
    let mut r = Reader(Reader(d).vec16()?);
    while !r.is_empty() {
        let name_type = r.u8()?;
        let name = r.vec16()?;
        if name_type == 0 {
            return Some(String::from_utf8_lossy(name).into_owned());
        }
    }
    None
}

/// The client's ALPN list (RFC 7301 §3.1), up to the first malformed entry.
fn parse_alpn_list(d: &[u8]) -> Vec<String> {
    let Some(list) = Reader(d).vec16() else {
        return Vec::new();
    };
    let mut r = Reader(list);
    std::iter::from_fn(|| r.vec8())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect()
}

/// ALPN extension (RFC 7301 §3.1): the first protocol of the list (the server sends exactly one).
fn parse_alpn(d: &[u8]) -> Option<String> {
    let mut r = Reader(Reader(d).vec16()?);
    let p = r.vec8()?;
    Some(String::from_utf8_lossy(p).into_owned())
}

/// What we need from a ServerHello (RFC 8446 §4.1.3, RFC 5246 §7.4.1.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ServerHello {
    pub(crate) random: [u8; 32],
    pub(crate) legacy_version: u16,
    pub(crate) session_id: Vec<u8>,
    pub(crate) cipher_suite: u16,
    /// supported_versions extension (TLS 1.3: 0x0304).
    pub(crate) selected_version: Option<u16>,
    pub(crate) alpn: Option<String>,
    /// pre_shared_key extension present: a TLS 1.3 PSK (resumption) handshake.
    pub(crate) psk: bool,
}

impl ServerHello {
    /// The negotiated version: supported_versions if present, else legacy_version.
    pub(crate) fn version(&self) -> u16 {
        self.selected_version.unwrap_or(self.legacy_version)
    }
    /// This is a HelloRetryRequest (RFC 8446 §4.1.3), not a real ServerHello.
    pub(crate) fn is_hrr(&self) -> bool {
        self.random == HRR_RANDOM
    }
}

pub(crate) fn parse_server_hello(body: &[u8]) -> Option<ServerHello> {
    let mut r = Reader(body);
    let legacy_version = r.u16()?;
    let random = r.random()?;
    let session_id = r.vec8()?.to_vec();
    let cipher_suite = r.u16()?;
    let _compression = r.u8()?;
    let mut sh = ServerHello {
        random,
        legacy_version,
        session_id,
        cipher_suite,
        ..ServerHello::default()
    };
    if r.is_empty() {
        return Some(sh);
    }
    for (t, d) in extensions(r.vec16()?) {
        match t {
            EXT_SUPPORTED_VERSIONS => sh.selected_version = Reader(d).u16(),
            EXT_ALPN => sh.alpn = parse_alpn(d),
            EXT_PRE_SHARED_KEY => sh.psk = true,
            _ => {}
        }
    }
    Some(sh)
}

/// ALPN from EncryptedExtensions (RFC 8446 §4.3.1).
pub(crate) fn parse_encrypted_extensions_alpn(body: &[u8]) -> Option<String> {
    let block = Reader(body).vec16()?;
    extensions(block)
        .find(|(t, _)| *t == EXT_ALPN)
        .and_then(|(_, d)| parse_alpn(d))
}

/// A handshake message reassembled from one or more records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    pub(crate) msg_type: u8,
    pub(crate) body: Vec<u8>,
}

/// The handshake message stream is malformed beyond repair.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("handshake message of {0} bytes is too large")]
pub(crate) struct MessageTooLarge(pub(crate) usize);

/// Reassembles handshake messages (`type(1) length(3) body`) that may span records or share one
/// (RFC 8446 §5.1, RFC 5246 §6.2.1).
#[derive(Debug, Default)]
pub(crate) struct HandshakeBuffer {
    buf: Vec<u8>,
}

impl HandshakeBuffer {
    /// Appends record plaintext and returns every message now complete.
    pub(crate) fn push(&mut self, data: &[u8]) -> Result<Vec<Message>, MessageTooLarge> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        let mut pos = 0usize;
        while let Some(&[t, a, b, c]) = self.buf.get(pos..pos.saturating_add(4)) {
            let len = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
            if len > MAX_MESSAGE {
                self.buf.clear();
                return Err(MessageTooLarge(len));
            }
            let start = pos.saturating_add(4);
            let Some(body) = self.buf.get(start..start.saturating_add(len)) else {
                break;
            };
            out.push(Message {
                msg_type: t,
                body: body.to_vec(),
            });
            pos = start.saturating_add(len);
        }
        self.buf.drain(..pos.min(self.buf.len()));
        Ok(out)
    }

    /// A message is partially buffered.
    #[cfg(test)]
    pub(crate) fn is_partial(&self) -> bool {
        !self.buf.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        s.as_bytes()
            .chunks(2)
            .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
            .collect()
    }

    /// RFC 8448 §3 ClientHello and ServerHello.
    #[test]
    fn rfc8448_hellos() {
        let ch = hex(
            "010000c00303cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7000006130113031302010000910000000b0009000006736572766572ff01000100000a00140012001d0017001800190100010101020103010400230000003300260024001d002099381de560e4bd43d23d8e435a7dbafeb3c06e51c13cae4d5413691e529aaf2c002b0003020304000d0020001e040305030603020308040805080604010501060102010402050206020202002d00020101001c00024001",
        );
        let mut hb = HandshakeBuffer::default();
        let msgs = hb.push(&ch[..10]).unwrap();
        assert!(msgs.is_empty() && hb.is_partial());
        let msgs = hb.push(&ch[10..]).unwrap();
        assert_eq!(msgs.len(), 1);
        assert!(!hb.is_partial());
        let c = parse_client_hello(&msgs[0].body).unwrap();
        assert_eq!(c.sni.as_deref(), Some("server"));
        assert_eq!(c.random[..4], [0xcb, 0x34, 0xec, 0xb1]);
        let sh = hex(
            "020000560303a6af06a4121860dc5e6e60249cd34c95930c8ac5cb1434dac155772ed3e2692800130100002e00330024001d0020c9828876112095fe66762bdbf7c672e156d6cc253b833df1dd69b1b04e751f0f002b00020304",
        );
        let msgs = hb.push(&sh).unwrap();
        let s = parse_server_hello(&msgs[0].body).unwrap();
        assert_eq!(s.version(), 0x0304);
        assert_eq!(s.cipher_suite, 0x1301);
        assert!(!s.is_hrr() && !s.psk);
        let ee =
            hex("080000240022000a00140012001d00170018001901000101010201030104001c0002400100000000");
        let msgs = hb.push(&ee).unwrap();
        assert_eq!(msgs[0].msg_type, HT_ENCRYPTED_EXTENSIONS);
        assert_eq!(parse_encrypted_extensions_alpn(&msgs[0].body), None);
    }

    #[test]
    fn truncated_messages_parse_to_none() {
        let ch = hex("0303cb34ecb1");
        assert!(parse_client_hello(&ch).is_none());
        assert!(parse_server_hello(&ch).is_none());
        assert!(parse_encrypted_extensions_alpn(&[0x00]).is_none());
        let mut hb = HandshakeBuffer::default();
        assert!(hb.push(&[1, 0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn alpn_in_encrypted_extensions() {
        // extensions: ALPN ["http/1.1"]
        let mut ext = vec![0x00, 0x10, 0x00, 0x0b, 0x00, 0x09, 0x08];
        ext.extend_from_slice(b"http/1.1");
        let mut body = (ext.len() as u16).to_be_bytes().to_vec();
        body.extend_from_slice(&ext);
        assert_eq!(
            parse_encrypted_extensions_alpn(&body).as_deref(),
            Some("http/1.1")
        );
    }

    /// The client's ALPN list (RFC 7301 §3.1) in order; a list cut short
    /// keeps the whole entries before the cut.
    #[test]
    fn client_alpn_list() {
        let mut list = vec![0x02];
        list.extend_from_slice(b"h2");
        list.push(0x08);
        list.extend_from_slice(b"http/1.1");
        let mut d = (list.len() as u16).to_be_bytes().to_vec();
        d.extend_from_slice(&list);
        assert_eq!(parse_alpn_list(&d), ["h2", "http/1.1"]);
        // The outer length claims more than there is: nothing is read.
        assert!(parse_alpn_list(&d[..d.len() - 1]).is_empty());
        // An entry longer than what is left ends the list.
        let mut cut = vec![0x00, 0x06, 0x02];
        cut.extend_from_slice(b"h2");
        cut.extend_from_slice(&[0x09, b'x', b'y']);
        assert_eq!(parse_alpn_list(&cut), ["h2"]);
    }
}
