// Generates MQTT 3.1.1 and 5.0 byte vectors with the reference encoder
// npm `mqtt-packet` (9.0.2), for tests/app_decoders.rs.
//
//   npm install mqtt-packet@9.0.2 && node tools/gen-app-vectors/mqtt-packet.js > tests/data/app/mqtt-packet.json
//
// Each vector: the protocol level, the direction, the packet as hex, and
// what the packet object said (cmd, topic, ids, QoS, reason code), which
// the decoder must find again. Not run by the tests.
const mqtt = require('mqtt-packet');

function vectors(v) {
  const five = v === 5;
  const props = (p) => (five ? { properties: p } : {});
  return [
    ['c2s', { cmd: 'connect', protocolId: 'MQTT', protocolVersion: v, clean: true, clientId: 'client-1', keepalive: 30,
      username: 'u', password: Buffer.from('p'),
      will: { topic: 'last/will', payload: Buffer.from('bye'), qos: 1, retain: false, ...(five ? { properties: { willDelayInterval: 5 } } : {}) },
      ...props({ sessionExpiryInterval: 60, receiveMaximum: 10, userProperties: { a: 'b' } }) }],
    ['s2c', { cmd: 'connack', sessionPresent: false, ...(five ? { reasonCode: 0, properties: { serverKeepAlive: 20, topicAliasMaximum: 10 } } : { returnCode: 0 }) }],
    ['c2s', { cmd: 'subscribe', messageId: 7, subscriptions: [{ topic: 'a/+', qos: 1 }, { topic: 'b/#', qos: 2 }], ...props({ subscriptionIdentifier: 3 }) }],
    ['s2c', { cmd: 'suback', messageId: 7, granted: [1, 0x80], ...props({ reasonString: 'no b' }) }],
    ['c2s', { cmd: 'publish', topic: 'a/b', payload: Buffer.from('hello'), qos: 0, retain: true, dup: false }],
    ['c2s', { cmd: 'publish', topic: 'a/c', payload: Buffer.alloc(300, 7), qos: 1, messageId: 8, retain: false, dup: false, ...props({ contentType: 'x', topicAlias: 2 }) }],
    ['s2c', { cmd: 'puback', messageId: 8, ...(five ? { reasonCode: 0x87, properties: { reasonString: 'nope' } } : {}) }],
    ['c2s', { cmd: 'publish', topic: 'q/2', payload: Buffer.from('x'), qos: 2, messageId: 9, retain: false, dup: true }],
    ['s2c', { cmd: 'pubrec', messageId: 9 }],
    ['c2s', { cmd: 'pubrel', messageId: 9 }],
    ['s2c', { cmd: 'pubcomp', messageId: 9 }],
    ['c2s', { cmd: 'unsubscribe', messageId: 10, unsubscriptions: ['a/+'] }],
    ['s2c', { cmd: 'unsuback', messageId: 10, ...(five ? { granted: [0x11] } : {}) }],
    ['c2s', { cmd: 'pingreq' }],
    ['s2c', { cmd: 'pingresp' }],
    ...(five ? [['c2s', { cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'm' } }]] : []),
    ['c2s', { cmd: 'disconnect', ...(five ? { reasonCode: 0x04, properties: { sessionExpiryInterval: 0 } } : {}) }],
  ];
}

const out = [];
for (const v of [4, 5]) {
  for (const [dir, p] of vectors(v)) {
    const hex = mqtt.generate(p, { protocolVersion: v }).toString('hex');
    out.push({ level: v, dir, hex, cmd: p.cmd.toUpperCase(),
      topic: p.topic ?? (p.subscriptions ? p.subscriptions[0].topic : p.unsubscriptions ? p.unsubscriptions[0] : null),
      id: p.messageId ?? null,
      qos: p.cmd === 'publish' ? p.qos : null,
      retain: p.cmd === 'publish' ? p.retain : null,
      payload_len: p.cmd === 'publish' ? p.payload.length : null,
      error_code: p.cmd === 'suback' ? 0x80 : (p.reasonCode >= 0x80 ? p.reasonCode : null) });
  }
}
console.log(JSON.stringify(out, null, 1));
