// STOMP over WebSocket: npm @stomp/stompjs 7 (node, ws as the WebSocket)
// against RabbitMQ's rabbitmq_web_stomp plugin (ws://127.0.0.1:15674/ws).
// The client logs every WebSocket message it sends or receives (JSON lines:
// t_ns, peer, ev, data) by wrapping ws.
// Usage: node stomp.js PORT
const WebSocket = require('ws');
const { Client } = require('@stomp/stompjs');

const port = Number(process.argv[2] || 15674);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => process.hrtime.bigint().toString();
const text = (d) => (typeof d === 'string' ? d : Buffer.from(d instanceof ArrayBuffer ? new Uint8Array(d) : d).toString('latin1'));
const log = (peer, ev, data, extra = {}) => console.log(JSON.stringify({ t_ns: now(), peer, ev, data: text(data), binary: typeof data !== 'string' && ev === 'send', ...extra }));

function factory(tag) {
  return () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, ['v12.stomp', 'v11.stomp', 'v10.stomp']);
    const send = ws.send.bind(ws);
    ws.send = (data, ...rest) => { log('client', 'send', data, { conn: tag }); return send(data, ...rest); };
    ws.on('message', (d, isBinary) => log('client', 'recv', isBinary ? d : d.toString(), { conn: tag }));
    ws.on('close', (code, reason) => log('client', 'close', reason, { conn: tag, code }));
    return ws;
  };
}

function connect(tag, hb) {
  return new Promise((resolve, reject) => {
    const c = new Client({
      webSocketFactory: factory(tag),
      connectHeaders: { login: 'guest', passcode: 'guest', host: '/' },
      heartbeatIncoming: hb, heartbeatOutgoing: hb,
      reconnectDelay: 0,
      debug: () => {},
    });
    c.onConnect = () => resolve(c);
    c.onStompError = (f) => log('client', 'stomp-error', f.headers.message, { conn: tag });
    c.onWebSocketError = reject;
    c.activate();
  });
}

async function main() {
  const c = await connect(1, 400);
  // A queue with client-individual acks: the client ACKs each MESSAGE after 20 ms.
  const got = [];
  let nackedOnce = false;
  c.subscribe('/queue/orders', async (m) => {
    got.push(m.body);
    await sleep(20);
    if (m.body === 'order 2' && !nackedOnce) { nackedOnce = true; m.nack({ requeue: 'true' }); } else { m.ack(); }
  }, { id: 'sub-orders', ack: 'client-individual', 'x-queue-name': 'orders' });
  const receipt = (id) => new Promise((r) => c.watchForReceipt(id, r));
  for (let i = 1; i <= 3; i++) {
    const r = receipt(`send-${i}`);
    c.publish({ destination: '/queue/orders', body: `order ${i}`, headers: { receipt: `send-${i}`, 'content-type': 'text/plain', 'x-order': String(i) } });
    await r;
    await sleep(60);
  }
  // Header escaping (STOMP 1.2 §"Value Encoding"): a header value with ':' and '\n'.
  c.publish({ destination: '/queue/orders', body: 'order 4 with an escaped header', headers: { 'x-note': 'a:b\nc\\d' } });
  await sleep(100);
  // A topic with automatic acks, and a binary body with a content-length.
  const topicSub = c.subscribe('/topic/news', () => {}, { id: 'sub-news' });
  await sleep(50);
  // (a byte 0xFF in a binary body makes RabbitMQ 3.10 web-stomp drop the connection: avoided)
  c.publish({ destination: '/topic/news', binaryBody: new Uint8Array([0, 1, 2, 0, 127]), headers: { 'content-type': 'application/octet-stream' } });
  await sleep(50);
  topicSub.unsubscribe();
  // Idle: heart-beats (a lone EOL) both ways every ~400 ms.
  await sleep(2600);
  await c.deactivate(); // DISCONNECT with a receipt (stompjs adds receipt), then close
  await sleep(200);

  // Connection 2: an invalid destination → ERROR frame, then the broker closes.
  const d = await connect(2, 0);
  d.publish({ destination: '/nonsense/place', body: 'lost', headers: { receipt: 'bad-1' } });
  await sleep(500);
  await d.deactivate();
  await sleep(100);
}
main().then(() => setTimeout(() => process.exit(0), 100), (e) => { console.error(e); process.exit(1); });
