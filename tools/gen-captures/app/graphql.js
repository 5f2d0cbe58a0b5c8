// GraphQL over WebSocket, both subprotocols, real libraries on both sides:
//   modern: npm graphql-ws (subprotocol graphql-transport-ws) server + client
//   legacy: npm subscriptions-transport-ws (subprotocol graphql-ws) server + client
// Both sides log every WebSocket message they send or receive (JSON lines:
// t_ns, peer, ev send|recv, data) by wrapping ws's send and 'message'.
// Usage: node graphql.js modern|legacy PORT
const http = require('http');
const WebSocket = require('ws');
const { buildSchema, execute, subscribe } = require('graphql');

const mode = process.argv[2];
const port = Number(process.argv[3] || 9201);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => process.hrtime.bigint().toString();
const log = (peer, ev, data) => console.log(JSON.stringify({ t_ns: now(), peer, ev, data: String(data) }));

const schema = buildSchema(`
  type Query { hello(name: String!): String, slow(ms: Int!): Int, broken: String }
  type Subscription { countdown(from: Int!): Int, ticker: Int }
`);
// Resolvers that take measurable time (the server's delays).
const root = {
  hello: async ({ name }) => { await sleep(15); return `hello ${name}`; },
  slow: async ({ ms }) => { await sleep(ms); return ms; },
  broken: async () => { await sleep(5); throw new Error('resolver failed on purpose'); },
  countdown: async function* ({ from }) {
    for (let i = from; i >= 0; i--) { await sleep(10); yield { countdown: i }; }
  },
  ticker: async function* () {
    for (let i = 0; ; i++) { await sleep(30); yield { ticker: i }; }
  },
};
// graphql-js calls a Subscription field's root value to get the iterator.
const subscribeRoot = {
  countdown: (args) => root.countdown(args),
  ticker: () => root.ticker(),
};

class LoggedWebSocket extends WebSocket {
  constructor(...a) {
    super(...a);
    this.on('message', (d) => log('client', 'recv', d));
  }
  send(data, ...rest) { log('client', 'send', data); return super.send(data, ...rest); }
}

function serverHooks(wss) {
  wss.on('connection', (sock) => {
    const send = sock.send.bind(sock);
    sock.send = (data, ...rest) => { log('server', 'send', data); return send(data, ...rest); };
    sock.on('message', (d) => log('server', 'recv', d));
  });
}

async function modern() {
  const { useServer } = require('graphql-ws/use/ws');
  const { createClient } = require('graphql-ws');
  const srv = http.createServer();
  const wss = new WebSocket.Server({ server: srv, path: '/graphql' });
  serverHooks(wss); // registered before graphql-ws's own listener
  useServer({
    schema,
    execute: (args) => execute({ ...args, rootValue: root }),
    subscribe: (args) => subscribe({ ...args, rootValue: subscribeRoot }),
    onConnect: async () => { await sleep(8); return true; },
  }, wss);
  await new Promise((r) => srv.listen(port, '127.0.0.1', r));

  const client = createClient({
    url: `ws://127.0.0.1:${port}/graphql`, webSocketImpl: LoggedWebSocket,
    lazy: false, retryAttempts: 0, keepAlive: 250,
    connectionParams: { token: 'abc' },
  });
  const run = (payload, onNext = () => {}) => new Promise((resolve) => {
    const out = [];
    const dispose = client.subscribe(payload, {
      next: (v) => { out.push(v); onNext(v, dispose); },
      error: (e) => resolve({ error: e }),
      complete: () => resolve(out),
    });
  });
  await sleep(100);
  await run({ query: 'query Hello($n: String!) { hello(name: $n) }', variables: { n: 'ws' }, operationName: 'Hello' });
  await run({ query: '{ slow(ms: 40) }' });
  await run({ query: 'subscription { countdown(from: 4) }' });
  await run({ query: '{ broken }' }); // next with errors, then complete
  await run({ query: '{ nosuchfield }' }); // validation → error message
  // A subscription the client stops: complete from the client.
  await new Promise((resolve) => {
    run({ query: 'subscription Tick { ticker }', operationName: 'Tick' }, (v, dispose) => {
      if (v.data.ticker === 2) { dispose(); resolve(); }
    });
  });
  await sleep(600); // keep-alive pings (every 250 ms idle) and pongs
  await client.dispose();
  await sleep(100);
  wss.close(); srv.close();
}

async function legacy() {
  const { SubscriptionServer, SubscriptionClient } = require('subscriptions-transport-ws');
  const srv = http.createServer();
  await new Promise((r) => srv.listen(port, '127.0.0.1', r));
  const wss = new WebSocket.Server({ server: srv, path: '/subscriptions' });
  serverHooks(wss);
  SubscriptionServer.create({
    schema, rootValue: root, keepAlive: 300,
    execute: (args) => execute({ ...args, rootValue: root }),
    subscribe: (args) => subscribe({ ...args, rootValue: subscribeRoot }),
    onConnect: async () => { await sleep(8); return { user: 'legacy' }; },
  }, wss);
  const client = new SubscriptionClient(`ws://127.0.0.1:${port}/subscriptions`,
    { reconnect: false, connectionParams: { token: 'abc' } }, LoggedWebSocket);
  const run = (req, stopAfter) => new Promise((resolve) => {
    const out = [];
    const sub = client.request(req).subscribe({
      next: (v) => { out.push(v); if (stopAfter !== undefined && out.length === stopAfter) { sub.unsubscribe(); resolve(out); } },
      error: (e) => resolve({ error: String(e) }),
      complete: () => resolve(out),
    });
  });
  await new Promise((r) => client.onConnected(r));
  await run({ query: 'query Hello($n: String!) { hello(name: $n) }', variables: { n: 'legacy' }, operationName: 'Hello' });
  await run({ query: 'subscription { countdown(from: 3) }' });
  await run({ query: '{ broken }' });
  await run({ query: '{ nosuchfield }' }); // validation errors come as data + complete here
  await run({ query: '{ hello(name: "x") ' }); // syntax error → error message
  await run({ query: 'subscription { ticker }' }, 3); // stop from the client
  await sleep(700); // ka keep-alives every 300 ms
  client.close();
  await sleep(100);
  wss.close(); srv.close();
}

(mode === 'legacy' ? legacy() : modern()).then(() => setTimeout(() => process.exit(0), 100),
  (e) => { console.error(e); process.exit(1); });
