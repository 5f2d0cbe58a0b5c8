//! HTTP/2 (RFC 9113) framing and HPACK (RFC 7541), as a sans-IO layer.
pub mod hpack;
