//! The WebSocket opening handshake (RFC 6455 §4): what was offered and
//! answered, and the Sec-WebSocket-Accept check. The record itself is the
//! model's ([`Handshake`]); this module fills it from parsed heads.

use base64::Engine;
use sha1::{Digest, Sha1};

use crate::capture::PacketNo;
pub use crate::model::handshake::{Handshake, Header};

/// RFC 6455 §1.3: the GUID appended to the key before hashing.
pub const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The accept value a server must send for `key` (RFC 6455 §4.2.2 step 5.4):
/// base64(SHA-1(key + GUID)). The key is used as sent, without decoding.
pub fn expected_accept(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.trim().as_bytes());
    h.update(WS_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// Joins the values of every header called `name` (case-insensitive), as
/// RFC 9110 §5.3 allows for list-valued fields.
pub fn header_value(headers: &[Header], name: &str) -> Option<String> {
    let values: Vec<&str> = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.trim())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// True when a comma-separated header contains `token` (case-insensitive).
pub fn has_token(headers: &[Header], name: &str, token: &str) -> bool {
    header_value(headers, name)
        .map(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        .unwrap_or(false)
}

impl Handshake {
    /// Records the upgrade request.
    pub fn set_request(&mut self, target: &str, headers: &[Header], complete: bool, packet: u64) {
        self.seen = true;
        self.request_target = Some(target.to_string());
        self.sec_websocket_key = header_value(headers, "sec-websocket-key");
        self.sec_websocket_version = header_value(headers, "sec-websocket-version");
        self.offered_subprotocols = header_value(headers, "sec-websocket-protocol");
        self.offered_extensions = header_value(headers, "sec-websocket-extensions");
        self.request_complete = complete;
        self.request_packet = Some(PacketNo(packet));
        self.request_headers = headers.to_vec();
        self.expected_accept = self.sec_websocket_key.as_deref().map(expected_accept);
        self.check_accept();
    }

    /// Records the response to the upgrade request.
    pub fn set_response(
        &mut self,
        status: u16,
        reason: &str,
        headers: &[Header],
        complete: bool,
        packet: u64,
    ) {
        self.seen = true;
        self.status = Some(status);
        self.reason = Some(reason.to_string());
        self.sec_websocket_accept = header_value(headers, "sec-websocket-accept");
        self.subprotocol = header_value(headers, "sec-websocket-protocol");
        self.extensions = header_value(headers, "sec-websocket-extensions");
        self.response_complete = complete;
        self.response_packet = Some(PacketNo(packet));
        self.response_headers = headers.to_vec();
        self.check_accept();
    }

    fn check_accept(&mut self) {
        self.accept_valid = match (&self.expected_accept, &self.sec_websocket_accept) {
            (Some(want), Some(got)) => Some(want == got.trim()),
            _ => None,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_example_key() {
        // RFC 6455 §1.3 worked example.
        assert_eq!(
            expected_accept("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn seed_echo_capture_key() {
        assert_eq!(
            expected_accept("4POzZZ+gvMFKi6dFIgVR4A=="),
            "dmdTcG9qnr49+EXHeaZOeOUhV5A="
        );
    }

    #[test]
    fn header_lookup_is_case_insensitive_and_joins() {
        let h = vec![
            Header {
                name: "Sec-WebSocket-Protocol".into(),
                value: "a".into(),
            },
            Header {
                name: "sec-websocket-protocol".into(),
                value: " b ".into(),
            },
            Header {
                name: "Connection".into(),
                value: "keep-alive, Upgrade".into(),
            },
        ];
        assert_eq!(
            header_value(&h, "SEC-WEBSOCKET-PROTOCOL").as_deref(),
            Some("a, b")
        );
        assert!(has_token(&h, "connection", "upgrade"));
    }
}
