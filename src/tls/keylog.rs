//! NSS key log (SSLKEYLOGFILE) parsing.
//!
//! Format: one `LABEL <client_random hex> <secret hex>` per line, `#` comment lines, blank lines.
//! `CLIENT_RANDOM` carries the TLS 1.2 master secret (48 bytes, RFC 5246 §8.1); the TLS 1.3 labels
//! carry the traffic secrets of RFC 8446 §7.1 (`client/server_handshake_traffic_secret`,
//! `client/server_application_traffic_secret_0`).

use std::collections::HashMap;

/// A client random (RFC 5246 §7.4.1.2, RFC 8446 §4.1.2): the key of every key log line.
pub(crate) type ClientRandom = [u8; 32];

/// TLS 1.3 secrets of one connection. Each is `Hash.length` bytes long.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Tls13Secrets {
    pub(crate) client_handshake: Option<Vec<u8>>,
    pub(crate) server_handshake: Option<Vec<u8>>,
    pub(crate) client_traffic0: Option<Vec<u8>>,
    pub(crate) server_traffic0: Option<Vec<u8>>,
}

/// Parsed NSS key log. Lines: `LABEL <client_random hex64> <secret hex>`; `#` comments; blank lines.
/// Labels: `CLIENT_RANDOM` (TLS 1.2 master secret, 48 bytes), `CLIENT_HANDSHAKE_TRAFFIC_SECRET`,
/// `SERVER_HANDSHAKE_TRAFFIC_SECRET`, `CLIENT_TRAFFIC_SECRET_0`, `SERVER_TRAFFIC_SECRET_0`;
/// `EXPORTER_SECRET` and any other label are ignored.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KeyLog {
    master_secrets: HashMap<ClientRandom, Vec<u8>>,
    tls13: HashMap<ClientRandom, Tls13Secrets>,
}

impl std::fmt::Debug for KeyLog {
    // Never print secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyLog")
            .field("tls12_sessions", &self.master_secrets.len())
            .field("tls13_sessions", &self.tls13.len())
            .finish()
    }
}

/// One key log line that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key log line {line}: {reason}")]
pub struct KeyLogError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

fn decode_hex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err("odd number of hex digits".into());
    }
    s.as_bytes()
        .chunks(2)
        .map(|pair| {
            let hi = (pair.first().copied().unwrap_or(0) as char).to_digit(16);
            let lo = (pair.get(1).copied().unwrap_or(0) as char).to_digit(16);
            match (hi, lo) {
                (Some(h), Some(l)) => u8::try_from((h << 4) | l).map_err(|_| "bad hex".to_string()),
                _ => Err("not hexadecimal".to_string()),
            }
        })
        .collect()
}

impl KeyLog {
    /// Parses key log text. Bad lines are reported with their 1-based line numbers; good lines are
    /// kept. Lines with unknown labels are ignored silently (key logs carry more labels over time).
    pub fn parse(text: &str) -> (KeyLog, Vec<KeyLogError>) {
        let mut log = KeyLog::default();
        let mut errors = Vec::new();
        for (idx, raw) in text.lines().enumerate() {
            let line_no = idx.saturating_add(1);
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Err(reason) = log.parse_line(line) {
                errors.push(KeyLogError {
                    line: line_no,
                    reason,
                });
            }
        }
        (log, errors)
    }

