//! Pure functions over decoded header lists: is a request an RFC 8441
//! extended CONNECT (a WebSocket, or another protocol, bootstrapped over
//! one HTTP/2 stream), which of RFC 8441 §4/§5's rules it breaks, and the
//! method/path/status of ordinary exchanges for listing other streams.

use super::hpack::Field;

/// RFC 8441 §4: the fields of an extended CONNECT request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendedConnect {
    /// `:protocol` (`websocket` for RFC 8441 §5).
    pub protocol: Vec<u8>,
    /// `:scheme`.
    pub scheme: Option<Vec<u8>>,
    /// `:path`.
    pub path: Option<Vec<u8>>,
    /// `:authority`.
    pub authority: Option<Vec<u8>>,
    /// `sec-websocket-protocol` (all fields, joined with `, `).
    pub ws_protocol: Option<Vec<u8>>,
    /// `sec-websocket-extensions` (all fields, joined with `, `).
    pub ws_extensions: Option<Vec<u8>>,
    /// `sec-websocket-version`.
    pub ws_version: Option<Vec<u8>>,
    /// The rules the request breaks.
    pub problems: Vec<ConnectProblem>,
}

/// A broken rule of RFC 8441 (or of RFC 9113 §8.2.2 on the same request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectProblem {
    /// RFC 8441 §4: `:protocol` sent though the server did not send
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (None: its SETTINGS were not
    /// seen, so this cannot be told; never reported then).
    ProtocolNotEnabled,
    /// RFC 8441 §4: an extended CONNECT must carry `:scheme` and `:path`.
    MissingSchemeOrPath,
    /// RFC 8441 §5: no `Sec-WebSocket-Key` over HTTP/2 (the stream is the
    /// proof of the handshake).
    SecWebSocketKey,
    /// RFC 9113 §8.2.2: a connection-specific field (`connection`,
    /// `upgrade`, `keep-alive`, `proxy-connection`, `transfer-encoding`,
    /// `te` other than `trailers`).
    ConnectionSpecific(Vec<u8>),
}

impl ConnectProblem {
    /// Where the rule is written.
    pub fn rfc(&self) -> &'static str {
        match self {
            ConnectProblem::ProtocolNotEnabled | ConnectProblem::MissingSchemeOrPath => {
                "RFC 8441 §4"
            }
            ConnectProblem::SecWebSocketKey => "RFC 8441 §5",
            ConnectProblem::ConnectionSpecific(_) => "RFC 9113 §8.2.2",
        }
    }
}

fn get<'a>(fields: &'a [Field], name: &[u8]) -> Option<&'a [u8]> {
    fields
        .iter()
        .find(|f| f.name == name)
        .map(|f| f.value.as_slice())
}

/// All values of `name`, joined with `, ` (RFC 9110 §5.3), or None.
fn joined(fields: &[Field], name: &[u8]) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    for f in fields.iter().filter(|f| f.name == name) {
        match &mut out {
            None => out = Some(f.value.clone()),
            Some(v) => {
                v.extend_from_slice(b", ");
                v.extend_from_slice(&f.value);
            }
        }
    }
    out
}

/// The connection-specific fields of a header list (RFC 9113 §8.2.2).
pub fn connection_specific(fields: &[Field]) -> Vec<Vec<u8>> {
    fields
        .iter()
        .filter(|f| {
            matches!(
                f.name.as_slice(),
                b"connection"
                    | b"upgrade"
                    | b"keep-alive"
                    | b"proxy-connection"
                    | b"transfer-encoding"
            ) || (f.name == b"te" && !f.value.eq_ignore_ascii_case(b"trailers"))
        })
        .map(|f| f.name.clone())
        .collect()
}

/// Classifies a request header list as an RFC 8441 extended CONNECT
/// (`:method CONNECT` with `:protocol`). `server_enabled` is the server's
/// SETTINGS_ENABLE_CONNECT_PROTOCOL as last seen before the request (None
/// when unknown).
pub fn extended_connect(fields: &[Field], server_enabled: Option<u32>) -> Option<ExtendedConnect> {
    if get(fields, b":method") != Some(b"CONNECT") {
        return None;
    }
    let protocol = get(fields, b":protocol")?.to_vec();
    let mut problems = Vec::new();
    if matches!(server_enabled, Some(v) if v != 1) {
        problems.push(ConnectProblem::ProtocolNotEnabled);
    }
    let scheme = get(fields, b":scheme").map(<[u8]>::to_vec);
    let path = get(fields, b":path").map(<[u8]>::to_vec);
    if scheme.is_none() || path.is_none() {
        problems.push(ConnectProblem::MissingSchemeOrPath);
    }
    if get(fields, b"sec-websocket-key").is_some() {
        problems.push(ConnectProblem::SecWebSocketKey);
    }
    for name in connection_specific(fields) {
        problems.push(ConnectProblem::ConnectionSpecific(name));
    }
    Some(ExtendedConnect {
        protocol,
        scheme,
        path,
        authority: get(fields, b":authority").map(<[u8]>::to_vec),
        ws_protocol: joined(fields, b"sec-websocket-protocol"),
        ws_extensions: joined(fields, b"sec-websocket-extensions"),
        ws_version: get(fields, b"sec-websocket-version").map(<[u8]>::to_vec),
        problems,
    })
}

