//! TLS record framing (RFC 8446 §5.1, RFC 5246 §6.2.1) over a reassembled byte stream, with packet
//! provenance: each record remembers the packet that carried its first header byte and the packet
//! that carried its last byte.

use super::PacketNo;

/// Record header length: type(1) + legacy_record_version(2) + length(2).
pub(crate) const HEADER_LEN: usize = 5;
/// Largest fragment we buffer: 2^14 + 2048, the TLS 1.2 `TLSCiphertext` limit (RFC 5246 §6.2.3);
/// TLS 1.3 allows only 2^14 + 256 (RFC 8446 §5.2).
pub(crate) const MAX_FRAGMENT: usize = 16384 + 2048;

pub(crate) const CT_CHANGE_CIPHER_SPEC: u8 = 20;
pub(crate) const CT_ALERT: u8 = 21;
pub(crate) const CT_HANDSHAKE: u8 = 22;
pub(crate) const CT_APPLICATION_DATA: u8 = 23;
pub(crate) const CT_HEARTBEAT: u8 = 24;

/// One complete record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record<'a> {
    pub(crate) header: [u8; HEADER_LEN],
    pub(crate) fragment: &'a [u8],
    pub(crate) first_packet: PacketNo,
    pub(crate) last_packet: PacketNo,
}

impl Record<'_> {
    pub(crate) fn content_type(&self) -> u8 {
        self.header[0]
    }
}

/// The byte stream cannot be TLS records (any more).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FramingError {
    #[error("not a TLS record header (type {content_type}, version {major}.{minor})")]
    BadHeader {
        content_type: u8,
        major: u8,
        minor: u8,
    },
    #[error("TLS record length {0} exceeds the maximum of {MAX_FRAGMENT}")]
    TooLong(usize),
}

/// Checks a record header: known content type (RFC 8446 §5.1 / RFC 5246 §6.2.1 plus heartbeat),
/// major version 3 with minor 0..=4, length within [`MAX_FRAGMENT`].
pub(crate) fn check_header(h: &[u8; HEADER_LEN]) -> Result<usize, FramingError> {
    let [content_type, major, minor, l0, l1] = *h;
    if !(CT_CHANGE_CIPHER_SPEC..=CT_HEARTBEAT).contains(&content_type) || major != 3 || minor > 4 {
        return Err(FramingError::BadHeader {
            content_type,
            major,
            minor,
        });
    }
    let len = usize::from(u16::from_be_bytes([l0, l1]));
    if len > MAX_FRAGMENT {
        return Err(FramingError::TooLong(len));
    }
    Ok(len)
}

/// Splits one direction's stream into records. Buffers at most one record.
#[derive(Debug, Default)]
pub(crate) struct RecordReader {
    header: [u8; HEADER_LEN],
    header_have: usize,
    body: Vec<u8>,
    body_len: usize,
    first_packet: Option<PacketNo>,
}