    fn parse_line(&mut self, line: &str) -> Result<(), String> {
        let mut fields = line.split_ascii_whitespace();
        let label = fields.next().unwrap_or("");
        let known = matches!(
            label,
            "CLIENT_RANDOM"
                | "CLIENT_HANDSHAKE_TRAFFIC_SECRET"
                | "SERVER_HANDSHAKE_TRAFFIC_SECRET"
                | "CLIENT_TRAFFIC_SECRET_0"
                | "SERVER_TRAFFIC_SECRET_0"
        );
        let (Some(random_hex), Some(secret_hex)) = (fields.next(), fields.next()) else {
            return if known {
                Err(format!(
                    "{label}: expected `{label} <client_random> <secret>`"
                ))
            } else {
                Err(format!(
                    "not a key log line (label `{label}`, fewer than 3 fields)"
                ))
            };
        };
        if fields.next().is_some() {
            return Err(format!("{label}: more than 3 fields"));
        }
        if !known {
            // EXPORTER_SECRET, CLIENT_EARLY_TRAFFIC_SECRET, EARLY_EXPORTER_SECRET, RSA ...: ignored.
            return Ok(());
        }
        let random = decode_hex(random_hex).map_err(|e| format!("client random: {e}"))?;
        let random: ClientRandom = random.as_slice().try_into().map_err(|_| {
            format!(
                "client random must be 32 bytes (64 hex digits), got {} hex digits",
                random_hex.len()
            )
        })?;
        let secret = decode_hex(secret_hex).map_err(|e| format!("secret: {e}"))?;
        if label == "CLIENT_RANDOM" {
            if secret.len() != 48 {
                return Err(format!(
                    "CLIENT_RANDOM master secret must be 48 bytes, got {}",
                    secret.len()
                ));
            }
            self.master_secrets.insert(random, secret);
            return Ok(());
        }
        if secret.len() != 32 && secret.len() != 48 {
            return Err(format!(
                "{label} secret must be 32 or 48 bytes (SHA-256/SHA-384), got {}",
                secret.len()
            ));
        }
        let entry = self.tls13.entry(random).or_default();
        let slot = match label {
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET" => &mut entry.client_handshake,
            "SERVER_HANDSHAKE_TRAFFIC_SECRET" => &mut entry.server_handshake,
            "CLIENT_TRAFFIC_SECRET_0" => &mut entry.client_traffic0,
            _ => &mut entry.server_traffic0,
        };
        *slot = Some(secret);
        Ok(())
    }

    /// Parses key log bytes (a file, a pcapng Decryption Secrets Block) and
    /// merges them in; returns the lines that could not be used. The one
    /// way key log text enters a key log, whatever it comes from.
    pub fn absorb(&mut self, bytes: &[u8]) -> Vec<KeyLogError> {
        let (keys, errors) = KeyLog::parse(&String::from_utf8_lossy(bytes));
        self.merge(keys);
        errors
    }

    /// Adds every entry of `other`; its entries win on conflicts.
    pub fn merge(&mut self, other: KeyLog) {
        self.master_secrets.extend(other.master_secrets);
        for (random, secrets) in other.tls13 {
            let entry = self.tls13.entry(random).or_default();
            let Tls13Secrets {
                client_handshake,
                server_handshake,
                client_traffic0,
                server_traffic0,
            } = secrets;
            if client_handshake.is_some() {
                entry.client_handshake = client_handshake;
            }
            if server_handshake.is_some() {
                entry.server_handshake = server_handshake;
            }
            if client_traffic0.is_some() {
                entry.client_traffic0 = client_traffic0;
            }
            if server_traffic0.is_some() {
                entry.server_traffic0 = server_traffic0;
            }
        }
    }

    /// The NSS key log lines of the session whose ClientHello carried
    /// `random` (empty when none is known): what `export --pcapng` writes
    /// in a Decryption Secrets Block, so that the exported connection can be
    /// decrypted without the original key log.
    pub fn lines_for(&self, random: &[u8; 32]) -> String {
        let r = crate::hexfmt::hex(random);
        let mut out = String::new();
        let mut line = |label: &str, secret: &[u8]| {
            out.push_str(&format!("{label} {r} {}\n", crate::hexfmt::hex(secret)));
        };
        if let Some(ms) = self.master_secrets.get(random) {
            line("CLIENT_RANDOM", ms);
        }
        if let Some(t) = self.tls13.get(random) {
            for (label, secret) in [
                ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", &t.client_handshake),
                ("SERVER_HANDSHAKE_TRAFFIC_SECRET", &t.server_handshake),
                ("CLIENT_TRAFFIC_SECRET_0", &t.client_traffic0),
                ("SERVER_TRAFFIC_SECRET_0", &t.server_traffic0),
            ] {
                if let Some(s) = secret {
                    line(label, s);
                }
            }
        }
        out
    }

