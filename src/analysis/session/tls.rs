//! The TLS front end of a session (wss): records are decrypted with the
//! key log when it has the connection's secrets, and the application data
//! runs through the same machine as clear text, with each record's first
//! and last packet as the bytes' provenance.

use super::{At, Session};
use crate::analysis::Consumer;
use crate::capture::PacketNo;
use crate::flow::{Direction, Side};
use crate::model::{Protocol, TlsNote};
use crate::tcp::Piece;
use crate::tls::{KeyLog, TlsConnection, TlsOutput};
use std::sync::Arc;

/// The wss front end of a connection.
#[derive(Debug)]
pub(super) struct TlsFront {
    /// The TLS layer, once the connection's first bytes were a TLS record.
    pub(super) conn: Option<Box<TlsConnection>>,
    /// The secrets to decrypt with.
    pub(super) keylog: Option<Arc<KeyLog>>,
    /// What the report says about the decryption.
    pub(super) notes: Vec<TlsNote>,
}

impl Session {
    /// The connection is TLS: a ClientHello (handshake type 1) names the
    /// client, a ServerHello (2) the server.
    pub(super) fn start_tls(&mut self, side: Side, first: &[u8]) {
        match first.get(5) {
            Some(1) => self.set_client(side),
            Some(2) => self.set_client(side.other()),
            _ => {}
        }
        self.tls.conn = Some(Box::new(TlsConnection::new(self.tls.keylog.clone())));
        self.conn.protocol = Protocol::Tls;
    }

    /// Decrypts and hands application data to the HTTP/WebSocket layers.
    /// Provenance is per TLS record: its first and last packet.
    pub(super) fn tls_piece(
        &mut self,
        side: Side,
        piece: Piece<'_>,
        at: At,
        sink: &mut dyn Consumer,
    ) {
        let from_client = self.dir_of(side) == Direction::ClientToServer;
        let Some(tls) = self.tls.conn.as_mut() else {
            return;
        };
        let mut plain: Vec<(Vec<u8>, PacketNo, PacketNo)> = Vec::new();
        let notes = &mut self.tls.notes;
        match piece {
            Piece::Data(d) => tls.push(from_client, d, at.src, &mut |o| match o {
                TlsOutput::AppData {
                    data,
                    first_packet,
                    last_packet,
                    ..
                } => plain.push((data.to_vec(), first_packet, last_packet)),
                TlsOutput::Note {
                    from_client,
                    packet,
                    detail,
                } => notes.push(TlsNote {
                    dir: if from_client {
                        Direction::ClientToServer
                    } else {
                        Direction::ServerToClient
                    },
                    packet,
                    detail,
                }),
            }),
            Piece::Gap(n) => tls.gap(from_client, n),
        }
        for (data, first, last) in plain {
            self.app_piece(
                side,
                Piece::Data(&data),
                At {
                    src: first,
                    now: last,
                    ts: at.ts,
                },
                sink,
            );
        }
    }
}