impl RecordReader {
    /// Feeds bytes that all came from packet `src`; calls `on_record` for each completed record.
    /// Stops at the first framing error (the rest of `data` is dropped).
    pub(crate) fn push(
        &mut self,
        mut data: &[u8],
        src: PacketNo,
        on_record: &mut dyn FnMut(Record<'_>),
    ) -> Result<(), FramingError> {
        while !data.is_empty() {
            if self.header_have < HEADER_LEN {
                if self.header_have == 0 {
                    self.first_packet = Some(src);
                }
                let want = HEADER_LEN.saturating_sub(self.header_have);
                let take = want.min(data.len());
                let (now, rest) = data.split_at(take);
                if let Some(dst) = self
                    .header
                    .get_mut(self.header_have..self.header_have.saturating_add(take))
                {
                    dst.copy_from_slice(now);
                }
                self.header_have = self.header_have.saturating_add(take);
                data = rest;
                if self.header_have < HEADER_LEN {
                    return Ok(());
                }
                self.body_len = check_header(&self.header)?;
                self.body.clear();
                self.body.reserve(self.body_len);
            }
            let want = self.body_len.saturating_sub(self.body.len());
            let take = want.min(data.len());
            let (now, rest) = data.split_at(take);
            data = rest;
            if self.body.is_empty() && take == self.body_len {
                // Fast path: the whole fragment is in this piece.
                self.emit(now, src, on_record);
            } else {
                self.body.extend_from_slice(now);
                if self.body.len() == self.body_len {
                    let body = std::mem::take(&mut self.body);
                    self.emit(&body, src, on_record);
                    self.body = body;
                    self.body.clear();
                }
            }
        }
        Ok(())
    }

    fn emit(&mut self, fragment: &[u8], src: PacketNo, on_record: &mut dyn FnMut(Record<'_>)) {
        let first = self.first_packet.take().unwrap_or(src);
        self.header_have = 0;
        self.body_len = 0;
        on_record(Record {
            header: self.header,
            fragment,
            first_packet: first,
            last_packet: src,
        });
    }

    /// Bytes of an incomplete record are buffered.
    #[cfg(test)]
    pub(crate) fn is_mid_record(&self) -> bool {
        self.header_have > 0
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_pk::{num, pk};
    use super::*;

    fn collect(r: &mut RecordReader, pieces: &[(&[u8], u64)]) -> Vec<(Vec<u8>, u64, u64)> {
        let mut out = Vec::new();
        for (data, p) in pieces {
            r.push(data, pk(*p), &mut |rec: Record<'_>| {
                out.push((
                    rec.fragment.to_vec(),
                    num(rec.first_packet),
                    num(rec.last_packet),
                ))
            })
            .unwrap();
        }
        out
    }

    #[test]
    fn many_records_in_one_piece_and_split_records() {
        let mut stream = vec![
            23, 3, 3, 0, 2, 0xaa, 0xbb, 23, 3, 3, 0, 0, 22, 3, 1, 0, 3, 1, 2, 3,
        ];
        stream.extend_from_slice(&[23, 3, 3, 0, 4, 9, 9, 9, 9]);
        let mut r = RecordReader::default();
        let out = collect(
            &mut r,
            &[
                (&stream[..15], 1),
                (&stream[15..19], 2),
                (&stream[19..23], 3),
                (&stream[23..], 4),
            ],
        );
        assert_eq!(
            out,
            vec![
                (vec![0xaa, 0xbb], 1, 1),
                (vec![], 1, 1),
                (vec![1, 2, 3], 1, 3),
                (vec![9, 9, 9, 9], 3, 4),
            ]
        );
        assert!(!r.is_mid_record());
    }

    #[test]
    fn byte_by_byte() {
        let stream = [23u8, 3, 3, 0, 3, 1, 2, 3];
        let mut r = RecordReader::default();
        let pieces: Vec<(&[u8], u64)> = stream
            .iter()
            .enumerate()
            .map(|(i, b)| (std::slice::from_ref(b), i as u64 + 10))
            .collect();
        assert_eq!(collect(&mut r, &pieces), vec![(vec![1, 2, 3], 10, 17)]);
    }

    #[test]
    fn rejects_bad_headers_and_oversized_records() {
        let mut r = RecordReader::default();
        let e = r.push(&[0x47, 0x45, 0x54, 0x20, 0x2f], pk(1), &mut |_| {});
        assert!(matches!(e, Err(FramingError::BadHeader { .. })));
        let mut r = RecordReader::default();
        let e = r.push(&[23, 3, 3, 0x48, 0x01], pk(1), &mut |_| {});
        assert_eq!(e, Err(FramingError::TooLong(0x4801)));
        let mut r = RecordReader::default();
        assert!(r.push(&[23, 3, 3, 0x48, 0x00], pk(1), &mut |_| {}).is_ok());
    }
}
