//! Key derivation: TLS 1.3 HKDF-Expand-Label (RFC 8446 §7.1, §7.3, §7.2) and the
//! TLS 1.2 PRF / key block (RFC 5246 §5, §6.3), plus the cipher suite table.

use hmac::{KeyInit, Mac};
use sha2::{Sha256, Sha384};

/// Hash function of a cipher suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HashAlg {
    Sha256,
    Sha384,
}

impl HashAlg {
    /// Output length in bytes (`Hash.length` in RFC 8446).
    pub(crate) fn len(self) -> usize {
        match self {
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
        }
    }
}

/// AEAD algorithm of a cipher suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AeadAlg {
    Aes128Gcm,
    Aes256Gcm,
    ChaCha20Poly1305,
}

impl AeadAlg {
    /// Key length in bytes.
    pub(crate) fn key_len(self) -> usize {
        match self {
            AeadAlg::Aes128Gcm => 16,
            AeadAlg::Aes256Gcm | AeadAlg::ChaCha20Poly1305 => 32,
        }
    }

    /// Length of the write IV taken from the TLS 1.2 key block: the 4-byte implicit salt
    /// for AES-GCM (RFC 5288 §3), the full 12-byte IV for ChaCha20-Poly1305 (RFC 7905 §2).
    pub(crate) fn tls12_fixed_iv_len(self) -> usize {
        match self {
            AeadAlg::Aes128Gcm | AeadAlg::Aes256Gcm => 4,
            AeadAlg::ChaCha20Poly1305 => 12,
        }
    }
}

/// A cipher suite this module can decrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Suite {
    pub(crate) id: u16,
    pub(crate) name: &'static str,
    pub(crate) tls13: bool,
    pub(crate) aead: AeadAlg,
    pub(crate) hash: HashAlg,
}

const fn s(id: u16, name: &'static str, tls13: bool, aead: AeadAlg, hash: HashAlg) -> Suite {
    Suite {
        id,
        name,
        tls13,
        aead,
        hash,
    }
}

/// Suites with AEAD protection that we decrypt (RFC 8446 §B.4, RFC 5288 §3, RFC 5289 §3, RFC 7905 §2).
const SUPPORTED: &[Suite] = &[
    s(
        0x1301,
        "TLS_AES_128_GCM_SHA256",
        true,
        AeadAlg::Aes128Gcm,
        HashAlg::Sha256,
    ),
    s(
        0x1302,
        "TLS_AES_256_GCM_SHA384",
        true,
        AeadAlg::Aes256Gcm,
        HashAlg::Sha384,
    ),
    s(
        0x1303,
        "TLS_CHACHA20_POLY1305_SHA256",
        true,
        AeadAlg::ChaCha20Poly1305,
        HashAlg::Sha256,
    ),
    s(
        0xC02F,
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        false,
        AeadAlg::Aes128Gcm,
        HashAlg::Sha256,
    ),
    s(
        0xC030,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        false,
        AeadAlg::Aes256Gcm,
        HashAlg::Sha384,
    ),
    s(
        0xC02B,
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        false,
        AeadAlg::Aes128Gcm,
        HashAlg::Sha256,
    ),
    s(
        0xC02C,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        false,
        AeadAlg::Aes256Gcm,
        HashAlg::Sha384,
    ),
    s(
        0xCCA8,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        false,
        AeadAlg::ChaCha20Poly1305,
        HashAlg::Sha256,
    ),
    s(
        0xCCA9,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        false,
        AeadAlg::ChaCha20Poly1305,
        HashAlg::Sha256,
    ),
    s(
        0xCCAA,
        "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        false,
        AeadAlg::ChaCha20Poly1305,
        HashAlg::Sha256,
    ),
    s(
        0x009E,
        "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
        false,
        AeadAlg::Aes128Gcm,
        HashAlg::Sha256,
    ),
    s(
        0x009F,
        "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
        false,
        AeadAlg::Aes256Gcm,
        HashAlg::Sha384,
    ),
    s(
        0x009C,
        "TLS_RSA_WITH_AES_128_GCM_SHA256",
        false,
        AeadAlg::Aes128Gcm,
        HashAlg::Sha256,
    ),
    s(
        0x009D,
        "TLS_RSA_WITH_AES_256_GCM_SHA384",
        false,
        AeadAlg::Aes256Gcm,
        HashAlg::Sha384,
    ),
];

