//! Connection identity: directions, roles and the canonical address pair.

use crate::decode::TunnelScope;
use serde::Serialize;
use std::fmt;
use std::net::SocketAddr;

/// Which way bytes travel on a connection, relative to the client.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord, schemars::JsonSchema,
)]
pub enum Direction {
    /// From the client (the side that opened the connection) to the server.
    #[serde(rename = "c2s")]
    ClientToServer,
    /// From the server to the client.
    #[serde(rename = "s2c")]
    ServerToClient,
}

impl Direction {
    /// The opposite direction.
    pub fn reverse(self) -> Self {
        match self {
            Direction::ClientToServer => Direction::ServerToClient,
            Direction::ServerToClient => Direction::ClientToServer,
        }
    }

    /// The role of the sender.
    pub fn sender(self) -> Role {
        match self {
            Direction::ClientToServer => Role::Client,
            Direction::ServerToClient => Role::Server,
        }
    }

    /// `c2s` / `s2c`, as in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::ClientToServer => "c2s",
            Direction::ServerToClient => "s2c",
        }
    }

    /// An arrow for people: `→` client to server, `←` back.
    pub fn arrow(self) -> &'static str {
        match self {
            Direction::ClientToServer => "→",
            Direction::ServerToClient => "←",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A peer's role on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Opened the TCP connection / sends masked frames.
    Client,
    /// Accepted it.
    Server,
}

impl Role {
    /// The direction in which this role sends.
    pub fn sends(self) -> Direction {
        match self {
            Role::Client => Direction::ClientToServer,
            Role::Server => Direction::ServerToClient,
        }
    }

    /// `client` / `server`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Server => "server",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The two endpoints of a TCP connection in a canonical order, so that both
/// directions of a connection find the same key, and the address space they
/// belong to: inside tunnels, connections are keyed by their inner
/// addresses (as Wireshark does) within the tunnel's [`TunnelScope`], so
/// the same inner 5-tuple in two VXLAN segments stays two connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    lo: SocketAddr,
    hi: SocketAddr,
    scope: TunnelScope,
}

/// One of the two sides of a connection, in the order the capture showed
/// them first (side 0 sent the first packet seen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Side(pub u8);

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        Side(1 - self.0)
    }

    /// Index into per-side arrays.
    pub fn idx(self) -> usize {
        usize::from(self.0)
    }
}

impl FlowKey {
    /// Canonical key of the pair, outside any tunnel scope.
    pub fn new(a: SocketAddr, b: SocketAddr) -> Self {
        Self::scoped(a, b, TunnelScope::Global)
    }

    /// Canonical key of the pair within `scope`.
    pub fn scoped(a: SocketAddr, b: SocketAddr, scope: TunnelScope) -> Self {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        FlowKey { lo, hi, scope }
    }
}