    /// No usable line at all.
    pub fn is_empty(&self) -> bool {
        self.master_secrets.is_empty() && self.tls13.is_empty()
    }

    /// Number of client randoms with at least one secret.
    pub fn sessions(&self) -> usize {
        let extra = self
            .tls13
            .keys()
            .filter(|r| !self.master_secrets.contains_key(*r))
            .count();
        self.master_secrets.len().saturating_add(extra)
    }

    /// TLS 1.2 master secret for a client random.
    pub(crate) fn master_secret(&self, random: &ClientRandom) -> Option<&[u8]> {
        self.master_secrets.get(random).map(Vec::as_slice)
    }

    /// TLS 1.3 secrets for a client random.
    pub(crate) fn tls13(&self, random: &ClientRandom) -> Option<&Tls13Secrets> {
        self.tls13.get(random)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R1: &str = "971f4e9c403ed35ce5716bfa2cc1498646a1fc04c75ec8105f7a55ea77261f50";

    #[test]
    fn parses_good_lines_and_reports_bad_ones() {
        let ms = "ab".repeat(48);
        let hs = "cd".repeat(48);
        let text = format!(
            "# comment\n\
             \n\
             CLIENT_RANDOM {R1} {ms}\n\
             CLIENT_RANDOM {R1}\n\
             CLIENT_RANDOM zz{} {ms}\n\
             CLIENT_RANDOM {R1} abc\n\
             SERVER_HANDSHAKE_TRAFFIC_SECRET {R1} {hs}\n\
             EXPORTER_SECRET {R1} {hs}\n\
             CLIENT_TRAFFIC_SECRET_0 {R1} {}\n\
             garbage\n\
             CLIENT_RANDOM {} {ms}\r\n\
             UNKNOWN_LABEL a b\n",
            &R1[2..],
            "00".repeat(20),
            &R1[..60],
        );
        let (log, errors) = KeyLog::parse(&text);
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![4, 5, 6, 9, 10, 11], "{errors:?}");
        assert!(!log.is_empty());
        let r: ClientRandom = decode_hex(R1).unwrap().try_into().unwrap();
        assert_eq!(log.master_secret(&r).unwrap().len(), 48);
        let t = log.tls13(&r).unwrap();
        assert!(t.server_handshake.is_some());
        assert!(t.client_traffic0.is_none());
        assert_eq!(log.sessions(), 1);
        assert!(errors[0].to_string().starts_with("key log line 4:"));
    }

    #[test]
    fn merge_and_empty() {
        let (empty, errs) = KeyLog::parse("# nothing\n\n");
        assert!(empty.is_empty() && errs.is_empty());
        let (mut a, _) = KeyLog::parse(&format!(
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET {R1} {}",
            "11".repeat(32)
        ));
        let (b, _) = KeyLog::parse(&format!("CLIENT_TRAFFIC_SECRET_0 {R1} {}", "22".repeat(32)));
        a.merge(b);
        let r: ClientRandom = decode_hex(R1).unwrap().try_into().unwrap();
        let t = a.tls13(&r).unwrap();
        assert!(t.client_handshake.is_some() && t.client_traffic0.is_some());
    }

    #[test]
    fn hex_decoding_never_panics_on_non_ascii() {
        assert!(decode_hex("é1").is_err());
        assert!(decode_hex("0").is_err());
        assert_eq!(decode_hex("0aFF").unwrap(), vec![10, 255]);
        let (_, errs) = KeyLog::parse("CLIENT_RANDOM ééééé ff");
        assert_eq!(errs.len(), 1);
    }
}