/// IANA names of common suites we can name but not decrypt.
const NAMED_ONLY: &[(u16, &str)] = &[
    (0x1304, "TLS_AES_128_CCM_SHA256"),
    (0x1305, "TLS_AES_128_CCM_8_SHA256"),
    (0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA"),
    (0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA"),
    (0x003C, "TLS_RSA_WITH_AES_128_CBC_SHA256"),
    (0x003D, "TLS_RSA_WITH_AES_256_CBC_SHA256"),
    (0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA"),
    (0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA"),
    (0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256"),
    (0x006B, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256"),
    (0xC009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"),
    (0xC00A, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"),
    (0xC013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
    (0xC014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"),
    (0xC023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"),
    (0xC024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384"),
    (0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"),
    (0xC028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384"),
    (0xC0AC, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM"),
    (0xC0AD, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM"),
];

/// The decryptable suite with this id for this protocol version, if any.
pub(crate) fn find_suite(id: u16, tls13: bool) -> Option<Suite> {
    SUPPORTED
        .iter()
        .find(|s| s.id == id && s.tls13 == tls13)
        .copied()
}

/// IANA name of a suite, or `0xXXXX` when unknown.
pub(crate) fn suite_name(id: u16) -> String {
    if let Some(s) = SUPPORTED.iter().find(|s| s.id == id) {
        return s.name.to_string();
    }
    if let Some((_, n)) = NAMED_ONLY.iter().find(|(i, _)| *i == id) {
        return (*n).to_string();
    }
    format!("0x{id:04X}")
}

/// Key derivation failed (only for impossible key lengths; never on valid input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key derivation failed")]
pub(crate) struct KdfError;

/// HMAC over the concatenation of `parts` (RFC 2104).
pub(crate) fn hmac(hash: HashAlg, key: &[u8], parts: &[&[u8]]) -> Result<Vec<u8>, KdfError> {
    match hash {
        HashAlg::Sha256 => {
            let mut m =
                <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key).map_err(|_| KdfError)?;
            for p in parts {
                m.update(p);
            }
            Ok(m.finalize().into_bytes().to_vec())
        }
        HashAlg::Sha384 => {
            let mut m =
                <hmac::Hmac<Sha384> as KeyInit>::new_from_slice(key).map_err(|_| KdfError)?;
            for p in parts {
                m.update(p);
            }
            Ok(m.finalize().into_bytes().to_vec())
        }
    }
}

/// HKDF-Expand (RFC 5869 §2.3) with `prk` used directly as the PRK (TLS 1.3
/// secrets are PRKs already: RFC 8446 §7.1). The `hkdf` crate enforces
/// `L <= 255*HashLen` and a PRK at least one hash long.
pub(crate) fn hkdf_expand(
    hash: HashAlg,
    prk: &[u8],
    info: &[u8],
    len: usize,
) -> Result<Vec<u8>, KdfError> {
    let mut out = vec![0; len];
    match hash {
        HashAlg::Sha256 => hkdf::Hkdf::<Sha256>::from_prk(prk)
            .map_err(|_| KdfError)?
            .expand(info, &mut out),
        HashAlg::Sha384 => hkdf::Hkdf::<Sha384>::from_prk(prk)
            .map_err(|_| KdfError)?
            .expand(info, &mut out),
    }
    .map_err(|_| KdfError)?;
    Ok(out)
}

/// HKDF-Expand-Label (RFC 8446 §7.1):
/// `HkdfLabel = uint16 length || opaque label<7..255> = "tls13 " + Label || opaque context<0..255>`.
pub(crate) fn hkdf_expand_label(
    hash: HashAlg,
    secret: &[u8],
    label: &str,
    context: &[u8],
    len: usize,
) -> Result<Vec<u8>, KdfError> {
    let full_label_len = 6usize.checked_add(label.len()).ok_or(KdfError)?;
    let label_len = u8::try_from(full_label_len).map_err(|_| KdfError)?;
    let ctx_len = u8::try_from(context.len()).map_err(|_| KdfError)?;
    let out_len = u16::try_from(len).map_err(|_| KdfError)?;
    let mut info = Vec::with_capacity(
        full_label_len
            .saturating_add(4)
            .saturating_add(context.len()),
    );
    info.extend_from_slice(&out_len.to_be_bytes());
    info.push(label_len);
    info.extend_from_slice(b"tls13 ");
    info.extend_from_slice(label.as_bytes());
    info.push(ctx_len);
    info.extend_from_slice(context);
    hkdf_expand(hash, secret, &info, len)
}

/// Traffic key and IV of one direction.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct TrafficKeys {
    pub(crate) key: Vec<u8>,
    /// TLS 1.3: the 12-byte `iv`; TLS 1.2 AES-GCM: the 4-byte salt; TLS 1.2 ChaCha20: 12-byte IV.
    pub(crate) iv: Vec<u8>,
}

impl std::fmt::Debug for TrafficKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TrafficKeys(..)")
    }
}

/// TLS 1.3 traffic key calculation (RFC 8446 §7.3):
/// `key = HKDF-Expand-Label(Secret, "key", "", key_length)`,
/// `iv = HKDF-Expand-Label(Secret, "iv", "", iv_length)` with iv_length 12 for all our AEADs.
pub(crate) fn tls13_traffic_keys(suite: &Suite, secret: &[u8]) -> Result<TrafficKeys, KdfError> {
    Ok(TrafficKeys {
        key: hkdf_expand_label(suite.hash, secret, "key", b"", suite.aead.key_len())?,
        iv: hkdf_expand_label(suite.hash, secret, "iv", b"", 12)?,
    })
}

/// Next application traffic secret after a KeyUpdate (RFC 8446 §7.2):
/// `application_traffic_secret_N+1 = HKDF-Expand-Label(application_traffic_secret_N, "traffic upd", "", Hash.length)`.
pub(crate) fn tls13_next_secret(hash: HashAlg, secret: &[u8]) -> Result<Vec<u8>, KdfError> {
    hkdf_expand_label(hash, secret, "traffic upd", b"", hash.len())
}

/// TLS 1.2 PRF (RFC 5246 §5): `PRF(secret, label, seed) = P_<hash>(secret, label + seed)` with
/// `P_hash = HMAC(secret, A(1) + seed) + HMAC(secret, A(2) + seed) + ...`, `A(0) = seed`,
/// `A(i) = HMAC(secret, A(i-1))`.
pub(crate) fn tls12_prf(
    hash: HashAlg,
    secret: &[u8],
    label: &[u8],
    seed: &[u8],
    len: usize,
) -> Result<Vec<u8>, KdfError> {
    let mut out = Vec::with_capacity(len);
    let mut a = hmac(hash, secret, &[label, seed])?; // A(1)
    while out.len() < len {
        let block = hmac(hash, secret, &[&a, label, seed])?;
        let need = len.saturating_sub(out.len()).min(block.len());
        out.extend_from_slice(block.get(..need).ok_or(KdfError)?);
        a = hmac(hash, secret, &[&a])?;
    }
    Ok(out)
}

/// TLS 1.2 key block (RFC 5246 §6.3):
/// `key_block = PRF(master_secret, "key expansion", server_random + client_random)`, partitioned into
/// client/server MAC keys (empty for AEAD suites), client/server write keys, client/server write IVs.
/// Returns `(client_keys, server_keys)`.
pub(crate) fn tls12_key_block(
    suite: &Suite,
    master_secret: &[u8],
    client_random: &[u8; 32],
    server_random: &[u8; 32],
) -> Result<(TrafficKeys, TrafficKeys), KdfError> {
    let key_len = suite.aead.key_len();
    let iv_len = suite.aead.tls12_fixed_iv_len();
    // At most 2 * 32 + 2 * 12 bytes: no overflow possible.
    let total = key_len.saturating_add(iv_len).saturating_mul(2);
    let mut seed = Vec::with_capacity(64);
    seed.extend_from_slice(server_random);
    seed.extend_from_slice(client_random);
    let block = tls12_prf(suite.hash, master_secret, b"key expansion", &seed, total)?;
    let take = |from: usize, n: usize| -> Result<Vec<u8>, KdfError> {
        Ok(block
            .get(from..from.saturating_add(n))
            .ok_or(KdfError)?
            .to_vec())
    };
    let client = TrafficKeys {
        key: take(0, key_len)?,
        iv: take(key_len.saturating_mul(2), iv_len)?,
    };
    let server = TrafficKeys {
        key: take(key_len, key_len)?,
        iv: take(key_len.saturating_mul(2).saturating_add(iv_len), iv_len)?,
    };
    Ok((client, server))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        s.chunks(2)
            .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
            .collect()
    }

    fn aes128_sha256() -> Suite {
        find_suite(0x1301, true).unwrap()
    }

    /// RFC 8448 §3: "{server} derive write traffic keys for handshake data".
    #[test]
    fn rfc8448_server_handshake_key_iv() {
        let secret = hex("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38");
        let k = tls13_traffic_keys(&aes128_sha256(), &secret).unwrap();
        assert_eq!(k.key, hex("3fce516009c21727d0f2e4e86ee403bc"));
        assert_eq!(k.iv, hex("5d313eb2671276ee13000b30"));
    }

    /// RFC 8448 §3: client handshake keys and both application keys.
    #[test]
    fn rfc8448_other_traffic_keys() {
        let suite = aes128_sha256();
        let c_hs = hex("b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21");
        let k = tls13_traffic_keys(&suite, &c_hs).unwrap();
        assert_eq!(k.key, hex("dbfaa693d1762c5b666af5d950258d01"));
        assert_eq!(k.iv, hex("5bd3c71b836e0b76bb73265f"));
        let s_ap = hex("a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643");
        let k = tls13_traffic_keys(&suite, &s_ap).unwrap();
        assert_eq!(k.key, hex("9f02283b6c9c07efc26bb9f2ac92e356"));
        assert_eq!(k.iv, hex("cf782b88dd83549aadf1e984"));
        let c_ap = hex("9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5");
        let k = tls13_traffic_keys(&suite, &c_ap).unwrap();
        assert_eq!(k.key, hex("17422dda596ed5d9acd890e3c63f5051"));
        assert_eq!(k.iv, hex("5b78923dee08579033e523d9"));
    }

    /// The widely used TLS 1.2 PRF test vectors (IETF TLS WG list, P_SHA256 and P_SHA384).
    #[test]
    fn tls12_prf_vectors() {
        let out = tls12_prf(
            HashAlg::Sha256,
            &hex("9bbe436ba940f017b17652849a71db35"),
            b"test label",
            &hex("a0ba9f936cda311827a6f796ffd5198c"),
            100,
        )
        .unwrap();
        assert_eq!(
            out,
            hex(
                "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a\
                 6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab\
                 4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701\
                 87347b66"
            )
        );
        let out = tls12_prf(
            HashAlg::Sha384,
            &hex("b80b733d6ceefcdc71566ea48e5567df"),
            b"test label",
            &hex("cd665cf6a8447dd6ff8b27555edb7465"),
            32,
        )
        .unwrap();
        assert_eq!(
            out,
            hex("7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cd")
        );
    }

    /// RFC 5869 Appendix A.1 (SHA-256), the Expand step from its PRK.
    #[test]
    fn rfc5869_expand_vector() {
        let prk = hex("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
        let okm = hkdf_expand(HashAlg::Sha256, &prk, &hex("f0f1f2f3f4f5f6f7f8f9"), 42).unwrap();
        assert_eq!(
            okm,
            hex(
                "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
            )
        );
    }

    #[test]
    fn suite_table() {
        assert_eq!(suite_name(0xC02F), "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        assert_eq!(suite_name(0x1302), "TLS_AES_256_GCM_SHA384");
        assert_eq!(suite_name(0xC013), "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA");
        assert_eq!(suite_name(0xABCD), "0xABCD");
        assert!(find_suite(0x1301, false).is_none());
        assert!(find_suite(0xC02F, true).is_none());
        assert!(find_suite(0xC013, false).is_none());
    }

    #[test]
    fn expand_label_rejects_oversized_inputs() {
        let long = "x".repeat(300);
        assert!(hkdf_expand_label(HashAlg::Sha256, &[0; 32], &long, b"", 16).is_err());
        assert!(hkdf_expand_label(HashAlg::Sha256, &[0; 32], "key", &[0; 256], 16).is_err());
        assert!(hkdf_expand(HashAlg::Sha256, &[0; 32], b"", 255 * 32 + 1).is_err());
    }
}
