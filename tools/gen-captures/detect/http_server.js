// Real Node.js HTTP/1.1 server for tests/detect.rs captures: 103 Early Hints,
// chunked and Content-Length bodies, HEAD, request bodies, keep-alive.
const http = require('http');
const port = Number(process.argv[2] || 10190);
const srv = http.createServer((req, res) => {
  let body = [];
  req.on('data', (c) => body.push(c));
  req.on('end', () => {
    body = Buffer.concat(body);
    if (req.url === '/hints') {
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first chunk ');
      setTimeout(() => res.end('second chunk'), 20);
    } else if (req.url === '/echo') {
      res.writeHead(200, { 'content-length': body.length });
      res.end(body);
    } else if (req.method === 'HEAD') {
      res.writeHead(200, { 'content-length': 1234 });
      res.end();
    } else {
      res.writeHead(404, { 'content-length': 9 });
      res.end('not found');
    }
  });
});
srv.listen(port, '127.0.0.1', () => console.log('listening', port));
