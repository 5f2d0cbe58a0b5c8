//! Record protection: AEAD decryption of TLS 1.3 records (RFC 8446 §5.2, §5.3) and of
//! TLS 1.2 AEAD records (RFC 5246 §6.2.3.3, RFC 5288 §3 for AES-GCM, RFC 7905 §2 for ChaCha20-Poly1305).

use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes128Gcm, Aes256Gcm, KeyInit};
use chacha20poly1305::ChaCha20Poly1305;

use super::keys::{AeadAlg, TrafficKeys};

/// AEAD tag length of every supported algorithm.
pub(crate) const TAG_LEN: usize = 16;
/// Length of the explicit nonce carried in TLS 1.2 AES-GCM records (RFC 5288 §3).
const GCM_EXPLICIT_NONCE_LEN: usize = 8;

/// Why a record could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum OpenError {
    /// The AEAD tag did not verify (wrong keys, or corrupted data).
    #[error("bad record MAC")]
    BadMac,
    /// The fragment is shorter than the nonce + tag overhead.
    #[error("record too short to be an AEAD record")]
    TooShort,
    /// Keys of the wrong length.
    #[error("bad key material")]
    BadKey,
}

enum Engine {
    Aes128(Box<Aes128Gcm>),
    Aes256(Box<Aes256Gcm>),
    ChaCha(Box<ChaCha20Poly1305>),
}

/// One direction's record decryption state: AEAD instance, IV and sequence number.
pub(crate) struct RecordCipher {
    engine: Engine,
    alg: AeadAlg,
    iv: Vec<u8>,
    /// Sequence number of the next record (RFC 8446 §5.3, RFC 5246 §6.1).
    seq: u64,
}

