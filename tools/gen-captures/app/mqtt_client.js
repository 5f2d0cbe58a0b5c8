// MQTT over WebSocket client sessions (npm mqtt 5) against a mosquitto
// websockets listener. Logs every MQTT packet the client sends or receives
// (packetsend / packetreceive) as JSON lines with a monotonic timestamp.
// Usage: node mqtt_client.js PORT 4|5
const mqtt = require('mqtt');

const port = Number(process.argv[2] || 9001);
const version = Number(process.argv[3] || 4);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => process.hrtime.bigint().toString();

function summary(p) {
  const o = { cmd: p.cmd };
  for (const k of ['messageId', 'topic', 'qos', 'retain', 'dup', 'returnCode', 'reasonCode', 'granted',
    'sessionPresent', 'unsubscriptions', 'subscriptions', 'keepalive', 'protocolVersion', 'clientId']) {
    if (p[k] !== undefined) o[k] = p[k];
  }
  if (p.properties) o.properties = p.properties;
  if (p.payload !== undefined && p.payload !== null) {
    o.payload = Buffer.isBuffer(p.payload) ? p.payload.toString('utf8') : p.payload;
  }
  if (p.reasons) o.reasons = p.reasons;
  return o;
}

function connect(name, opts) {
  const c = mqtt.connect(`ws://127.0.0.1:${port}/mqtt`, {
    protocolVersion: version, reconnectPeriod: 0, manualConnect: true, ...opts,
  });
  c.on('packetsend', (p) => console.log(JSON.stringify({ t_ns: now(), peer: name, ev: 'send', packet: summary(p) })));
  c.on('packetreceive', (p) => console.log(JSON.stringify({ t_ns: now(), peer: name, ev: 'recv', packet: summary(p) })));
  // Delay the client's answers to the broker's PUBLISH (PUBACK / PUBREC) by
  // 20 ms so that those latencies are measurable.
  c.handleMessage = (packet, done) => setTimeout(done, 20);
  c.connect(); // after the hooks, so that CONNECT is logged too
  return c;
}

const wait = (c, ev) => new Promise((r, j) => { c.once(ev, r); c.once('error', j); });

async function main() {
  {
    // A refused CONNECT first: wrong password → CONNACK 5 (3.1.1) / 0x86 (5).
    const bad = connect('bad', { clientId: `v${version}-bad`, username: 'alice', password: 'wrong', keepalive: 30 });
    await new Promise((r) => bad.once('error', (e) => { console.log(JSON.stringify({ t_ns: now(), peer: 'bad', ev: 'error', message: e.message, code: e.code })); r(); }));
    bad.end(true);
    await sleep(200);
  }
  const props = version === 5 ? {
    properties: { sessionExpiryInterval: 60, topicAliasMaximum: 5, userProperties: { app: 'wsinspect' } },
  } : {};
  const c = connect('client', { clientId: `v${version}-client`, username: 'alice', password: 'secret', keepalive: 2, clean: true, ...props });
  await wait(c, 'connect');
  const base = version === 5 ? 'v5' : 'sensors';
  await c.subscribeAsync(`${base}/#`, { qos: 2 });
  for (const qos of [0, 1, 2]) {
    const opts = { qos };
    if (version === 5) {
      opts.properties = { userProperties: { seq: String(qos), origin: 'node' }, messageExpiryInterval: 300, contentType: 'text/plain' };
    }
    await c.publishAsync(`${base}/temp`, `21.${qos} C at qos ${qos}`, opts);
    await sleep(80);
  }
  if (version === 5) {
    // Topic alias: first PUBLISH names the topic and sets alias 1, the next
    // one sends an empty topic with alias 1.
    await c.publishAsync(`${base}/humidity`, '40 %', { qos: 1, properties: { topicAlias: 1 } });
    await sleep(50);
    await c.publishAsync('', '41 %', { qos: 1, properties: { topicAlias: 1 } });
    await sleep(50);
    // Request/response properties.
    await c.publishAsync(`${base}/cmd`, 'reboot', { qos: 1, properties: { responseTopic: `${base}/reply`, correlationData: Buffer.from('corr-42') } });
    await sleep(50);
  }
  // Retained message, then a subscription that receives it (retain flag set).
  await c.publishAsync(`status/${version}/device1`, 'online', { qos: 1, retain: true });
  await sleep(50);
  await c.subscribeAsync(`status/${version}/#`, { qos: 1 });
  await sleep(100);
  // A subscription the ACL denies: SUBACK 0x80 (3.1.1) / 0x87 (5).
  const granted = await c.subscribeAsync('secret/#', { qos: 1 });
  console.log(JSON.stringify({ t_ns: now(), peer: 'client', ev: 'granted', granted }));
  if (version === 5) {
    // A publish the ACL denies: PUBACK reason 0x87.
    try { await c.publishAsync('secret/plans', 'x', { qos: 1 }); } catch (e) {
      console.log(JSON.stringify({ t_ns: now(), peer: 'client', ev: 'publish-error', message: e.message, code: e.code }));
    }
  }
  await c.unsubscribeAsync(`${base}/#`);
  // Idle for more than the keep-alive (2 s): PINGREQ / PINGRESP.
  await sleep(2600);
  await c.endAsync();
  setTimeout(() => process.exit(0), 100);
}
main().catch((e) => { console.error(e); process.exit(1); });
