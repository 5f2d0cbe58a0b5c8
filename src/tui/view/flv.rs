//! Recognises FLV framing in binary payloads, for the display only.
//!
//! HTTP-FLV / WebSocket-FLV live streams (the flv.js convention) send the
//! 9-byte FLV file header first and then one tag per message: an 11-byte
//! tag header, the tag data, and the 4-byte PreviousTagSize (Adobe FLV
//! specification v10.1, annex E). Naming the tag (audio/video/script,
//! timestamp, key frame) saves reading hex. Only the stored head of the
//! message is looked at; nothing here is part of the analysis.

/// A one-line description of the FLV structure at the start of a message
/// of `len` bytes whose first bytes are `head`, if it is one.
pub fn describe(head: &[u8], len: u64) -> Option<String> {
    if let Some(rest) = head.strip_prefix(b"FLV") {
        let version = *rest.first()?;
        let flags = *rest.get(1)?;
        let streams = match (flags & 0x4 != 0, flags & 0x1 != 0) {
            (true, true) => "audio+video",
            (true, false) => "audio",
            (false, true) => "video",
            (false, false) => "no streams",
        };
        return Some(format!("FLV header v{version}, {streams}"));
    }
    let h: &[u8; 11] = head.get(..11)?.try_into().ok()?;
    let size = u64::from(u32::from_be_bytes([0, h[1], h[2], h[3]]));
    // A whole tag per message: header + data + PreviousTagSize.
    if size + 15 != len {
        return None;
    }
    let ts = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
    let first = head.get(11).copied();
    let what = match h[0] & 0x1f {
        8 => {
            let fmt = match first.map(|b| b >> 4) {
                Some(10) => "AAC",
                Some(2) => "MP3",
                Some(11) => "Speex",
                Some(_) => "other codec",
                None => "?",
            };
            format!("audio {fmt}")
        }
        9 => {
            let frame = match first.map(|b| b >> 4) {
                Some(1) => "key frame",
                Some(2) => "inter frame",
                Some(5) => "info",
                _ => "frame",
            };
            let codec = match first.map(|b| b & 0xf) {
                Some(7) => "AVC",
                Some(12) => "HEVC",
                Some(2) => "H.263",
                _ => "other codec",
            };
            format!("video {codec} {frame}")
        }
        18 => {
            // Script data: an AMF0 string (type 2, u16 length) names it.
            let name = head
                .get(11..14)
                .filter(|b| b[0] == 2)
                .map(|b| usize::from(u16::from_be_bytes([b[1], b[2]])))
                .and_then(|n| head.get(14..14 + n))
                .map(|s| String::from_utf8_lossy(s).into_owned());
            format!("script {}", name.unwrap_or_default())
                .trim_end()
                .to_string()
        }
        t => format!("type {t}"),
    };
    Some(format!("FLV {what}, {size} bytes, t={ts} ms"))
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn header_and_tags() {
        assert_eq!(
            describe(&[b'F', b'L', b'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0], 13).as_deref(),
            Some("FLV header v1, audio+video")
        );
        // onMetaData script tag from flv_stream.pcap (268 bytes of data).
        let mut meta = vec![
            0x12, 0x00, 0x01, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x00, 0x0a,
        ];
        meta.extend_from_slice(b"onMetaData");
        assert_eq!(
            describe(&meta, 283).as_deref(),
            Some("FLV script onMetaData, 268 bytes, t=0 ms")
        );
        let video = [0x09, 0, 0, 0x31, 0, 0, 0x2e, 0, 0, 0, 0, 0x17, 0];
        assert_eq!(
            describe(&video, 49 + 15).as_deref(),
            Some("FLV video AVC key frame, 49 bytes, t=46 ms")
        );
        // Sizes that do not add up are not FLV.
        assert_eq!(describe(&video, 100), None);
        assert_eq!(describe(&[1, 2, 3], 3), None);
    }
}
