//! The WebSocket opening handshake (RFC 6455 §4): what was offered and
//! answered, and the Sec-WebSocket-Accept check.

use base64::Engine;
use serde::Serialize;
use sha1::{Digest, Sha1};

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

/// One HTTP header as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Header {
    /// Name, as sent.
    pub name: String,
    /// Value, lossily decoded if not UTF-8.
    pub value: String,
}

/// The opening handshake of a connection, as far as it was captured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default, schemars::JsonSchema)]
pub struct Handshake {
    /// An upgrade request (or a 101 response) was seen.
    pub seen: bool,
    /// Request target of the upgrade request.
    pub request_target: Option<String>,
    /// Sec-WebSocket-Key sent by the client.
    pub sec_websocket_key: Option<String>,
    /// Sec-WebSocket-Version sent by the client.
    pub sec_websocket_version: Option<String>,
    /// HTTP status of the response.
    pub status: Option<u16>,
    /// Reason phrase of the response.
    pub reason: Option<String>,
    /// Sec-WebSocket-Accept sent by the server.
    pub sec_websocket_accept: Option<String>,
    /// What the accept must be for the key sent.
    pub expected_accept: Option<String>,
    /// Whether accept matches key; None when either is unknown.
    pub accept_valid: Option<bool>,
    /// Subprotocol selected by the server.
    pub subprotocol: Option<String>,
    /// Extensions accepted by the server (raw header text).
    pub extensions: Option<String>,
    /// Subprotocols offered by the client.
    pub offered_subprotocols: Option<String>,
    /// Extensions offered by the client.
    pub offered_extensions: Option<String>,
    /// The request's whole header block was captured.
    pub request_complete: bool,
    /// The response's whole header block was captured.
    pub response_complete: bool,
    /// Packet that carried the start of the request.
    pub request_packet: Option<u64>,
    /// Packet that carried the start of the response.
    pub response_packet: Option<u64>,
    /// Request headers, in order.
    pub request_headers: Vec<Header>,
    /// Response headers, in order.
    pub response_headers: Vec<Header>,
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
        self.request_packet = Some(packet);
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
        self.response_packet = Some(packet);
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
