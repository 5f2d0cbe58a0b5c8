//! FLV (Adobe "Video File Format Specification" v10.1, annex E; plus the
//! Enhanced RTMP v1 extension for HEVC/AV1/VP9) carried over WebSocket, as
//! HTTP-FLV players such as flv.js consume it.
//!
//! The stream is the concatenation of one direction's message payloads; tags
//! may be split across messages or several may share one, so
//! [`FlvParser`] is incremental: bytes are pushed in, and it reports the
//! header and each complete tag with its raw bytes (so an export can write
//! them back unchanged). It buffers at most one tag (data size is 24-bit:
//! < 16 MiB + 15 bytes).
//!
//! ```text
//! "FLV" ver flags(0x04 audio | 0x01 video) header_size(u32) | PreviousTagSize0(u32 = 0)
//! tag: type(u8: 8 audio, 9 video, 18 script; 0x20 = filtered) data_size(u24)
//!      timestamp(u24) timestamp_ext(u8, bits 31..24) stream_id(u24 = 0)
//!      data[data_size] | PreviousTagSize(u32 = 11 + data_size)
//! ```

use super::amf0;
use crate::capture::Timestamp;
use serde::Serialize;
use serde_json::Value;

/// FLV file header plus PreviousTagSize0.
pub const HEADER_LEN: usize = 13;
/// A tag header.
pub const TAG_HEADER_LEN: usize = 11;

/// The file header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct FlvHeader {
    /// Version byte (1).
    pub version: u8,
    /// TypeFlagsAudio.
    pub has_audio: bool,
    /// TypeFlagsVideo.
    pub has_video: bool,
    /// DataOffset: header size (9 for version 1).
    pub header_size: u32,
}

/// What a tag carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TagKind {
    /// TagType 8.
    Audio,
    /// TagType 9.
    Video,
    /// TagType 18 (AMF0 script data).
    Script,
    /// Any other type.
    Other(u8),
}

impl TagKind {
    fn from_type(t: u8) -> Self {
        match t & 0x1f {
            8 => TagKind::Audio,
            9 => TagKind::Video,
            18 => TagKind::Script,
            o => TagKind::Other(o),
        }
    }
}

/// Audio tag facts (annex E.4.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct AudioInfo {
    /// SoundFormat name (`AAC`, `MP3`, …).
    pub codec: String,
    /// Nominal SoundRate in Hz (5512/11025/22050/44100).
    pub rate: u32,
    /// 8 or 16 bits per sample.
    pub sample_bits: u8,
    /// SoundType: stereo.
    pub stereo: bool,
    /// AACPacketType 0: AudioSpecificConfig.
    pub sequence_header: bool,
    /// From the AudioSpecificConfig (ISO 14496-3 §1.6.2.1): object type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aac_object_type: Option<u8>,
    /// From the AudioSpecificConfig: sampling frequency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aac_sample_rate: Option<u32>,
    /// From the AudioSpecificConfig: channel configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aac_channels: Option<u8>,
}

/// Video tag facts (annex E.4.3.1, Enhanced RTMP for FourCC codecs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct VideoInfo {
    /// Codec name (`H.264`, `H.265`, `AV1`, …).
    pub codec: String,
    /// FrameType 1 (key frame).
    pub keyframe: bool,
    /// FrameType 5: video info/command frame.
    pub command: bool,
    /// AVC/HEVC sequence header (decoder configuration record).
    pub sequence_header: bool,
    /// AVCPacketType 2 / end of sequence.
    pub end_of_sequence: bool,
    /// CompositionTime offset in ms (AVC/HEVC NALU packets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub composition_time: Option<i32>,
    /// From an AVCDecoderConfigurationRecord (ISO 14496-15 §5.2.4.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avc_profile: Option<u8>,
    /// From an AVCDecoderConfigurationRecord.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avc_level: Option<u8>,
}

