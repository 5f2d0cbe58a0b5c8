// JSON-RPC 2.0 over WebSocket with npm rpc-websockets (server and client).
// Both sides log every message they send or receive (JSON lines: t_ns,
// peer, ev, data) by wrapping the underlying ws socket.
// Usage: node jsonrpc.js PORT
const { Server, Client } = require('rpc-websockets');

const port = Number(process.argv[2] || 9401);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => process.hrtime.bigint().toString();
const log = (peer, ev, data) => console.log(JSON.stringify({ t_ns: now(), peer, ev, data: String(data) }));

function hook(peer, sock) {
  const send = sock.send.bind(sock);
  sock.send = (data, ...rest) => { log(peer, 'send', data); return send(data, ...rest); };
  sock.on('message', (d) => log(peer, 'recv', d));
}

async function main() {
  const server = new Server({ host: '127.0.0.1', port, path: '/rpc' });
  server.wss.on('connection', (sock) => hook('server', sock));
  // Methods live in the namespace of the URL path.
  server.register('sum', async (params) => { await sleep(12); return params.reduce((a, b) => a + b, 0); }, '/rpc');
  server.register('slow', async (params) => { await sleep(params[0]); return { waited: params[0] }; }, '/rpc');
  server.register('fail', async () => { await sleep(5); throw new Error('it failed on purpose'); }, '/rpc');
  server.register('log', (params) => { log('server', 'notified', JSON.stringify(params)); }, '/rpc');
  await new Promise((r) => server.on('listening', r));

  const client = new Client(`ws://127.0.0.1:${port}/rpc`, { autoconnect: true, reconnect: false });
  await new Promise((r) => client.on('open', r));
  hook('client', client.socket);

  await client.call('sum', [1, 2, 3]);
  await client.call('slow', [40]);
  await client.notify('log', { level: 'info', text: 'a notification, no id, no answer' });
  await sleep(20);
  try { await client.call('nosuch', [1]); } catch (e) { log('client', 'error', JSON.stringify(e)); }
  try { await client.call('fail', []); } catch (e) { log('client', 'error', JSON.stringify(e)); }
  // Two calls in flight at once: answered out of order (slow 30 ms, sum 12 ms).
  await Promise.all([client.call('slow', [30]), client.call('sum', [10, 20])]);
  // A batch (the client library has no batch call: written on its socket; the server's
  // library answers it with one array message).
  const batchDone = new Promise((r) => client.socket.once('message', r));
  client.socket.send(JSON.stringify([
    { jsonrpc: '2.0', method: 'sum', params: [4, 5], id: 'b1' },
    { jsonrpc: '2.0', method: 'log', params: { text: 'notification inside a batch' } },
    { jsonrpc: '2.0', method: 'nosuch', params: [], id: 'b2' },
    { jsonrpc: '2.0', method: 'slow', params: [15], id: 'b3' },
  ]));
  await batchDone;
  await sleep(50);
  client.close();
  await sleep(100);
  await server.close();
}
main().then(() => setTimeout(() => process.exit(0), 100), (e) => { console.error(e); process.exit(1); });
