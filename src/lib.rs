//! wsinspect: a WebSocket traffic inspector for pcap/pcapng captures.
//!
//! The library is a layered, sans-IO pipeline; each layer is a small state
//! machine that knows nothing of the layers above it:
//!
//! ```text
//! capture (pcap/pcapng → RawPacket)
//!   → decode (link/IP/TCP → TcpSegment)
//!   → tcp (connections, per-direction reassembly → in-order pieces + gaps)
//!   → analysis::session (HTTP upgrade → WebSocket)
//!       → http (header blocks, handshake, Sec-WebSocket-Accept)
//!       → ws (frames → messages, deflate, violations)
//!   → model (connections, messages, control frames, violations)
//!   → report (text / JSON / NDJSON), tui, check
//! ```
//!
//! See `docs/architecture.md` for the reasons behind the layout.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod analysis;
pub mod app;
pub mod capture;
pub mod check;
pub mod decode;
pub mod export;
pub mod flow;
pub mod h2;
pub mod hexfmt;
pub mod http;
pub mod index;
pub mod live;
pub mod model;
pub mod payload;
pub mod pipeline;
pub mod query;
pub mod report;
pub mod stats;
pub mod tcp;
pub mod tls;
pub mod tui;
pub mod ws;
