// Socket.IO v4 (Engine.IO v4) server and two clients on loopback. Every
// Engine.IO packet each peer sends or receives is logged (JSON lines on
// stdout: t_ns, peer, ev send|recv, type, data) so the truth file can be
// checked against what the peers really did.
// Usage: node socketio_v4.js PORT   (with socket.io and socket.io-client installed)
const http = require('http');
const { Server } = require('socket.io');
const { io } = require('socket.io-client');

const port = Number(process.argv[2] || 9101);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => process.hrtime.bigint().toString();
function log(peer, sid, ev, p) {
  let data = p.data;
  if (Buffer.isBuffer(data) || data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
    data = { binary: Buffer.from(data).toString('hex') };
  }
  console.log(JSON.stringify({ t_ns: now(), peer, sid: sid(), ev, type: p.type, data }));
}
function hook(peer, engineSocket) {
  const sid = () => engineSocket.id || null;
  engineSocket.on('packet', (p) => log(peer, sid, 'recv', p));
  engineSocket.on('packetCreate', (p) => log(peer, sid, 'send', p));
}

const srv = http.createServer();
const ioS = new Server(srv, { pingInterval: 400, pingTimeout: 300 });
ioS.engine.on('connection', (s) => hook('server', s));

ioS.on('connection', (socket) => {
  // sent at once: over long-polling it rides in the same GET response as
  // the CONNECT answer (two Engine.IO packets separated by 0x1e)
  socket.emit('welcome', { motd: 'hello from the server' });
  socket.on('hello', async (data, ack) => { await sleep(15); ack({ ok: true, echo: data }); });
  socket.on('upload', async (buf, meta, ack) => {
    await sleep(25);
    ack({ bytes: buf.length, name: meta.name });
  });
  socket.on('note', () => {}); // event without ack
});
const chat = ioS.of('/chat');
chat.on('connection', (socket) => {
  socket.on('msg', async (m, ack) => {
    await sleep(10);
    ack({ delivered: true, id: m.id });
    // server → client event with an ack, answered by the client after 20 ms
    socket.emit('question', { q: 'still there?', n: m.id }, (answer) => {
      console.log(JSON.stringify({ t_ns: now(), peer: 'server', ev: 'ack-received', answer }));
    });
  });
  socket.on('want-file', async () => {
    await sleep(5);
    socket.emit('file', Buffer.from([0, 1, 2, 3, 250, 251, 252, 253, 254, 255]), { name: 'blob.bin' });
  });
});
ioS.of('/admin').use((socket, next) => {
  setTimeout(() => next(new Error('not authorized')), 8);
});

function client(name, opts, ns) {
  const c = io(`http://127.0.0.1:${port}${ns}`, { forceNew: true, reconnection: false, ...opts });
  hook(name, c.io.engine); // created synchronously by io(): the open packet is logged too
  return c;
}

srv.listen(port, '127.0.0.1', async () => {
  // 1. Default transports: HTTP long-polling first, then upgrade to websocket.
  const a = client('clientA', {}, '/');
  const first = a.emitWithAck('hello', { n: 0, text: 'sent before the upgrade' }); // buffered, goes over polling
  await new Promise((r) => a.on('connect', r));
  await first;
  console.log(JSON.stringify({ t_ns: now(), peer: 'clientA', ev: 'connected', transport: a.io.engine.transport.name }));
  await new Promise((r) => (a.io.engine.transport.name === 'websocket' ? r() : a.io.engine.once('upgrade', r)));
  console.log(JSON.stringify({ t_ns: now(), peer: 'clientA', ev: 'upgraded' }));
  for (let i = 1; i <= 3; i++) {
    await a.emitWithAck('hello', { n: i, text: `hi ${i}` });
  }
  a.emit('note', 'no ack wanted');
  await a.emitWithAck('upload', Buffer.from('binary payload \x00\x01\x02 end'), { name: 'part1' });
  await sleep(900); // let the server's pings (every 400 ms) and the client's pongs pass
  a.disconnect();
  await sleep(100);

  // 2. websocket only, namespace /chat, then a refused namespace /admin.
  const b = client('clientB', { transports: ['websocket'] }, '/chat');
  b.on('question', async (q, ack) => { await sleep(20); ack({ yes: true, n: q.n }); });
  const fileSeen = new Promise((r) => b.on('file', (buf, meta) => r()));
  await new Promise((r) => b.on('connect', r));
  for (let i = 1; i <= 2; i++) {
    await b.emitWithAck('msg', { id: i, body: `message ${i}` });
    await sleep(60);
  }
  b.emit('want-file');
  await fileSeen;
  const adm = b.io.socket('/admin');
  await new Promise((r) => adm.on('connect_error', (e) => {
    console.log(JSON.stringify({ t_ns: now(), peer: 'clientB', ev: 'connect_error', message: e.message }));
    r();
  }));
  await sleep(50);
  b.disconnect();
  await sleep(100);
  ioS.close();
  srv.close();
  setTimeout(() => process.exit(0), 200);
});
