//! The WebSocket opening handshake as recorded (RFC 6455 §4): what the
//! client offered and the server answered, and whether the accept value
//! matches the key. Filled by `http::handshake` from parsed heads.

use crate::capture::PacketNo;
use serde::Serialize;

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
    pub request_packet: Option<PacketNo>,
    /// Packet that carried the start of the response.
    pub response_packet: Option<PacketNo>,
    /// Request headers, in order.
    pub request_headers: Vec<Header>,
    /// Response headers, in order.
    pub response_headers: Vec<Header>,
}