impl std::fmt::Debug for RecordCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordCipher")
            .field("alg", &self.alg)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl RecordCipher {
    /// A cipher whose sequence number starts at 0.
    pub(crate) fn new(alg: AeadAlg, keys: &TrafficKeys) -> Result<Self, OpenError> {
        let engine = match alg {
            AeadAlg::Aes128Gcm => Engine::Aes128(Box::new(
                Aes128Gcm::new_from_slice(&keys.key).map_err(|_| OpenError::BadKey)?,
            )),
            AeadAlg::Aes256Gcm => Engine::Aes256(Box::new(
                Aes256Gcm::new_from_slice(&keys.key).map_err(|_| OpenError::BadKey)?,
            )),
            AeadAlg::ChaCha20Poly1305 => Engine::ChaCha(Box::new(
                ChaCha20Poly1305::new_from_slice(&keys.key).map_err(|_| OpenError::BadKey)?,
            )),
        };
        Ok(RecordCipher {
            engine,
            alg,
            iv: keys.iv.clone(),
            seq: 0,
        })
    }

    /// Sequence number of the next record.
    #[cfg(test)]
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    fn open_raw(&self, nonce: [u8; 12], aad: &[u8], buf: &mut Vec<u8>) -> Result<(), OpenError> {
        let r = match &self.engine {
            Engine::Aes128(c) => c.decrypt_in_place(&nonce.into(), aad, buf),
            Engine::Aes256(c) => c.decrypt_in_place(&nonce.into(), aad, buf),
            Engine::ChaCha(c) => c.decrypt_in_place(&nonce.into(), aad, buf),
        };
        r.map_err(|_| OpenError::BadMac)
    }

    /// `iv XOR (seq as 64-bit big-endian, left-padded to 12 bytes)`: the TLS 1.3 per-record nonce
    /// (RFC 8446 §5.3) and the TLS 1.2 ChaCha20-Poly1305 nonce (RFC 7905 §2).
    fn xor_nonce(&self) -> Result<[u8; 12], OpenError> {
        let iv: [u8; 12] = self
            .iv
            .as_slice()
            .try_into()
            .map_err(|_| OpenError::BadKey)?;
        let mut nonce = iv;
        for (n, s) in nonce.iter_mut().skip(4).zip(self.seq.to_be_bytes()) {
            *n ^= s;
        }
        Ok(nonce)
    }

    fn bump(&mut self) {
        // 2^64 records cannot occur in a capture; saturate instead of panicking.
        self.seq = self.seq.saturating_add(1);
    }

    /// Opens a TLS 1.3 record (RFC 8446 §5.2): `header` is the 5-byte record header (the AAD),
    /// `fragment` the encrypted_record. On success returns `(content_type, plaintext)` after
    /// removing the zero padding of TLSInnerPlaintext; `Ok(None)` when the inner plaintext is all
    /// zeros (no content type: a protocol violation). The sequence number advances only on success.
    pub(crate) fn open_tls13(
        &mut self,
        header: &[u8; 5],
        fragment: &[u8],
    ) -> Result<Option<(u8, Vec<u8>)>, OpenError> {
        if fragment.len() < TAG_LEN {
            return Err(OpenError::TooShort);
        }
        let nonce = self.xor_nonce()?;
        let mut buf = fragment.to_vec();
        self.open_raw(nonce, header, &mut buf)?;
        self.bump();
        // RFC 8446 §5.4: strip trailing zeros; the last non-zero byte is the real content type.
        match buf.iter().rposition(|&b| b != 0) {
            Some(pos) => {
                let ct = buf.get(pos).copied().unwrap_or(0);
                buf.truncate(pos);
                Ok(Some((ct, buf)))
            }
            None => Ok(None),
        }
    }

    /// Opens a TLS 1.2 AEAD record (RFC 5246 §6.2.3.3). `header` is the record header (its type and
    /// version enter the AAD); the AAD is `seq_num(8) + type(1) + version(2) + length(2)` where length
    /// is the plaintext length. AES-GCM: nonce = 4-byte salt + 8-byte explicit nonce taken from the
    /// start of the fragment (RFC 5288 §3). ChaCha20-Poly1305: nonce = IV XOR seq, no explicit nonce
    /// (RFC 7905 §2). The sequence number advances only on success.
    pub(crate) fn open_tls12(
        &mut self,
        header: &[u8; 5],
        fragment: &[u8],
    ) -> Result<Vec<u8>, OpenError> {
        let (nonce, ciphertext) = match self.alg {
            AeadAlg::Aes128Gcm | AeadAlg::Aes256Gcm => {
                let (explicit, rest) = fragment
                    .split_at_checked(GCM_EXPLICIT_NONCE_LEN)
                    .ok_or(OpenError::TooShort)?;
                let mut nonce = [0u8; 12];
                let (salt_part, explicit_part) = nonce.split_at_mut(4);
                salt_part.copy_from_slice(self.iv.get(..4).ok_or(OpenError::BadKey)?);
                explicit_part.copy_from_slice(explicit);
                (nonce, rest)
            }
            AeadAlg::ChaCha20Poly1305 => (self.xor_nonce()?, fragment),
        };
        let plain_len = ciphertext
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(OpenError::TooShort)?;
        let plain_len = u16::try_from(plain_len).map_err(|_| OpenError::TooShort)?;
        let mut aad = [0u8; 13];
        aad[..8].copy_from_slice(&self.seq.to_be_bytes());
        aad[8..11].copy_from_slice(&header[..3]);
        aad[11..].copy_from_slice(&plain_len.to_be_bytes());
        let mut buf = ciphertext.to_vec();
        self.open_raw(nonce, &aad, &mut buf)?;
        self.bump();
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        s.chunks(2)
            .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
            .collect()
    }

    fn split(rec: &[u8]) -> ([u8; 5], &[u8]) {
        (rec[..5].try_into().unwrap(), &rec[5..])
    }

    /// RFC 8448 §3: "{client} send application_data record" (client application keys, seq 0),
    /// then the client's close_notify alert (seq 1).
    #[test]
    fn rfc8448_client_application_record() {
        let keys = TrafficKeys {
            key: hex("17422dda596ed5d9acd890e3c63f5051"),
            iv: hex("5b78923dee08579033e523d9"),
        };
        let mut c = RecordCipher::new(AeadAlg::Aes128Gcm, &keys).unwrap();
        let rec = hex(
            "1703030043a23f7054b62c94d0affafe8228ba55cbefacea42f914aa66bcab3f\
             2b9819a8a5b46b395bd54a9a20441e2b62974e1f5a6292a2977014bd1e3deae6\
             3aeebb21694915e4",
        );
        let (h, f) = split(&rec);
        let (ct, pt) = c.open_tls13(&h, f).unwrap().unwrap();
        assert_eq!(ct, 23);
        assert_eq!(pt, (0u8..=0x31).collect::<Vec<u8>>());
        assert_eq!(c.seq(), 1);
        let alert = hex("1703030013c9872760655666b74d7ff1153efd6db6d0b0e3");
        let (h, f) = split(&alert);
        let (ct, pt) = c.open_tls13(&h, f).unwrap().unwrap();
        assert_eq!((ct, pt), (21, vec![1, 0]));
    }

    #[test]
    fn tls13_wrong_key_is_bad_mac_and_seq_stays() {
        let keys = TrafficKeys {
            key: hex("17422dda596ed5d9acd890e3c63f5050"),
            iv: hex("5b78923dee08579033e523d9"),
        };
        let mut c = RecordCipher::new(AeadAlg::Aes128Gcm, &keys).unwrap();
        let rec = hex("1703030013c9872760655666b74d7ff1153efd6db6d0b0e3");
        let (h, f) = split(&rec);
        assert_eq!(c.open_tls13(&h, f), Err(OpenError::BadMac));
        assert_eq!(c.seq(), 0);
        assert_eq!(c.open_tls13(&h, &f[..3]), Err(OpenError::TooShort));
    }

    #[test]
    fn tls12_short_fragments_are_errors() {
        let keys = TrafficKeys {
            key: vec![0; 16],
            iv: vec![0; 4],
        };
        let mut c = RecordCipher::new(AeadAlg::Aes128Gcm, &keys).unwrap();
        let h = [23, 3, 3, 0, 0];
        assert_eq!(c.open_tls12(&h, &[0; 7]), Err(OpenError::TooShort));
        assert_eq!(c.open_tls12(&h, &[0; 23]), Err(OpenError::TooShort));
        assert_eq!(c.open_tls12(&h, &[0; 24]), Err(OpenError::BadMac));
        let keys = TrafficKeys {
            key: vec![0; 32],
            iv: vec![0; 12],
        };
        let mut c = RecordCipher::new(AeadAlg::ChaCha20Poly1305, &keys).unwrap();
        assert_eq!(c.open_tls12(&h, &[0; 15]), Err(OpenError::TooShort));
        assert_eq!(c.open_tls12(&h, &[0; 16]), Err(OpenError::BadMac));
        assert!(
            RecordCipher::new(
                AeadAlg::Aes256Gcm,
                &TrafficKeys {
                    key: vec![0; 16],
                    iv: vec![0; 12]
                }
            )
            .is_err()
        );
    }
}
