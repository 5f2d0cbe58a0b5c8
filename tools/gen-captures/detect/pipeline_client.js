// Sends several HTTP/1.1 requests in one write (pipelining, RFC 9112 §9.3)
// to the real server, then reads until every response came, then closes.
const net = require('net');
const port = Number(process.argv[2] || 10190);
const body = Buffer.from('\x81\x85\x01\x02\x03\x04frame-like body');
const reqs =
  'GET /hints HTTP/1.1\r\nHost: x\r\n\r\n' +
  'HEAD /thing HTTP/1.1\r\nHost: x\r\n\r\n' +
  `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`;
const s = net.connect(port, '127.0.0.1', () => {
  s.write(Buffer.concat([Buffer.from(reqs), body, Buffer.from('PROPFIND /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')]));
});
s.on('data', () => {});
s.on('end', () => s.end());