/// An ordinary request's summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSummary {
    /// `:method`.
    pub method: Option<Vec<u8>>,
    /// `:path` (absent for a plain CONNECT).
    pub path: Option<Vec<u8>>,
    /// `:authority`.
    pub authority: Option<Vec<u8>>,
    /// `:scheme`.
    pub scheme: Option<Vec<u8>>,
}

/// Method, path, authority, scheme of a request header list.
pub fn request_summary(fields: &[Field]) -> RequestSummary {
    let g = |n: &[u8]| get(fields, n).map(<[u8]>::to_vec);
    RequestSummary {
        method: g(b":method"),
        path: g(b":path"),
        authority: g(b":authority"),
        scheme: g(b":scheme"),
    }
}

/// A response's `:status`, when it is three digits (RFC 9113 §8.3.2).
pub fn response_status(fields: &[Field]) -> Option<u16> {
    let s = get(fields, b":status")?;
    if s.len() != 3 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// A 1xx response is interim; a final one follows on the stream.
pub fn is_interim(status: u16) -> bool {
    (100..200).contains(&status)
}

/// RFC 8441 §5 / RFC 9110 §15.3: an extended CONNECT succeeded with any
/// 2xx.
pub fn connect_accepted(status: u16) -> bool {
    (200..300).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(n: &str, v: &str) -> Field {
        Field {
            name: n.as_bytes().to_vec(),
            value: v.as_bytes().to_vec(),
            never_indexed: false,
        }
    }

    fn chrome_like() -> Vec<Field> {
        vec![
            f(":method", "CONNECT"),
            f(":authority", "example.com"),
            f(":scheme", "https"),
            f(":path", "/chat?x=1"),
            f(":protocol", "websocket"),
            f("sec-websocket-version", "13"),
            f("sec-websocket-protocol", "chat"),
            f("sec-websocket-protocol", "superchat"),
            f(
                "sec-websocket-extensions",
                "permessage-deflate; client_max_window_bits",
            ),
        ]
    }

    #[test]
    fn extended_connect_fields() {
        let c = extended_connect(&chrome_like(), Some(1)).unwrap();
        assert_eq!(c.protocol, b"websocket");
        assert_eq!(c.path.as_deref(), Some(&b"/chat?x=1"[..]));
        assert_eq!(c.authority.as_deref(), Some(&b"example.com"[..]));
        assert_eq!(c.ws_protocol.as_deref(), Some(&b"chat, superchat"[..]));
        assert_eq!(c.ws_version.as_deref(), Some(&b"13"[..]));
        assert!(c.problems.is_empty());
    }

    #[test]
    fn rule_breaks() {
        let mut h = chrome_like();
        h.retain(|x| x.name != b":path");
        h.push(f("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="));
        h.push(f("connection", "upgrade"));
        h.push(f("te", "trailers"));
        let c = extended_connect(&h, Some(0)).unwrap();
        assert_eq!(
            c.problems,
            vec![
                ConnectProblem::ProtocolNotEnabled,
                ConnectProblem::MissingSchemeOrPath,
                ConnectProblem::SecWebSocketKey,
                ConnectProblem::ConnectionSpecific(b"connection".to_vec()),
            ]
        );
        // Unknown setting: not a finding.
        let c = extended_connect(&chrome_like(), None).unwrap();
        assert!(c.problems.is_empty());
    }

    #[test]
    fn not_extended_connect() {
        assert!(extended_connect(&[f(":method", "GET"), f(":path", "/")], Some(1)).is_none());
        // Plain CONNECT (RFC 9113 §8.5) has no :protocol.
        assert!(
            extended_connect(
                &[f(":method", "CONNECT"), f(":authority", "h:443")],
                Some(1)
            )
            .is_none()
        );
    }

    #[test]
    fn summaries() {
        let s = request_summary(&[f(":method", "GET"), f(":path", "/x")]);
        assert_eq!(s.method.as_deref(), Some(&b"GET"[..]));
        assert_eq!(s.path.as_deref(), Some(&b"/x"[..]));
        assert_eq!(response_status(&[f(":status", "204")]), Some(204));
        assert_eq!(response_status(&[f(":status", "2044")]), None);
        assert_eq!(response_status(&[f(":status", "+20")]), None);
        assert!(is_interim(103) && !is_interim(200));
        assert!(connect_accepted(200) && !connect_accepted(404));
    }
}
