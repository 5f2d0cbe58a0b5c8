"""Real Python http.server speaking HTTP/1.0: the response has no
Content-Length and its body ends when the server closes (RFC 9112 §6.3)."""
import http.server, sys

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        # Body bytes shaped like WebSocket frames and like a status line.
        self.wfile.write(b"\x82\x03abc" + b"HTTP/1.1 101 Switching Protocols\r\n\r\n" + bytes(range(256)))
    def log_message(self, *a):
        pass

http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).handle_request()