/// One tag.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct FlvTag {
    /// Offset of the tag header in the stream.
    pub offset: u64,
    /// Type.
    pub kind: TagKind,
    /// The Filter bit (encrypted/filtered payload).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub filtered: bool,
    /// DataSize.
    pub data_size: u32,
    /// Timestamp in ms, with TimestampExtended as bits 31..24.
    pub timestamp_ms: u32,
    /// StreamID (always 0 in valid files).
    pub stream_id: u32,
    /// The PreviousTagSize that followed.
    pub prev_tag_size: u32,
    /// PreviousTagSize equals 11 + DataSize.
    pub prev_tag_size_ok: bool,
    /// Audio facts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio: Option<AudioInfo>,
    /// Video facts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video: Option<VideoInfo>,
    /// Script data: the decoded AMF0 values (`["onMetaData", {…}]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script: Option<Vec<Value>>,
    /// Arrival time of the message that completed the tag (`arrival`,
    /// float seconds, and `arrival_ns`, exact).
    #[serde(
        flatten,
        serialize_with = "crate::report::contract::arrival::serialize"
    )]
    #[schemars(with = "crate::report::contract::arrival::Pair")]
    pub arrival: Timestamp,
}

/// What the parser reports.
#[derive(Debug)]
pub enum FlvEvent<'a> {
    /// The file header (with PreviousTagSize0), and its raw 13 bytes.
    Header(FlvHeader, &'a [u8]),
    /// A complete tag, and its raw bytes (header, data, PreviousTagSize).
    Tag(FlvTag, &'a [u8]),
    /// Something did not parse; the parser resynchronises at the next
    /// message boundary.
    Problem(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting the file header (or, mid-stream, a tag).
    Start,
    /// Expecting tags.
    Tags,
    /// Lost: skip bytes until the next message boundary.
    Lost,
}

/// Incremental FLV stream parser.
#[derive(Debug)]
pub struct FlvParser {
    state: State,
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`.
    offset: u64,
    /// The stream started with tags, without a file header (mid-stream).
    pub header_missing: bool,
}

impl Default for FlvParser {
    fn default() -> Self {
        Self::new()
    }
}

/// True if `b` starts with an FLV file header (`FLV`, version 1).
pub fn looks_like_header(b: &[u8]) -> bool {
    b.starts_with(b"FLV\x01")
}

/// True if `b` starts with something that is plausibly a tag header: a
/// known type, StreamID 0 (annex E.4.1: "Always 0").
pub fn looks_like_tag(b: &[u8]) -> bool {
    match b.get(..TAG_HEADER_LEN) {
        Some(h) => matches!(h[0] & 0x1f, 8 | 9 | 18) && h[0] & 0xc0 == 0 && h[8..11] == [0, 0, 0],
        None => false,
    }
}

fn u24(b: &[u8]) -> u32 {
    match b {
        [a, b, c, ..] => u32::from_be_bytes([0, *a, *b, *c]),
        _ => 0,
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

impl FlvParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        FlvParser {
            state: State::Start,
            buf: Vec::new(),
            offset: 0,
            header_missing: false,
        }
    }

    /// Stream bytes consumed or buffered so far.
    pub fn offset(&self) -> u64 {
        self.offset + self.buf.len() as u64
    }

    /// Bytes buffered in an unfinished tag.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The bytes before the next message were not all captured: drop the
    /// unfinished tag and expect a tag at the next message boundary (each
    /// message starts a tag in the usual one-tag-per-message framing).
    pub fn gap(&mut self) {
        self.offset += self.buf.len() as u64;
        self.buf.clear();
        if self.state != State::Start {
            self.state = State::Tags;
        }
    }

    /// A message boundary: lets a lost parser resynchronise.
    pub fn message_boundary(&mut self, next: &[u8]) {
        if self.state == State::Lost && looks_like_tag(next) {
            self.offset += self.buf.len() as u64;
            self.buf.clear();
            self.state = State::Tags;
        }
    }

    /// Feeds stream bytes that arrived at `arrival`.
    pub fn push(&mut self, data: &[u8], arrival: Timestamp, out: &mut dyn FnMut(FlvEvent<'_>)) {
        if self.state == State::Lost {
            self.offset += data.len() as u64;
            return;
        }
        self.buf.extend_from_slice(data);
        let mut start = 0usize;
        loop {
            let rest = self.buf.get(start..).unwrap_or_default();
            match self.state {
                State::Lost => {
                    start = self.buf.len();
                    break;
                }
                State::Start => {
                    if rest.len() < 4 {
                        break;
                    }
                    if looks_like_header(rest) {
                        let Some(raw) = rest.get(..HEADER_LEN) else {
                            break;
                        };
                        let header_size = u32_at(raw, 5).unwrap_or(0);
                        let h = FlvHeader {
                            version: raw[3],
                            has_audio: raw[4] & 0x04 != 0,
                            has_video: raw[4] & 0x01 != 0,
                            header_size,
                        };
                        if header_size != 9 {
                            out(FlvEvent::Problem(format!(
                                "FLV header size {header_size} (expected 9)"
                            )));
                        }
                        out(FlvEvent::Header(h, raw));
                        start += HEADER_LEN;
                        self.state = State::Tags;
                    } else if rest.len() < TAG_HEADER_LEN {
                        break;
                    } else if looks_like_tag(rest) {
                        self.header_missing = true;
                        self.state = State::Tags;
                    } else {
                        out(FlvEvent::Problem("stream does not start with FLV".into()));
                        self.state = State::Lost;
                    }
                }
                State::Tags => {
                    if rest.len() < TAG_HEADER_LEN {
                        break;
                    }
                    if !looks_like_tag(rest) {
                        out(FlvEvent::Problem(format!(
                            "no FLV tag header at stream offset {}",
                            self.offset + start as u64
                        )));
                        self.state = State::Lost;
                        continue;
                    }
                    let data_size = u24(rest.get(1..).unwrap_or_default());
                    let total = TAG_HEADER_LEN + data_size as usize + 4;
                    let Some(raw) = rest.get(..total) else {
                        break;
                    };
                    let tag = parse_tag(raw, self.offset + start as u64, arrival);
                    if !tag.prev_tag_size_ok {
                        out(FlvEvent::Problem(format!(
                            "PreviousTagSize {} after the tag at offset {} (expected {})",
                            tag.prev_tag_size,
                            tag.offset,
                            TAG_HEADER_LEN as u32 + data_size
                        )));
                    }
                    out(FlvEvent::Tag(tag, raw));
                    start += total;
                }
            }
        }
        let start = start.min(self.buf.len());
        self.buf.drain(..start);
        self.offset += start as u64;
    }
}

/// Parses one whole tag (`raw` = header + data + PreviousTagSize).
fn parse_tag(raw: &[u8], offset: u64, arrival: Timestamp) -> FlvTag {
    let h = raw.get(..TAG_HEADER_LEN).unwrap_or_default();
    let t = h.first().copied().unwrap_or(0);
    let data_size = u24(h.get(1..).unwrap_or_default());
    let ts_low = u24(h.get(4..).unwrap_or_default());
    let ts_ext = u32::from(h.get(7).copied().unwrap_or(0));
    let stream_id = u24(h.get(8..).unwrap_or_default());
    let end = TAG_HEADER_LEN + data_size as usize;
    let data = raw.get(TAG_HEADER_LEN..end).unwrap_or_default();
    let prev = u32_at(raw, end).unwrap_or(0);
    let kind = TagKind::from_type(t);
    let filtered = t & 0x20 != 0;
    let (mut audio, mut video, mut script) = (None, None, None);
    if !filtered {
        match kind {
            TagKind::Audio => audio = parse_audio(data),
            TagKind::Video => video = parse_video(data),
            TagKind::Script => script = Some(amf0::decode_all(data).0),
            TagKind::Other(_) => {}
        }
    }
    FlvTag {
        offset,
        kind,
        filtered,
        data_size,
        timestamp_ms: (ts_ext << 24) | ts_low,
        stream_id,
        prev_tag_size: prev,
        prev_tag_size_ok: prev == TAG_HEADER_LEN as u32 + data_size,
        audio,
        video,
        script,
        arrival,
    }
}

fn sound_format(f: u8) -> &'static str {
    match f {
        0 => "PCM (platform endian)",
        1 => "ADPCM",
        2 => "MP3",
        3 => "PCM (little endian)",
        4 => "Nellymoser 16 kHz",
        5 => "Nellymoser 8 kHz",
        6 => "Nellymoser",
        7 => "G.711 A-law",
        8 => "G.711 mu-law",
        10 => "AAC",
        11 => "Speex",
        13 => "Opus",
        14 => "MP3 8 kHz",
        15 => "device-specific",
        _ => "reserved",
    }
}

/// ISO 14496-3 Table 1.16 (samplingFrequencyIndex).
const AAC_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

fn parse_audio(d: &[u8]) -> Option<AudioInfo> {
    let b = *d.first()?;
    let format = b >> 4;
    let mut a = AudioInfo {
        codec: sound_format(format).to_string(),
        rate: [5512, 11025, 22050, 44100][usize::from((b >> 2) & 3)],
        sample_bits: if b & 2 != 0 { 16 } else { 8 },
        stereo: b & 1 != 0,
        sequence_header: false,
        aac_object_type: None,
        aac_sample_rate: None,
        aac_channels: None,
    };
    if format == 10 && d.get(1) == Some(&0) {
        a.sequence_header = true;
        // AudioSpecificConfig: objectType(5) freqIndex(4) channels(4).
        if let (Some(&x), Some(&y)) = (d.get(2), d.get(3)) {
            let object_type = x >> 3;
            let freq = ((x & 7) << 1) | (y >> 7);
            a.aac_object_type = Some(object_type);
            a.aac_sample_rate = AAC_RATES.get(usize::from(freq)).copied();
            a.aac_channels = Some((y >> 3) & 0x0f);
        }
    }
    Some(a)
}

fn video_codec(id: u8) -> &'static str {
    match id {
        2 => "Sorenson H.263",
        3 => "Screen video",
        4 => "VP6",
        5 => "VP6 with alpha",
        6 => "Screen video v2",
        7 => "H.264",
        // Not in the 10.1 spec; used by the Chinese CDN extension (flv.js forks).
        12 => "H.265",
        _ => "reserved",
    }
}

fn parse_video(d: &[u8]) -> Option<VideoInfo> {
    let b = *d.first()?;
    let frame_type = (b >> 4) & 0x07;
    let mut v = VideoInfo {
        codec: String::new(),
        keyframe: frame_type == 1,
        command: frame_type == 5,
        sequence_header: false,
        end_of_sequence: false,
        composition_time: None,
        avc_profile: None,
        avc_level: None,
    };
    if b & 0x80 != 0 {
        // Enhanced RTMP v1: IsExHeader, PacketType in the low nibble, then
        // a FourCC. PacketType 0 = SequenceStart, 1 = CodedFrames,
        // 2 = SequenceEnd, 3 = CodedFramesX (no composition time).
        let fourcc = d.get(1..5)?;
        v.codec = match fourcc {
            b"hvc1" => "H.265".into(),
            b"av01" => "AV1".into(),
            b"vp09" => "VP9".into(),
            b"avc1" => "H.264".into(),
            other => String::from_utf8_lossy(other).into_owned(),
        };
        match b & 0x0f {
            0 => v.sequence_header = true,
            1 if fourcc == b"hvc1" || fourcc == b"avc1" => {
                v.composition_time = d.get(5..8).map(cts);
            }
            2 => v.end_of_sequence = true,
            _ => {}
        }
        return Some(v);
    }
    let codec = b & 0x0f;
    v.codec = video_codec(codec).to_string();
    if codec == 7 || codec == 12 {
        match d.get(1) {
            Some(0) => {
                v.sequence_header = true;
                if codec == 7 {
                    // AVCDecoderConfigurationRecord: version, profile,
                    // compatibility, level.
                    v.avc_profile = d.get(6).copied();
                    v.avc_level = d.get(8).copied();
                }
            }
            Some(1) => v.composition_time = d.get(2..5).map(cts),
            Some(2) => v.end_of_sequence = true,
            _ => {}
        }
    }
    Some(v)
}

/// A signed 24-bit CompositionTime.
fn cts(b: &[u8]) -> i32 {
    let u = u24(b) as i32;
    if u & 0x80_0000 != 0 {
        u - 0x100_0000
    } else {
        u
    }
}

/// Summary statistics of an FLV stream.
#[derive(Debug, Clone, PartialEq, Serialize, Default, schemars::JsonSchema)]
pub struct FlvStats {
    /// Tags by kind.
    pub audio_tags: u64,
    /// Video tags.
    pub video_tags: u64,
    /// Script tags.
    pub script_tags: u64,
    /// Other tags.
    pub other_tags: u64,
    /// Video key frames.
    pub keyframes: u64,
    /// Sequence headers (AVC/HEVC and AAC).
    pub sequence_headers: u64,
    /// First and last media timestamp (ms).
    pub first_ts_ms: Option<u32>,
    /// Last media timestamp (ms).
    pub last_ts_ms: Option<u32>,
    /// Media duration covered (ms).
    pub duration_ms: u32,
    /// Video frames per second over the media time (frames − 1) / span.
    pub video_fps: Option<f64>,
    /// Bits per second of audio tag data over the media duration.
    pub audio_bitrate_bps: Option<f64>,
    /// Bits per second of video tag data over the media duration.
    pub video_bitrate_bps: Option<f64>,
    /// Largest |last audio ts − last video ts| seen after each tag (ms).
    pub max_av_drift_ms: Option<u32>,
    /// Media timestamps that went backwards within one kind.
    pub timestamp_regressions: u64,
    /// Times delivery paused: arrival gap exceeded the media-time gap by
    /// more than [`STALL_MS`].
    pub stalls: u64,
    /// Longest such excess (ms).
    pub longest_stall_ms: Option<f64>,
    /// Wall-clock time from the first to the last tag (s).
    pub wall_duration_s: f64,
}

/// Excess of arrival gap over media gap counted as a stall.
pub const STALL_MS: f64 = 500.0;

impl FlvStats {
    /// Computes the statistics of a tag list (in stream order).
    pub fn of(tags: &[FlvTag]) -> Self {
        let mut s = FlvStats::default();
        let (mut abytes, mut vbytes) = (0u64, 0u64);
        let (mut vfirst, mut vlast, mut vframes) = (None::<u32>, None::<u32>, 0u64);
        let (mut last_a, mut last_v) = (None::<u32>, None::<u32>);
        let mut prev: Option<&FlvTag> = None;
        for t in tags {
            s.first_ts_ms = Some(
                s.first_ts_ms
                    .map_or(t.timestamp_ms, |f| f.min(t.timestamp_ms)),
            );
            s.last_ts_ms = Some(
                s.last_ts_ms
                    .map_or(t.timestamp_ms, |f| f.max(t.timestamp_ms)),
            );
            match t.kind {
                TagKind::Audio => {
                    s.audio_tags += 1;
                    abytes += u64::from(t.data_size);
                    if last_a.is_some_and(|a| t.timestamp_ms < a) {
                        s.timestamp_regressions += 1;
                    }
                    last_a = Some(t.timestamp_ms);
                    if t.audio.as_ref().is_some_and(|a| a.sequence_header) {
                        s.sequence_headers += 1;
                    }
                }
                TagKind::Video => {
                    s.video_tags += 1;
                    vbytes += u64::from(t.data_size);
                    if last_v.is_some_and(|v| t.timestamp_ms < v) {
                        s.timestamp_regressions += 1;
                    }
                    last_v = Some(t.timestamp_ms);
                    if let Some(v) = &t.video {
                        if v.sequence_header {
                            s.sequence_headers += 1;
                        } else if !v.command && !v.end_of_sequence {
                            vframes += 1;
                            vfirst.get_or_insert(t.timestamp_ms);
                            vlast = Some(t.timestamp_ms);
                        }
                        s.keyframes += u64::from(v.keyframe && !v.sequence_header);
                    }
                }
                TagKind::Script => s.script_tags += 1,
                TagKind::Other(_) => s.other_tags += 1,
            }
            if let (Some(a), Some(v)) = (last_a, last_v) {
                let d = a.abs_diff(v);
                s.max_av_drift_ms = Some(s.max_av_drift_ms.map_or(d, |m| m.max(d)));
            }
            if let Some(p) = prev {
                let wall_ms = t.arrival.secs_since(p.arrival) * 1000.0;
                let media_ms = f64::from(t.timestamp_ms) - f64::from(p.timestamp_ms);
                let excess = wall_ms - media_ms.max(0.0);
                if excess > STALL_MS {
                    s.stalls += 1;
                    s.longest_stall_ms = Some(s.longest_stall_ms.map_or(excess, |m| m.max(excess)));
                }
            }
            prev = Some(t);
        }
        if let (Some(f), Some(l)) = (s.first_ts_ms, s.last_ts_ms) {
            s.duration_ms = l - f;
        }
        if let (Some(f), Some(l)) = (vfirst, vlast)
            && l > f
            && vframes > 1
        {
            s.video_fps = Some((vframes - 1) as f64 * 1000.0 / f64::from(l - f));
        }
        if s.duration_ms > 0 {
            let secs = f64::from(s.duration_ms) / 1000.0;
            if s.audio_tags > 0 {
                s.audio_bitrate_bps = Some(abytes as f64 * 8.0 / secs);
            }
            if s.video_tags > 0 {
                s.video_bitrate_bps = Some(vbytes as f64 * 8.0 / secs);
            }
        }
        if let (Some(a), Some(b)) = (tags.first(), tags.last()) {
            s.wall_duration_s = b.arrival.secs_since(a.arrival);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(t: u8, ts: u32, data: &[u8]) -> Vec<u8> {
        let n = data.len() as u32;
        let mut v = vec![t];
        v.extend_from_slice(&n.to_be_bytes()[1..]);
        v.extend_from_slice(&ts.to_be_bytes()[1..]);
        v.push((ts >> 24) as u8);
        v.extend_from_slice(&[0, 0, 0]);
        v.extend_from_slice(data);
        v.extend_from_slice(&(n + 11).to_be_bytes());
        v
    }

    fn stream() -> Vec<u8> {
        let mut s = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
        s.extend(tag(9, 0, &[0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x0d]));
        s.extend(tag(8, 0, &[0xaf, 0, 0x12, 0x10]));
        s.extend(tag(9, 40, &[0x17, 1, 0, 0, 0x50, 1, 2]));
        s.extend(tag(8, 23, &[0xaf, 1, 9, 9]));
        s.extend(tag(9, 0x0100_0000 + 5, &[0x27, 1, 0xff, 0xff, 0xf6]));
        s
    }

    fn parse_split(data: &[u8], cuts: &[usize]) -> (Vec<FlvTag>, Vec<u8>, usize) {
        let mut p = FlvParser::new();
        let mut tags = Vec::new();
        let mut raw = Vec::new();
        let mut problems = 0;
        let mut at = 0;
        for &c in cuts.iter().chain(std::iter::once(&data.len())) {
            p.push(&data[at..c], Timestamp(0), &mut |e| match e {
                FlvEvent::Header(_, r) => raw.extend_from_slice(r),
                FlvEvent::Tag(t, r) => {
                    raw.extend_from_slice(r);
                    tags.push(t)
                }
                FlvEvent::Problem(_) => problems += 1,
            });
            at = c;
        }
        (tags, raw, problems)
    }

    #[test]
    fn tags_and_codecs() {
        let s = stream();
        let (tags, raw, problems) = parse_split(&s, &[]);
        assert_eq!(problems, 0);
        assert_eq!(raw, s);
        assert_eq!(tags.len(), 5);
        let v0 = tags[0].video.as_ref().unwrap();
        assert!(v0.sequence_header && v0.keyframe);
        assert_eq!(v0.codec, "H.264");
        assert_eq!((v0.avc_profile, v0.avc_level), (Some(0x64), Some(0x0d)));
        let a0 = tags[1].audio.as_ref().unwrap();
        assert!(a0.sequence_header);
        assert_eq!(a0.codec, "AAC");
        // 0x12 0x10: AAC-LC (2), index 4 = 44100, 2 channels.
        assert_eq!(
            (a0.aac_object_type, a0.aac_sample_rate, a0.aac_channels),
            (Some(2), Some(44100), Some(2))
        );
        assert_eq!(tags[2].video.as_ref().unwrap().composition_time, Some(80));
        assert_eq!(tags[4].video.as_ref().unwrap().composition_time, Some(-10));
        assert_eq!(tags[4].timestamp_ms, 0x0100_0005);
        assert!(!tags[4].video.as_ref().unwrap().keyframe);
        let st = FlvStats::of(&tags);
        assert_eq!((st.video_tags, st.audio_tags, st.keyframes), (3, 2, 1));
        assert_eq!(st.sequence_headers, 2);
    }

    #[test]
    fn split_at_every_offset_gives_the_same_tags() {
        let s = stream();
        let (whole, _, _) = parse_split(&s, &[]);
        for c in 1..s.len() {
            let (tags, raw, problems) = parse_split(&s, &[c]);
            assert_eq!(tags, whole, "cut at {c}");
            assert_eq!(raw, s);
            assert_eq!(problems, 0);
        }
        let bytes: Vec<usize> = (1..s.len()).collect();
        assert_eq!(parse_split(&s, &bytes).0, whole);
    }

    #[test]
    fn midstream_without_header() {
        let s = stream();
        let (tags, _, problems) = parse_split(&s[HEADER_LEN..], &[]);
        assert_eq!(tags.len(), 5);
        assert_eq!(problems, 0);
    }

    #[test]
    fn garbage_is_a_problem_and_gap_resyncs() {
        let mut p = FlvParser::new();
        let mut n = (0, 0);
        let mut f = |e: FlvEvent<'_>| match e {
            FlvEvent::Tag(..) => n.0 += 1,
            FlvEvent::Problem(_) => n.1 += 1,
            FlvEvent::Header(..) => {}
        };
        p.push(
            b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00",
            Timestamp(0),
            &mut f,
        );
        p.push(&[0xff; 20], Timestamp(0), &mut f);
        let t = tag(8, 1, &[0x2f, 1]);
        p.message_boundary(&t);
        p.push(&t, Timestamp(0), &mut f);
        p.push(&t[..5], Timestamp(0), &mut f);
        p.gap();
        p.push(&t, Timestamp(0), &mut f);
        assert_eq!(n, (2, 1));
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Arbitrary bytes, cut anywhere, never panic, and every reported
        /// tag's raw bytes are exactly 11 + DataSize + 4 long.
        #[test]
        fn arbitrary_input_never_panics(
            data in proptest::collection::vec(any::<u8>(), 0..600),
            cut in 0usize..600,
            header in any::<bool>(),
        ) {
            let mut input = if header { b"FLV\x01\x05\0\0\0\x09\0\0\0\0".to_vec() } else { Vec::new() };
            input.extend_from_slice(&data);
            let cut = cut.min(input.len());
            let mut p = FlvParser::new();
            let mut ok = true;
            let mut f = |e: FlvEvent<'_>| {
                if let FlvEvent::Tag(t, raw) = e {
                    ok &= raw.len() == TAG_HEADER_LEN + t.data_size as usize + 4;
                }
            };
            p.push(&input[..cut], Timestamp(0), &mut f);
            p.message_boundary(&input[cut..]);
            p.push(&input[cut..], Timestamp(0), &mut f);
            p.gap();
            prop_assert!(ok);
            let _ = crate::payload::amf0::decode_all(&data);
            let _ = FlvStats::of(&[]);
        }
    }
}
